import { expect, it } from '@jest/globals';
import { PybalClient, type LoadBalancerRef } from '../client.js';
import type { LbServerView } from '../parse.js';

export interface ContractTarget {
  lb: LoadBalancerRef;
  /** A pool the LB serves, and one server in it. */
  pool: string;
  host: string;
}

const strip = (v: LbServerView): Omit<LbServerView, 'weight'> => ({ pooled: v.pooled, up: v.up, enabled: v.enabled });

/**
 * What any PyBal instrumentation endpoint galley talks to must do (spicerack-model.md §6.3). Run
 * against the FakePybal (unit) and the lab's simulators (integration) so the fake cannot drift.
 * Call inside a describe(); `target()` is read when each test runs (after beforeAll).
 */
export function pybalApiContract(target: () => ContractTarget): void {
  const json = (): PybalClient => new PybalClient({ retries: 0, requestTimeoutMs: 3000 });
  const text = (): PybalClient => new PybalClient({ retries: 0, requestTimeoutMs: 3000, format: 'text' });
  const both = async <T>(fn: (c: PybalClient) => Promise<T>): Promise<[T, T]> => {
    const j = json();
    const t = text();
    try {
      return [await fn(j), await fn(t)];
    } finally {
      await j.close();
      await t.close();
    }
  };

  it('lists its pools, identically in JSON and text', async () => {
    const { lb, pool } = target();
    const [j, t] = await both((c) => c.pools(lb));
    expect(j).toContain(pool);
    expect(t).toEqual(j);
  });

  it('serves a pool with booleans (and weight in JSON), identically in text', async () => {
    const { lb, pool, host } = target();
    const [j, t] = await both((c) => c.pool(lb, pool));
    expect(j.has(host)).toBe(true);
    for (const v of j.values()) expect(typeof v.weight).toBe('number');
    expect([...t.keys()].sort()).toEqual([...j.keys()].sort());
    for (const [h, v] of j) expect(strip(t.get(h)!)).toEqual(strip(v));
  });

  it('serves one host equal to its entry in the pool', async () => {
    const { lb, pool, host } = target();
    const c = json();
    try {
      const [p, h] = await Promise.all([c.pool(lb, pool), c.host(lb, pool, host)]);
      expect(h).toEqual(p.get(host));
    } finally {
      await c.close();
    }
    const [j, t] = await both((cl) => cl.host(lb, pool, host));
    expect(strip(t!)).toEqual(strip(j!));
  });

  it('answers 404 for an unknown host (null) and an unknown pool (ERR_PYBAL_POOL_NOT_FOUND)', async () => {
    const { lb, pool } = target();
    const [j, t] = await both((c) => c.host(lb, pool, 'no-such-host.example'));
    expect(j).toBeNull();
    expect(t).toBeNull();
    const c = json();
    try {
      await expect(c.pool(lb, 'no-such-pool')).rejects.toMatchObject({ code: 'ERR_PYBAL_POOL_NOT_FOUND' });
    } finally {
      await c.close();
    }
  });

  it('serves alerts, identically in JSON and text', async () => {
    const { lb } = target();
    const [j, t] = await both((c) => c.alerts(lb));
    expect(['ok', 'warning', 'critical']).toContain(j.status);
    expect(t).toEqual(j);
  });
}
