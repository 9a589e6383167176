/**
 * The capacity check before hosts are taken out (ARCHITECTURE §4, step 2): how many objects a set of
 * hosts takes out of each PyBal pool, judged against what every LB says the pool can lose now. The
 * rolling drivers check it before each batch (or each host of a moving window), the dry-run plan
 * warns with it, and `sre.lb.depool` refuses with it.
 */
import { CapacityError, UnknownPoolError } from './errors.js';
import type { LbPorts, PoolCapacity } from './ports.js';
import type { HostPlan } from './select.js';

/** One pool's verdict: what it can lose now, what the hosts would take, whether that fits. */
export type CapacityRow = PoolCapacity & { depool: number; ok: boolean };

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

export function judgeCapacity(need: Map<string, number>, live: Map<string, PoolCapacity>): CapacityRow[] {
  return [...need].map(([pool, depool]) => {
    const cap = live.get(pool) ?? { pool, canTakeOut: 0, detail: 'no answer', error: 'no capacity reported' };
    return { ...cap, depool, ok: cap.error === undefined && depool <= cap.canTakeOut };
  });
}

/** Why the rows that are not ok refuse, one clause each (prefixed `batch N: ` when a batch is given). */
export function capacityMessage(batch: number | undefined, rows: readonly CapacityRow[]): string {
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

/** Convenience for callers that want the refusal as an error (pool/depool cookbooks). */
export function capacityError(batch: number, rows: CapacityRow[]): CapacityError {
  return new CapacityError(capacityMessage(batch, rows), { pools: rows });
}
