/**
 * PyBal's depool-threshold arithmetic (spicerack-model.md §6.2), as pure functions. Kept in one
 * place so capacity planning, verification reports and the tests agree with the simulator and
 * with PyBal, float quirks included (PyBal compares `up >= total * threshold` in floating point).
 */
import type { LbServerView } from './parse.js';

export type ConftoolPooled = 'yes' | 'no' | 'inactive';

export interface PoolCounts {
  /** Servers in PyBal's config: conftool `yes` and `no`, never `inactive`. */
  total: number;
  /** Up (monitors pass) and enabled (conftool `yes`): what canDepool counts. */
  upEnabled: number;
  pooled: number;
  /** Pooled although down or disabled: kept in by the threshold. */
  pooledDown: string[];
}

/** PyBal's canDepool(), evaluated on the counts *after* the change. */
export function canDepool(upEnabledAfter: number, total: number, threshold: number): boolean {
  return upEnabledAfter >= total * threshold;
}

/** Smallest number of up+enabled servers PyBal insists on for a pool of `total`. */
export function minUpEnabled(total: number, threshold: number): number {
  let n = Math.max(0, Math.ceil(total * threshold));
  // Float products like 10 * 0.7 = 7.000000000000001 make ceil overshoot; PyBal uses the same
  // comparison, so settle on exactly what canDepool accepts.
  while (n > 0 && canDepool(n - 1, total, threshold)) n--;
  while (!canDepool(n, total, threshold)) n++;
  return n;
}

/** How many more up+enabled servers can be taken out now without breaching the threshold. */
export function canTakeOut(counts: Pick<PoolCounts, 'total' | 'upEnabled'>, threshold: number): number {
  return Math.max(0, counts.upEnabled - minUpEnabled(counts.total, threshold));
}

/** Counts from one LB's view of a pool (its map already excludes inactive servers). */
export function countsFromView(view: ReadonlyMap<string, LbServerView>): PoolCounts {
  let upEnabled = 0;
  let pooled = 0;
  const pooledDown: string[] = [];
  for (const [host, s] of view) {
    if (s.up && s.enabled) upEnabled++;
    if (s.pooled) pooled++;
    if (s.pooled && !(s.up && s.enabled)) pooledDown.push(host);
  }
  return { total: view.size, upEnabled, pooled, pooledDown };
}

/** Counts PyBal would derive from conftool states and health (a prediction, for planning and tests). */
export function countsFromConftool(servers: readonly { pooled: ConftoolPooled; up: boolean }[]): Pick<PoolCounts, 'total' | 'upEnabled'> {
  const active = servers.filter((s) => s.pooled !== 'inactive');
  return { total: active.length, upEnabled: active.filter((s) => s.pooled === 'yes' && s.up).length };
}

/** Why an LB keeps a server that conftool wants out, in the words the report uses. */
export function explainKeptPooled(a: { lb: string; host: string; pool: string; counts: PoolCounts; threshold: number }): string {
  const { lb, host, pool, counts, threshold } = a;
  const need = minUpEnabled(counts.total, threshold);
  if (!canDepool(counts.upEnabled, counts.total, threshold) || counts.upEnabled <= need) {
    return `${lb} keeps ${host} pooled: pool ${pool} is at its depool threshold ${threshold} (${counts.upEnabled} of ${counts.total} up and enabled, ${need} needed)`;
  }
  return `${lb} still reports ${host} pooled although disabled; pool ${pool} has ${counts.upEnabled} of ${counts.total} up and enabled (threshold ${threshold}, ${need} needed), so it should depool it soon`;
}
