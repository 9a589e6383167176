/**
 * `capacity-wait=DURATION` (issue 14 item 5): a batch that would breach a pool's depool threshold
 * waits for capacity to return, as Kubernetes' eviction API retries against a disruption budget,
 * instead of being refused at once. Nothing of the batch is touched while it waits; each round shows
 * the pools and their numbers (a `capacity-wait` event and a warning line), and asks every LB again
 * after the configured interval. When the wait runs out (or a signal or the deadline ends it) the
 * last rows are returned and the caller refuses with them, as without a wait.
 */
import { formatDuration } from './args.js';
import { judgeCapacity, type CapacityRow } from './capacity.js';
import type { Run } from './run.js';

/** What one round of the wait says, for people. */
export function capacityWaitText(
  batch: number,
  rows: readonly CapacityRow[],
  w: { waitedMs: number; leftMs: number; intervalMs: number },
): string {
  const short = rows
    .filter((r) => !r.ok)
    .map((r) =>
      r.error
        ? `pool ${r.pool}: capacity unknown (${r.error})`
        : `pool ${r.pool}: needs ${r.depool} out, only ${r.canTakeOut} can leave now (${r.detail})`,
    )
    .join('; ');
  return `batch ${batch} waits for capacity (capacity-wait: ${formatDuration(Math.round(w.waitedMs / 100) * 100)} waited, ${formatDuration(Math.round(w.leftMs / 100) * 100)} left, asking the LBs again every ${formatDuration(w.intervalMs)}): ${short}`;
}

/**
 * Wait until every row fits, or `capacity-wait` runs out. `rows` is the check that failed; returns
 * the last rows (all ok, or the ones to refuse with).
 */
export async function waitForCapacity(
  run: Run,
  batch: number,
  need: Map<string, number>,
  rows: CapacityRow[],
): Promise<{ rows: CapacityRow[]; waitedMs: number }> {
  const waitMs = run.opts.capacityWaitMs ?? 0;
  const { clock, capacity } = run.ports;
  const start = clock.now();
  const intervalMs = run.opts.capacityWaitIntervalMs ?? 5000;
  let last = rows;
  while (last.some((r) => !r.ok)) {
    const waitedMs = clock.now() - start;
    const leftMs = Math.min(waitMs - waitedMs, run.deadlineLeftMs());
    if (leftMs <= 0 || run.aborted) break;
    run.emit({ type: 'capacity-wait', batch, pools: last, waitedMs, leftMs, intervalMs });
    run.emit({ type: 'warning', message: capacityWaitText(batch, last, { waitedMs, leftMs, intervalMs }) });
    await clock.sleep(Math.min(intervalMs, leftMs), run.opts.signal);
    if (run.aborted) break;
    last = judgeCapacity(need, await capacity.capacity([...need.keys()]));
  }
  // the numbers the batch goes on (or is refused) with
  if (last !== rows) run.emit({ type: 'capacity', batch, pools: last });
  return { rows: last, waitedMs: clock.now() - start };
}
