/**
 * The one shared implementation behind the sre.lb cookbooks that change pool state (rolling-restart,
 * rolling-run, restart-service, pool, depool; rolling-reboot's is reboot-operation.ts): they declare
 * their arguments and hand the runner's context and those args to these functions, which decide
 * everything else. (sre.lb.status only reads.)
 */
import { operatorOwner, operatorUser } from '@galley/confctl/operator';
import { isConfirmationError, isLockFailure, type RunContext, type TaskHandle } from '@galley/core';
import { formatError } from '@galley/errors';
import { NodeSet } from '@galley/remote/nodeset';
import type { HostAction } from './action.js';
import { conftoolStore, monitoringSilencer, pybalCapacity, pybalVerifier, remoteExecutor } from './adapters.js';
import { errorText, newHold, ownerText, putBack, readBack, stateText, verifyOut, writeOut, type EngineDeps } from './engine.js';
import {
  batchArg,
  commandArg,
  countArg,
  drainArg,
  durationArg,
  formatDuration,
  hostPatternArg,
  maxFailedArg,
  nameListArg,
  seedArg,
  wholeNumberArg,
} from './args.js';
import { servicesOf, silenceMs } from './silences.js';
import { orderHosts, parseMaxFailed, resolveOrder, resumeOrder, type HostOrder } from './budget.js';
import { LB_DEFAULTS } from './defaults.js';
import { parseDrain, type DrainSpec } from './drain.js';
import { parseBatchSpec, parseDuration } from './batches.js';
import {
  EXIT_NOT_CONFIRMED,
  EXIT_STOPPED_BY_OPERATOR,
  isLbError,
  LbArgumentError,
  NothingSelectedError,
  UnknownPoolError,
} from './errors.js';
import { formatPlan, planRolling, shortKey } from './plan.js';
import {
  realClock,
  type CommandSpec,
  type HostPhase,
  type JournalEntry,
  type LbEvent,
  type LbPorts,
  type OwnerMarker,
  type PoolCapacity,
  type PoolObject,
  type Silencer,
} from './ports.js';
import { formatReport, groupOutputs } from './report.js';
import { capacityMessage, judgeCapacity } from './capacity.js';
import { runRolling, type RollingOptions, type RollingReport } from './rolling.js';
import { escapeRegex, selectHosts, type SelectOptions, type Selection } from './select.js';

/** The runner's context, whatever the cookbook's args (they are handed over separately). */
export type LbContext = RunContext<unknown>;

/** The max hold of a rolling cookbook's lock (`rollingLock`): every wait of the run is bounded by it. */
export const ROLLING_LOCK_TTL_S = 12 * 3600;

/** drain= and drain-check= (drain.ts), shared by every cookbook that takes hosts out to act on them. */
export const drainArgs = {
  drain: {
    type: 'string',
    describe:
      'once every LB has a host out, wait this long before acting (default: lb.drainMs of the config, 0); weight or weight:30s: weight 0 while still pooled, wait, then depool (the weight is restored on put-back)',
    check: drainArg,
  },
  'drain-check': {
    type: 'string',
    describe:
      'shell command run on each host during the drain until it prints 0 (its established connections); drain= is the bound, after which the host is not acted on, put back and failed',
    check: commandArg,
    requires: 'drain',
  },
} as const;

/** The args every rolling cookbook shares (yargs option objects; the runner maps key=value). */
export const rollingArgs = {
  cluster: { type: 'string', demandOption: true, describe: 'conftool cluster, e.g. jobrunner' },
  dc: { type: 'string', describe: 'datacenter (default: every dc of the cluster)' },
  services: {
    type: 'string',
    describe: "comma-separated conftool services to depool (default: all of the hosts' services)",
    check: nameListArg,
  },
  batch: {
    type: 'string',
    default: '1',
    describe: 'hosts per batch; a ramp starts with a canary and its last element repeats',
    check: batchArg,
  },
  window: {
    type: 'string',
    choices: ['lockstep', 'moving'],
    default: 'lockstep',
    describe:
      'lockstep: a batch starts when the whole previous one is back; moving: at most batch= hosts out at any moment, the next taken out as soon as one is back (each host then counts as a batch for max-failed-batches)',
  },
  'max-failed-batches': {
    type: 'number',
    describe: 'failed batches tolerated before the run stops (default 0; not applied when only max-failed= is given)',
    check: wholeNumberArg,
  },
  sleep: {
    type: 'string',
    default: '2s',
    describe: 'pause between batches (not after the last), e.g. 30s, 2m',
    check: durationArg({ lockTtlSeconds: ROLLING_LOCK_TTL_S }),
  },
  'health-check': { type: 'string', describe: 'shell command run on each host after the action until it exits 0', check: commandArg },
  'health-timeout': {
    type: 'string',
    default: '60s',
    describe: 'give up on a host whose health check has not passed after this long',
    check: durationArg({ positive: true, lockTtlSeconds: ROLLING_LOCK_TTL_S }),
    requires: 'health-check',
  },
  hosts: { type: 'string', describe: 'restrict to these hosts (NodeSet pattern, e.g. mw[1001-1004].eqiad.wmnet)', check: hostPatternArg },
  'command-timeout': {
    type: 'string',
    default: '120s',
    describe: 'timeout of each command on a host',
    check: durationArg({ positive: true, lockTtlSeconds: ROLLING_LOCK_TTL_S }),
  },
  'verify-timeout': {
    type: 'string',
    describe: 'deadline for every load balancer to agree (default: the pybal config)',
    check: durationArg({ positive: true, lockTtlSeconds: ROLLING_LOCK_TTL_S }),
  },
  ...drainArgs,
  'capacity-wait': {
    type: 'string',
    describe:
      'a batch that would breach a depool threshold waits up to this long for capacity (re-checking every lb.capacityWaitIntervalMs), instead of being refused at once',
    check: durationArg({ lockTtlSeconds: ROLLING_LOCK_TTL_S }),
  },
  'max-failed': {
    type: 'string',
    describe:
      "failed hosts tolerated, a number or a percentage of the selected hosts (rounded down, as Ansible's max_fail_percentage); one more stops the run. Given alone, max-failed-batches is not applied",
    check: maxFailedArg,
  },
  deadline: {
    type: 'string',
    describe: 'for the whole run: once past it no new batch starts (what is out finishes and is put back), exit 1',
    check: durationArg({ positive: true, lockTtlSeconds: ROLLING_LOCK_TTL_S }),
  },
  order: {
    type: 'string',
    choices: ['as-listed', 'sorted', 'shuffled'],
    describe:
      'host order: as-listed (by name, numbers as numbers; default), sorted (NodeSet order: by name pattern, then number), shuffled (seeded; the seed is printed)',
  },
  seed: { type: 'number', describe: 'the seed of order=shuffled, to repeat a shuffled order', check: seedArg, requires: 'order' },
  'pause-after': {
    type: 'number',
    describe:
      'stop after batch N and ask whether to go on (the canary gate, e.g. batch=1,10% pause-after=1); without a terminal the run stops there unless --yes (exit 3); window=lockstep only',
    check: countArg,
  },
  'confirm-each-batch': {
    type: 'boolean',
    describe: 'ask before every batch after the first (without a terminal: stops after batch 1 unless --yes); window=lockstep only',
  },
} as const;

export interface RollingArgs {
  cluster: string;
  dc?: string | undefined;
  services?: string | undefined;
  batch?: string | number | undefined;
  'max-failed-batches'?: number | undefined;
  window?: string | undefined;
  sleep?: string | number | undefined;
  'health-check'?: string | undefined;
  'health-timeout'?: string | number | undefined;
  hosts?: string | undefined;
  'command-timeout'?: string | number | undefined;
  'verify-timeout'?: string | number | undefined;
  drain?: string | number | undefined;
  'drain-check'?: string | undefined;
  'capacity-wait'?: string | number | undefined;
  'max-failed'?: string | number | undefined;
  deadline?: string | number | undefined;
  order?: string | undefined;
  seed?: number | undefined;
  'pause-after'?: number | undefined;
  'confirm-each-batch'?: boolean | undefined;
}

/** The drain of a run from its args and the config's defaults; drain-check needs a bound above 0. */
export function drainFrom(ctx: LbContext, a: Pick<RollingArgs, 'drain' | 'drain-check'>): DrainSpec | undefined {
  const cfg = ctx.clients.lb ?? LB_DEFAULTS;
  // the config's default is milliseconds (a bare number typed as drain= is seconds, as every duration argument)
  const d = a.drain !== undefined ? parseDrain(a.drain, cfg.drainMs) : { ms: cfg.drainMs, weight: false };
  const check = a['drain-check'] !== undefined ? { shell: a['drain-check'], timeoutMs: 30_000 } : undefined;
  if (check && d.ms <= 0)
    throw new LbArgumentError(`drain-check=${a['drain-check']}: needs drain= above 0, the bound of the wait (e.g. drain=60s)`, {
      hint: 'give drain=DURATION with drain-check',
    });
  if (d.ms <= 0 && !d.weight) return undefined;
  return { ...d, ...(check ? { check } : {}), checkIntervalMs: cfg.drainCheckIntervalMs };
}

/**
 * The cookbook's own lock (its name includes the cookbook's, so it does not stop a different
 * rolling cookbook, or the same one with or without dc=, on the same cluster); the lock shared by
 * every rolling operation is the cluster lock (`CLUSTER_LOCK_KIND`), taken per (dc, cluster) touched.
 */
export function rollingLock(args: { cluster: string; dc?: string | undefined }): {
  suffix: string;
  concurrency: number;
  ttlSeconds: number;
} {
  return { suffix: `${args.dc ?? 'all'}-${args.cluster}`, concurrency: 1, ttlSeconds: ROLLING_LOCK_TTL_S };
}

/**
 * One rolling operation per (dc, cluster) at a time, whichever sre.lb cookbook runs it and whether
 * dc= was given: a named lock per (dc, cluster) touched, `lb-cluster/<dc>-<cluster>` in the lock
 * store, concurrency 1, held until the run ends (and fencing its writes).
 */
export const CLUSTER_LOCK_KIND = 'lb-cluster';
export function clusterLockName(dc: string, cluster: string): string {
  return `${dc}-${cluster}`;
}

/** Lock every (dc, cluster) the selection touches, then read the selection again under the locks. */
async function lockClusters(ctx: LbContext, store: LbPorts['store'], select: SelectOptions, first: Selection): Promise<Selection> {
  const locked = new Set<string>();
  let sel = first;
  for (let round = 0; round < 3; round++) {
    const names = [...new Set(sel.hosts.map((h) => clusterLockName(h.dc, h.cluster)))].sort();
    const missing = names.filter((n) => !locked.has(n));
    if (!missing.length && round > 0) return sel;
    // In name order, so two runs touching the same clusters take them in the same order.
    for (const n of missing) {
      await ctx.lock(CLUSTER_LOCK_KIND, n, { concurrency: 1 });
      locked.add(n);
    }
    // Another run may have held the cluster while we waited: its changes are visible only now.
    sel = await selectHosts(store, select);
  }
  throw new Error(`the selection ${sel.what} kept changing clusters while they were being locked`);
}

export function list(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const out = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return out.length ? out : undefined;
}

export function portsFor(ctx: LbContext, emit: (e: LbEvent) => void = () => undefined): LbPorts {
  const { confctl, remote, pybal } = ctx.clients;
  return {
    store: conftoolStore(confctl),
    executor: remoteExecutor(remote),
    verifier: pybalVerifier(pybal),
    capacity: pybalCapacity(pybal),
    journal: { append: (e: JournalEntry) => ctx.journal.append(e) },
    clock: realClock,
    emit,
    lockHosts: (hosts) => ctx.lockHosts(hosts),
    ...silencerOf(ctx),
    operator: { confirm: (m) => ctx.confirm(m), choose: (m, c) => ctx.choose(m, c), safePoint: (w) => ctx.safePoint(w) },
  };
}

/** ctx.clients.monitoring as the silencer port (monitoring: alertmanager), or nothing. */
function silencerOf(ctx: LbContext): { silencer?: Silencer } {
  const silencer = monitoringSilencer(ctx.clients.monitoring, { user: operatorUser(), runId: ctx.runId });
  return silencer ? { silencer } : {};
}

/** What a host's subtask says while it waits on the LBs (the phase alone reads as if it were over). */
const PHASE_TEXT: Partial<Record<HostPhase, string>> = {
  depooled: 'depooled, waiting until every LB has it out',
  'verified-out': 'out on every LB',
  repooled: 'repooled, waiting until every LB has it back',
};

/** Progress (one task per batch, one subtask per host), events for --output json, log lines. */
function reporter(ctx: LbContext, label: string): (e: LbEvent) => void {
  // Tasks and host subtasks still open. One left open when the run stops would be drawn as a
  // success when the display closes (a host left depooled shown with a tick): each is ended here.
  const tasks = new Map<number, TaskHandle>();
  const subs = new Map<string, { task: TaskHandle; batch: number }>();
  const endOpen = (batch: number | undefined, why: string): void => {
    for (const [h, s] of subs) {
      if (batch !== undefined && s.batch !== batch) continue;
      s.task.fail(`stopped — ${why}`);
      subs.delete(h);
    }
  };
  // Moving window: one step for the whole window, its hosts' lines created with it (the TTY
  // renderer draws a step's subtasks only when they come with the step), each host's line moving
  // through its phases while others are out at the same time.
  let windowPlan: { batch: string; hosts: string[] } | undefined;
  let windowTask: TaskHandle | undefined;
  /** hosts of the window not started yet */
  const windowLine = new Map<string, TaskHandle>();
  return (e) => {
    ctx.emit({ ...e, type: e.type === 'plan' ? 'batch-planned' : e.type });
    switch (e.type) {
      case 'plan':
        // drawn when its first host starts: a resumed run's leftovers come first, as a batch of their own
        if (e.window) windowPlan = { batch: e.window.batch, hosts: e.window.hosts };
        break;
      case 'window-done':
        endOpen(undefined, e.reason ?? 'the run ended before this host did');
        for (const l of windowLine.values()) l.skip('not started');
        windowLine.clear();
        if (e.ok) windowTask?.succeed();
        else windowTask?.fail(e.reason ? `FAILED — ${e.reason}` : 'FAILED');
        windowTask = undefined;
        break;
      case 'batch-started': {
        if (e.window === 'moving') {
          if (!windowTask && windowPlan) {
            windowTask = ctx.progress.task(
              `Moving window: ${windowPlan.hosts.length} host(s), at most batch=${windowPlan.batch} out at once`,
            );
            for (const h of windowPlan.hosts) windowLine.set(h, windowTask.subtask(`${h}: waiting`));
          }
          for (const h of e.hosts) {
            const line = windowLine.get(h);
            windowLine.delete(h);
            if (line) {
              line.update(`${h}: starting (${e.batch}/${e.of})`);
              subs.set(h, { task: line, batch: e.batch });
            }
          }
          break;
        }
        const t = ctx.progress.task(
          e.batch === 0
            ? `Leftovers of run ${ctx.resume?.runId ?? '?'}: ${e.hosts.join(', ')}`
            : `Batch ${e.batch}/${e.of}: ${e.hosts.join(', ')}`,
        );
        tasks.set(e.batch, t);
        for (const h of e.hosts) subs.set(h, { task: t.subtask(`${h}: waiting`), batch: e.batch });
        break;
      }
      case 'host-phase': {
        // The renderers show a task's end message after its title ("title: message"): the title
        // keeps the host and the phase it ended in, the message says only how it ended.
        const s = subs.get(e.host)?.task;
        if (!s) break;
        if (e.phase === 'done' || e.phase === 'failed' || e.phase === 'put-back') subs.delete(e.host);
        if (e.phase === 'done') {
          s.update(`${e.host}: done`);
          s.succeed();
        } else if (e.phase === 'failed') s.fail(`FAILED${e.reason ? ` — ${e.reason}` : ''}`);
        else if (e.phase === 'put-back') s.fail(`not acted on, put back${e.reason ? ` — ${e.reason}` : ''}`);
        else s.update(`${e.host}: ${PHASE_TEXT[e.phase] ?? (e.phase === 'acting' ? label : e.phase)}`);
        break;
      }
      case 'host-step':
        subs.get(e.host)?.task.update(`${e.host}: ${e.text}`);
        break;
      case 'verification':
        if (!e.ok) ctx.log.warn(e.report);
        break;
      case 'capacity':
        for (const p of e.pools)
          if (!p.ok)
            ctx.log.error(`capacity: pool ${p.pool}: ${p.error ?? `can take out ${p.canTakeOut}, batch needs ${p.depool}`} (${p.detail})`);
        break;
      case 'batch-done': {
        if (windowTask && !tasks.has(e.batch)) {
          endOpen(e.batch, e.reason ?? 'the host stopped before it finished');
          break;
        }
        const t = tasks.get(e.batch);
        tasks.delete(e.batch);
        endOpen(e.batch, e.reason ?? 'the batch ended before this host did');
        if (e.ok) t?.succeed();
        else t?.fail(e.reason ? `FAILED — ${e.reason}` : 'FAILED');
        break;
      }
      case 'sleep':
        ctx.log.info(`sleeping ${e.ms} ms before the next batch`);
        break;
      case 'drain':
        ctx.log.info(
          `draining ${e.hosts.join(', ')}: ${e.weight ? 'weight=0 while still pooled, ' : ''}${e.check ? `until \`${e.check}\` prints 0, at most ${formatDuration(e.ms)}` : `waiting ${formatDuration(e.ms)}`}${e.weight ? ', then depool' : ' before acting'}`,
        );
        break;
      case 'drain-check':
        ctx.log.info(
          `drain-check: ${e.answers.map((x) => `${x.host}: ${x.connections ?? `no number (${x.output})`}`).join(', ')} (${e.leftMs} ms left)`,
        );
        break;
      case 'decision': {
        if (e.answer === undefined) {
          // The question is asked between drawn steps: the batch's step ends here, failed so far.
          const t = tasks.get(e.batch);
          tasks.delete(e.batch);
          endOpen(e.batch, 'failed');
          t?.fail(`FAILED — ${e.host}: ${e.reason}; asking what to do`);
        } else if (e.answer === 'retry') {
          // The retry is drawn as a step of its own, under which the batch's end is reported.
          const t = ctx.progress.task(`Batch ${e.batch}, retry of ${e.host}`);
          tasks.set(e.batch, t);
          subs.set(e.host, { task: t.subtask(`${e.host}: retrying`), batch: e.batch });
        } else
          ctx.log.warn(
            `${e.host}: ${e.answer === 'skip' ? 'skipped by the operator: left depooled' : 'the operator aborted the run: it is left depooled'}`,
          );
        break;
      }
      case 'warning':
        ctx.log.warn(e.message);
        break;
      case 'stopped':
        endOpen(undefined, e.reason);
        for (const t of tasks.values()) t.fail(`stopped — ${e.reason}`);
        tasks.clear();
        ctx.log.error(`stopping: ${e.reason}`);
        break;
      default:
        break;
    }
  };
}

function reportData(r: RollingReport): Record<string, unknown> {
  return {
    status: r.status,
    succeeded: r.succeeded,
    failed: r.failed,
    inFlight: r.inFlight,
    notAttempted: r.notAttempted,
    skipped: r.skipped,
    batches: r.batches,
    failedBatches: r.failedBatches,
    stopReason: r.stopReason,
    warnings: r.warnings,
    ...(r.order ? { order: r.order } : {}),
    ...(r.deadline ? { deadline: r.deadline } : {}),
  };
}

export interface RollingCall {
  select: SelectOptions;
  commands: CommandSpec[];
  /** Instead of `commands`: an action with steps of its own (sre.lb.rolling-reboot's reboot). */
  action?: HostAction;
  /** Progress label of the action phase: restarting, running… */
  label: string;
  args: RollingArgs;
  /** Show each host's command output grouped (rolling-run). */
  showOutput?: boolean;
}

/** Dry-run → the plan; otherwise the rolling operation and its report. Returns the exit code. */
export async function rollingOperation(ctx: LbContext, call: RollingCall, selection?: Selection): Promise<number> {
  const a = call.args;
  const batch = parseBatchSpec(a.batch ?? '1');
  const sleepMs = parseDuration(a.sleep ?? 0, 'sleep');
  const healthCheck = a['health-check']
    ? {
        command: { shell: a['health-check'], timeoutMs: 30_000 },
        timeoutMs: parseDuration(a['health-timeout'] ?? '60s', 'health-timeout'),
        intervalMs: 1000,
      }
    : undefined;
  const verifyTimeoutMs = a['verify-timeout'] !== undefined ? parseDuration(a['verify-timeout'], 'verify-timeout') : undefined;
  const maxFailedBatches = a['max-failed-batches'];
  if (maxFailedBatches !== undefined && (!Number.isInteger(maxFailedBatches) || maxFailedBatches < 0))
    throw new LbArgumentError(`max-failed-batches=${maxFailedBatches}: must be a whole number ≥ 0`);
  const drain = drainFrom(ctx, a);
  const cfg = ctx.clients.lb ?? LB_DEFAULTS;
  const capacityWaitMs = a['capacity-wait'] !== undefined ? parseDuration(a['capacity-wait'], 'capacity-wait') : undefined;
  const maxFailedHosts = a['max-failed'] !== undefined ? parseMaxFailed(a['max-failed']) : undefined;
  const deadlineMs = a.deadline !== undefined ? parseDuration(a.deadline, 'deadline') : undefined;
  const order = { order: a.order as HostOrder | undefined, seed: a.seed };
  const flow = {
    ...(drain ? { drain } : {}),
    ...(capacityWaitMs ? { capacityWaitMs, capacityWaitIntervalMs: cfg.capacityWaitIntervalMs } : {}),
    ...(maxFailedHosts ? { maxFailedHosts } : {}),
    ...(deadlineMs !== undefined ? { deadlineMs } : {}),
  };
  const pauseAfter = a['pause-after'];
  const confirmEachBatch = a['confirm-each-batch'] === true;
  if ((pauseAfter !== undefined || confirmEachBatch) && a.window === 'moving') {
    throw new LbArgumentError(
      `${pauseAfter !== undefined ? `pause-after=${pauseAfter}` : 'confirm-each-batch'} with window=moving: a moving window has no point between batches where every host is back`,
      {
        hint: 'use window=lockstep (the default) for the gates; a moving window can still be paused from another terminal with `cookbook --pause RUN_ID`',
      },
    );
  }
  const emit = reporter(ctx, call.label);
  const ports = portsFor(ctx, emit);
  const sel = selection ?? (await selectHosts(ports.store, call.select));
  // Monitoring that cannot be reached: refused here, before anything is locked or taken out (its
  // client's named error); in dry-run, a warning in the plan.
  const silencer = ports.silencer;
  let monitoringProblem: string | undefined;
  if (silencer) {
    try {
      await silencer.check();
    } catch (err) {
      if (!ctx.dryRun) throw err;
      monitoringProblem = `the real run would stop here: ${errorText(err)}`;
    }
  }

  if (ctx.dryRun) {
    // a resume's plan is the interrupted run's order; otherwise the one asked for (a shuffle's seed drawn now and shown)
    const planOrder =
      (ctx.resume ? resumeOrder(ctx.resume.runId, ctx.resume.entries as JournalEntry[], order) : undefined) ?? resolveOrder(order);
    const plan = await planRolling(ports, {
      selection: { ...sel, hosts: orderHosts(sel.hosts, planOrder) },
      batch,
      commands: call.commands,
      ...(call.action ? { action: call.action } : {}),
      ...(healthCheck ? { healthCheck } : {}),
      sleepMs,
      ...(maxFailedBatches !== undefined ? { maxFailedBatches } : {}),
      ...(a.window === 'moving' ? { window: 'moving' as const } : {}),
      ...flow,
      order: planOrder,
    });
    for (const b of plan.batches) {
      for (const h of b.hosts)
        for (const key of h.depool)
          ctx.change?.({ kind: 'conftool', host: h.host, object: shortKey(key), from: 'yes', to: 'no (then back to yes)' });
      if (drain?.weight) {
        for (const h of b.hosts) {
          const objects = sel.hosts.find((x) => x.host === h.host)?.depool ?? [];
          for (const o of objects)
            if (o.weight !== 0)
              ctx.change?.({
                kind: 'conftool',
                host: h.host,
                object: shortKey(o.key),
                from: `weight=${o.weight}`,
                to: 'weight=0 first, still pooled (then back)',
              });
        }
      }
      if (call.action)
        for (const h of b.hosts) ctx.change?.({ kind: call.label, host: h.host, object: 'action', to: call.action.describe() });
    }
    for (const w of plan.warnings) ctx.log.warn(w);
    const silences = silencer
      ? await planSilences(
          silencer,
          sel,
          plan.batches.flatMap((b) => b.hosts.map((h) => h.host)),
          {
            commands: call.commands,
            ...(call.action ? { action: call.action } : {}),
            ...(healthCheck ? { healthCheck } : {}),
            ...(verifyTimeoutMs !== undefined ? { verifyTimeoutMs } : {}),
            ...(drain ? { drain } : {}),
          },
          ctx.reason,
        )
      : undefined;
    if (monitoringProblem) ctx.log.warn(monitoringProblem);
    const data = silences
      ? {
          ...plan,
          silences: {
            where: silencer!.where,
            keepFailedForMs: silencer!.keepFailedForMs,
            hosts: silences,
            ...(monitoringProblem ? { problem: monitoringProblem } : {}),
          },
        }
      : plan;
    ctx.emit({ type: 'lb-plan', ...data });
    ctx.output(data, `${formatPlan(plan)}${silences ? `\n${silencesText(silencer!, silences, monitoringProblem)}` : ''}`);
    return 0;
  }

  let locked: Selection;
  try {
    locked = await lockClusters(ctx, ports.store, call.select, sel);
  } catch (err) {
    if (!isLockFailure(err)) throw err;
    // Nothing was touched: say who holds the cluster rather than crash.
    const msg = `REFUSED: cannot lock ${[...new Set(sel.hosts.map((h) => `${h.dc}/${h.cluster}`))].join(', ')} for a rolling operation: ${err instanceof Error ? err.message : String(err)}; nothing was changed`;
    ctx.log.error(msg);
    ctx.output(
      { status: 'refused', stopReason: msg, succeeded: [], failed: [], inFlight: [], notAttempted: sel.hosts.map((h) => h.host) },
      msg,
    );
    return 1;
  }

  const report = await runRolling(ports, {
    selection: locked,
    batch,
    commands: call.commands,
    ...(call.action ? { action: call.action } : {}),
    ...(healthCheck ? { healthCheck } : {}),
    ...(maxFailedBatches !== undefined ? { maxFailedBatches } : {}),
    sleepMs,
    ...flow,
    order,
    ...(a.window === 'moving' ? { window: 'moving' as const } : {}),
    ...(verifyTimeoutMs !== undefined ? { verifyTimeoutMs } : {}),
    ...(pauseAfter !== undefined ? { pauseAfter } : {}),
    ...(confirmEachBatch ? { confirmEachBatch } : {}),
    signal: ctx.signal,
    owner: { runId: ctx.runId, user: operatorUser(), reason: ctx.reason ?? '', time: new Date().toISOString() },
    scope: { dc: call.select.dc, cluster: call.select.cluster, services: call.select.services },
    ...(ctx.resume ? { resume: { runId: ctx.resume.runId, entries: ctx.resume.entries as JournalEntry[] } } : {}),
  });
  for (const f of report.failed)
    if (f.stillDepooled)
      ctx.leftover?.({ object: f.host, state: `depooled (${f.depooledObjects.map(shortKey).join(', ')})`, why: f.reason });
  // Stopped mid-way by a signal or by what else stopped the run (etcd unreachable, the journal lost…): say which.
  const stoppedWhy = report.stopReason ?? 'stopped before this host finished';
  for (const h of report.inFlight)
    if (h.depooledObjects.length)
      ctx.leftover?.({
        object: h.host,
        state: `depooled at phase ${h.phase} (${h.depooledObjects.map(shortKey).join(', ')})`,
        why: stoppedWhy,
      });
  let text = formatReport(report, { runId: ctx.runId });
  if (call.showOutput && report.outputs.size) {
    text += `\n\nOutput:\n${groupOutputs(report.outputs)
      .map((g) => `===== ${NodeSet.parse(...g.hosts).toString()} (${g.hosts.length}) =====\n${g.output}`)
      .join('\n')}`;
  }
  ctx.output(reportData(report), text);
  return report.status === 'succeeded' ? 0 : report.status === 'stopped' ? EXIT_STOPPED_BY_OPERATOR : 1;
}

/** Dry-run: the silence each host would get (through the dry-run monitoring client: nothing is created). */
async function planSilences(
  silencer: Silencer,
  sel: Selection,
  hosts: readonly string[],
  o: Pick<RollingOptions, 'commands' | 'action' | 'healthCheck' | 'verifyTimeoutMs' | 'drain'>,
  reason: string | undefined,
): Promise<{ host: string; services: string[]; durationMs: number }[]> {
  const durationMs = silenceMs(o);
  const out: { host: string; services: string[]; durationMs: number }[] = [];
  for (const host of hosts) {
    const plan = sel.hosts.find((h) => h.host === host);
    const services = plan ? servicesOf({ plan }) : [];
    await silencer.silence(host, { services, durationMs, reason: reason ?? 'galley rolling operation' });
    out.push({ host, services, durationMs });
  }
  return out;
}

function silencesText(
  silencer: Silencer,
  hosts: readonly { host: string; services: string[]; durationMs: number }[],
  problem: string | undefined,
): string {
  const lines = [
    `Silences (${silencer.where}): each host would be silenced before it is taken out and the silence expired once it is back in; a host left out keeps it for ${formatDuration(silencer.keepFailedForMs)}:`,
  ];
  for (const h of hosts)
    lines.push(`  would silence ${h.host} (${h.services.join(', ') || 'every alert'}) for up to ${formatDuration(h.durationMs)}`);
  if (problem) lines.push(`  WARNING: ${problem}`);
  return lines.join('\n');
}

/**
 * lb's own refusals (ERR_LB_*: bad batch, whole cluster, nothing selected, no PyBal pool, resume
 * mismatch) are raised before anything is written. Thrown out of a cookbook they would be an
 * uncaught exception (exit 99, "a bug"); they are a refusal: said with code and hint, exit 1.
 */
export async function refusing(ctx: LbContext, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (!isLbError(err)) throw err;
    ctx.log.error(formatError(err), { code: err.code });
    ctx.output(
      {
        status: 'refused',
        code: err.code,
        stopReason: err.message,
        ...(err.hint ? { hint: err.hint } : {}),
        ...(err.details ? { details: err.details } : {}),
      },
      `REFUSED: ${err.message} [${err.code}]; nothing was changed`,
    );
    return 1;
  }
}

function hostSet(pattern: string | undefined): ReadonlySet<string> | undefined {
  if (pattern === undefined) return undefined;
  try {
    return new Set(NodeSet.parse(pattern).hosts());
  } catch (err) {
    throw new LbArgumentError(`hosts=${pattern}: ${err instanceof Error ? err.message : String(err)}`, {
      hint: 'use a NodeSet pattern like mw[1001-1004].eqiad.wmnet',
    });
  }
}

export function selectFromArgs(a: RollingArgs): SelectOptions {
  const out: SelectOptions = { cluster: a.cluster };
  if (a.dc) out.dc = a.dc;
  const services = list(a.services);
  if (services) out.services = services;
  const hosts = hostSet(a.hosts);
  if (hosts) out.hosts = hosts;
  return out;
}

/** sre.lb.rolling-restart: restart the services (default: the cluster's conftool services). */
export async function rollingRestart(ctx: LbContext, a: RollingArgs & { restart?: string | undefined }): Promise<number> {
  return refusing(ctx, () => rollingRestartOp(ctx, a));
}

async function rollingRestartOp(ctx: LbContext, a: RollingArgs & { restart?: string | undefined }): Promise<number> {
  const select = selectFromArgs(a);
  const ports = portsFor(ctx);
  const selection = await selectHosts(ports.store, select);
  const services = list(a.restart) ?? select.services ?? selection.services;
  const timeoutMs = parseDuration(a['command-timeout'] ?? '120s', 'command-timeout');
  // One `systemctl restart a b` per host: one SSH round trip, and systemd restarts the units together.
  const commands: CommandSpec[] = services.length ? [{ argv: ['systemctl', 'restart', ...services], timeoutMs }] : [];
  if (!commands.length) throw new LbArgumentError('restart=: no service to restart', { hint: 'name them with restart=svc1,svc2' });
  return rollingOperation(ctx, { select, commands, label: 'restarting', args: a }, selection);
}

/** sre.lb.rolling-run: arbitrary commands in order on each host while it is out of its pools. */
export async function rollingRun(ctx: LbContext, a: RollingArgs & { command: string | string[] }): Promise<number> {
  return refusing(ctx, () => rollingRunOp(ctx, a));
}

async function rollingRunOp(ctx: LbContext, a: RollingArgs & { command: string | string[] }): Promise<number> {
  const cmds = (Array.isArray(a.command) ? a.command : [a.command]).filter((c) => c.trim() !== '');
  if (!cmds.length) throw new LbArgumentError('command=: at least one command is needed');
  const timeoutMs = parseDuration(a['command-timeout'] ?? '120s', 'command-timeout');
  return rollingOperation(ctx, {
    select: selectFromArgs(a),
    commands: cmds.map((shell) => ({ shell, timeoutMs })),
    label: 'running',
    args: a,
    showOutput: true,
  });
}

/** The max hold of sre.lb.restart-service's lock (`restartServiceLock`). */
export const RESTART_SERVICE_LOCK_TTL_S = 3600;

/** The args of sre.lb.restart-service (yargs option objects; the runner maps key=value). */
export const restartServiceArgs = {
  host: { type: 'string', demandOption: true, describe: 'host FQDN, e.g. mw1001.eqiad.wmnet' },
  service: { type: 'string', demandOption: true, describe: 'conftool service, also the systemd unit restarted' },
  'command-timeout': {
    type: 'string',
    default: '120s',
    describe: 'timeout of the restart',
    check: durationArg({ positive: true, lockTtlSeconds: RESTART_SERVICE_LOCK_TTL_S }),
  },
  'verify-timeout': {
    type: 'string',
    describe: 'deadline for every load balancer to agree (default: the pybal config)',
    check: durationArg({ positive: true, lockTtlSeconds: RESTART_SERVICE_LOCK_TTL_S }),
  },
  ...drainArgs,
} as const;

/** sre.lb.restart-service: one restart per host at a time (the cookbook lock, per host). */
export function restartServiceLock(args: { host: string }): { suffix: string; concurrency: number; ttlSeconds: number } {
  return { suffix: args.host, concurrency: 1, ttlSeconds: RESTART_SERVICE_LOCK_TTL_S };
}

/** sre.lb.restart-service: one host, one service, with the same depool/verify/repool/verify as a rolling restart. */
export async function restartService(
  ctx: LbContext,
  a: {
    host: string;
    service: string;
    'command-timeout'?: string | undefined;
    'verify-timeout'?: string | undefined;
    drain?: string | undefined;
    'drain-check'?: string | undefined;
  },
): Promise<number> {
  const timeoutMs = parseDuration(a['command-timeout'] ?? '120s', 'command-timeout');
  const args: RollingArgs = {
    cluster: '',
    batch: '1',
    sleep: 0,
    'verify-timeout': a['verify-timeout'],
    drain: a.drain,
    'drain-check': a['drain-check'],
  };
  return refusing(ctx, () =>
    rollingOperation(ctx, {
      select: { hosts: new Set([a.host]), services: [a.service] },
      commands: [{ argv: ['systemctl', 'restart', a.service], timeoutMs }],
      label: 'restarting',
      args,
    }),
  );
}

/**
 * sre.lb.pool / sre.lb.depool: act only from the right state (depool only `yes`, pool only `no`,
 * never `inactive`), verified on every LB; "nothing to do" (exit 0) when already there.
 */
export async function poolOrDepool(ctx: LbContext, a: PoolArgs, direction: 'pool' | 'depool'): Promise<number> {
  return refusing(ctx, () => poolOrDepoolOp(ctx, a, direction));
}

export interface PoolArgs {
  host: string;
  service?: string | undefined;
  'verify-timeout'?: string | undefined;
}

/** The max hold of sre.lb.pool's and sre.lb.depool's lock (`poolLock`). */
export const POOL_LOCK_TTL_S = 600;

/** The args of sre.lb.pool and sre.lb.depool (yargs option objects; the runner maps key=value). */
export const poolArgs = {
  host: { type: 'string', demandOption: true, describe: 'host FQDN' },
  service: { type: 'string', describe: 'only this conftool service (default: all of the host)' },
  'verify-timeout': {
    type: 'string',
    describe: 'deadline for every load balancer to agree',
    check: durationArg({ positive: true, lockTtlSeconds: POOL_LOCK_TTL_S }),
  },
} as const;

/** sre.lb.pool and sre.lb.depool: one pool change per host at a time (the cookbook lock, per host). */
export function poolLock(args: { host: string }): { suffix: string; concurrency: number; ttlSeconds: number } {
  return { suffix: args.host, concurrency: 1, ttlSeconds: POOL_LOCK_TTL_S };
}

async function poolOrDepoolOp(ctx: LbContext, a: PoolArgs, direction: 'pool' | 'depool'): Promise<number> {
  const ports = portsFor(ctx, (e) => ctx.emit({ ...e }));
  const engine: EngineDeps = {
    store: ports.store,
    verifier: ports.verifier,
    capacity: ports.capacity,
    clock: ports.clock,
    emit: (e) => ctx.emit({ ...e }),
  };
  const user = operatorUser();
  const who = operatorOwner(user);
  const marker: OwnerMarker = {
    runId: who,
    user,
    reason: ctx.reason ?? `${direction} ${a.host} (run ${ctx.runId})`,
    time: new Date().toISOString(),
  };
  // Putting back waits for whoever holds the host (a rolling run) before it reads anything: it
  // decides from the state that run leaves, not from its transient one. Taking out never waits:
  // an operator in an emergency is not queued behind a rolling run.
  if (direction === 'pool' && !ctx.dryRun) await ctx.lockHosts([a.host]);
  // A mistyped host must fail, not pass as "nothing to do".
  const all = await ports.store.select({ name: escapeRegex(a.host) });
  if (!all.length) throw new NothingSelectedError(`host=${a.host}`, 'conftool has no object for this host');
  const inScope = all.filter((o) => !a.service || o.tags.service === a.service);
  // An inactive object is left alone, unless a run holds it out there (its owner marker: a reimage
  // takes a host out to inactive): a depool records the operator's intent on it too, so that run
  // does not put it back.
  const heldInactive =
    direction === 'depool' ? await ports.store.owners(inScope.filter((o) => o.pooled === 'inactive')) : new Map<string, OwnerMarker>();
  const objects = inScope.filter((o) => o.pooled !== 'inactive' || heldInactive.has(o.key));
  const what = `${a.host}${a.service ? ` (${a.service})` : ''}`;
  if (!objects.length) {
    // Every object inactive (or none): depooling has nothing to do; pooling must not touch inactive.
    if (direction === 'pool') {
      const why = `REFUSED: ${what} has no object at pooled=no, only inactive ones (or none): sre.lb.pool never pools inactive objects; set them to no with confctl first if that is really meant`;
      ctx.output({ host: a.host, direction, changed: [], refused: why }, why);
      return 1;
    }
    ctx.output({ host: a.host, direction, changed: [], nothingToDo: true }, `nothing to do: ${what} has no object that is not inactive`);
    return 0;
  }
  const verifyTimeoutMs = a['verify-timeout'] !== undefined ? parseDuration(a['verify-timeout'], 'verify-timeout') : undefined;
  // An object no LB pool is configured for could never be verified: refused before any write,
  // as the rolling cookbooks do (a deployment hook must not get exit 0 for an unverified change).
  const from = direction === 'depool' ? 'yes' : 'no';
  const todo = objects.filter((o) => o.pooled === from);
  const unknown = todo.filter((o) => ports.capacity.poolOf(o) === undefined);
  if (unknown.length)
    throw new UnknownPoolError(
      unknown.map((o) => o.key),
      direction,
      'service=',
    );
  const owners = await ports.store.owners(objects);
  return direction === 'depool'
    ? depoolHost(ctx, { engine, ports, objects, todo, owners, marker, what, verifyTimeoutMs, host: a.host })
    : poolHost(ctx, { engine, objects, todo, owners, marker, what, verifyTimeoutMs, host: a.host });
}

interface PoolStep {
  engine: EngineDeps;
  host: string;
  what: string;
  objects: PoolObject[];
  todo: PoolObject[];
  owners: Map<string, OwnerMarker>;
  marker: OwnerMarker;
  verifyTimeoutMs: number | undefined;
}

/**
 * sre.lb.depool: take out what is pooled (capacity-checked), record the operator as the owner of
 * every object of the host that is out (so no run puts it back), verify out on every LB.
 */
async function depoolHost(ctx: LbContext, s: PoolStep & { ports: LbPorts }): Promise<number> {
  const { engine, host, what, objects, todo, owners, marker } = s;
  const heldBy = [
    ...new Set(
      objects
        .filter((o) => o.pooled !== 'yes')
        .flatMap((o) =>
          owners.has(o.key) && owners.get(o.key)!.runId !== marker.runId ? [ownerText(owners.get(o.key)!, { since: true })] : [],
        ),
    ),
  ];
  const toMark = objects.filter((o) => o.pooled !== 'yes' && owners.get(o.key)?.runId !== marker.runId);
  if (!todo.length && !toMark.length) {
    const msg = `nothing to do: ${what} is already depooled and recorded as yours (${objects.map((o) => `${shortKey(o.key)}=${o.pooled}`).join(', ')})`;
    ctx.output(
      { host, direction: 'depool', changed: [], nothingToDo: true, state: objects.map((o) => `${shortKey(o.key)}=${o.pooled}`) },
      msg,
    );
    return 0;
  }
  if (todo.length) {
    const need = new Map<string, number>();
    for (const o of todo) {
      const p = s.ports.capacity.poolOf(o);
      if (p !== undefined) need.set(p, (need.get(p) ?? 0) + 1);
    }
    const rows = judgeCapacity(need, need.size ? await s.ports.capacity.capacity([...need.keys()]) : new Map<string, PoolCapacity>());
    if (rows.some((r) => !r.ok)) {
      const msg = capacityMessage(1, rows).replace(/^batch 1: /, '');
      if (!ctx.dryRun) {
        ctx.output({ host, direction: 'depool', refused: msg, capacity: rows }, `REFUSED: ${msg}`);
        return 1;
      }
      ctx.log.warn(msg);
    }
  }
  if (ctx.dryRun) {
    for (const o of todo) ctx.change?.({ kind: 'conftool', host, object: shortKey(o.key), from: 'yes', to: 'no' });
    const parts = [
      todo.length ? `would set pooled=no on ${todo.map((o) => shortKey(o.key)).join(', ')}` : '',
      toMark.length
        ? `would record ${marker.runId} as the owner of ${toMark.map((o) => shortKey(o.key)).join(', ')}${heldBy.length ? ` (held out now by ${heldBy.join('; ')})` : ''}`
        : '',
    ].filter(Boolean);
    ctx.output(
      { host, direction: 'depool', wouldChange: todo.map((o) => o.key), wouldRecord: toMark.map((o) => o.key) },
      `${parts.join('; ')}, and verify on every LB`,
    );
    return 0;
  }
  const task = ctx.progress.task(`depool ${host}`);
  task.update(`depool ${host}: writing conftool`);
  const hold = newHold(host, todo, objects);
  const w = await writeOut(engine, [hold], marker);
  // Already out: only the owner changes hands, in a txn that compares the value (still `no`, or `inactive`).
  const marks = toMark.length
    ? await engine.store.transition(toMark.map((o) => ({ object: o, to: o.pooled, expect: { pooled: o.pooled }, owner: { set: marker } })))
    : [];
  const notMarked = marks.flatMap((r, i) =>
    r.status === 'already' || r.status === 'changed'
      ? []
      : [
          `${shortKey(toMark[i]!.key)}: ${r.status === 'failed' ? errorText(r.error) : r.status === 'invalid' ? errorText(r.error) : `it is ${r.found?.pooled ?? 'deleted'} now`}`,
        ],
  );
  if (w.failed.length) {
    task.fail();
    const state = await readBack(engine, objects);
    ctx.leftover?.({
      object: host,
      state: `unknown after a failed depool: ${state.map(stateText).join(', ')}`,
      why: errorText(w.failed[0]!.error),
    });
    ctx.output(
      { host, direction: 'depool', failed: w.failed.map((f) => ({ object: shortKey(f.key), error: errorText(f.error) })), now: state },
      `FAILED: depooling ${what}: ${errorText(w.failed[0]!.error)}; conftool now: ${state.map(stateText).join(', ')}`,
    );
    return 1;
  }
  for (const l of hold.leftAsFound) ctx.log.warn(`${shortKey(l.key)}: ${l.why}`);
  task.update(`depool ${host}: verifying on every LB`);
  const v = await verifyOut(engine, [hold], { verifyTimeoutMs: s.verifyTimeoutMs });
  const state = await readBack(engine, objects);
  const data = {
    host,
    direction: 'depool',
    changed: hold.changes.map((c) => ({ object: shortKey(c.key), from: c.from, to: c.to })),
    recorded: toMark.filter((_, i) => !notMarked[i]).map((o) => shortKey(o.key)),
    heldBy,
    verified: v.reason === undefined,
    ...(v.reason ? { report: v.reason } : {}),
    notMarked,
    now: state,
  };
  const held = heldBy.length ? `; it was held out by ${heldBy.join('; ')}: that run will not put it back` : '';
  if (v.reason === undefined && !notMarked.length) {
    task.update(`depool ${host}: done, verified on every LB`);
    task.succeed();
    const did = [
      hold.changes.length ? `depooled ${hold.changes.map((c) => shortKey(c.key)).join(', ')}` : '',
      data.recorded.length ? `recorded ${marker.runId} as the owner of ${data.recorded.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join('; ');
    ctx.output(data, `${did}${held}; ${v.report ?? 'every LB has them out'} (conftool now: ${state.map(stateText).join(', ')})`);
    return 0;
  }
  task.fail('not verified on every LB');
  ctx.output(
    data,
    `FAILED: ${what}: ${v.reason ?? `the depool was not recorded for ${notMarked.join('; ')}`}; conftool now: ${state.map(stateText).join(', ')}`,
  );
  return 1;
}

/**
 * sre.lb.pool: put back what is at `no` (never inactive), clearing the owner marker; another
 * owner's marker (a run, another operator) needs a yes at the prompt. Verified in on every LB,
 * else out again and verified out (fail closed).
 */
async function poolHost(ctx: LbContext, s: PoolStep): Promise<number> {
  const { engine, host, what, objects, todo, owners, marker } = s;
  if (!todo.length) {
    const msg = `nothing to do: ${what} is already pooled (${objects.map((o) => `${shortKey(o.key)}=${o.pooled}`).join(', ')})`;
    ctx.output(
      { host, direction: 'pool', changed: [], nothingToDo: true, state: objects.map((o) => `${shortKey(o.key)}=${o.pooled}`) },
      msg,
    );
    return 0;
  }
  const foreign = todo.flatMap((o) =>
    owners.has(o.key) && owners.get(o.key)!.runId !== marker.runId ? [{ o, m: owners.get(o.key)! }] : [],
  );
  if (foreign.length && !ctx.dryRun) {
    const q = `${what} is held out by ${[...new Set(foreign.map((f) => ownerText(f.m, { since: true })))].join('; ')}. Pool it anyway and clear that?`;
    let yes = false;
    try {
      yes = await ctx.confirm(q);
    } catch (err) {
      // no TTY and no --yes: a refusal the operator can act on, not a crash
      if (!isConfirmationError(err)) throw err;
      ctx.log.error(err.message);
    }
    if (!yes) {
      const text = `${what}: held out by someone else, not confirmed; nothing changed (answer at the prompt, or pass --yes when not on a terminal)`;
      ctx.output(
        { host, direction: 'pool', status: 'not-confirmed', heldBy: foreign.map((f) => ({ object: shortKey(f.o.key), owner: f.m })) },
        text,
      );
      return EXIT_NOT_CONFIRMED;
    }
  }
  if (ctx.dryRun) {
    for (const o of todo) ctx.change?.({ kind: 'conftool', host, object: shortKey(o.key), from: 'no', to: 'yes' });
    const held = foreign.length
      ? `; held out by ${[...new Set(foreign.map((f) => ownerText(f.m, { since: true })))].join('; ')}: would ask before clearing that`
      : '';
    ctx.output(
      { host, direction: 'pool', wouldChange: todo.map((o) => o.key) },
      `would set pooled=yes on ${todo.map((o) => shortKey(o.key)).join(', ')} and verify on every LB${held}`,
    );
    return 0;
  }
  const task = ctx.progress.task(`pool ${host}`);
  task.update(`pool ${host}: writing conftool`);
  const hold = newHold(host, [], []);
  hold.changes = todo.map((o) => ({
    key: o.key,
    tags: o.tags,
    field: 'pooled',
    from: 'yes',
    to: 'no',
    weight: o.weight,
    ...(o.modRevision ? { modRevision: o.modRevision } : {}),
  }));
  const res = await putBack(engine, [hold], {
    ownerId: marker.runId,
    owner: marker,
    verifyTimeoutMs: s.verifyTimeoutMs,
    // the marker we read (and asked about), or none: one that changed since is a conflict
    ownerOf: (c) => (owners.has(c.key) ? { mustBe: owners.get(c.key)!.runId } : { clear: true }),
    afterWrite: async () => task.update(`pool ${host}: verifying on every LB`),
  });
  const r = res.hosts[0]!;
  const state = await readBack(engine, objects);
  for (const l of hold.leftAsFound) ctx.log.warn(`${shortKey(l.key)}: ${l.why}`);
  const back = todo.filter((o) => !hold.leftAsFound.some((l) => l.key === o.key));
  // `changed`: what is pooled now because of this run (read back below; out again means nothing)
  const data = {
    host,
    direction: 'pool',
    status: r.status,
    changed: r.status === 'in' ? back.map((o) => ({ object: shortKey(o.key), from: 'no', to: 'yes' })) : [],
    verified: r.status === 'in',
    depooledAgain: r.status === 'out-again',
    report: r.reason ?? res.report ?? '',
    leftAsFound: hold.leftAsFound.map((l) => ({ object: shortKey(l.key), why: l.why })),
    now: state,
  };
  const now = state.map(stateText).join(', ');
  if (r.status === 'in' && !hold.leftAsFound.length) {
    task.update(`pool ${host}: done, verified on every LB`);
    task.succeed();
    ctx.output(data, `pooled ${todo.map((o) => shortKey(o.key)).join(', ')}; ${res.report ?? 'every LB has it in'} (conftool now: ${now})`);
    return 0;
  }
  if (r.status === 'in') {
    task.fail('changed by someone else meanwhile');
    ctx.output(
      data,
      `nothing more changed: ${hold.leftAsFound.map((l) => `${shortKey(l.key)}: ${l.why}`).join('; ')}; conftool now: ${now}`,
    );
    return 1;
  }
  task.fail(r.status === 'out-again' ? 'not verified on every LB, depooled again' : 'not verified on every LB, and NOT back out');
  ctx.leftover?.({ object: host, state: now, why: r.reason ?? '' });
  ctx.output(data, `FAILED: ${what}: ${r.reason ?? ''}; conftool now: ${now}`);
  return 1;
}
