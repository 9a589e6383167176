/**
 * @galley/lb: load-balanced cluster operations — depool → verify on every LB → act → health check →
 * repool exactly what was depooled → verify on every LB, in lockstep batches, fail closed.
 */
export * from './ports.js';
export * from './errors.js';
export { drainArg, maxFailedArg, seedArg, DRAIN_MAX_MS } from './args.js';
export {
  batchArg,
  commandArg,
  countArg,
  durationArg,
  formatDuration,
  hostPatternArg,
  nameListArg,
  wholeNumberArg,
  MAX_DURATION_MS,
  type DurationArgOptions,
} from './args.js';
export {
  parseBatchSpec,
  parseDuration,
  planBatches,
  batchSizeAt,
  maxBatchSize,
  checkNotWholeCluster,
  type BatchSpec,
  type BatchStep,
} from './batches.js';
export { selectHosts, escapeRegex, describeSelection, type HostPlan, type Selection, type SelectOptions } from './select.js';
export { runRolling, type RollingOptions, type RollingReport, type FailedHost, type HealthCheck } from './rolling.js';
export { replayJournal } from './resume.js';
export {
  parseMaxFailed,
  toleratedFailures,
  orderHosts,
  resolveOrder,
  resumeOrder,
  orderText,
  HOST_ORDERS,
  type MaxFailed,
  type HostOrder,
  type OrderSpec,
} from './budget.js';
export { parseDrain, drainText, connectionsOf, type DrainSpec } from './drain.js';
export { waitForCapacity, capacityWaitText } from './capacity-wait.js';
export { LB_DEFAULTS } from './defaults.js';
export type { HostAction, ActionStep } from './action.js';
export { rebootAction, type RebootActionOptions } from './reboot.js';
export {
  rollingReboot,
  rollingRebootArgs,
  rebootHost,
  rebootHostArgs,
  rebootHostLock,
  REBOOT_HOST_LOCK_TTL_S,
  type RebootHostArgs,
  type RebootWaitArgs,
} from './reboot-operation.js';
export { DECISIONS, type Decision, type Operator } from './gates.js';
export { depoolsPerPool, judgeCapacity, capacityMessage } from './capacity.js';
export { planRolling, formatPlan, shortKey, type RollingPlan, type PlannedBatch } from './plan.js';
export { formatReport, groupOutputs } from './report.js';
export { conftoolStore, remoteExecutor, pybalVerifier, pybalCapacity } from './adapters.js';
export {
  takeOut,
  newHold,
  writeOut,
  verifyOut,
  putBack,
  readBack,
  stateText,
  ownerText,
  type Hold,
  type OutValue,
  type EngineDeps,
  type PutBackHost,
  type PutBackOptions,
  type ObjectState,
} from './engine.js';
export {
  rollingArgs,
  rollingLock,
  ROLLING_LOCK_TTL_S,
  clusterLockName,
  CLUSTER_LOCK_KIND,
  rollingOperation,
  rollingRestart,
  rollingRun,
  restartService,
  restartServiceArgs,
  restartServiceLock,
  RESTART_SERVICE_LOCK_TTL_S,
  poolOrDepool,
  poolArgs,
  poolLock,
  POOL_LOCK_TTL_S,
  portsFor,
  type LbContext,
  type PoolArgs,
  type RollingArgs,
  type RollingCall,
} from './operations.js';
// Who is acting (owner markers, audit of hand changes): confctl's one home, for the cookbooks.
export { operatorUser } from '@galley/confctl/operator';
