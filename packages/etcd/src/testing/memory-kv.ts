// Tests make MemoryKv throw etcd3's own errors to act out a lost reply: the classification of those
// is registered by client.ts, so load it with the fake.
import '../client.js';
import { evalCompare, type EtcdCompare, type KvEntry, type KvOp, type KvStore, type KvTxnResult, type KvWatchHandlers } from '../kv.js';

interface Watch {
  prefix: string;
  handlers: KvWatchHandlers;
}

class CompactedError extends Error {}

/**
 * An in-memory etcd-ish store with etcd's revision semantics (one store revision per write txn,
 * per-key mod/create revision and version), history for watches, and compaction. It sits behind
 * the same Conftool as the real etcd, so fakes run the real logic.
 */
export class MemoryKv implements KvStore {
  readonly kind = 'galley-kv' as const;
  readonly endpoints = ['memory://'] as const;
  private rev = 1;
  private compacted = 0;
  private readonly data = new Map<string, KvEntry>();
  private readonly history: { rev: number; type: 'put' | 'delete'; entry: KvEntry }[] = [];
  private readonly watches = new Set<Watch>();
  /** Test hook: called before each txn is applied (e.g. to inject a concurrent writer). */
  beforeTxn: ((compares: readonly EtcdCompare[]) => void) | undefined;

  async range(prefix: string): Promise<{ entries: KvEntry[]; revision: string }> {
    const entries = [...this.data.values()].filter((e) => e.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1));
    return { entries: entries.map((e) => ({ ...e })), revision: String(this.rev) };
  }

  async get(key: string): Promise<KvEntry | undefined> {
    const e = this.data.get(key);
    return e ? { ...e } : undefined;
  }

  async txn(compares: readonly EtcdCompare[], ops: readonly KvOp[], readOnFailure?: string | readonly string[]): Promise<KvTxnResult> {
    this.beforeTxn?.(compares);
    const ok = compares.every((c) => evalCompare(c, this.data.get(c.key)));
    if (!ok) {
      const keys = readOnFailure === undefined ? [] : typeof readOnFailure === 'string' ? [readOnFailure] : readOnFailure;
      const currents = keys.map((k) => (this.data.has(k) ? { ...this.data.get(k)! } : undefined));
      return {
        succeeded: false,
        revision: String(this.rev),
        current: currents[0],
        ...(typeof readOnFailure === 'string' ? {} : { currents }),
      };
    }
    this.apply(ops);
    return { succeeded: true, revision: String(this.rev) };
  }

  /** Unconditional writes, like `etcdctl put` / `del` (tests, seeding). */
  put(key: string, value: string, lease = '0'): string {
    this.apply([{ type: 'put', key, value }], lease);
    return String(this.rev);
  }

  delete(key: string): void {
    this.apply([{ type: 'delete', key }]);
  }

  private apply(ops: readonly KvOp[], lease = '0'): void {
    const effective = ops.filter((op) => op.type === 'put' || this.data.has(op.key));
    if (effective.length === 0) return;
    const rev = ++this.rev;
    for (const op of effective) {
      if (op.type === 'put') {
        const old = this.data.get(op.key);
        const e: KvEntry = {
          key: op.key,
          value: op.value,
          modRevision: String(rev),
          createRevision: old?.createRevision ?? String(rev),
          version: String(Number(old?.version ?? '0') + 1),
          lease,
        };
        this.data.set(op.key, e);
        this.emit(rev, 'put', e);
      } else {
        const old = this.data.get(op.key)!;
        this.data.delete(op.key);
        this.emit(rev, 'delete', { ...old, value: '', modRevision: String(rev) });
      }
    }
  }

  private emit(rev: number, type: 'put' | 'delete', entry: KvEntry): void {
    this.history.push({ rev, type, entry });
    for (const w of this.watches) {
      if (entry.key.startsWith(w.prefix)) queueMicrotask(() => this.watches.has(w) && w.handlers.onEvent(type, { ...entry }));
    }
  }

  async watch(prefix: string, fromRevision: string, handlers: KvWatchHandlers): Promise<{ close(): Promise<void> }> {
    const w: Watch = { prefix, handlers };
    const from = Number(fromRevision);
    if (from <= this.compacted) {
      queueMicrotask(() =>
        handlers.onError(new CompactedError(`mvcc: required revision ${from} has been compacted (compacted at ${this.compacted})`)),
      );
      return { close: async () => undefined };
    }
    for (const h of this.history) {
      if (h.rev >= from && h.entry.key.startsWith(prefix))
        queueMicrotask(() => this.watches.has(w) && handlers.onEvent(h.type, { ...h.entry }));
    }
    this.watches.add(w);
    return {
      close: async () => {
        this.watches.delete(w);
      },
    };
  }

  /** Drop history up to `rev` (default: now), like etcd's compaction. */
  compact(rev = this.rev): void {
    this.compacted = rev;
    for (let i = this.history.length - 1; i >= 0; i--) if (this.history[i]!.rev <= rev) this.history.splice(i, 1);
  }

  /** Simulate a dropped watch stream whose resume revision has been compacted away. */
  breakWatches(): void {
    for (const w of [...this.watches]) {
      this.watches.delete(w);
      queueMicrotask(() => w.handlers.onError(new CompactedError('mvcc: required revision has been compacted')));
    }
  }

  async revision(): Promise<string> {
    return String(this.rev);
  }

  close(): void {
    this.watches.clear();
  }
}
