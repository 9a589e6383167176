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
} from './transition.js';
export { connectEtcd, EtcdKv, asWriteTxn, isAmbiguousWriteError } from './etcd.js';
export type { KvStore, KvEntry, KvOp, KvTxnResult, KvWatchHandlers } from './kv.js';
export { compileSelector, parseSelector, escapeRegex, TAGS } from './selector.js';
export { parseFleet, normalizeFleet, type FleetDescription } from './fleet.js';
export { displayName, NODE_DEFAULTS } from './value.js';
export {
  NoMatchError,
  InvalidValueError,
  ConflictError,
  FencedError,
  VerifyError,
  RestoreConflictError,
  WriteUnknownError,
  SelectorError,
  FleetError,
  EtcdUnavailableError,
  EtcdErrorCode,
  formatSelector,
  isEtcdError,
  isNoMatchError,
} from './errors.js';
export type { EtcdConfig, ConftoolConfig } from './config.js';
