/**
 * The load-balanced cluster operation (ARCHITECTURE §4): lockstep batches of
 * depool → verify out on every LB → act → health check → repool exactly what was depooled →
 * verify in on every LB. Unlike Spicerack's LBRemoteCluster it verifies with the LBs, never
 * repools a host whose action failed (fail closed), checks capacity before touching a batch,
 * keeps a journal for --resume, and does not sleep after the last batch.
 */
import { isLockFailure } from '@galley/core';
import { batchSizeAt, checkNotWholeCluster, planBatches, type BatchSpec } from './batches.js';
import { CapacityError, ResumeMismatchError, UnknownPoolError } from './errors.js';
import type {
  CommandOutput,
  CommandSpec,
  HostOutcome,
  HostPhase,
  JournalEntry,
  LbEvent,
  LbPorts,
  OwnerMarker,
  PoolCapacity,
  PoolChange,
} from './ports.js';
import { errorText, newHold, putBack as engineBack, readBack, verifyOut, writeOut, type EngineDeps, type Hold, type ObjectState } from './engine.js';
import { mustBeOut, shortKey, type HostPlan, type Selection } from './select.js';

export interface HealthCheck {
  command: CommandSpec;
  /** Give up on a host after this long (default 60 s). */
  timeoutMs?: number;
  /** Pause between tries (default 1 s). */
  intervalMs?: number;
}

export interface RollingOptions {
  selection: Selection;
  batch: BatchSpec;
  /** Run in order on each host while it is out of its pools. */
  commands: CommandSpec[];
  healthCheck?: HealthCheck;
  /**
   * lockstep (default): a batch starts when the whole previous one is back. moving: at most
   * `batch` hosts out at any moment, the next host taken out as soon as one is back (Cumin's
   * moving window); each host is then its own batch for the failure budget and the display.
   */
  window?: 'lockstep' | 'moving';
  /** Failed batches tolerated; one more stops the run (default 0). */
  maxFailedBatches?: number;
  /** Pause between batches, never after the last one. */
  sleepMs?: number;
  /** Deadline for each LB verification (the verifier's default when omitted). */
  verifyTimeoutMs?: number;
  /** First SIGINT: finish the current step, start nothing new. */
  signal?: AbortSignal;
  /** Journal of the interrupted run to continue (ctx.resume). */
  resume?: { runId: string; entries: readonly JournalEntry[] };
  /** What was asked for (journaled; a resume with a different scope is refused). */
  scope?: RunScope;
  /**
   * The owner marker written with every depool (run id, user, reason, time). A resumed run keeps
   * the run id of the run that took the hosts out, so it can put them back.
   */
  owner?: OwnerMarker;
}

/** The selection arguments a resume must repeat. */
export interface RunScope {
  dc?: string | undefined;
  cluster?: string | undefined;
  services?: readonly string[] | undefined;
}

function scopeText(s: RunScope): string {
  return `dc=${s.dc ?? '(all)'} cluster=${s.cluster ?? '(any)'} services=${s.services?.length ? [...s.services].sort().join(',') : '(all)'}`;
}

export interface FailedHost {
  host: string;
  reason: string;
  /** True when the host is still out of (some of) its pools because of this run. */
  stillDepooled: boolean;
  /** The conftool objects this run left at pooled=no (read back: `no` and carrying this run's marker). */
  depooledObjects: string[];
  batch: number;
  /** Every object of the host as conftool holds it after the run (read back, never what was written). */
  objects?: ObjectState[];
}

export interface RollingReport {
  status: 'succeeded' | 'failed' | 'interrupted' | 'refused';
  succeeded: string[];
  failed: FailedHost[];
  /** Hosts stopped mid-way (interrupted): their phase, and what is still depooled. */
  inFlight: { host: string; phase: HostPhase; depooledObjects: string[]; batch: number; objects?: ObjectState[] }[];
  /** Objects someone else changed while the run held them (or just before it wrote), left as found. */
  leftAsFound: { host: string; object: string; why: string }[];
  notAttempted: string[];
  skipped: { host: string; why: string }[];
  batches: { batch: number; hosts: string[]; ok: boolean; reason?: string }[];
  failedBatches: number;
  stopReason?: string;
  /** Each host's command output, for rolling-run (grouped for display by the caller). */
  outputs: Map<string, CommandOutput[]>;
  warnings: string[];
}

/** A host's hold (engine.ts: what to take, what must be out, what this run holds) and its place in the run. */
interface HostState extends Hold {
  plan: HostPlan;
  phase: HostPhase;
  batch: number;
  reason?: string;
  stillDepooled: boolean;
  /** leftAsFound entries already reported. */
  noted: number;
}

function hostState(plan: HostPlan, phase: HostPhase, changes: PoolChange[] = [], batch = 0): HostState {
  return { ...newHold(plan.host, plan.depool, mustBeOut(plan)), changes, plan, phase, batch, stillDepooled: false, noted: 0 };
}

/** Stops the run: nothing more is written (etcd unreachable, journal lost, fencing failed…). */
class StopRun extends Error {}

const TERMINAL: ReadonlySet<HostPhase> = new Set(['done', 'failed', 'put-back']);
const CONTINUE_PHASES: ReadonlySet<HostPhase> = new Set(['depooling', 'depooled', 'verified-out', 'acted', 'healthy', 'repooling', 'repooled']);

export function commandText(c: CommandSpec): string {
  return 'shell' in c ? c.shell : c.argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Objects to depool whose pool is unknown can never be verified: refuse the whole run up front. */
export function checkPools(ports: Pick<LbPorts, 'capacity'>, hosts: readonly HostPlan[]): void {
  const unknown = hosts.flatMap((h) => h.depool.filter((o) => ports.capacity.poolOf(o) === undefined).map((o) => o.key));
  if (unknown.length) throw new UnknownPoolError(unknown);
}

/** Objects to depool per pool, for a batch of hosts (or anything that lists the objects it takes out). */
export function depoolsPerPool(ports: Pick<LbPorts, 'capacity'>, hosts: readonly Pick<HostPlan, 'depool'>[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const h of hosts) {
    for (const o of h.depool) {
      const pool = ports.capacity.poolOf(o);
      if (pool !== undefined) out.set(pool, (out.get(pool) ?? 0) + 1);
    }
  }
  return out;
}

export function judgeCapacity(
  need: Map<string, number>,
  live: Map<string, PoolCapacity>,
): (PoolCapacity & { depool: number; ok: boolean })[] {
  return [...need].map(([pool, depool]) => {
    const cap = live.get(pool) ?? { pool, canTakeOut: 0, detail: 'no answer', error: 'no capacity reported' };
    return { ...cap, depool, ok: cap.error === undefined && depool <= cap.canTakeOut };
  });
}

/** Why the rows that are not ok refuse, one clause each (prefixed `batch N: ` when a batch is given). */
export function capacityMessage(batch: number | undefined, rows: readonly (PoolCapacity & { depool: number; ok: boolean })[]): string {
  const pre = batch === undefined ? '' : `batch ${batch}: `;
  return rows
    .filter((r) => !r.ok)
    .map((r) =>
      r.error
        ? `${pre}capacity of pool ${r.pool} is unknown (${r.error}); refusing to depool ${r.depool} server(s)`
        : `${pre}depooling ${r.depool} server(s) from pool ${r.pool} would breach its depool threshold: only ${r.canTakeOut} can leave now (${r.detail})`,
    )
    .join('; ');
}

/** Rebuild each host's last known state from a run journal (entries in append order). */
export function replayJournal(entries: readonly JournalEntry[]): Map<string, { phase: HostPhase; changes: PoolChange[]; objects: string[]; reason?: string; stillDepooled?: boolean; batch: number }> {
  const out = new Map<string, { phase: HostPhase; changes: PoolChange[]; objects: string[]; reason?: string; stillDepooled?: boolean; batch: number }>();
  for (const e of entries) {
    if (e.type === 'lb-run' && e.carried && typeof e.carried === 'object') {
      for (const [host, s] of Object.entries(e.carried as Record<string, { phase: HostPhase; changes?: PoolChange[]; objects?: string[]; reason?: string; stillDepooled?: boolean; batch?: number }>)) {
        out.set(host, { phase: s.phase, changes: s.changes ?? [], objects: s.objects ?? [], reason: s.reason, stillDepooled: s.stillDepooled, batch: s.batch ?? 0 });
      }
      continue;
    }
    if (e.type !== 'lb-host-phase' || !e.host || !e.phase) continue;
    const prev = out.get(e.host) ?? { phase: 'pending' as HostPhase, changes: [], objects: [], batch: e.batch ?? 0 };
    const next = { ...prev, phase: e.phase, batch: e.batch ?? prev.batch };
    if (e.changes) next.changes = e.changes;
    if (e.objects) next.objects = e.objects;
    if (e.phase === 'put-back') next.changes = [];
    next.reason = e.reason;
    next.stillDepooled = e.stillDepooled;
    out.set(e.host, next);
  }
  return out;
}

export async function runRolling(ports: LbPorts, opts: RollingOptions): Promise<RollingReport> {
  const { selection, batch: spec } = opts;
  const n = selection.hosts.length;
  checkNotWholeCluster(spec, n, selection.clusterSize, selection.what, selection.groups);
  checkPools(ports, selection.hosts);
  const maxFailed = opts.maxFailedBatches ?? 0;
  const signal = opts.signal;
  const warnings: string[] = [];
  const outputs = new Map<string, CommandOutput[]>();
  const states = new Map<string, HostState>();
  const batches: RollingReport['batches'] = [];
  const skipped = [...selection.skipped];
  let failedBatches = 0;
  let stopReason: string | undefined;
  let refused = false;

  // Progress is for people: a display that throws (a renderer bug, a closed terminal) must not
  // stop the algorithm between a depool and its repool, nor lose the report. Noted once, then ignored.
  let emitFailed = false;
  const emit = (e: LbEvent): void => {
    try {
      ports.emit(e);
    } catch (err) {
      if (emitFailed) return;
      emitFailed = true;
      warnings.push(`the progress display failed (${errorText(err)}); the run went on without it`);
    }
  };

  const warn = (message: string): void => {
    warnings.push(message);
    emit({ type: 'warning', message });
  };

  const journal = async (s: HostState, extra: Partial<JournalEntry> = {}): Promise<void> => {
    try {
      await ports.journal.append({ type: 'lb-host-phase', host: s.plan.host, phase: s.phase, batch: s.batch, at: new Date(ports.clock.now()).toISOString(), ...extra });
    } catch (err) {
      throw new StopRun(`cannot write the run journal (${errorText(err)}); stopping before the next step`, { cause: err });
    }
  };

  // Journal entries are appended in order. The ones a resume depends on before a side effect
  // (about to depool, about to act, about to repool) are awaited; the others are chained behind
  // them without holding up the batch, and awaited at the next awaited entry or at the end.
  let chain: Promise<void> = Promise.resolve();
  // 'acted' too: a resume repools a host only when it knows its action completed.
  const CRITICAL: ReadonlySet<HostPhase> = new Set(['depooling', 'acting', 'acted', 'repooling', 'failed', 'put-back']);
  const setPhase = async (hs: readonly HostState[], phase: HostPhase, extra?: (s: HostState) => Partial<JournalEntry>): Promise<void> => {
    if (!hs.length) return;
    // Snapshot now: the chained write may run after the host has moved on.
    const at = new Date(ports.clock.now()).toISOString();
    const entries = hs.map((s) => ({ phase, batch: s.batch, at, ...extra?.(s) }));
    const prev = chain;
    chain = prev.then(() => Promise.all(hs.map((s, i) => journal(s, entries[i]))).then(() => undefined));
    // A failure stays in the chain and surfaces at the next awaited entry.
    chain.catch(() => undefined);
    // A phase that announces a side effect is durable before the host is said to be in it, so
    // a run stopped by a journal failure reports where its hosts really are.
    if (CRITICAL.has(phase)) await chain;
    for (const s of hs) {
      s.phase = phase;
      emit({ type: 'host-phase', batch: s.batch, host: s.plan.host, phase, ...(s.reason !== undefined && (phase === 'failed' || phase === 'put-back') ? { reason: s.reason } : {}) });
    }
  };
  const flushJournal = async (): Promise<void> => {
    await chain;
  };

  const fail = async (hs: readonly HostState[], reason: string | ((s: HostState) => string), stillDepooled: (s: HostState) => boolean): Promise<void> => {
    for (const s of hs) {
      s.reason = typeof reason === 'string' ? reason : reason(s);
      s.stillDepooled = stillDepooled(s);
    }
    await setPhase(hs, 'failed', (s) => ({ reason: s.reason, stillDepooled: s.stillDepooled, changes: s.changes }));
  };

  const engine: EngineDeps = { store: ports.store, verifier: ports.verifier, capacity: ports.capacity, clock: ports.clock, emit };
  // A resumed run keeps the id of the run that took its hosts out: its markers are what it puts back.
  const resumedOwner = opts.resume ? ([...opts.resume.entries].find((e) => e.type === 'lb-run' && typeof e.owner === 'string')?.owner as string | undefined) ?? opts.resume.runId : undefined;
  const owner: OwnerMarker = { ...(opts.owner ?? { runId: 'lb-run', user: '', reason: '', time: new Date(ports.clock.now()).toISOString() }), ...(resumedOwner ? { runId: resumedOwner } : {}) };
  const backOpts = (no: number): { ownerId: string; owner: OwnerMarker; verifyTimeoutMs: number | undefined; batch: number } => ({ ownerId: owner.runId, owner, verifyTimeoutMs: opts.verifyTimeoutMs, batch: no });

  /** Objects someone else changed, found by the engine: said once each. */
  const noteLeft = (hs: readonly HostState[]): void => {
    for (const st of hs) {
      for (const l of st.leftAsFound.slice(st.noted)) warn(`${shortKey(l.key)}: ${l.why}`);
      st.noted = st.leftAsFound.length;
    }
  };

  /**
   * Put back a batch's hosts that were never acted on (a failed depool verification or write):
   * what is back in on every LB is 'put-back'; what is not was taken out again (failed, depooled).
   */
  const putBack = async (hs: readonly HostState[], why: string, no: number): Promise<void> => {
    const withChanges = hs.filter((st) => st.changes.length);
    const res = await engineBack(engine, withChanges, backOpts(no));
    noteLeft(hs);
    const bad = res.hosts.filter((h) => h.status !== 'in');
    const badSet = new Set<Hold>(bad.map((h) => h.hold));
    const back = hs.filter((st) => !badSet.has(st));
    for (const st of back) {
      st.reason = why;
      st.stillDepooled = false;
    }
    await setPhase(back, 'put-back', (st) => ({ reason: st.reason }));
    for (const b of bad) await fail([b.hold as HostState], `${why}; ${b.reason ?? ''}`, () => true);
    if (res.failed.length) throw new StopRun(`cannot write conftool: ${errorText(res.failed[0]?.error)}`);
  };

  const runBatch = async (hs: HostState[], no: number, of: number, resume = false): Promise<boolean> => {
    const names = hs.map((s) => s.plan.host);
    emit({ type: 'batch-started', batch: no, of, hosts: names, ...(resume ? { resume } : {}), ...(opts.window === 'moving' && !resume ? { window: 'moving' as const } : {}) });
    for (const s of hs) s.batch = no;
    try {
      await ports.lockHosts?.(names);
    } catch (err) {
      // Nothing of the batch has been touched: its hosts stay as they are, reported not attempted.
      throw new StopRun(`cannot lock the hosts of batch ${no} (${errorText(err)}); nothing of it was touched`, { cause: err });
    }
    const goOn = (): boolean => signal?.aborted !== true;

    // 1. take out the recorded pooled=yes objects: one fenced CAS txn per object, our owner marker in it
    const fresh = hs.filter((st) => st.phase === 'pending');
    const toWrite = fresh.filter((st) => st.take.length);
    const nothing = fresh.filter((st) => !st.take.length);
    if (toWrite.length) {
      await setPhase(toWrite, 'depooling', (st) => ({ objects: st.take.map((o) => o.key) }));
      const w = await writeOut(engine, toWrite, owner);
      noteLeft(toWrite);
      if (w.failed.length) {
        const err = w.failed[0]?.error;
        await putBack(toWrite, `depool failed: ${errorText(err)}`, no);
        throw new StopRun(`cannot write conftool: ${errorText(err)}`);
      }
      await setPhase(toWrite, 'depooled', (st) => ({ changes: st.changes }));
    }
    // Hosts with nothing to depool are not out yet for all that: they are verified like the others.
    if (nothing.length) await setPhase(nothing, 'depooled', () => ({ changes: [] }));

    // 2. verify out, on every LB, every object of the selected services of every host of the batch
    // (not only what this run wrote); on failure no action runs and the batch is put back
    const unverified = hs.filter((st) => st.phase === 'depooled');
    if (unverified.length) {
      const v = await verifyOut(engine, unverified, { verifyTimeoutMs: opts.verifyTimeoutMs, batch: no });
      if (v.reason !== undefined) {
        await putBack(unverified, v.reason, no);
        return false;
      }
      await setPhase(unverified, 'verified-out');
    }
    if (!goOn()) return false;

    // 3. the action, on hosts every LB reported out
    const ready = hs.filter((s) => s.phase === 'verified-out');
    if (ready.length) {
      await setPhase(ready, 'acting');
      // The action is not given the abort signal: a restart that has begun is allowed to finish.
      let results: HostOutcome[];
      try {
        results = await ports.executor.run(ready.map((s) => s.plan.host), opts.commands);
      } catch (err) {
        if (isLockFailure(err)) {
          // The runner checks its locks before any command starts: nothing ran, so the hosts are
          // put back (if that write fails too, they are reported still depooled).
          await putBack(ready, `action not started: ${errorText(err)}`, no);
        } else {
          await fail(ready, `the action did not complete (${errorText(err)}): outcome unknown, left depooled (check it, then \`cookbook sre.lb.pool host=…\`)`, (s) => s.changes.length > 0);
        }
        throw new StopRun(`cannot run the action on batch ${no}: ${errorText(err)}`, { cause: err });
      }
      const resultOf = new Map(results.map((r) => [r.host, r]));
      const ok: HostState[] = [];
      const bad: HostState[] = [];
      for (const s of ready) {
        const r = resultOf.get(s.plan.host);
        if (r) {
          outputs.set(s.plan.host, r.outputs);
          emit({ type: 'host-output', batch: no, host: s.plan.host, outputs: r.outputs });
        }
        (r?.ok ? ok : bad).push(s);
        if (!r?.ok) s.reason = `action failed: ${r?.message ?? 'no result'}`;
      }
      await fail(bad, (s) => s.reason ?? 'action failed', (s) => s.changes.length > 0);
      await setPhase(ok, 'acted');
    }
    if (!goOn()) return false;

    // 4. health check until it passes or times out
    const hc = opts.healthCheck;
    if (hc) {
      let waiting = hs.filter((s) => s.phase === 'acted');
      const deadline = ports.clock.now() + (hc.timeoutMs ?? 60_000);
      const last = new Map<string, string>();
      while (waiting.length) {
        let results: HostOutcome[];
        try {
          results = await ports.executor.run(waiting.map((s) => s.plan.host), [hc.command]);
        } catch (err) {
          await fail(waiting, `health check could not run (${errorText(err)}); left depooled`, (s) => s.changes.length > 0);
          throw new StopRun(`cannot run the health check on batch ${no}: ${errorText(err)}`, { cause: err });
        }
        const passed = new Set(results.filter((r) => r.ok).map((r) => r.host));
        for (const r of results) if (!r.ok) last.set(r.host, r.message ?? r.outputs.map((o) => o.stderr || o.stdout).join(' ').trim());
        await setPhase(waiting.filter((s) => passed.has(s.plan.host)), 'healthy');
        waiting = waiting.filter((s) => !passed.has(s.plan.host));
        if (!waiting.length || !goOn()) break;
        if (ports.clock.now() >= deadline) {
          await fail(waiting, (s) => `health check \`${commandText(hc.command)}\` did not pass within ${hc.timeoutMs ?? 60_000} ms: ${last.get(s.plan.host) ?? ''}`.trim(), (s) => s.changes.length > 0);
          break;
        }
        await ports.clock.sleep(Math.min(hc.intervalMs ?? 1000, Math.max(0, deadline - ports.clock.now())));
      }
      if (!goOn()) return false;
    }

    // 5. put back exactly what was taken out (only what still carries our marker), 6. verified in
    // on every LB; a host not back everywhere is taken out again and verified out (fail closed)
    const repoolFrom: ReadonlySet<HostPhase> = new Set(hc ? ['healthy', 'repooling', 'repooled'] : ['acted', 'healthy', 'repooling', 'repooled']);
    const toRepool = hs.filter((st) => repoolFrom.has(st.phase));
    const withChanges = toRepool.filter((st) => st.changes.length);
    const done = toRepool.filter((st) => !st.changes.length);
    if (withChanges.length) {
      await setPhase(withChanges.filter((st) => st.phase !== 'repooled'), 'repooling');
      const res = await engineBack(engine, withChanges, { ...backOpts(no), afterWrite: (back) => setPhase(withChanges.filter((st) => back.includes(st)), 'repooled') });
      noteLeft(withChanges);
      for (const r of res.hosts) {
        const st = r.hold as HostState;
        if (r.status === 'in') done.push(st);
        else await fail([st], r.reason ?? 'not put back', () => true);
      }
      if (res.failed.length) throw new StopRun(`cannot write conftool: ${errorText(res.failed[0]?.error)}`);
    }
    await setPhase(done, 'done');
    await flushJournal();
    return hs.every((s) => s.phase === 'done');
  };

  // Resume: hosts the interrupted run finished are skipped, hosts it left depooled go first.
  const leftovers: HostState[] = [];
  const carried = new Map<string, HostState>();
  if (opts.resume) {
    // The same operation or none: its leftovers were chosen for that cluster, dc and services.
    const was = [...opts.resume.entries].reverse().find((e) => e.type === 'lb-run' && e.scope && typeof e.scope === 'object')?.scope as RunScope | undefined;
    if (was && opts.scope && scopeText(was) !== scopeText(opts.scope)) throw new ResumeMismatchError(opts.resume.runId, scopeText(was), scopeText(opts.scope));
    const replay = replayJournal(opts.resume.entries);
    const planOf = new Map(selection.hosts.map((h) => [h.host, h]));
    for (const [host, r] of replay) {
      const plan = planOf.get(host) ?? { host, dc: '', cluster: '', objects: [], depool: [], leftAlone: [] };
      // Conftool now, not the journal, says what is still ours: an object someone set back (e.g.
      // `sre.lb.pool` after the interruption) or moved to inactive is no longer this run's to
      // repool, and its host is no longer out.
      const now = new Map(plan.objects.map((o) => [o.key, o.pooled]));
      const changes = r.changes.filter((c) => now.get(c.key) === 'no');
      const s: HostState = { ...hostState(plan, r.phase, changes, r.batch), ...(r.reason !== undefined ? { reason: r.reason } : {}), stillDepooled: (r.stillDepooled ?? false) && changes.length > 0 };
      if (r.phase === 'done') {
        carried.set(host, s);
      } else if (r.phase === 'failed') {
        s.reason = `failed in run ${opts.resume.runId}: ${r.reason ?? 'unknown'}`;
        carried.set(host, s);
      } else if (r.phase === 'acting') {
        s.phase = 'failed';
        s.stillDepooled = s.changes.length > 0;
        s.reason = `run ${opts.resume.runId} stopped while acting on it: outcome unknown, left depooled (check it, then \`cookbook sre.lb.pool host=${host}\`)`;
        leftovers.push(s);
      } else if (r.phase === 'depooling') {
        // The write may or may not have happened: the objects now at `no` among those it was about to write are ours.
        const now = new Map(plan.objects.map((o) => [o.key, o]));
        s.changes = r.objects.flatMap((k) => {
          const o = now.get(k);
          return o && o.pooled === 'no' ? [{ key: k, tags: o.tags, field: 'pooled' as const, from: 'yes' as const, to: 'no' as const }] : [];
        });
        // Nothing of it was written: it goes through the normal batches (with their capacity check).
        if (s.changes.length) {
          s.phase = 'depooled';
          leftovers.push(s);
        }
      } else if (CONTINUE_PHASES.has(r.phase)) {
        // Out before is no proof of out now: verify again before any action.
        if (s.phase === 'verified-out') s.phase = 'depooled';
        leftovers.push(s);
      }
      // pending / put-back: attempted again from scratch with the current state.
    }
    for (const s of carried.values()) {
      states.set(s.plan.host, s);
      if (s.phase === 'done') skipped.push({ host: s.plan.host, why: `done in run ${opts.resume.runId}` });
    }
  }

  const queue: HostState[] = selection.hosts
    .filter((h) => !carried.has(h.host) && !leftovers.some((l) => l.plan.host === h.host))
    .map((plan) => hostState(plan, 'pending'));
  for (const s of [...leftovers, ...queue]) states.set(s.plan.host, s);
  const planned = planBatches(queue.map((s) => s.plan.host), spec, n);
  emit({
    type: 'plan',
    batches: planned,
    skipped,
    ...(opts.window === 'moving' ? { window: { moving: true as const, batch: spec.text, hosts: queue.map((s) => s.plan.host) } } : {}),
  });
  // The count shown in `Batch i/N`: re-planned (and said why) when hosts left depooled shrink the batches.
  let total = planned.length;
  const batchesLeft = (from: number, left: number, out: number): number => {
    let k = 0;
    for (let j = from; left > 0; j++, k++) {
      const room = batchSizeAt(spec, j, n) - out;
      if (room <= 0) return k + 1;
      left -= room;
    }
    return k;
  };

  /** Hosts this run left out of their pools by failures: they use up the batch size. */
  const leftDepooled = (): number => [...states.values()].filter((s) => s.phase === 'failed' && s.stillDepooled).length;

  /**
   * A batch has ended: its line in the report, its batch-done event, and its count against the
   * failure budget (`budgetText` says what the budget counts). 'interrupted' when a signal stopped
   * it mid-way, 'over-budget' when it was one failed batch too many.
   */
  const endBatch = (hs: readonly HostState[], no: number, ok: boolean, budgetText: string): 'interrupted' | 'over-budget' | undefined => {
    const hosts = hs.map((s) => s.plan.host);
    const done = hs.filter((s) => s.phase === 'done').map((s) => s.plan.host);
    if (signal?.aborted && hs.some((s) => !TERMINAL.has(s.phase))) {
      batches.push({ batch: no, hosts, ok: false, reason: 'interrupted' });
      emit({ type: 'batch-done', batch: no, ok: false, succeeded: done, failed: [], reason: 'interrupted' });
      return 'interrupted';
    }
    const failedHosts = hs.filter((s) => s.phase === 'failed' || s.phase === 'put-back');
    // a batch stopped by StopRun before any host failed: say where its hosts were left
    const why = failedHosts.length ? failedHosts.map((s) => `${s.plan.host}: ${s.reason ?? ''}`) : hs.filter((s) => s.phase !== 'done').map((s) => `${s.plan.host}: stopped at ${s.phase}`);
    const reason = ok ? undefined : why.join('; ') || undefined;
    batches.push({ batch: no, hosts, ok, ...(reason ? { reason } : {}) });
    emit({ type: 'batch-done', batch: no, ok, succeeded: done, failed: failedHosts.map((s) => s.plan.host), ...(reason ? { reason } : {}) });
    if (ok) return undefined;
    failedBatches++;
    if (failedBatches <= maxFailed) return undefined;
    stopReason ??= `${failedBatches} ${budgetText}, more than max-failed-batches=${maxFailed}`;
    return 'over-budget';
  };

  /**
   * The moving window: each host is its own batch (the same runBatch, so the same depool → verify
   * → act → repool → verify steps, journal and fail-closed rules), and a new one starts as soon as
   * one is back, while fewer than the window's size are out. The window follows the batch ramp as
   * hosts finish (`batch=1,4`: one canary alone, then up to 4 at once). Before each host is taken
   * out, the capacity check counts the hosts already out whose depool the LBs may not show yet.
   * A step that stops the run (StopRun) starts nothing new; hosts already out finish their steps.
   */
  const runMoving = async (): Promise<void> => {
    const inFlight = new Map<HostState, Promise<void>>();
    let unit = 0;
    let finished = 0;
    const of = queue.length;
    const windowSize = (): number => {
      // the ramp advances by whole batches' worth of finished hosts
      let j = 0;
      let acc = batchSizeAt(spec, 0, n);
      while (acc <= finished) {
        j++;
        acc += batchSizeAt(spec, j, n);
      }
      return batchSizeAt(spec, j, n);
    };
    const NOT_YET_OUT: ReadonlySet<HostPhase> = new Set(['pending', 'depooling', 'depooled']);
    const capacityWaits = new Set<string>();
    const start = (s: HostState, no: number): void => {
      const p = (async () => {
        let ok = false;
        try {
          ok = await runBatch([s], no, of);
        } catch (err) {
          stopReason ??= err instanceof StopRun ? err.message : `stopped by an unexpected error: ${errorText(err)}`;
        }
        finished++;
        endBatch([s], no, ok, 'failed host(s) in a moving window');
      })();
      inFlight.set(s, p.finally(() => inFlight.delete(s)));
    };
    const slotFrees = async (): Promise<void> => {
      await Promise.race(inFlight.values());
    };
    while (queue.length && !stopReason && !signal?.aborted) {
      const size = windowSize();
      const out = leftDepooled();
      if (size - out <= 0) {
        if (inFlight.size) {
          await slotFrees();
          continue;
        }
        stopReason = `${out} host(s) are still depooled after failures, which uses the whole batch size ${size}; not depooling more`;
        break;
      }
      if (inFlight.size >= size - out) {
        await slotFrees();
        continue;
      }
      const s = queue[0]!;
      const need = depoolsPerPool(ports, [s.plan]);
      if (need.size) {
        // Hosts out before this one are in the LBs' counts once verified out; until then, counted here.
        const pending = [...inFlight.keys()].filter((h) => NOT_YET_OUT.has(h.phase));
        for (const [pool, k] of depoolsPerPool(ports, pending.map((h) => h.plan))) if (need.has(pool)) need.set(pool, need.get(pool)! + k);
        const live = await ports.capacity.capacity([...need.keys()]);
        const rows = judgeCapacity(need, live);
        if (rows.some((r) => !r.ok)) {
          // Short only because of hosts of this run still out: wait for one to come back, then look again.
          if (inFlight.size) {
            for (const r of rows.filter((x) => !x.ok && !capacityWaits.has(x.pool))) {
              capacityWaits.add(r.pool);
              warn(`pool ${r.pool} can lose only ${r.canTakeOut} more server(s) while ${inFlight.size} host(s) of this run are out (${r.detail}); the window waits for one to come back rather than breach its depool threshold`);
            }
            await slotFrees();
            continue;
          }
          emit({ type: 'capacity', batch: unit + 1, pools: rows });
          stopReason = capacityMessage(unit + 1, rows);
          refused = true;
          break;
        }
        emit({ type: 'capacity', batch: unit + 1, pools: rows });
      }
      queue.shift();
      unit++;
      start(s, unit);
      ports.executor.prepare?.(queue.slice(0, size).map((h) => h.plan.host));
      if (queue.length && opts.sleepMs && inFlight.size >= size - out) {
        // the pause is taken when a slot frees, before the next host goes out (Cumin's batch sleep)
        await slotFrees();
        if (!stopReason && !signal?.aborted) {
          emit({ type: 'sleep', batch: unit, ms: opts.sleepMs });
          await ports.clock.sleep(opts.sleepMs, signal);
        }
      }
    }
    while (inFlight.size) await slotFrees();
    batches.sort((a, b) => a.batch - b.batch);
    const ok = !stopReason && batches.every((b) => b.ok) && !signal?.aborted;
    emit({ type: 'window-done', ok, ...(stopReason ? { reason: stopReason } : {}) });
  };

  ports.executor.prepare?.(queue.slice(0, batchSizeAt(spec, 0, n)).map((s) => s.plan.host));
  try {
    if (!opts.resume) {
      await ports.journal.append({ type: 'lb-run', ...(opts.scope ? { scope: opts.scope } : {}), owner: owner.runId }).catch((err: unknown) => {
        throw new StopRun(`cannot write the run journal (${errorText(err)})`, { cause: err });
      });
    }
    if (opts.resume) {
      // What this run carries over from the one it resumes, so that it can be resumed in turn.
      const runId = opts.resume.runId;
      await ports.journal
        .append({
          type: 'lb-run',
          ...(opts.scope ? { scope: opts.scope } : {}),
          resumedFrom: runId,
          owner: owner.runId,
          carried: Object.fromEntries([...carried].map(([h, s]) => [h, { phase: s.phase, changes: s.changes, reason: s.reason, stillDepooled: s.stillDepooled, batch: s.batch }])),
        })
        .catch((err: unknown) => {
          throw new StopRun(`cannot write the run journal (${errorText(err)})`, { cause: err });
        });
    }
    if (leftovers.length) {
      const failedNow = leftovers.filter((s) => s.phase === 'failed');
      if (failedNow.length) await fail(failedNow, (s) => s.reason ?? 'unknown', (s) => s.stillDepooled);
      const active = leftovers.filter((s) => s.phase !== 'failed');
      if (active.length) {
        const ok = await runBatch(active, 0, planned.length, true);
        if (signal?.aborted && !ok) throw new StopRun('interrupted while finishing the resumed run\'s leftovers');
        batches.push({ batch: 0, hosts: active.map((s) => s.plan.host), ok, ...(ok ? {} : { reason: 'leftovers of the resumed run failed' }) });
        emit({ type: 'batch-done', batch: 0, ok, succeeded: active.filter((s) => s.phase === 'done').map((s) => s.plan.host), failed: active.filter((s) => s.phase === 'failed' || s.phase === 'put-back').map((s) => s.plan.host) });
        if (!ok && !signal?.aborted) {
          failedBatches++;
          if (failedBatches > maxFailed) stopReason = `${failedBatches} failed batch(es), more than max-failed-batches=${maxFailed}`;
        }
      }
    }
    if (opts.window === 'moving') await runMoving();
    for (let i = 0; opts.window !== 'moving' && queue.length && !stopReason; i++) {
      if (signal?.aborted) break;
      const size = batchSizeAt(spec, i, n);
      // Hosts this run left depooled use up the batch's budget: never more out at once than a batch.
      const out = leftDepooled();
      const room = size - out;
      if (room <= 0) {
        stopReason = `${out} host(s) are still depooled after failures, which uses the whole batch size ${size}; not depooling more`;
        break;
      }
      const hs = queue.slice(0, room);
      const no = batches.filter((b) => b.batch > 0).length + 1;
      const need = depoolsPerPool(ports, hs.map((s) => s.plan));
      if (need.size) {
        const live = await ports.capacity.capacity([...need.keys()]);
        const rows = judgeCapacity(need, live);
        emit({ type: 'capacity', batch: no, pools: rows });
        if (rows.some((r) => !r.ok)) {
          stopReason = capacityMessage(no, rows);
          refused = true;
          break;
        }
      }
      queue.splice(0, hs.length);
      // While this batch waits on the LBs, get the next one's connections ready.
      ports.executor.prepare?.(queue.slice(0, batchSizeAt(spec, i + 1, n)).map((s) => s.plan.host));
      const expected = no - 1 + batchesLeft(i, queue.length + hs.length, out);
      if (expected !== total) {
        emit({ type: 'warning', message: `re-planned: ${out} host(s) left depooled by failures use up part of the batch size, so ${expected} batches instead of ${total}` });
        total = expected;
      }
      const ok = await runBatch(hs, no, total);
      if (endBatch(hs, no, ok, 'failed batch(es)') !== undefined) break;
      if (queue.length && !signal?.aborted && opts.sleepMs) {
        emit({ type: 'sleep', batch: no, ms: opts.sleepMs });
        await ports.clock.sleep(opts.sleepMs, signal);
      }
    }
    await flushJournal();
  } catch (err) {
    // Anything else (an LB verifier or store that throws, …) also ends in a report that says
    // which hosts are left where, rather than an uncaught exception that says nothing.
    stopReason = err instanceof StopRun ? err.message : `stopped by an unexpected error: ${errorText(err)}`;
  }
  await chain.catch((err: unknown) => {
    stopReason ??= `cannot write the run journal (${errorText(err)})`;
  });
  if (signal?.aborted && !stopReason) stopReason = 'interrupted: no new batch or step was started';
  if (stopReason) emit({ type: 'stopped', reason: stopReason });

  const all = [...states.values()];
  // The report is conftool read back, object by object: what each host that did not simply finish
  // holds now, and which of its objects are out under this run's marker (the real leftovers).
  const toRead = all.filter((st) => st.phase !== 'pending' && (st.phase !== 'done' || st.leftAsFound.length));
  const readKeys = new Map<string, { key: string; tags: HostPlan['objects'][number]['tags'] }>();
  for (const st of toRead) {
    for (const o of st.plan.objects) readKeys.set(o.key, o);
    for (const c of st.changes) readKeys.set(c.key, c);
  }
  const states2 = await readBack(engine, [...readKeys.values()]);
  const stateOf = new Map([...readKeys.keys()].map((k, i) => [k, states2[i]!]));
  const objectsOf = (st: HostState): ObjectState[] => [...new Set([...st.plan.objects.map((o) => o.key), ...st.changes.map((c) => c.key)])].flatMap((k) => (stateOf.has(k) ? [stateOf.get(k)!] : []));
  const oursOut = (st: HostState): string[] => {
    const keys = [...new Set([...st.plan.objects.map((o) => o.key), ...st.changes.map((c) => c.key)])];
    // conftool unreadable: what the run last knew it holds, said as such by the `unknown` states
    if (keys.some((k) => stateOf.get(k)?.pooled === 'unknown')) return st.changes.map((c) => c.key);
    return keys.filter((k) => stateOf.get(k)?.pooled === 'no' && stateOf.get(k)?.owner?.runId === owner.runId);
  };
  const failed: FailedHost[] = all
    .filter((st) => st.phase === 'failed' || st.phase === 'put-back')
    .map((st) => {
      const out = oursOut(st);
      return { host: st.plan.host, reason: st.reason ?? 'unknown', stillDepooled: out.length > 0, depooledObjects: out, batch: st.batch, objects: objectsOf(st) };
    });
  const inFlight = all
    .filter((st) => st.phase !== 'pending' && st.phase !== 'done' && st.phase !== 'failed' && st.phase !== 'put-back')
    .map((st) => ({ host: st.plan.host, phase: st.phase, depooledObjects: oursOut(st), batch: st.batch, objects: objectsOf(st) }));
  const leftAsFound = all.flatMap((st) => st.leftAsFound.map((l) => ({ host: st.plan.host, object: shortKey(l.key), why: l.why })));
  const succeeded = all.filter((s) => s.phase === 'done' && !carried.has(s.plan.host)).map((s) => s.plan.host);
  const notAttempted = all.filter((s) => s.phase === 'pending').map((s) => s.plan.host);
  const status: RollingReport['status'] = refused
    ? 'refused'
    : signal?.aborted
      ? 'interrupted'
      : failed.length || inFlight.length || notAttempted.length || stopReason
        ? 'failed'
        : 'succeeded';
  return { status, succeeded, failed, inFlight, notAttempted, skipped, batches, failedBatches, ...(stopReason ? { stopReason } : {}), outputs, warnings, leftAsFound };
}

/** Convenience for callers that want the refusal as an error (pool/depool cookbooks). */
export function capacityError(batch: number, rows: (PoolCapacity & { depool: number; ok: boolean })[]): CapacityError {
  return new CapacityError(capacityMessage(batch, rows), { pools: rows });
}
