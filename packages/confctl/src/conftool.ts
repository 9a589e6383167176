import type { Etcd3 } from 'etcd3';
import { isAmbiguousWriteError, kvStoreOf, type KvEntry, type KvStore, type KvTxnResult } from '@galley/etcd/kv';
import { ConflictError, FencedError, InvalidValueError, NoMatchError, WriteUnknownError } from './errors.js';
import type { FleetDescription } from './fleet.js';
import { pool } from './pool.js';
import { compileSelector, literalPath, type Matcher } from './selector.js';
import {
  parseOwnerMarker,
  runTransitions,
  type OwnerMarker,
  type TransitionOutcome,
  type TransitionRequest,
  type WriteInfo,
} from './transition.js';
import type { Change, ConftoolNode, EtcdCompare, NodeTags, NodeValues, Selector, SyncResult, WatchEvent } from './types.js';
import { NODE_DEFAULTS, diff, displayName, nodeFromEntry, serialize, validateChanges } from './value.js';

export interface ConftoolOptions {
  /** Key prefix, default `/conftool`. */
  namespace?: string;
  dryRun?: boolean;
  /** Extra compares added to every write txn of an object (the runner fences on its locks). */
  fence?: (tags: NodeTags) => EtcdCompare[];
  /** Awaited before any non-dry-run write, with the objects about to change (the runner takes host locks here). */
  beforeWrite?: (nodes: ConftoolNode[], info?: WriteInfo) => Promise<void>;
  /** Every performed or intended change (audit log, plan). */
  onChange?: (c: Change) => void;
  log?: (line: string) => void;
  /** Re-read-and-retry attempts after a concurrent modification (default 3). */
  maxRetries?: number;
  /** Parallel write transactions per update (default 16). */
  concurrency?: number;
  /** Where owner markers live (default `/galley/owners` + the namespace, e.g. `/galley/owners/conftool`). */
  ownersPrefix?: string;
}

export type ViewOptions = Partial<Pick<ConftoolOptions, 'dryRun' | 'fence' | 'beforeWrite' | 'onChange' | 'log'>>;
export type Target = Selector | ConftoolNode[];
export type FieldChanges = Partial<NodeValues>;

interface Shared {
  kv: KvStore;
  namespace: string;
  maxRetries: number;
  concurrency: number;
  ownersPrefix: string;
}

/**
 * The conftool `node` model on etcd v3. Reads are single range reads; every write is a txn per
 * object comparing its mod revision (plus the caller's fence compares), retried a bounded number
 * of times on a concurrent change. Values are validated on read and on write.
 */
export class Conftool {
  private readonly shared: Shared;
  private readonly view: Required<Pick<ConftoolOptions, 'dryRun' | 'log'>> & ViewOptions;

  constructor(etcd: Etcd3 | KvStore, opts: ConftoolOptions = {}) {
    const kv = kvStoreOf(etcd);
    const namespace = (opts.namespace ?? '/conftool').replace(/\/+$/, '');
    const ownersPrefix = (opts.ownersPrefix ?? `/galley/owners${namespace}`).replace(/\/+$/, '');
    this.shared = { kv, namespace, maxRetries: opts.maxRetries ?? 3, concurrency: opts.concurrency ?? 16, ownersPrefix };
    this.view = { dryRun: opts.dryRun ?? false, log: opts.log ?? (() => undefined) };
    if (opts.fence) this.view.fence = opts.fence;
    if (opts.beforeWrite) this.view.beforeWrite = opts.beforeWrite;
    if (opts.onChange) this.view.onChange = opts.onChange;
  }

  /** A cheap view sharing the connection, with other hooks. */
  with(opts: ViewOptions): Conftool {
    const v = Object.create(Conftool.prototype) as Conftool;
    (v as unknown as { shared: Shared }).shared = this.shared;
    (v as unknown as { view: Conftool['view'] }).view = { ...this.view, ...stripUndefined(opts) };
    return v;
  }

  get dryRun(): boolean {
    return this.view.dryRun;
  }

  get namespace(): string {
    return this.shared.namespace || '/';
  }

  get kv(): KvStore {
    return this.shared.kv;
  }

  /** The etcd store revision (to prove that something did not write). */
  revision(): Promise<string> {
    return this.shared.kv.revision();
  }

  keyFor(tags: NodeTags): string {
    return `${this.poolsPrefix()}${tags.dc}/${tags.cluster}/${tags.service}/${tags.name}`;
  }

  /** The etcd key of the owner marker of the object with these tags. */
  ownerKeyFor(tags: NodeTags): string {
    return `${this.shared.ownersPrefix}/${tags.dc}/${tags.cluster}/${tags.service}/${tags.name}`;
  }

  close(): void {
    this.shared.kv.close();
  }

  // ---------------------------------------------------------------- reads

  /** Objects matching the selector, in one range read. NoMatchError when nothing matches. */
  async select(sel: Selector): Promise<ConftoolNode[]> {
    const nodes = await this.get(sel);
    if (nodes.length === 0) throw new NoMatchError(sel, this.namespace);
    return nodes;
  }

  /** Like select, but an empty selection is an empty list rather than an error. */
  async get(sel: Selector): Promise<ConftoolNode[]> {
    const match = compileSelector(sel);
    const { nodes } = await this.list(this.prefixFor(sel), match, 'strict');
    return nodes;
  }

  /** Selected objects whose fields equal every given value (NoMatchError if the selection is empty). */
  async filter(sel: Selector, where: FieldChanges): Promise<ConftoolNode[]> {
    const nodes = await this.select(sel);
    return nodes.filter((n) => (Object.keys(where) as (keyof NodeValues)[]).every((f) => where[f] === undefined || n[f] === where[f]));
  }

  /**
   * The owner markers of the target objects (one range read), by conftool key. A marker whose value
   * is not a marker's JSON is returned with runId `(unreadable)`: someone holds the object.
   */
  async owners(target: Selector | readonly { key: string }[]): Promise<Map<string, OwnerMarker>> {
    const base = `${this.shared.ownersPrefix}/`;
    let prefix = base;
    let wanted: (key: string, tags: NodeTags) => boolean;
    if (isKeyList(target)) {
      const keys = new Set(target.map((n) => n.key));
      wanted = (k) => keys.has(k);
    } else {
      const sel = target;
      const match = compileSelector(sel);
      prefix += literalPath(sel)
        .map((p) => `${p}/`)
        .join('');
      wanted = (_k, tags) => match(tags);
    }
    const out = new Map<string, OwnerMarker>();
    const { entries } = await this.shared.kv.range(prefix);
    for (const e of entries) {
      const parts = e.key.slice(base.length).split('/');
      if (parts.length !== 4 || parts.some((p) => p === '')) continue;
      const [dc, cluster, service, name] = parts as [string, string, string, string];
      const tags = { dc, cluster, service, name };
      const key = this.keyFor(tags);
      if (wanted(key, tags)) out.set(key, parseOwnerMarker(e.value));
    }
    return out;
  }

  /**
   * These objects as stored now, by key, one read per key (in parallel): a value that is not valid
   * conftool JSON is its InvalidValueError, a deleted object is absent. Reports are made of this,
   * never of what a caller believes it wrote.
   */
  async readNodes(objects: readonly { key: string; tags: NodeTags }[]): Promise<Map<string, ConftoolNode | InvalidValueError>> {
    const out = new Map<string, ConftoolNode | InvalidValueError>();
    await Promise.all(
      objects.map(async (o) => {
        const e = await this.shared.kv.get(o.key);
        if (e === undefined) return;
        try {
          out.set(o.key, nodeFromEntry(o.key, o.tags, e.value, e.modRevision));
        } catch (err) {
          if (!(err instanceof InvalidValueError)) throw err;
          out.set(o.key, err);
        }
      }),
    );
    return out;
  }

  // ---------------------------------------------------------------- writes

  /**
   * Move objects from the state they were read in to another, one etcd txn per object: the
   * object's mod revision and the expected values compared, the run's fence compares added, the
   * owner marker written or deleted in the same txn. `beforeWrite` (the runner's lock check) is
   * awaited once per call. Per-object problems are outcomes, never throws; it throws only before
   * anything is sent (an invalid requested value, `beforeWrite` refusing). See transition.ts.
   */
  transition(reqs: readonly TransitionRequest[]): Promise<TransitionOutcome[]> {
    return runTransitions(
      {
        kv: this.shared.kv,
        dryRun: this.dryRun,
        maxRetries: this.shared.maxRetries,
        concurrency: this.shared.concurrency,
        fence: this.view.fence,
        beforeWrite: this.view.beforeWrite,
        record: (c) => this.record(c, []),
        log: this.view.log,
        ownerKeyFor: (tags) => this.ownerKeyFor(tags),
      },
      reqs,
    );
  }

  /** Set fields on the target objects. Returns the changes performed (or, in dry-run, intended). */
  async update(target: Target, changes: FieldChanges): Promise<Change[]> {
    return this.updateInto(target, changes, []);
  }

  /**
   * Objects matching the selector without validating their values (one range read;
   * NoMatchError if empty): to look at or delete objects whose stored value is invalid.
   */
  async selectRaw(sel: Selector): Promise<RawObject[]> {
    const match = compileSelector(sel);
    const { entries } = await this.shared.kv.range(this.prefixFor(sel));
    const out: RawObject[] = [];
    for (const e of entries) {
      const tags = this.tagsOf(e.key);
      if (tags !== undefined && match(tags)) out.push({ key: e.key, tags, value: e.value, modRevision: e.modRevision });
    }
    if (out.length === 0) throw new NoMatchError(sel, this.namespace);
    return out;
  }

  /**
   * Delete the target objects, each with a mod-revision compare + fence; values are not
   * validated (a broken object can be deleted). Returns the deleted keys.
   */
  async remove(target: Selector | readonly RawObject[] | readonly ConftoolNode[]): Promise<string[]> {
    const objs: readonly { key: string; tags: NodeTags; modRevision: string }[] = isObjectList(target)
      ? target
      : await this.selectRaw(target);
    if (this.dryRun) {
      for (const n of objs) this.view.log(`DRY-RUN: would delete ${displayName(n.tags)}`);
      return objs.map((n) => n.key);
    }
    if (objs.length > 0) {
      await this.view.beforeWrite?.(
        objs.map((o) =>
          'pooled' in o ? (o as ConftoolNode) : { key: o.key, tags: o.tags, ...NODE_DEFAULTS, extra: {}, modRevision: o.modRevision },
        ),
      );
    }
    const out: string[] = [];
    for (const n of objs) {
      const fence = this.view.fence?.(n.tags) ?? [];
      // The owner marker goes with its object: a marker left behind would hold a re-created object.
      const r = await this.shared.kv.txn(
        [{ key: n.key, target: 'Mod', op: '==', value: n.modRevision }, ...fence],
        [
          { type: 'delete', key: n.key },
          { type: 'delete', key: this.ownerKeyFor(n.tags) },
        ],
        n.key,
      );
      if (!r.succeeded) {
        if (r.current?.modRevision === n.modRevision) throw new FencedError(n.key, fence);
        throw new ConflictError(n.key, 1, r.current ? 'it changed since it was read' : 'it was already deleted');
      }
      out.push(n.key);
    }
    return out;
  }

  /**
   * Make the set of objects match a fleet description (conftool-sync): create missing objects
   * with the file's values or the schema defaults; never change existing values; delete objects
   * not in the description only with `delete: true`.
   */
  async sync(desired: FleetDescription, opts: { delete?: boolean } = {}): Promise<SyncResult> {
    const { entries } = await this.shared.kv.range(this.poolsPrefix());
    const existing = new Map(entries.map((e) => [e.key, e]));
    const want = new Map<string, { tags: NodeTags; values: NodeValues; extra: Record<string, unknown> }>();
    for (const [dc, clusters] of Object.entries(desired)) {
      for (const [cluster, hosts] of Object.entries(clusters)) {
        for (const [name, services] of Object.entries(hosts)) {
          for (const [service, values] of Object.entries(services)) {
            const tags = { dc, cluster, service, name };
            const v = validateChanges(this.keyFor(tags), values ?? {});
            want.set(this.keyFor(tags), { tags, values: { ...NODE_DEFAULTS, ...v }, extra: {} });
          }
        }
      }
    }
    const toCreate = [...want.entries()].filter(([k]) => !existing.has(k));
    const stale = [...existing.keys()].filter((k) => !want.has(k) && this.tagsOf(k) !== undefined).sort();
    const result: SyncResult = { created: [], removed: [], kept: want.size - toCreate.length, stale };
    const toRemove = opts.delete ? stale : [];
    if (this.dryRun) {
      for (const [key, w] of toCreate) {
        this.view.log(`DRY-RUN: would create ${displayName(w.tags)} ${serialize(w.values, w.extra)}`);
        result.created.push({ key, tags: w.tags, ...w.values, extra: w.extra, modRevision: '0' });
      }
      for (const k of toRemove) this.view.log(`DRY-RUN: would delete ${displayName(this.tagsOf(k)!)}`);
      result.removed = toRemove;
      return result;
    }
    const touched = [
      ...toCreate.map(([key, w]) => ({ key, tags: w.tags, ...w.values, extra: w.extra, modRevision: '0' })),
      ...toRemove.map((k) => nodeStub(k, this.tagsOf(k)!, existing.get(k)!)),
    ];
    if (touched.length > 0) await this.view.beforeWrite?.(touched);
    await pool(toCreate, this.shared.concurrency, async ([key, w]) => {
      const fence = this.view.fence?.(w.tags) ?? [];
      const r = await this.shared.kv.txn(
        [{ key, target: 'Create', op: '==', value: 0 }, ...fence],
        [{ type: 'put', key, value: serialize(w.values, w.extra) }],
        key,
      );
      if (r.succeeded) result.created.push({ key, tags: w.tags, ...w.values, extra: w.extra, modRevision: r.revision });
      else if (r.current === undefined) throw new FencedError(key, fence);
      else result.kept++; // created concurrently by someone else: existing values win
    });
    for (const k of toRemove) {
      const e = existing.get(k)!;
      const fence = this.view.fence?.(this.tagsOf(k)!) ?? [];
      const r = await this.shared.kv.txn(
        [{ key: k, target: 'Mod', op: '==', value: e.modRevision }, ...fence],
        [{ type: 'delete', key: k }],
        k,
      );
      if (r.succeeded) result.removed.push(k);
      else if (r.current?.modRevision === e.modRevision) throw new FencedError(k, fence);
      else this.view.log(`not deleting ${k}: it changed while syncing`);
    }
    result.created.sort((a, b) => a.key.localeCompare(b.key));
    return result;
  }

  /**
   * Watch a selection. The current objects are listed first (onResync); after a compaction or
   * any watch failure the selection is listed again (onResync) and watched from there. Invalid
   * stored values are logged and reported as `put` events without a node.
   */
  async watch(
    sel: Selector,
    onEvent: (e: WatchEvent) => void,
    opts: { onResync?: (nodes: ConftoolNode[]) => void } = {},
  ): Promise<{ close(): Promise<void> }> {
    const match = compileSelector(sel);
    const prefix = this.prefixFor(sel);
    let closed = false;
    let current: { close(): Promise<void> } | undefined;
    let timer: NodeJS.Timeout | undefined;
    let backoff = 100;
    const start = async (): Promise<void> => {
      const { nodes, revision } = await this.list(prefix, match, 'lenient');
      if (closed) return;
      opts.onResync?.(nodes);
      // The store may report an error before watch() has even returned.
      const self: { w?: { close(): Promise<void> } } = {};
      let failed = false;
      const w = await this.shared.kv.watch(prefix, String(BigInt(revision) + 1n), {
        onEvent: (type, entry) => {
          const tags = this.tagsOf(entry.key);
          if (closed || tags === undefined || !match(tags)) return;
          backoff = 100;
          if (type === 'delete') return onEvent({ type, key: entry.key });
          try {
            onEvent({ type, key: entry.key, node: nodeFromEntry(entry.key, tags, entry.value, entry.modRevision) });
          } catch (err) {
            if (!(err instanceof InvalidValueError)) throw err;
            this.view.log(err.message);
            onEvent({ type, key: entry.key });
          }
        },
        onError: (err) => {
          if (closed || failed) return;
          failed = true;
          this.view.log(`watch on ${prefix} failed (${err.message}); listing again`);
          void self.w?.close();
          restart();
        },
      });
      self.w = w;
      current = w;
      if (closed || failed) await w.close();
    };
    const restart = (): void => {
      timer = setTimeout(() => {
        start().catch((err: unknown) => {
          this.view.log(`re-listing ${prefix} failed: ${(err as Error).message}`);
          backoff = Math.min(backoff * 2, 5000);
          if (!closed) restart();
        });
      }, backoff);
    };
    await start();
    return {
      close: async () => {
        closed = true;
        if (timer) clearTimeout(timer);
        await current?.close();
      },
    };
  }

  // ---------------------------------------------------------------- internals

  private poolsPrefix(): string {
    return `${this.shared.namespace}/v1/pools/`;
  }

  private prefixFor(sel: Selector): string {
    const lit = literalPath(sel);
    return this.poolsPrefix() + lit.map((p) => `${p}/`).join('');
  }

  /** Tags from a key, or undefined if it is not a node object key. */
  tagsOf(key: string): NodeTags | undefined {
    const base = this.poolsPrefix();
    if (!key.startsWith(base)) return undefined;
    const parts = key.slice(base.length).split('/');
    if (parts.length !== 4 || parts.some((p) => p === '')) return undefined;
    const [dc, cluster, service, name] = parts as [string, string, string, string];
    return { dc, cluster, service, name };
  }

  private async list(prefix: string, match: Matcher, mode: 'strict' | 'lenient'): Promise<{ nodes: ConftoolNode[]; revision: string }> {
    const { entries, revision } = await this.shared.kv.range(prefix);
    const nodes: ConftoolNode[] = [];
    for (const e of entries) {
      const tags = this.tagsOf(e.key);
      if (tags === undefined || !match(tags)) continue;
      try {
        nodes.push(nodeFromEntry(e.key, tags, e.value, e.modRevision));
      } catch (err) {
        if (mode === 'strict' || !(err instanceof InvalidValueError)) throw err;
        this.view.log(err.message);
      }
    }
    return { nodes, revision };
  }

  private record(c: Change, out: Change[]): void {
    out.push(c);
    if (this.dryRun) {
      this.view.log(`DRY-RUN: would set ${c.field}=${String(c.to)} on ${displayName(c.tags)}`);
    }
    this.view.onChange?.(c);
  }

  private async updateInto(target: Target, changes: FieldChanges, applied: Change[]): Promise<Change[]> {
    const firstKey = Array.isArray(target) ? (target[0]?.key ?? '(no objects)') : this.namespace;
    const want = validateChanges(firstKey, changes);
    // Objects handed in by the caller may be stale (read before an earlier write): diffing them
    // would silently skip a needed write, so re-read their current values first.
    const nodes = Array.isArray(target) ? await this.current(target) : await this.select(target);
    const todo = nodes.filter((n) => diff(n, want).length > 0);
    if (this.dryRun) {
      for (const n of todo) for (const c of diff(n, want)) this.record(c, applied);
      return applied;
    }
    if (todo.length > 0) await this.view.beforeWrite?.(todo);
    await pool(todo, this.shared.concurrency, async (n) => {
      await this.writeNode(n, want, applied);
    });
    return applied;
  }

  /** Current values of explicitly given objects; a deleted one is a conflict naming it. */
  private async current(target: readonly ConftoolNode[]): Promise<ConftoolNode[]> {
    const out: ConftoolNode[] = new Array<ConftoolNode>(target.length);
    await pool([...target.keys()], this.shared.concurrency, async (i) => {
      const n = target[i]!;
      const e = await this.shared.kv.get(n.key);
      if (e === undefined) throw new ConflictError(n.key, 1, 'it was deleted concurrently');
      out[i] = entryNode(n.key, n.tags, e);
    });
    return out;
  }

  /**
   * One object: txn(mod == read revision && fence) → put merged value. On a conflict, re-read (from
   * the same txn's else branch) and retry, up to maxRetries; a value that breaks the schema stops it.
   *
   * A txn that fails without an answer (deadline, dropped connection) may have been applied. We
   * re-read: our exact value at a newer revision is recorded as our change (`ambiguous: true`), so
   * it is reported like any other; an untouched object is written again (the same mod-revision
   * compare: at most one of the two can apply, and a later conflict that shows our value is ours);
   * anything else is WriteUnknownError naming the key.
   */
  private async writeNode(node: ConftoolNode, want: FieldChanges, applied: Change[]): Promise<void> {
    let cur = node;
    // An attempt of this write went unanswered and may still apply: its value showing up is ours.
    let unanswered = false;
    let resends = 0;
    for (let attempt = 0; ; attempt++) {
      const changes = diff(cur, want);
      if (changes.length === 0) return;
      const fence = this.view.fence?.(cur.tags) ?? [];
      const next = serialize({ pooled: cur.pooled, weight: cur.weight, ...want }, cur.extra);
      let r: KvTxnResult;
      try {
        r = await this.shared.kv.txn(
          [{ key: cur.key, target: 'Mod', op: '==', value: cur.modRevision }, ...fence],
          [{ type: 'put', key: cur.key, value: next }],
          cur.key,
        );
      } catch (err) {
        if (!isAmbiguousWriteError(err)) throw err;
        let e: KvEntry | undefined;
        try {
          e = await this.shared.kv.get(cur.key);
        } catch {
          throw new WriteUnknownError(cur.key, next, undefined, err);
        }
        if (e !== undefined && e.value === next && e.modRevision !== cur.modRevision) {
          this.view.log(
            `${displayName(cur.tags)}: etcd did not answer our write, but the object now holds exactly what we wrote: counted as our change`,
          );
          for (const c of changes) this.record({ ...c, ambiguous: true }, applied);
          return;
        }
        if (e !== undefined && e.modRevision === cur.modRevision && resends < this.shared.maxRetries) {
          unanswered = true;
          resends++;
          attempt--;
          this.view.log(
            `${displayName(cur.tags)}: etcd did not answer our write (${(err as Error).message}) and the object is unchanged; writing again (${resends}/${this.shared.maxRetries})`,
          );
          continue;
        }
        throw new WriteUnknownError(cur.key, next, e === undefined ? '(deleted)' : e.value, err);
      }
      if (r.succeeded) {
        for (const c of changes) this.record(c, applied);
        return;
      }
      if (r.current === undefined) throw new ConflictError(cur.key, attempt + 1, 'it was deleted concurrently');
      if (r.current.modRevision === cur.modRevision) throw new FencedError(cur.key, fence);
      if (unanswered && r.current.value === next) {
        this.view.log(`${displayName(cur.tags)}: an earlier unanswered write of ours was applied after all: counted as our change`);
        for (const c of changes) this.record({ ...c, ambiguous: true }, applied);
        return;
      }
      let fresh: ConftoolNode;
      try {
        fresh = entryNode(cur.key, cur.tags, r.current);
      } catch (err) {
        if (!(err instanceof InvalidValueError)) throw err;
        // Other objects of this update may be written already: not "nothing was written" but a
        // conflict, so the caller stops and reports what was applied.
        throw new ConflictError(
          cur.key,
          attempt + 1,
          `it was changed concurrently to a value that breaks the schema: ${String(err.details?.['problem'])} (value ${r.current.value})`,
        );
      }
      cur = fresh;
      if (attempt >= this.shared.maxRetries) throw new ConflictError(cur.key, attempt + 1);
      this.view.log(`${displayName(cur.tags)} changed concurrently; re-read and retrying (${attempt + 1}/${this.shared.maxRetries})`);
    }
  }
}

function entryNode(key: string, tags: NodeTags, e: KvEntry): ConftoolNode {
  return nodeFromEntry(key, tags, e.value, e.modRevision);
}

function nodeStub(key: string, tags: NodeTags, e: KvEntry): ConftoolNode {
  try {
    return entryNode(key, tags, e);
  } catch {
    return { key, tags, ...NODE_DEFAULTS, extra: {}, modRevision: e.modRevision };
  }
}

/** A stored object as read, value unparsed. */
export interface RawObject {
  key: string;
  tags: NodeTags;
  value: string;
  modRevision: string;
}

function isKeyList(t: Selector | readonly { key: string }[]): t is readonly { key: string }[] {
  return Array.isArray(t);
}

function isObjectList(t: unknown): t is readonly { key: string; tags: NodeTags; modRevision: string }[] {
  return Array.isArray(t);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
