/**
 * One transition primitive: move conftool objects from the state they were read in to another, one
 * etcd transaction per object (compare-and-set on the expected values AND the mod revision, fenced
 * by the run's lock, the owner-marker key written or deleted in the same transaction), and say per
 * object what happened instead of throwing for the caller to decode. Taking out, putting back and
 * restoring are all this one call; putting back is the inverse transition (`inverseOf`).
 */
import type { GalleyError } from '@galley/errors';
import { isAmbiguousWriteError, type KvEntry, type KvOp, type KvStore, type KvTxnResult } from '@galley/etcd/kv';
import { ConflictError, FencedError, InvalidValueError, WriteUnknownError } from './errors.js';
import { pool } from './pool.js';
import type { Change, ConftoolNode, EtcdCompare, NodeTags, NodeValues } from './types.js';
import { diff, displayName, nodeFromEntry, serialize, validateChanges } from './value.js';

/** Who took an object out and why: stored as JSON at the object's owner key (`Conftool.ownerKeyFor`). */
export interface OwnerMarker {
  /** The run id, or `operator:<user>` for a hand depool (`confctl depool`). */
  runId: string;
  user: string;
  reason: string;
  /** ISO 8601. */
  time: string;
}

/**
 * What the transaction does with the object's owner marker:
 * - `set`: write this marker (replacing any other: the caller decided it owns the object now);
 * - `clear`: delete the marker, whoever's it is (an operator putting the object back by hand);
 * - `mustBe: runId`: the marker must be this run's (compared by its mod revision in the same txn;
 *   absent or another owner's → `changed-by-someone-else` with `foundOwner`), and it is deleted
 *   with the write: putting an object back ends the run's ownership of it.
 */
export type OwnerOp = { set: OwnerMarker } | { clear: true } | { mustBe: string };

export interface TransitionRequest {
  /** The object as read: its key, tags, values and mod revision. */
  node: ConftoolNode;
  /** Fields to write, e.g. `{ pooled: 'no' }`. */
  change: Partial<NodeValues>;
  /**
   * Fields that must still hold (default: the node's values as read; `{}`: none). The mod revision
   * is always compared; when it moved but these fields still hold, the object is re-read and the
   * write retried (bounded by `maxRetries`).
   */
  expect?: Partial<NodeValues>;
  owner?: OwnerOp;
}

export type TransitionOutcome =
  | {
      status: 'changed';
      key: string;
      before: NodeValues;
      after: NodeValues;
      /** The object as written (its new mod revision; in dry-run the read one): what `inverseOf` starts from. */
      node: ConftoolNode;
      dryRun?: true;
      /** etcd's reply was lost; a re-read found exactly what we wrote, so it counts as ours. */
      ambiguous?: true;
    }
  | { status: 'already'; key: string; value: NodeValues; node: ConftoolNode; dryRun?: true }
  | {
      status: 'changed-by-someone-else';
      key: string;
      expected: Partial<NodeValues>;
      found: NodeValues | null;
      foundOwner: OwnerMarker | null;
    }
  | { status: 'invalid'; key: string; error: GalleyError }
  | { status: 'failed'; key: string; error: Error };

export type ChangedOutcome = Extract<TransitionOutcome, { status: 'changed' }>;

/** Someone else's value is in the way (another value, a deleted object, a value that breaks the schema): leave it as found and report it. */
export function isTransitionConflict(
  o: TransitionOutcome,
): o is Extract<TransitionOutcome, { status: 'changed-by-someone-else' | 'invalid' }> {
  return o.status === 'changed-by-someone-else' || o.status === 'invalid';
}

/**
 * The request that undoes a `changed` outcome: back to its `before` values, only while the object
 * still holds exactly what we wrote (a weight or `pooled` someone set meanwhile is left alone).
 */
export function inverseOf(o: ChangedOutcome, owner?: OwnerOp): TransitionRequest {
  const change: Partial<NodeValues> = {};
  for (const f of ['pooled', 'weight'] as const) if (o.before[f] !== o.after[f]) (change as Record<string, unknown>)[f] = o.before[f];
  return { node: o.node, change, expect: { ...o.after }, ...(owner ? { owner } : {}) };
}

/** A stored marker; one that is not a marker's JSON still means "someone holds this", never "nobody". */
export function parseOwnerMarker(raw: string): OwnerMarker {
  try {
    const v = JSON.parse(raw) as Partial<Record<keyof OwnerMarker, unknown>>;
    if (typeof v === 'object' && v !== null && typeof v.runId === 'string' && v.runId !== '') {
      const str = (x: unknown): string => (typeof x === 'string' ? x : '');
      return { runId: v.runId, user: str(v.user), reason: str(v.reason), time: str(v.time) };
    }
  } catch {
    // fall through
  }
  return { runId: '(unreadable)', user: '', reason: `unreadable owner marker: ${raw}`, time: '' };
}

/** What a write is, for the runner's `beforeWrite` (its lock policy). */
export interface WriteInfo {
  /** Every object only goes out of traffic (pooled → no or inactive) or only gets an owner: nothing is put back. */
  takeOutOnly: boolean;
}

/** What Conftool hands the transition code (its connection and the view's hooks). */
export interface TransitionDeps {
  kv: KvStore;
  dryRun: boolean;
  maxRetries: number;
  concurrency: number;
  fence?: ((tags: NodeTags) => EtcdCompare[]) | undefined;
  beforeWrite?: ((nodes: ConftoolNode[], info?: WriteInfo) => Promise<void>) | undefined;
  /** onChange + the dry-run intended list and `DRY-RUN: would set …` line. */
  record: (c: Change) => void;
  log: (line: string) => void;
  ownerKeyFor: (tags: NodeTags) => string;
}

interface Plan {
  req: TransitionRequest;
  change: Partial<NodeValues>;
  expect: Partial<NodeValues>;
  ownerKey: string;
  markerJson?: string;
}

const valuesOf = (n: { pooled: NodeValues['pooled']; weight: number }): NodeValues => ({ pooled: n.pooled, weight: n.weight });
const holds = (n: NodeValues, expect: Partial<NodeValues>): boolean =>
  (['pooled', 'weight'] as const).every((f) => expect[f] === undefined || n[f] === expect[f]);

/**
 * Run the requests: every requested value is checked before anything is sent (an invalid one
 * throws, nothing written), `beforeWrite` is awaited once for the whole call (the runner's lock
 * check and host locks; its refusal throws, nothing written), then one txn per object. Every
 * per-object problem is an outcome.
 */
export async function runTransitions(deps: TransitionDeps, reqs: readonly TransitionRequest[]): Promise<TransitionOutcome[]> {
  const seen = new Set<string>();
  const plans: Plan[] = reqs.map((req) => {
    const key = req.node.key;
    if (seen.has(key)) throw new Error(`transition: ${key} is requested twice in one call`);
    seen.add(key);
    const plan: Plan = {
      req,
      change: validateChanges(key, req.change),
      expect: req.expect === undefined ? valuesOf(req.node) : validateChanges(key, req.expect),
      ownerKey: deps.ownerKeyFor(req.node.tags),
    };
    if (req.owner && 'set' in req.owner) {
      const m = req.owner.set;
      if (typeof m.runId !== 'string' || m.runId === '' || Number.isNaN(Date.parse(m.time))) {
        throw new Error(`transition: the owner marker for ${key} needs a runId and an ISO 8601 time (got ${JSON.stringify(m)})`);
      }
      plan.markerJson = JSON.stringify({ runId: m.runId, user: m.user, reason: m.reason, time: m.time });
    }
    return plan;
  });
  if (deps.dryRun) return Promise.all(plans.map((p) => dryRunOne(deps, p)));
  // Only taking out (pooled → no or inactive, or only recording an owner): the runner lets it through
  // without waiting for host locks — an operator's depool is never queued behind a rolling run or a
  // reimage (which holds its host out at inactive).
  const takeOutOnly = plans.every(
    (p) => Object.keys(p.change).every((f) => f === 'pooled') && p.change.pooled !== 'yes' && (!p.req.owner || 'set' in p.req.owner),
  );
  if (plans.length > 0)
    await deps.beforeWrite?.(
      plans.map((p) => p.req.node),
      { takeOutOnly },
    );
  const out = new Array<TransitionOutcome>(plans.length);
  await pool([...plans.keys()], deps.concurrency, async (i) => {
    const p = plans[i]!;
    try {
      out[i] = await transitionOne(deps, p);
    } catch (err) {
      out[i] = { status: 'failed', key: p.req.node.key, error: err instanceof Error ? err : new Error(String(err)) };
    }
  });
  return out;
}

function conflict(p: Plan, found: NodeValues | null, owner: KvEntry | undefined): TransitionOutcome {
  return {
    status: 'changed-by-someone-else',
    key: p.req.node.key,
    expected: p.expect,
    found,
    foundOwner: owner ? parseOwnerMarker(owner.value) : null,
  };
}

/** The owner key is where the op wants it (set: our marker; clear/mustBe: gone). */
function ownerDone(p: Plan, o: KvEntry | undefined): boolean {
  const op = p.req.owner;
  if (!op) return true;
  if ('set' in op) return o?.value === p.markerJson;
  return o === undefined;
}

async function transitionOne(deps: TransitionDeps, p: Plan): Promise<TransitionOutcome> {
  const { kv } = deps;
  const key = p.req.node.key;
  const op = p.req.owner;
  const mustBe = op && 'mustBe' in op ? op.mustBe : undefined;
  let cur: ConftoolNode = p.req.node;
  // Until a txn answers, `cur` is the caller's read: a conflict found on it reports the object as it is now.
  let confirmed = false;
  const found = async (): Promise<NodeValues | null> => {
    if (confirmed) return valuesOf(cur);
    const e = await kv.get(key);
    if (e === undefined) return null;
    try {
      return valuesOf(nodeFromEntry(key, cur.tags, e.value, e.modRevision));
    } catch {
      return valuesOf(cur);
    }
  };
  // The owner entry as last read; read up front only when the txn compares it.
  let owner: KvEntry | undefined = mustBe !== undefined ? await kv.get(p.ownerKey) : undefined;
  // An attempt went unanswered and may still apply: our exact value showing up later is ours.
  let unansweredPut: string | undefined;
  let resends = 0;
  for (let attempt = 0; ; attempt++) {
    if (!holds(cur, p.expect)) return conflict(p, await found(), mustBe !== undefined ? owner : await kv.get(p.ownerKey));
    if (mustBe !== undefined && (owner === undefined || parseOwnerMarker(owner.value).runId !== mustBe))
      return conflict(p, await found(), owner);
    const changes = diff(cur, p.change);
    const next = changes.length > 0 ? serialize({ ...valuesOf(cur), ...p.change }, cur.extra) : undefined;
    const fence = deps.fence?.(cur.tags) ?? [];
    const compares: EtcdCompare[] = [{ key, target: 'Mod', op: '==', value: cur.modRevision }];
    if (mustBe !== undefined) compares.push({ key: p.ownerKey, target: 'Mod', op: '==', value: owner!.modRevision });
    compares.push(...fence);
    const ops: KvOp[] = [];
    if (next !== undefined) ops.push({ type: 'put', key, value: next });
    if (op && 'set' in op) ops.push({ type: 'put', key: p.ownerKey, value: p.markerJson! });
    else if (op) ops.push({ type: 'delete', key: p.ownerKey });
    const success = (modRevision: string, ambiguous: boolean): TransitionOutcome => {
      if (next === undefined) return { status: 'already', key, value: valuesOf(cur), node: cur };
      const after: NodeValues = { ...valuesOf(cur), ...p.change };
      for (const c of changes) deps.record(ambiguous ? { ...c, ambiguous: true } : c);
      return {
        status: 'changed',
        key,
        before: valuesOf(cur),
        after,
        node: { ...cur, ...after, modRevision },
        ...(ambiguous ? { ambiguous: true as const } : {}),
      };
    };

    let r: KvTxnResult;
    try {
      r = await kv.txn(compares, ops, [key, p.ownerKey]);
    } catch (err) {
      if (!isAmbiguousWriteError(err)) throw err;
      // The reply was lost: settle it by re-reading, as update() does.
      let e: KvEntry | undefined;
      let o: KvEntry | undefined;
      try {
        [e, o] = await Promise.all([kv.get(key), kv.get(p.ownerKey)]);
      } catch {
        return { status: 'failed', key, error: new WriteUnknownError(key, next ?? '(owner marker only)', undefined, err) };
      }
      const applied = next !== undefined ? e?.value === next && e.modRevision !== cur.modRevision : e?.modRevision === cur.modRevision;
      if (applied && ownerDone(p, o)) {
        if (next !== undefined)
          deps.log(
            `${displayName(cur.tags)}: etcd did not answer our write, but the object now holds exactly what we wrote: counted as our change`,
          );
        return success(e!.modRevision, next !== undefined);
      }
      const untouched =
        e !== undefined && e.modRevision === cur.modRevision && (mustBe === undefined || o?.modRevision === owner?.modRevision);
      if (untouched && resends < deps.maxRetries) {
        resends++;
        attempt--;
        unansweredPut = next;
        deps.log(
          `${displayName(cur.tags)}: etcd did not answer our write (${(err as Error).message}) and the object is unchanged; writing again (${resends}/${deps.maxRetries})`,
        );
        continue;
      }
      return {
        status: 'failed',
        key,
        error: new WriteUnknownError(key, next ?? '(owner marker only)', e === undefined ? '(deleted)' : e.value, err),
      };
    }
    if (r.succeeded) return success(next !== undefined ? r.revision : cur.modRevision, false);

    const [e, o] = r.currents ?? [r.current, undefined];
    if (e === undefined) return conflict(p, null, o);
    if (unansweredPut !== undefined && e.value === unansweredPut && ownerDone(p, o)) {
      deps.log(`${displayName(cur.tags)}: an earlier unanswered write of ours was applied after all: counted as our change`);
      return success(e.modRevision, true);
    }
    let fresh: ConftoolNode;
    try {
      fresh = nodeFromEntry(key, cur.tags, e.value, e.modRevision);
    } catch (err) {
      if (err instanceof InvalidValueError) return { status: 'invalid', key, error: err };
      throw err;
    }
    // Neither the object nor the marker we compare moved: a fence compare failed (the run's lock is gone).
    if (e.modRevision === cur.modRevision && (mustBe === undefined || o?.modRevision === owner?.modRevision)) {
      return { status: 'failed', key, error: new FencedError(key, fence) };
    }
    cur = fresh;
    confirmed = true;
    owner = o;
    if (!holds(cur, p.expect) || (mustBe !== undefined && (o === undefined || parseOwnerMarker(o.value).runId !== mustBe)))
      return conflict(p, valuesOf(cur), o);
    if (attempt >= deps.maxRetries) return { status: 'failed', key, error: new ConflictError(key, attempt + 1) };
    deps.log(`${displayName(cur.tags)} changed concurrently; re-read and retrying (${attempt + 1}/${deps.maxRetries})`);
  }
}

/**
 * Dry-run: real reads, no write. When the object is still at the node's mod revision the node's
 * values are taken as current (the caller's view, which may include its own earlier dry-run
 * changes); otherwise the stored value is judged as a real run would. A dry-run never wrote a
 * marker, so `mustBe` accepts an absent one (another owner's marker still counts).
 */
async function dryRunOne(deps: TransitionDeps, p: Plan): Promise<TransitionOutcome> {
  const key = p.req.node.key;
  const op = p.req.owner;
  let e: KvEntry | undefined;
  let o: KvEntry | undefined;
  try {
    [e, o] = await Promise.all([deps.kv.get(key), deps.kv.get(p.ownerKey)]);
  } catch (err) {
    return { status: 'failed', key, error: err instanceof Error ? err : new Error(String(err)) };
  }
  if (e === undefined) return conflict(p, null, o);
  let cur: ConftoolNode;
  if (e.modRevision === p.req.node.modRevision) cur = p.req.node;
  else {
    try {
      cur = nodeFromEntry(key, p.req.node.tags, e.value, e.modRevision);
    } catch (err) {
      if (err instanceof InvalidValueError) return { status: 'invalid', key, error: err };
      throw err;
    }
  }
  if (!holds(cur, p.expect)) return conflict(p, valuesOf(cur), o);
  if (op && 'mustBe' in op && o !== undefined && parseOwnerMarker(o.value).runId !== op.mustBe) return conflict(p, valuesOf(cur), o);
  const name = displayName(cur.tags);
  if (op && 'set' in op) deps.log(`DRY-RUN: would record ${op.set.runId} as the owner of ${name}`);
  else if (op && o !== undefined) deps.log(`DRY-RUN: would clear the owner marker of ${name} (${parseOwnerMarker(o.value).runId})`);
  const changes = diff(cur, p.change);
  if (changes.length === 0) return { status: 'already', key, value: valuesOf(cur), node: cur, dryRun: true };
  for (const c of changes) deps.record(c);
  const after: NodeValues = { ...valuesOf(cur), ...p.change };
  return { status: 'changed', key, before: valuesOf(cur), after, node: { ...cur, ...after }, dryRun: true };
}
