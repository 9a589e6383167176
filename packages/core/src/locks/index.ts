/**
 * `@galley/core/locks`: the etcd-backed locks and journal. A subpath of its own so that the core
 * index (the cookbook contract, loaded by every `cookbook` invocation) never loads etcd3, gRPC or
 * protobufjs: `--version`, `--help`, `-l` and argument errors import only the index.
 */
export { EtcdLocks, EtcdLockSession, ownerString, type EtcdLocksOptions, type LockEntry, type LockValue } from './etcd.js';
export { EtcdJournal } from '../journal.js';
export { EtcdPauses, type ContinueResult, type PauseResult } from './pause.js';
export { isLockFailure } from '../errors.js';
