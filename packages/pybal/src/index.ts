export { PybalClient, type LoadBalancerRef, type PybalClientOptions, type RequestOptions } from './client.js';
export { PybalError, PybalErrorCode } from './errors.js';
export {
  parseAlerts,
  parseHost,
  parsePool,
  parsePools,
  formatOf,
  type Alerts,
  type AlertStatus,
  type BodyFormat,
  type LbServerView,
} from './parse.js';
export {
  canDepool,
  canTakeOut,
  countsFromConftool,
  countsFromView,
  explainKeptPooled,
  minUpEnabled,
  type ConftoolPooled,
  type PoolCounts,
} from './rules.js';
export { PybalTopology, type NodeTagsLike, type PoolRef } from './topology.js';
export {
  PybalService,
  type Capacity,
  type CapacityPerLb,
  type ComparisonFlag,
  type ComparisonRow,
  type Disagreement,
  type Expected,
  type FlagKind,
  type HostSeen,
  type LbCheck,
  type LbAlerts,
  type NodeLike,
  type PoolStatus,
  type PybalServiceOptions,
  type Seen,
  type StatusReport,
  type Verification,
  type VerifyOptions,
} from './service.js';
export { renderStatus, renderVerification } from './render.js';
export type { PybalConfig, PybalPoolConfig } from './config.js';
