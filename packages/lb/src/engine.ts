/**
 * The one traffic-safety engine (ARCHITECTURE §4a). Every cookbook that changes pool state takes
 * hosts out and puts them back through these two operations, so every safety rule lives here once:
 *
 * - `takeOut`: fenced compare-and-set transitions yes → out (`no`, or `inactive` for a host leaving
 *   PyBal's totals while it is reimaged or decommissioned), each writing this run's owner marker in
 *   the same txn; then conftool re-read and every LB asked until all have the host out.
 * - `putBack`: the inverse transitions, only where the object still holds what we wrote AND still
 *   carries our marker (an operator's depool meanwhile leaves it theirs); then every LB asked until
 *   all have it back; a host not back everywhere is taken out again and verified out (fail closed).
 *
 * Nothing here decodes a thrown error: the store answers per object. Capacity is the caller's
 * (the rolling algorithm checks it per batch, a single depool per host).
 */
import { isGalleyError } from '@galley/errors';
import type { LbEvent, LbPorts, LbVerification, OwnerMarker, OwnerOp, PoolChange, PoolObject, PoolTransitionResult } from './ports.js';
import { escapeRegex, shortKey } from './select.js';

export type EngineDeps = Pick<LbPorts, 'store' | 'verifier' | 'capacity' | 'clock'> & { emit?(e: LbEvent): void };

/** One host's part in a take-out / put-back: what to take, what must be out, what we hold. */
export interface Hold {
  host: string;
  /** Objects to take out: `pooled=yes` as read, of the selected services (nothing else is ever written). */
  take: readonly PoolObject[];
  /** The value they are taken out to (`no` unless the caller asks for `inactive`). */
  to: OutValue;
  /**
   * Every object that must be out of every LB before acting: the selected services' objects that
   * are not inactive, whether we take them out or they were `no` already (PyBal may keep a `no`
   * server pooled to hold its threshold; an LB may lag a recent manual depool).
   */
  mustBeOut: readonly PoolObject[];
  /** What this run took out and still owns: the only objects it ever puts back. */
  changes: PoolChange[];
  /** Objects someone else changed while we looked or held them, left as found (for the report). */
  leftAsFound: { key: string; why: string }[];
}

/** What taking out writes: `no` (PyBal keeps counting the server), or `inactive` (it leaves PyBal's totals). */
export type OutValue = Exclude<PoolObject['pooled'], 'yes'>;

export function newHold(host: string, take: readonly PoolObject[], mustBeOut: readonly PoolObject[], opts: { to?: OutValue } = {}): Hold {
  return { host, take, to: opts.to ?? 'no', mustBeOut, changes: [], leftAsFound: [] };
}

export function errorText(err: unknown): string {
  if (isGalleyError(err)) return `${err.message} [${err.code}]`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * An owner marker in words, the one format of every report line, question and status table:
 * `operator:alice (alice: disk errors T1234)`, with `since <time>` where the age matters.
 */
export function ownerText(m: OwnerMarker, opts: { since?: boolean } = {}): string {
  const detail = [m.user, m.reason].filter((x) => x).join(': ');
  return `${m.runId}${detail ? ` (${detail})` : ''}${opts.since && m.time ? ` since ${m.time}` : ''}`;
}

/** Why an object is not ours to write any more, in words. */
export function foundText(r: Extract<PoolTransitionResult, { status: 'changed-by-someone-else' | 'invalid' }>, expected: string): string {
  if (r.status === 'invalid') return `its value is not valid conftool data now (${errorText(r.error)}); left as found`;
  if (r.found === null) return 'it was deleted meanwhile';
  const who = r.foundOwner ? ` by ${ownerText(r.foundOwner)}` : '';
  if (r.found.pooled !== 'yes' && r.foundOwner) return `held out${who}; left to them`;
  return `it is pooled=${r.found.pooled} weight=${r.found.weight} now${who}, expected ${expected}; left as found`;
}

const asObject = (c: PoolChange, pooled: PoolObject['pooled']): PoolObject => ({
  key: c.key,
  tags: c.tags,
  pooled,
  weight: c.weight ?? 0,
  ...(c.modRevision ? { modRevision: c.modRevision } : {}),
});

export interface WriteOutResult {
  /** Objects whose write failed (etcd unreachable, fenced…): state unknown; the caller stops. */
  failed: { key: string; host: string; error: unknown }[];
}

/**
 * Take out what each hold asks for: yes → `hold.to`, our marker set, one txn per object. What changed
 * is appended to `hold.changes`; an object someone else moved meanwhile goes to `hold.leftAsFound`.
 */
export async function writeOut(deps: EngineDeps, holds: readonly Hold[], owner: OwnerMarker): Promise<WriteOutResult> {
  const reqs = holds.flatMap((h) => h.take.map((o) => ({ h, o })));
  let res: PoolTransitionResult[];
  try {
    res = await deps.store.transition(
      reqs.map(({ h, o }) => ({ object: o, to: h.to, expect: { pooled: 'yes' as const, weight: o.weight }, owner: { set: owner } })),
    );
  } catch (err) {
    return { failed: reqs.map(({ h, o }) => ({ key: o.key, host: h.host, error: err })) };
  }
  const failed: WriteOutResult['failed'] = [];
  res.forEach((r, i) => {
    const { h, o } = reqs[i]!;
    if (r.status === 'changed') {
      // drain=weight: the weight write is followed by this depool; the one change holds both, so the put-back restores both in one txn.
      const w = h.changes.findIndex((c) => c.key === o.key && c.weightFrom !== undefined);
      const weightFrom = w >= 0 ? h.changes.splice(w, 1)[0]!.weightFrom : undefined;
      h.changes.push(weightFrom !== undefined ? { ...r.change, weightFrom } : r.change);
    } else if (r.status === 'already')
      h.leftAsFound.push({ key: o.key, why: `it was already pooled=${r.pooled} when we came to depool it; not ours` });
    else if (r.status === 'failed') failed.push({ key: o.key, host: h.host, error: r.error });
    else h.leftAsFound.push({ key: o.key, why: foundText(r, 'pooled=yes') });
  });
  return { failed };
}

/**
 * drain=weight (conftool's `drain`): weight → 0 on each object a hold is about to take out, while it
 * stays pooled=yes, our marker set in the same txn; the LBs stop sending it new connections and the
 * depool follows. What was written is in `hold.changes` (a weight-only change, `weightFrom` the old
 * weight) and `hold.take` holds the objects as written, so the depool's compare expects weight 0. An
 * object already at weight 0 is left as it is (nothing to drain, nothing to restore); one someone
 * moved meanwhile is left as found and not taken out.
 */
export async function writeWeightZero(deps: EngineDeps, holds: readonly Hold[], owner: OwnerMarker): Promise<WriteOutResult> {
  const reqs = holds.flatMap((h) => h.take.filter((o) => o.weight !== 0).map((o) => ({ h, o })));
  if (!reqs.length) return { failed: [] };
  let res: PoolTransitionResult[];
  try {
    res = await deps.store.transition(
      reqs.map(({ o }) => ({
        object: o,
        to: 'yes' as const,
        weight: 0,
        expect: { pooled: 'yes' as const, weight: o.weight },
        owner: { set: owner },
      })),
    );
  } catch (err) {
    return { failed: reqs.map(({ h, o }) => ({ key: o.key, host: h.host, error: err })) };
  }
  const failed: WriteOutResult['failed'] = [];
  const written = new Map<Hold, Map<string, PoolObject>>();
  const dropped = new Map<Hold, Set<string>>();
  res.forEach((r, i) => {
    const { h, o } = reqs[i]!;
    if (r.status === 'changed') {
      h.changes.push({ ...r.change, from: 'yes', to: 'yes', weight: 0, weightFrom: o.weight });
      const m = written.get(h) ?? new Map<string, PoolObject>();
      m.set(o.key, { ...o, weight: 0, ...(r.change.modRevision ? { modRevision: r.change.modRevision } : {}) });
      written.set(h, m);
    } else if (r.status === 'failed') failed.push({ key: o.key, host: h.host, error: r.error });
    else if (r.status !== 'already') {
      h.leftAsFound.push({ key: o.key, why: foundText(r, `pooled=yes weight=${o.weight}`) });
      dropped.set(h, (dropped.get(h) ?? new Set<string>()).add(o.key));
    }
  });
  for (const h of holds) {
    const m = written.get(h);
    const d = dropped.get(h);
    // written objects are re-read by the store before the depool (a change record is not a node), so the depool keeps conftool's other fields
    if (m || d)
      h.take = h.take
        .filter((o) => !d?.has(o.key))
        .map((o) => (m?.has(o.key) ? { key: o.key, tags: o.tags, pooled: 'yes' as const, weight: 0 } : o));
  }
  return { failed };
}

/**
 * Are these hosts out? conftool re-read now (every object that must be out is `no`/`inactive`: one
 * someone set back to `yes` means not out), then every LB of every pool. Undefined when all are out.
 */
export async function verifyOut(
  deps: EngineDeps,
  holds: readonly Hold[],
  opts: { verifyTimeoutMs?: number | undefined; batch?: number } = {},
): Promise<{ reason?: string; failedHosts: string[]; report?: string }> {
  const objects = new Map<string, PoolObject>();
  for (const h of holds) {
    for (const o of h.mustBeOut) objects.set(o.key, o);
    for (const c of h.changes) if (!objects.has(c.key)) objects.set(c.key, asObject(c, c.to));
  }
  let current: PoolObject[];
  try {
    const names = [...new Set(holds.map((h) => h.host))];
    current = await deps.store.select({ name: names.map(escapeRegex).join('|') });
  } catch (err) {
    return { reason: `cannot re-read conftool to check the hosts are out (${errorText(err)})`, failedHosts: holds.map((h) => h.host) };
  }
  const now = new Map(current.map((o) => [o.key, o]));
  const back = [...objects.values()].filter((o) => now.get(o.key)?.pooled === 'yes');
  if (back.length) {
    const keys = back.map((o) => shortKey(o.key));
    return {
      reason: `not out of its pools: ${keys.join(', ')} ${keys.length === 1 ? 'is' : 'are'} pooled=yes in conftool`,
      failedHosts: [...new Set(back.map((o) => o.tags.name))],
    };
  }
  // Objects without a PyBal pool serve no LB traffic; the ones to take out were refused up front.
  const toVerify = [...objects.values()]
    .filter((o) => deps.capacity.poolOf(o) !== undefined)
    .map((o) => ({ ...o, pooled: now.get(o.key)?.pooled ?? o.pooled }));
  if (!toVerify.length) return { failedHosts: [], report: 'no object with an LB pool to verify' };
  const v = await timed(deps, 'out', holds, toVerify, opts);
  if (!v.ok)
    return {
      reason: `depool not verified on every LB: ${v.report}`,
      failedHosts: v.failedHosts.length ? v.failedHosts : holds.map((h) => h.host),
    };
  // Out on every LB is not enough: PyBal's own coordinator.py takes every admin depool out whatever
  // the threshold (only the Wikitech page's PyBal refuses one). If something else left a pool we took
  // servers from after the capacity check (a host failed, an operator depooled one), the pool is now
  // below its threshold in these same answers: nothing may act while it is.
  const ours = new Set(holds.flatMap((h) => h.changes).map((c) => deps.capacity.poolOf(asObject(c, 'no'))));
  const short = (v.lbs ?? []).filter((l) => l.capacity?.below && ours.has(l.pool));
  if (short.length) {
    const why = short
      .map(
        (l) => `${l.pool} on ${l.lb} (${l.capacity!.upEnabled} of ${l.capacity!.total} up and enabled, threshold ${l.capacity!.threshold})`,
      )
      .join('; ');
    return {
      reason: `out on every LB, but below the depool threshold with this batch out: ${why}; not acting while it is`,
      failedHosts: holds.map((h) => h.host),
    };
  }
  return { failedHosts: [], report: v.report };
}

/**
 * drain=weight: every LB has the objects writeWeightZero set to 0 at weight 0 (a drain wait counted
 * from the conftool write alone would be shortened by however long the LBs take to apply it).
 * The hosts some LB does not show at 0 within the deadline are in `failedHosts`.
 */
export async function verifyWeightZero(
  deps: EngineDeps,
  holds: readonly Hold[],
  opts: { verifyTimeoutMs?: number | undefined; batch?: number } = {},
): Promise<{ failedHosts: string[]; report: string }> {
  const keys = new Set(holds.flatMap((h) => h.changes.filter((c) => c.weightFrom !== undefined).map((c) => c.key)));
  const objects = holds.flatMap((h) => h.take).filter((o) => keys.has(o.key) && deps.capacity.poolOf(o) !== undefined);
  if (!objects.length) return { failedHosts: [], report: 'no object at weight 0 with an LB pool to verify' };
  const v = await timed(deps, 'weight-0', holds, objects, opts);
  return { failedHosts: v.ok ? [] : v.failedHosts.length ? v.failedHosts : holds.map((h) => h.host), report: v.report };
}

async function timed(
  deps: EngineDeps,
  direction: 'out' | 'in' | 'weight-0',
  holds: readonly Hold[],
  objects: PoolObject[],
  opts: { verifyTimeoutMs?: number | undefined; batch?: number },
): Promise<LbVerification> {
  const t0 = deps.clock.now();
  const o = { timeoutMs: opts.verifyTimeoutMs };
  const v =
    direction === 'out'
      ? await deps.verifier.verifyOut(objects, o)
      : direction === 'in'
        ? await deps.verifier.verifyIn(objects, o)
        : await deps.verifier.verifyWeightZero(objects, o);
  deps.emit?.({
    type: 'verification',
    batch: opts.batch ?? 0,
    direction,
    ok: v.ok,
    hosts: holds.map((h) => h.host),
    failedHosts: v.failedHosts,
    report: v.report,
    elapsedMs: deps.clock.now() - t0,
  });
  return v;
}

/**
 * Take out and verify, for callers with no steps in between (single-host cookbooks): writeOut, then
 * verifyOut; when a write failed or the hosts are not out, what was taken is put back (verified in,
 * or out again) and the reason returned. On success every hold's `changes` is what it now owns, and
 * `report` is the verifier's.
 */
export async function takeOut(
  deps: EngineDeps,
  holds: readonly Hold[],
  opts: { owner: OwnerMarker; verifyTimeoutMs?: number | undefined; batch?: number },
): Promise<
  | { ok: true; report?: string }
  | { ok: false; reason: string; putBack: PutBackHost[]; failed: { key: string; host: string; error: unknown }[] }
> {
  const w = await writeOut(deps, holds, opts.owner);
  let reason: string | undefined = w.failed.length ? `depool failed: ${errorText(w.failed[0]!.error)}` : undefined;
  let report: string | undefined;
  if (reason === undefined) ({ reason, report } = await verifyOut(deps, holds, opts));
  if (reason === undefined) return { ok: true, ...(report !== undefined ? { report } : {}) };
  const back = await putBack(deps, holds, {
    ownerId: opts.owner.runId,
    owner: opts.owner,
    verifyTimeoutMs: opts.verifyTimeoutMs,
    ...(opts.batch !== undefined ? { batch: opts.batch } : {}),
  });
  return { ok: false, reason, putBack: back.hosts, failed: [...w.failed, ...back.failed] };
}

/** How one host came out of a put-back. */
export type PutBackStatus =
  /** Everything it held is back and every LB has it in (objects left as found are in leftAsFound). */
  | 'in'
  /** Not back in on every LB: taken out again and verified out. `changes` is what it holds now. */
  | 'out-again'
  /** A write failed or the second take-out was not verified: state unknown, read it back. */
  | 'stuck';

export interface PutBackHost {
  hold: Hold;
  status: PutBackStatus;
  reason?: string;
}

export interface PutBackOptions {
  /** The run id whose markers we put back (ours, or the run a resume continues). */
  ownerId: string;
  /** Our marker again, for a host taken out again after a failed verification. */
  owner: OwnerMarker;
  verifyTimeoutMs?: number | undefined;
  batch?: number;
  /** Skip the LB check (a caller that verifies nothing, e.g. objects without a pool). */
  verify?: boolean;
  /** The owner check per object (default `{ mustBe: ownerId }`): `sre.lb.pool` clears what it confirmed. */
  ownerOf?(c: PoolChange): OwnerOp;
  /** Awaited between the write and the LB check, with the holds something was put back for (journal, display). */
  afterWrite?(back: readonly Hold[]): Promise<void>;
}

/**
 * Put back exactly what each hold took out: no → yes only while the object holds what we wrote
 * and carries our marker (cleared in the same txn). Then every LB must have it in (pooled, enabled
 * and up); a host that is not is taken out again and verified out. An object someone else changed
 * or took over meanwhile is left as found and reported, and no longer ours.
 */
export async function putBack(
  deps: EngineDeps,
  holds: readonly Hold[],
  opts: PutBackOptions,
): Promise<{ hosts: PutBackHost[]; failed: { key: string; host: string; error: unknown }[]; report?: string }> {
  const reqs = holds.flatMap((h) => h.changes.map((c) => ({ h, c })));
  let res: PoolTransitionResult[];
  try {
    res = reqs.length
      ? await deps.store.transition(
          reqs.map(({ c }) => ({
            object: asObject(c, c.to),
            to: c.from,
            ...(c.weightFrom !== undefined ? { weight: c.weightFrom } : {}),
            expect: { pooled: c.to, ...(c.weight !== undefined ? { weight: c.weight } : {}) },
            owner: opts.ownerOf?.(c) ?? { mustBe: opts.ownerId },
          })),
        )
      : [];
  } catch (err) {
    const failed = reqs.map(({ h, c }) => ({ key: c.key, host: h.host, error: err }));
    return {
      hosts: holds.map((hold) => ({
        hold,
        status: hold.changes.length ? 'stuck' : 'in',
        ...(hold.changes.length ? { reason: `putting it back failed: ${errorText(err)}` } : {}),
      })),
      failed,
    };
  }
  const failed: { key: string; host: string; error: unknown }[] = [];
  const backOf = new Map<Hold, PoolChange[]>(holds.map((h) => [h, []]));
  const corrupt = new Map<Hold, string[]>();
  const stillOurs = new Map<Hold, PoolChange[]>(holds.map((h) => [h, []]));
  res.forEach((r, i) => {
    const { h, c } = reqs[i]!;
    if (r.status === 'changed') backOf.get(h)!.push(r.change);
    else if (r.status === 'failed') {
      failed.push({ key: c.key, host: h.host, error: r.error });
      stillOurs.get(h)!.push(c);
    } else if (
      r.status === 'already' ||
      (r.status === 'changed-by-someone-else' &&
        r.found?.pooled === c.from &&
        r.found.weight === (c.weight ?? r.found.weight) &&
        !r.foundOwner)
    ) {
      // Back at its value from before us already (a resumed put-back, an operator's pool): it is
      // in traffic either way, so it is verified in like the ones we wrote.
      backOf.get(h)!.push({ ...c, from: c.to, to: c.from });
      // drain=weight, pooled again by someone else with the weight galley set: theirs now, left as found.
      if (c.weightFrom !== undefined && r.status === 'changed-by-someone-else' && r.found && r.found.weight !== c.weightFrom) {
        h.leftAsFound.push({
          key: c.key,
          why: `put back by someone else meanwhile at weight=${r.found.weight} (galley had set 0 for drain=weight, from ${c.weightFrom}); the weight is left as found`,
        });
      }
    } else if (r.status === 'changed-by-someone-else' && r.found && r.foundOwner?.runId === opts.ownerId) {
      // still carrying our marker, but a value we did not write (an operator's weight): theirs now
      h.leftAsFound.push({
        key: c.key,
        why: `it is pooled=${r.found.pooled} weight=${r.found.weight} now, expected pooled=${c.to} weight=${c.weight ?? '(any)'} as we wrote it: changed by someone else while we held it; left as found`,
      });
    } else {
      h.leftAsFound.push({ key: c.key, why: foundText(r, `pooled=${c.to}, ours`) });
      // An unreadable value is nobody's intent: the host is not back, whatever else is.
      if (r.status === 'invalid') corrupt.set(h, [...(corrupt.get(h) ?? []), `${shortKey(c.key)}: ${foundText(r, '')}`]);
    }
  });
  // What each hold owns from here on: what is back is no longer held out; what failed still is.
  for (const h of holds) h.changes = stillOurs.get(h)!;

  const out: PutBackHost[] = [];
  const toVerify = holds.filter((h) => backOf.get(h)!.length);
  await opts.afterWrite?.(toVerify);
  const notIn = new Set<Hold>();
  let report = '';
  if (toVerify.length && opts.verify !== false) {
    const objects = toVerify
      .flatMap((h) => backOf.get(h)!.map((c) => asObject(c, c.to)))
      .filter((o) => deps.capacity.poolOf(o) !== undefined);
    if (objects.length) {
      const v = await timed(deps, 'in', toVerify, objects, opts);
      report = v.report;
      if (!v.ok) {
        const bad = new Set(v.failedHosts.length ? v.failedHosts : toVerify.map((h) => h.host));
        for (const h of toVerify) if (bad.has(h.host)) notIn.add(h);
      }
    }
  }
  // Fail closed: a host not back in on every LB goes out again (what we just put back), verified.
  const again = [...notIn];
  if (again.length) {
    const retake = again.map((h) => ({
      h,
      sub: newHold(
        h.host,
        backOf.get(h)!.map((c) => asObject(c, 'yes')),
        [],
        { to: h.to },
      ),
    }));
    const w = await writeOut(
      deps,
      retake.map((r) => r.sub),
      opts.owner,
    );
    failed.push(...w.failed);
    const failedHosts = new Set(w.failed.map((f) => f.host));
    for (const { h, sub } of retake) {
      h.changes.push(...sub.changes);
      h.leftAsFound.push(...sub.leftAsFound);
    }
    const written = retake.filter(({ sub }) => sub.changes.length && !failedHosts.has(sub.host));
    const vo = written.length
      ? await verifyOut(
          deps,
          written.map((r) => r.sub),
          opts,
        )
      : { failedHosts: [] as string[] };
    const notOut = new Set(vo.reason ? vo.failedHosts : []);
    for (const { h, sub } of retake) {
      if (!sub.changes.length && !failedHosts.has(h.host))
        out.push({
          hold: h,
          status: 'stuck',
          reason: `repool not verified on every LB, and not depooled again: someone else changed it meanwhile (${sub.leftAsFound.map((l) => `${shortKey(l.key)}: ${l.why}`).join('; ')}): ${report}`,
        });
      else if (failedHosts.has(h.host))
        out.push({
          hold: h,
          status: 'stuck',
          reason: `repool not verified on every LB, and depooling it again failed (${errorText(w.failed.find((f) => f.host === h.host)?.error)}): ${report}`,
        });
      else if (notOut.has(h.host))
        out.push({
          hold: h,
          status: 'stuck',
          reason: `repool not verified on every LB, depooled again but that is not verified either: ${report}; ${vo.reason ?? ''}`,
        });
      else out.push({ hold: h, status: 'out-again', reason: `repool not verified on every LB, depooled again: ${report}` });
    }
  }
  for (const h of holds) {
    if (notIn.has(h)) continue;
    const f = failed.filter((x) => x.host === h.host);
    if (f.length) out.push({ hold: h, status: 'stuck', reason: `putting it back failed: ${errorText(f[0]!.error)}` });
    else if (corrupt.has(h))
      out.push({
        hold: h,
        status: 'stuck',
        reason: `not put back: ${corrupt.get(h)!.join('; ')}${backOf.get(h)!.length ? ' (the rest is back, verified in on every LB)' : ''}`,
      });
    else out.push({ hold: h, status: 'in' });
  }
  return { hosts: out, failed, ...(report ? { report } : {}) };
}

/** One object as read back for a report: its key, and what conftool holds now. */
export interface ObjectState {
  object: string;
  pooled: PoolObject['pooled'] | 'deleted' | 'invalid' | 'unknown';
  weight?: number;
  /** Who holds it out, when someone does. */
  owner?: OwnerMarker;
  error?: string;
}

/** What conftool holds now for these objects (never what the run believes it wrote). */
export async function readBack(
  deps: Pick<EngineDeps, 'store'>,
  objects: readonly { key: string; tags: PoolObject['tags'] }[],
): Promise<ObjectState[]> {
  if (!objects.length) return [];
  try {
    const [now, owners] = await Promise.all([
      deps.store.readBack(objects),
      deps.store.owners(objects).catch(() => new Map<string, OwnerMarker>()),
    ]);
    return objects.map((o) => {
      const v = now.get(o.key);
      const owner = owners.get(o.key);
      const base = { object: shortKey(o.key), ...(owner ? { owner } : {}) };
      if (v === undefined) return { ...base, pooled: 'deleted' as const };
      if ('invalid' in v) return { ...base, pooled: 'invalid' as const, error: v.invalid };
      return { ...base, pooled: v.pooled, weight: v.weight };
    });
  } catch (err) {
    return objects.map((o) => ({ object: shortKey(o.key), pooled: 'unknown' as const, error: `cannot read conftool: ${errorText(err)}` }));
  }
}

/** `eqiad/jobrunner/nginx/mw1301…=no (held by …)` for the report. */
export function stateText(s: ObjectState): string {
  const v = s.pooled === 'invalid' ? `invalid value (${s.error ?? ''})` : s.pooled === 'unknown' ? `unknown (${s.error ?? ''})` : s.pooled;
  return `${s.object}=${v}${s.owner ? ` (held out by ${ownerText(s.owner)})` : ''}`;
}
