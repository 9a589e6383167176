/**
 * etcd v3 plumbing shared by @galley/confctl (conftool's objects) and @galley/core (locks, journal):
 * the client (connectEtcd: endpoints, TLS, auth, no circuit breaker, retries on the next member),
 * write transactions that are never resent once they may have reached etcd (asWriteTxn), telling
 * an ambiguous write from a failed one (isAmbiguousWriteError), and KvStore, the slice of etcd v3
 * as plain data (EtcdKv over etcd3). Loads etcd3: light callers use `@galley/etcd/errors`, `@galley/etcd/kv`
 * (KvStore, its guards, isAmbiguousWriteError) and `@galley/etcd/gateway` (a read-only KvStore over node:http).
 */
export { connectEtcd, EtcdKv, asWriteTxn, isUnavailable, neverSent } from './client.js';
export {
  evalCompare,
  isAmbiguousWriteError,
  isKvStore,
  kvStoreOf,
  type EtcdCompare,
  type KvStore,
  type KvEntry,
  type KvOp,
  type KvTxnResult,
  type KvWatchHandlers,
} from './kv.js';
export { EtcdErrorCode, EtcdUnavailableError, isEtcdError } from './errors.js';
export type { EtcdConfig } from './config.js';
