/**
 * The load-balanced cluster operation (ARCHITECTURE §4): batches of depool → verify out on every
 * LB → act → health check → repool exactly what was depooled → verify in on every LB. Unlike
 * Spicerack's LBRemoteCluster it verifies with the LBs, never repools a host whose action failed
 * (fail closed), checks capacity before touching a batch, keeps a journal for --resume, and does not
 * sleep after the last batch.
 *
 * Where each part lives: `runRolling` below is the run as a sequence of steps; batch.ts is one
 * batch's phases (`Batch`, one method each, over engine.ts's take-out/put-back steps); run.ts the
 * run-level state (journal, events, host states, failure budget, the report read back); drivers.ts
 * the lockstep loop and the moving window; resume.ts the journal replay of `--resume`; capacity.ts
 * the capacity check.
 */
import type { HostAction } from './action.js';
import { batchSizeAt, checkNotWholeCluster, planBatches, type BatchSpec } from './batches.js';
import { orderHosts, resolveOrder, resumeOrder, type HostOrder, type MaxFailed, type OrderSpec } from './budget.js';
import { checkPools } from './capacity.js';
import type { DrainSpec } from './drain.js';
import { runLeftovers, runLockstep, runMoving } from './drivers.js';
import type { ObjectState } from './engine.js';
import type { CommandOutput, CommandSpec, HostPhase, JournalEntry, LbPorts, OwnerMarker } from './ports.js';
import { carriedEntry, journaledSilences, replayResume, resumedOwner, type Resumed } from './resume.js';
import { hostState, Run, stopText, type HostState } from './run.js';
import type { HostSilence } from './silences.js';
import type { Selection } from './select.js';

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
  /** Run in order on each host while it is out of its pools (unless `action` is given). */
  commands: CommandSpec[];
  /** An action with steps of its own instead of `commands` (sre.lb.rolling-reboot: reboot and wait for the host). */
  action?: HostAction;
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
  /** Lockstep: ask the operator (ports.operator) whether to go on after this batch (the canary gate). */
  pauseAfter?: number;
  /** Lockstep: ask before every batch after the first. */
  confirmEachBatch?: boolean;
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
  /** drain= / drain-check= (drain.ts): the wait between out and acting, or weight 0 before the depool. */
  drain?: DrainSpec;
  /** capacity-wait=: how long a batch short of capacity waits for it (0/undefined: refused at once). */
  capacityWaitMs?: number;
  /** How often a waiting batch asks the LBs again (default 5 s). */
  capacityWaitIntervalMs?: number;
  /** max-failed=: failed hosts tolerated (a count, or a percentage of the selected hosts); one more stops the run. */
  maxFailedHosts?: MaxFailed;
  /** deadline=: from the start of the run; past it no new batch (or host of a moving window) starts. */
  deadlineMs?: number;
  /** order= / seed= as asked (budget.ts); a resume keeps the interrupted run's. */
  order?: { order?: HostOrder | undefined; seed?: number | undefined };
}

/** The selection arguments a resume must repeat. */
export interface RunScope {
  dc?: string | undefined;
  cluster?: string | undefined;
  services?: readonly string[] | undefined;
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
  /** Its silence, kept while it is left out of traffic (monitoring: alertmanager). */
  silence?: HostSilence;
}

export interface RollingReport {
  /** stopped: the operator stopped it at a safe point (a gate answered no, or nobody to ask), nothing failed. */
  status: 'succeeded' | 'failed' | 'interrupted' | 'refused' | 'stopped';
  succeeded: string[];
  failed: FailedHost[];
  /** Hosts stopped mid-way (interrupted): their phase, and what is still depooled. */
  inFlight: { host: string; phase: HostPhase; depooledObjects: string[]; batch: number; objects?: ObjectState[]; silence?: HostSilence }[];
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
  /** The order hosts were taken in (shuffled: with the seed that repeats it). */
  order?: OrderSpec;
  /** deadline=: the bound, and whether it stopped the run. */
  deadline?: { ms: number; reached: boolean };
}

/**
 * The run, as a sequence: refuse what can never be safe (the whole cluster in one batch, an object
 * without an LB pool), rebuild a resumed run's hosts, announce the plan, finish the leftovers, roll
 * the queue with the chosen driver, then report what conftool holds.
 */
export async function runRolling(ports: LbPorts, opts: RollingOptions): Promise<RollingReport> {
  const { selection, batch: spec } = opts;
  const n = selection.hosts.length;
  checkNotWholeCluster(spec, n, selection.clusterSize, selection.what, selection.groups);
  checkPools(ports, selection.hosts);
  const run = new Run(ports, opts, ownerOf(ports, opts));

  // Resume: hosts the interrupted run finished are skipped, hosts it left depooled go first.
  const { leftovers, carried, skipped }: Resumed = opts.resume
    ? replayResume(opts.resume, selection, opts.scope, { actionResumes: opts.action?.resume !== undefined })
    : { leftovers: [], carried: new Map(), skipped: [] };
  run.carried = carried;
  for (const s of carried.values()) run.states.set(s.plan.host, s);
  run.skipped.push(...skipped);
  run.order =
    (opts.resume ? resumeOrder(opts.resume.runId, opts.resume.entries, opts.order ?? {}) : undefined) ?? resolveOrder(opts.order ?? {});
  const queue: HostState[] = orderHosts(selection.hosts, run.order)
    .filter((h) => !carried.has(h.host) && !leftovers.some((l) => l.plan.host === h.host))
    .map((plan) => hostState(plan, 'pending'));
  for (const s of [...leftovers, ...queue]) run.states.set(s.plan.host, s);
  const planned = planBatches(
    queue.map((s) => s.plan.host),
    spec,
    n,
  );
  run.emit({
    type: 'plan',
    batches: planned,
    skipped: run.skipped,
    ...(opts.window === 'moving' ? { window: { moving: true as const, batch: spec.text, hosts: queue.map((s) => s.plan.host) } } : {}),
  });

  ports.executor.prepare?.(queue.slice(0, batchSizeAt(spec, 0, n)).map((s) => s.plan.host));
  try {
    await run.journalStart(opts.resume ? { from: opts.resume.runId, carried: carriedEntry(carried) } : undefined);
    // The leftovers keep the silences the interrupted run made (expired once they are back), not a second one each.
    if (opts.resume) await run.silences?.adopt(leftovers, journaledSilences(opts.resume.entries));
    await runLeftovers(run, leftovers, planned.length);
    if (opts.window === 'moving') await runMoving(run, queue);
    else await runLockstep(run, queue, planned.length);
    await run.flushJournal();
  } catch (err) {
    // Anything else (an LB verifier or store that throws, …) also ends in a report that says
    // which hosts are left where, rather than an uncaught exception that says nothing.
    run.stopReason = stopText(err);
  }
  await run.settle();
  // Hosts left out of traffic keep their silences (for keepFailedForMs), said in the report.
  await run.silences?.keepLeft();
  return run.report();
}

/** The marker written with every depool. A resumed run keeps the id of the run that took its hosts out: its markers are what it puts back. */
function ownerOf(ports: LbPorts, opts: RollingOptions): OwnerMarker {
  const resumed = opts.resume ? resumedOwner(opts.resume) : undefined;
  return {
    ...(opts.owner ?? { runId: 'lb-run', user: '', reason: '', time: new Date(ports.clock.now()).toISOString() }),
    ...(resumed ? { runId: resumed } : {}),
  };
}
