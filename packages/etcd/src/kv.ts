/**
 * The slice of etcd v3 galley uses, as plain data: entries, ops, compares, transactions, watches.
 * `EtcdKv` (client.ts) is the real one; `MemoryKv` (@galley/etcd/testing) an in-memory one with the
 * same revision semantics.
 */

/** One compare of an etcd transaction (etcd3's `if(key, target, op, value)`). */
export interface EtcdCompare {
  key: string;
  target: 'Create' | 'Mod' | 'Version' | 'Value' | 'Lease';
  op: '==' | '!=' | '>' | '<';
  value: string | number;
}

/** One stored key as etcd reports it (revisions as decimal strings, like etcd3 does). */
export interface KvEntry {
  key: string;
  value: string;
  modRevision: string;
  createRevision: string;
  version: string;
  lease: string;
}

export type KvOp = { type: 'put'; key: string; value: string } | { type: 'delete'; key: string };

export interface KvTxnResult {
  succeeded: boolean;
  revision: string;
  /** On failure: the current entry at `readOnFailure` (its first key when several; undefined if absent). */
  current?: KvEntry | undefined;
  /** On failure with several `readOnFailure` keys: each one's entry, in order, read in the same txn. */
  currents?: (KvEntry | undefined)[];
}

export interface KvWatchHandlers {
  onEvent(type: 'put' | 'delete', entry: KvEntry): void;
  /** The watch died (compaction, cancellation): the caller re-lists and watches again. */
  onError(err: Error): void;
}

/**
 * The slice of etcd v3 that Conftool needs. `EtcdKv` is the real one; `MemoryKv`
 * (@galley/etcd/testing) is an in-memory one with the same revision semantics.
 */
export interface KvStore {
  readonly kind: 'galley-kv';
  readonly endpoints: readonly string[];
  /** All keys under a prefix, in one read, with the store revision of that read. */
  range(prefix: string): Promise<{ entries: KvEntry[]; revision: string }>;
  get(key: string): Promise<KvEntry | undefined>;
  /** If all compares hold, apply ops atomically; otherwise read the `readOnFailure` key(s) in the same txn. */
  txn(compares: readonly EtcdCompare[], ops: readonly KvOp[], readOnFailure?: string | readonly string[]): Promise<KvTxnResult>;
  /** Watch a prefix from `fromRevision` (inclusive). */
  watch(prefix: string, fromRevision: string, handlers: KvWatchHandlers): Promise<{ close(): Promise<void> }>;
  revision(): Promise<string>;
  close(): void;
}

export function isKvStore(x: unknown): x is KvStore {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'galley-kv';
}

/**
 * What only the gRPC client (client.ts) knows: how to wrap an etcd3 client as a KvStore, and which
 * of etcd3's errors leave a write's outcome open. client.ts registers it when it loads, and it is
 * what makes every etcd3 call, so code that only holds a KvStore (Conftool, a read-only command over
 * the JSON gateway) can ask without loading etcd3, grpc-js and protobufjs (~0.2 s of CPU): before
 * client.ts is loaded there is no etcd3 client to wrap and no etcd3 error to classify.
 */
interface Etcd3Knowledge {
  wrap(client: object): KvStore;
  isAmbiguousWriteError(err: unknown): boolean;
}
let etcd3Knowledge: Etcd3Knowledge | undefined;

/** Called once by client.ts as it loads. */
export function registerEtcd3(k: Etcd3Knowledge): void {
  etcd3Knowledge = k;
}

/** A KvStore as given, or an etcd3 client (from connectEtcd) wrapped as EtcdKv. */
export function kvStoreOf(x: KvStore | object): KvStore {
  if (isKvStore(x)) return x;
  if (etcd3Knowledge === undefined) throw new Error('kvStoreOf: not a KvStore, and no etcd3 client was ever built here (use connectEtcd)');
  return etcd3Knowledge.wrap(x);
}

/**
 * A write txn failed without telling us whether it was applied: a deadline, a dropped connection,
 * an internal or unknown gRPC error (etcd3's "recoverable" errors), unless the request provably
 * never reached a member. Only etcd3's errors can be such (MemoryKv and the gateway store never
 * leave a write open).
 */
export function isAmbiguousWriteError(err: unknown): boolean {
  return etcd3Knowledge?.isAmbiguousWriteError(err) ?? false;
}

/** Evaluate one etcd compare against an entry (absent key: revisions/version/lease are 0). */
export function evalCompare(c: EtcdCompare, e: KvEntry | undefined): boolean {
  if (c.target === 'Value') {
    if (e === undefined) return false;
    const a = e.value;
    const b = String(c.value);
    return cmp(a < b ? -1 : a > b ? 1 : 0, c.op);
  }
  const field = { Create: 'createRevision', Mod: 'modRevision', Version: 'version', Lease: 'lease' } as const;
  const a = BigInt(e === undefined ? '0' : e[field[c.target]]);
  const b = BigInt(c.value);
  return cmp(a < b ? -1 : a > b ? 1 : 0, c.op);
}

function cmp(order: number, op: EtcdCompare['op']): boolean {
  switch (op) {
    case '==':
      return order === 0;
    case '!=':
      return order !== 0;
    case '>':
      return order > 0;
    case '<':
      return order < 0;
  }
}
