import { LbArgumentError, WholeClusterError } from './errors.js';

/** One element of a batch spec: an absolute host count or a percentage of the hosts. */
export type BatchStep = { count: number } | { percent: number };

/** `3`, `10%`, or a ramp `1,3,25%` (canary first; the last element repeats). */
export interface BatchSpec {
  steps: BatchStep[];
  text: string;
}

export function parseBatchSpec(text: string | number): BatchSpec {
  const raw = String(text).trim();
  const parts = raw.split(',').map((p) => p.trim());
  if (raw === '' || parts.some((p) => p === '')) {
    throw new LbArgumentError(`batch=${raw}: expected a host count (3), a percentage (10%) or a ramp (1,3,25%)`);
  }
  const steps = parts.map((p): BatchStep => {
    const pct = /^(\d+(?:\.\d+)?)%$/.exec(p);
    if (pct) {
      const percent = Number(pct[1]);
      if (!(percent > 0 && percent < 100)) {
        throw new LbArgumentError(`batch=${raw}: percentage ${p} must be above 0% and below 100%`);
      }
      return { percent };
    }
    if (!/^\d+$/.test(p) || Number(p) < 1) {
      throw new LbArgumentError(`batch=${raw}: "${p}" is neither a host count ≥ 1 nor a percentage like 10%`);
    }
    return { count: Number(p) };
  });
  return { steps, text: raw };
}

/**
 * The size of one step for a set of n hosts: a percentage rounds DOWN and is at least one host, as
 * Kubernetes' maxUnavailable does (30% of 4 hosts is 1, not half the pool). galley-exec's -b N%
 * counts the same way.
 */
export function stepSize(step: BatchStep, n: number): number {
  if ('count' in step) return step.count;
  // the epsilon keeps 10% of 30 at 3 despite 30 * 10 / 100 being computed as 2.9999…
  return Math.max(1, Math.floor((n * step.percent) / 100 + 1e-9));
}

/** The size of batch i (0-based); the ramp's last element repeats. */
export function batchSizeAt(spec: BatchSpec, i: number, n: number): number {
  const step = spec.steps[Math.min(i, spec.steps.length - 1)];
  if (!step) throw new Error('empty batch spec');
  return stepSize(step, n);
}

/** The largest batch the spec can produce: the bound on hosts depooled at once. */
export function maxBatchSize(spec: BatchSpec, n: number): number {
  return Math.max(...spec.steps.map((s) => stepSize(s, n)));
}

/**
 * Refuse a spec that would take the whole cluster out at once. `clusterSize` is the size of the
 * cluster the hosts belong to (before any hosts= filter), so acting on one host of a 4-host
 * cluster is fine but a batch of 4 over that cluster is not.
 */
export function checkNotWholeCluster(
  spec: BatchSpec,
  n: number,
  clusterSize: number,
  what: string,
  groups: readonly { dc: string; cluster: string; size: number; selected: number }[] = [],
): void {
  for (const step of spec.steps) {
    const size = stepSize(step, n);
    if (size >= clusterSize) throw new WholeClusterError(size, clusterSize, what);
    // Per (dc, cluster): a batch can only hold all of one when all of it is selected and a batch
    // is at least that large; refused up front rather than left to the order of the hosts.
    for (const g of groups) {
      if (g.selected >= g.size && size >= g.size) throw new WholeClusterError(size, g.size, `dc=${g.dc} cluster=${g.cluster}`);
    }
  }
}

/** Split hosts into batches following the spec (used for the plan; the run re-batches dynamically). */
export function planBatches<T>(items: readonly T[], spec: BatchSpec, n: number = items.length): T[][] {
  const out: T[][] = [];
  let at = 0;
  for (let i = 0; at < items.length; i++) {
    const size = batchSizeAt(spec, i, n);
    out.push(items.slice(at, at + size));
    at += size;
  }
  return out;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `30s`, `2m`, `500ms`, `1h`, or a bare number of seconds → milliseconds. */
export function parseDuration(text: string | number, name = 'duration'): number {
  if (typeof text === 'number') {
    if (!(text >= 0) || !Number.isFinite(text)) throw new LbArgumentError(`${name}=${text}: must be a non-negative number of seconds`);
    return Math.round(text * 1000);
  }
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(text.trim());
  // `-1` and `-5s` are durations with a sign: say that, not that the shape is unknown
  if (!m && /^-\s*\d+(?:\.\d+)?\s*(ms|s|m|h)?$/.test(text.trim())) {
    throw new LbArgumentError(`${name}=${text}: a duration cannot be negative; give 0 or more, like 30s, 2m, 500ms or a number of seconds`);
  }
  if (!m) throw new LbArgumentError(`${name}=${text}: expected a duration like 30s, 2m, 500ms or a number of seconds`);
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? 's'] ?? 1000));
}
