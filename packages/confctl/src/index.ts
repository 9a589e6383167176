export type { Pooled, NodeTags, ConftoolNode, Selector, EtcdCompare, Change, NodeValues, WatchEvent, SyncResult } from './types.js';
export { POOLED_VALUES } from './types.js';
export { Conftool, type ConftoolOptions, type ViewOptions, type Target, type FieldChanges, type RawObject } from './conftool.js';
export {
  inverseOf,
  isTransitionConflict,
  parseOwnerMarker,
  type ChangedOutcome,
  type OwnerMarker,
  type OwnerOp,
  type TransitionOutcome,
  type TransitionRequest,
  type WriteInfo,
} from './transition.js';
// @galley/etcd's client and store, re-exported: a Conftool is built on them (new Conftool(connectEtcd(cfg.etcd), …)).
export { connectEtcd, EtcdKv } from '@galley/etcd';
export type { KvStore, KvEntry, KvOp, KvTxnResult, KvWatchHandlers } from '@galley/etcd';
export { compileSelector, parseSelector, escapeRegex, TAGS } from './selector.js';
export { parseFleet, normalizeFleet, type FleetDescription } from './fleet.js';
export { displayName, NODE_DEFAULTS } from './value.js';
export {
  NoMatchError,
  InvalidValueError,
  ConflictError,
  FencedError,
  WriteUnknownError,
  SelectorError,
  FleetError,
  EtcdUnavailableError,
  EtcdErrorCode,
  formatSelector,
  isEtcdError,
  isNoMatchError,
} from './errors.js';
export type { ConftoolConfig } from './config.js';
