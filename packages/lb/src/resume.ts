/**
 * `--resume`: the journal of an interrupted run replayed into where each of its hosts was left.
 * Hosts it finished are skipped, hosts it left out of their pools go first (the drivers' batch 0),
 * and conftool now, not the journal, says what is still the run's to put back. A resume must repeat
 * the scope it continues, and keeps the run id whose owner markers it puts back.
 */
import { ResumeMismatchError } from './errors.js';
import type { HostPhase, JournalEntry, PoolChange } from './ports.js';
import type { RollingOptions, RunScope } from './rolling.js';
import { hostState, type HostState } from './run.js';
import type { Selection } from './select.js';

/** A host's last known state in a run journal. */
export interface ReplayedHost {
  phase: HostPhase;
  changes: PoolChange[];
  objects: string[];
  reason?: string;
  stillDepooled?: boolean;
  batch: number;
  /** What the host's action journaled last (ActionStep.record), for a resume that finishes it. */
  action?: Record<string, unknown>;
}

/** Rebuild each host's last known state from a run journal (entries in append order). */
export function replayJournal(entries: readonly JournalEntry[]): Map<string, ReplayedHost> {
  const out = new Map<string, ReplayedHost>();
  for (const e of entries) {
    if (e.type === 'lb-run' && e.carried && typeof e.carried === 'object') {
      for (const [host, s] of Object.entries(
        e.carried as Record<
          string,
          { phase: HostPhase; changes?: PoolChange[]; objects?: string[]; reason?: string; stillDepooled?: boolean; batch?: number }
        >,
      )) {
        out.set(host, {
          phase: s.phase,
          changes: s.changes ?? [],
          objects: s.objects ?? [],
          reason: s.reason,
          stillDepooled: s.stillDepooled,
          batch: s.batch ?? 0,
        });
      }
      continue;
    }
    if (e.type !== 'lb-host-phase' || !e.host || !e.phase) continue;
    const prev = out.get(e.host) ?? { phase: 'pending' as HostPhase, changes: [], objects: [], batch: e.batch ?? 0 };
    const next = { ...prev, phase: e.phase, batch: e.batch ?? prev.batch };
    if (e.changes) next.changes = e.changes;
    if (e.objects) next.objects = e.objects;
    if (e.phase === 'put-back') next.changes = [];
    if (e.action && typeof e.action === 'object') next.action = e.action as Record<string, unknown>;
    else if (e.phase !== 'acting') delete next.action;
    next.reason = e.reason;
    next.stillDepooled = e.stillDepooled;
    out.set(e.host, next);
  }
  return out;
}

/** The silence each host had in the interrupted run (its last `lb-silence` entry), by host. */
export function journaledSilences(entries: readonly JournalEntry[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of entries)
    if (e.type === 'lb-silence' && typeof e.host === 'string' && typeof e.silence === 'string') out.set(e.host, e.silence);
  return out;
}

/** The run id whose markers a resume puts back: the run that took the hosts out. */
export function resumedOwner(resume: NonNullable<RollingOptions['resume']>): string {
  return ([...resume.entries].find((e) => e.type === 'lb-run' && typeof e.owner === 'string')?.owner as string | undefined) ?? resume.runId;
}

function scopeText(s: RunScope): string {
  return `dc=${s.dc ?? '(all)'} cluster=${s.cluster ?? '(any)'} services=${s.services?.length ? [...s.services].sort().join(',') : '(all)'}`;
}

const CONTINUE_PHASES: ReadonlySet<HostPhase> = new Set([
  'depooling',
  'depooled',
  'verified-out',
  'acted',
  'healthy',
  'repooling',
  'repooled',
]);

export interface Resumed {
  /** Hosts the interrupted run left mid-way: finished first, as batch 0. */
  leftovers: HostState[];
  /** Hosts it had done or failed: reported as they were, never attempted again. */
  carried: Map<string, HostState>;
  /** The ones it had done, as the report lists them. */
  skipped: { host: string; why: string }[];
}

/**
 * Where the interrupted run left each host, checked against conftool as `selection` read it. Refuses
 * (ResumeMismatchError) a resume whose scope is not the interrupted run's: its leftovers were chosen
 * for that cluster, dc and services.
 */
export function replayResume(
  resume: NonNullable<RollingOptions['resume']>,
  selection: Selection,
  scope: RunScope | undefined,
  o: { actionResumes?: boolean } = {},
): Resumed {
  const leftovers: HostState[] = [];
  const carried = new Map<string, HostState>();
  const was = [...resume.entries].reverse().find((e) => e.type === 'lb-run' && e.scope && typeof e.scope === 'object')?.scope as
    RunScope | undefined;
  if (was && scope && scopeText(was) !== scopeText(scope)) throw new ResumeMismatchError(resume.runId, scopeText(was), scopeText(scope));
  const planOf = new Map(selection.hosts.map((h) => [h.host, h]));
  for (const [host, r] of replayJournal(resume.entries)) {
    const plan = planOf.get(host) ?? { host, dc: '', cluster: '', objects: [], depool: [], leftAlone: [] };
    // Conftool now, not the journal, says what is still ours: an object someone set back (e.g.
    // `sre.lb.pool` after the interruption) or moved to inactive is no longer this run's to
    // repool, and its host is no longer out.
    const now = new Map(plan.objects.map((o) => [o.key, o.pooled]));
    const changes = r.changes.filter((c) => now.get(c.key) === 'no');
    const s: HostState = {
      ...hostState(plan, r.phase, changes, r.batch),
      ...(r.reason !== undefined ? { reason: r.reason } : {}),
      stillDepooled: (r.stillDepooled ?? false) && changes.length > 0,
    };
    if (r.phase === 'done') {
      carried.set(host, s);
    } else if (r.phase === 'failed') {
      s.reason = `failed in run ${resume.runId}: ${r.reason ?? 'unknown'}`;
      carried.set(host, s);
    } else if (r.phase === 'acting' && o.actionResumes) {
      // An action that can finish what it started (a reboot: is the boot id new?): verified out
      // again, then resumed from what it journaled, never started over blindly.
      s.phase = 'depooled';
      s.resumeAction = { recorded: r.action };
      leftovers.push(s);
    } else if (r.phase === 'acting') {
      s.phase = 'failed';
      s.stillDepooled = s.changes.length > 0;
      s.reason = `run ${resume.runId} stopped while acting on it: outcome unknown, left depooled (check it, then \`cookbook sre.lb.pool host=${host}\`)`;
      leftovers.push(s);
    } else if (r.phase === 'depooling') {
      // The write may or may not have happened: the objects now at `no` among those it was about to write are ours.
      const now = new Map(plan.objects.map((o) => [o.key, o]));
      // drain=weight journals its weight-0 writes (weightFrom) here before the depool: still ours to restore
      const weighed = new Map(r.changes.filter((c) => c.weightFrom !== undefined).map((c) => [c.key, c]));
      s.changes = r.objects.flatMap((k) => {
        const o = now.get(k);
        const w = weighed.get(k);
        if (o && o.pooled === 'no')
          return [
            {
              key: k,
              tags: o.tags,
              field: 'pooled' as const,
              from: 'yes' as const,
              to: 'no' as const,
              ...(w ? { weight: w.weight, weightFrom: w.weightFrom } : {}),
            },
          ];
        return o && w && o.pooled === 'yes' && o.weight === w.weight ? [w] : [];
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
  const skipped = [...carried.values()]
    .filter((s) => s.phase === 'done')
    .map((s) => ({ host: s.plan.host, why: `done in run ${resume.runId}` }));
  return { leftovers, carried, skipped };
}

/** What a resumed run carries over in its own journal, so that it can be resumed in turn. */
export function carriedEntry(
  carried: ReadonlyMap<string, HostState>,
): Record<string, Pick<HostState, 'phase' | 'changes' | 'reason' | 'stillDepooled' | 'batch'>> {
  return Object.fromEntries(
    [...carried].map(([h, s]) => [
      h,
      { phase: s.phase, changes: s.changes, reason: s.reason, stillDepooled: s.stillDepooled, batch: s.batch },
    ]),
  );
}
