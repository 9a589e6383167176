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
