import { checkNotWholeCluster, planBatches, stepSize, type BatchSpec } from './batches.js';
import type { HostAction } from './action.js';
import type { CommandSpec, LbPorts, PoolCapacity } from './ports.js';
import { displayCommand } from '@galley/remote/command';
import { formatDuration } from './args.js';
import { orderText, toleratedFailures, type MaxFailed, type OrderSpec } from './budget.js';
import { drainText, type DrainSpec } from './drain.js';
import { capacityMessage, checkPools, depoolsPerPool, judgeCapacity } from './capacity.js';
import type { HealthCheck } from './rolling.js';
import { shortKey, type HostPlan, type Selection } from './select.js';

// (shortKey lives in select.ts, which run.ts imports too; it stays exported from here.)
export { shortKey };

export interface PlannedBatch {
  batch: number;
  hosts: { host: string; depool: string[]; leftAlone: HostPlan['leftAlone'] }[];
  capacity: (PoolCapacity & { depool: number; ok: boolean })[];
  warnings: string[];
}

export interface RollingPlan {
  what: string;
  /** `batch=` as typed and what each element comes to over these hosts (`30%` of 4 → 1). */
  batchSpec: { text: string; sizes: number[] };
  hosts: number;
  clusterSize: number;
  batches: PlannedBatch[];
  skipped: Selection['skipped'];
  commands: string[];
  /** What RollingOptions.action does on each host instead of commands (its describe()). */
  action?: string;
  healthCheck?: string;
  sleepMs: number;
  /** null: not applied (max-failed= given alone). */
  maxFailedBatches: number | null;
  window: 'lockstep' | 'moving';
  warnings: string[];
  /** drain= per host: what happens between out and acting. */
  drain?: { ms: number; weight: boolean; check?: string; text: string };
  /** capacity-wait=: how long a batch short of capacity waits, re-checking how often. */
  capacityWait?: { ms: number; intervalMs: number };
  /** max-failed=: as typed, and the failed hosts it tolerates over these hosts. */
  maxFailed?: { text: string; tolerated: number };
  deadlineMs?: number;
  order: OrderSpec;
}

/**
 * The dry-run: every batch with its hosts, the objects it would depool and the ones it leaves
 * alone (and why), the capacity check against live PyBal state, and the commands. One capacity
 * read per pool for the whole plan (nothing changes between batches in a dry-run), so a
 * 1,000-host plan costs a handful of requests.
 */
export async function planRolling(
  ports: Pick<LbPorts, 'capacity'>,
  opts: {
    selection: Selection;
    batch: BatchSpec;
    commands: CommandSpec[];
    action?: Pick<HostAction, 'describe'>;
    healthCheck?: HealthCheck;
    sleepMs?: number;
    maxFailedBatches?: number;
    window?: 'lockstep' | 'moving';
    drain?: DrainSpec;
    capacityWaitMs?: number;
    capacityWaitIntervalMs?: number;
    maxFailedHosts?: MaxFailed;
    deadlineMs?: number;
    /** The order `selection.hosts` is already in (shown; the caller ordered them). */
    order?: OrderSpec;
  },
): Promise<RollingPlan> {
  const { selection } = opts;
  checkNotWholeCluster(opts.batch, selection.hosts.length, selection.clusterSize, selection.what, selection.groups);
  checkPools(ports, selection.hosts);
  const groups = planBatches(selection.hosts, opts.batch);
  const allPools = depoolsPerPool(ports, selection.hosts);
  const live = allPools.size ? await ports.capacity.capacity([...allPools.keys()]) : new Map<string, PoolCapacity>();
  const warnings: string[] = [];
  const batches = groups.map((hosts, i): PlannedBatch => {
    const rows = judgeCapacity(depoolsPerPool(ports, hosts), live);
    const w = rows.some((r) => !r.ok) ? [capacityMessage(i + 1, rows)] : [];
    warnings.push(...w);
    return {
      batch: i + 1,
      hosts: hosts.map((h) => ({ host: h.host, depool: h.depool.map((o) => o.key), leftAlone: h.leftAlone })),
      capacity: rows,
      warnings: w,
    };
  });
  return {
    what: selection.what,
    batchSpec: { text: opts.batch.text, sizes: opts.batch.steps.map((st) => stepSize(st, selection.hosts.length)) },
    hosts: selection.hosts.length,
    clusterSize: selection.clusterSize,
    batches,
    skipped: selection.skipped,
    commands: opts.action ? [] : opts.commands.map(displayCommand),
    ...(opts.action ? { action: opts.action.describe() } : {}),
    ...(opts.healthCheck ? { healthCheck: displayCommand(opts.healthCheck.command) } : {}),
    sleepMs: opts.sleepMs ?? 0,
    maxFailedBatches: opts.maxFailedBatches ?? (opts.maxFailedHosts ? null : 0),
    window: opts.window ?? 'lockstep',
    warnings,
    ...(opts.drain
      ? {
          drain: {
            ms: opts.drain.ms,
            weight: opts.drain.weight,
            ...(opts.drain.check ? { check: displayCommand(opts.drain.check) } : {}),
            text: drainText(opts.drain),
          },
        }
      : {}),
    ...(opts.capacityWaitMs ? { capacityWait: { ms: opts.capacityWaitMs, intervalMs: opts.capacityWaitIntervalMs ?? 5000 } } : {}),
    ...(opts.maxFailedHosts
      ? { maxFailed: { text: opts.maxFailedHosts.text, tolerated: toleratedFailures(opts.maxFailedHosts, selection.hosts.length) } }
      : {}),
    ...(opts.deadlineMs !== undefined ? { deadlineMs: opts.deadlineMs } : {}),
    order: opts.order ?? { order: 'as-listed' },
  };
}

export function formatPlan(plan: RollingPlan): string {
  const lines: string[] = [];
  const budgets = [
    plan.maxFailedBatches === null ? 'max-failed-batches not applied' : `max-failed-batches=${plan.maxFailedBatches}`,
    ...(plan.maxFailed
      ? [
          `max-failed=${plan.maxFailed.text} (${plan.maxFailed.tolerated} failed host(s) of ${plan.hosts} tolerated${plan.maxFailed.text.endsWith('%') ? ', rounded down' : ''}; one more stops the run)`,
        ]
      : []),
  ];
  lines.push(
    `Plan for ${plan.what}: ${plan.hosts} host(s) of ${plan.clusterSize} in ${plan.batches.length} batch(es), ${budgets.join(', ')}, sleep ${plan.sleepMs} ms between batches`,
  );
  lines.push(
    `${orderText(plan.order)}${plan.order.order === 'shuffled' ? ` (this plan's order; give seed=${plan.order.seed} to the real run to get the same one)` : ''}`,
  );
  if (plan.deadlineMs !== undefined)
    lines.push(`deadline=${formatDuration(plan.deadlineMs)}: past it no new batch starts; what is out finishes and is put back; exit 1`);
  if (plan.capacityWait)
    lines.push(
      `capacity-wait=${formatDuration(plan.capacityWait.ms)}: a batch short of capacity waits up to that long (asking the LBs every ${formatDuration(plan.capacityWait.intervalMs)}) before it is refused`,
    );
  if (plan.drain) lines.push(`drain=${plan.drain.weight ? 'weight' : formatDuration(plan.drain.ms)}: ${plan.drain.text}`);
  const { text, sizes } = plan.batchSpec;
  const steps = text
    .split(',')
    .map((t, i) => (t.trim().endsWith('%') ? `${sizes[i]} (${t.trim()} of ${plan.hosts}, rounded down, at least 1)` : `${sizes[i]}`));
  lines.push(
    `batch=${text}: ${steps.length > 1 ? `batches of ${steps.join(', then ')} host(s), the last repeating` : `${steps[0]} host(s) per batch`}`,
  );
  if (plan.window === 'moving') {
    lines.push(
      `window=moving: at most that many hosts out at any moment, the next one taken out as soon as one is back (sleep ${plan.sleepMs} ms before it); the batches below are the order hosts start in, each host a batch of its own for max-failed-batches; capacity is checked again before each host`,
    );
  }
  if (plan.action) lines.push(`On each host while depooled: ${plan.action}`);
  else lines.push(`Commands on each host while depooled: ${plan.commands.map((c) => `\`${c}\``).join(', ') || '(none)'}`);
  if (plan.healthCheck) lines.push(`Health check until it passes: \`${plan.healthCheck}\``);
  for (const b of plan.batches) {
    lines.push(`Batch ${b.batch}: ${b.hosts.map((h) => h.host).join(', ')}`);
    for (const h of b.hosts) {
      lines.push(
        `  ${h.host}: ${plan.drain?.weight && h.depool.length ? 'weight=0, drain, then ' : ''}depool ${h.depool.length ? h.depool.map(shortKey).join(', ') : '(nothing pooled=yes)'}${plan.drain && !plan.drain.weight ? `, drain ${plan.drain.check ? `until drain-check prints 0 (at most ${formatDuration(plan.drain.ms)})` : formatDuration(plan.drain.ms)}` : ''}`,
      );
      for (const l of h.leftAlone) lines.push(`    left alone ${shortKey(l.key)} (pooled=${l.pooled}): ${l.why}`);
    }
    for (const c of b.capacity) {
      lines.push(
        `  capacity ${c.pool}: depool ${c.depool}, can take out ${c.canTakeOut} (${c.detail})${c.ok ? '' : `  WARNING: ${c.error ?? 'would breach the depool threshold'}`}`,
      );
    }
  }
  for (const s of plan.skipped) lines.push(`Skipped ${s.host}: ${s.why}`);
  // plan.warnings are logged as warnings by the operation and marked on their batch above: not a third time here
  return lines.join('\n');
}
