import { describe, expect, it } from '@jest/globals';
// The lab's PyBal coordinators (pure logic, what the simulators run), in both modes: our capacity
// prediction must equal the number of depools that keep the pool at its threshold, for every mix
// of states. In wikitech mode PyBal itself refuses the next one; in upstream mode (coordinator.py)
// it accepts every admin depool, so galley's own capacity check is the only guard.
import { PoolCoordinator, UpstreamCoordinator, type Coordinator, type PybalMode } from '@galley/lab';
import type { LbServerView } from './parse.js';
import { canTakeOut, countsFromConftool, countsFromView, minUpEnabled, type ConftoolPooled } from './rules.js';

type S = { pooled: ConftoolPooled; up: boolean };
const MODES = ['wikitech', 'upstream'] as const;

function coordinatorFor(mode: PybalMode, servers: readonly S[], threshold: number): { pc: Coordinator; names: string[] } {
  const pc: Coordinator = mode === 'upstream' ? new UpstreamCoordinator('p', threshold) : new PoolCoordinator('p', threshold);
  const cfgs = new Map<string, { weight: number; enabled: boolean }>();
  const names: string[] = [];
  servers.forEach((s, i) => {
    const host = `mw${1001 + i}`;
    names.push(host);
    if (s.pooled !== 'inactive') cfgs.set(host, { weight: 10, enabled: s.pooled === 'yes' });
  });
  pc.setAll(cfgs, () => true);
  // Every server's first health check (the monitor reports it; a down one is depooled if it can be).
  servers.forEach((s, i) => pc.checkResult(names[i]!, s.up));
  return { pc, names };
}

function view(pc: Coordinator): Map<string, LbServerView> {
  return new Map([...pc.servers.values()].map((s) => [s.host, { pooled: s.pooled, weight: s.weight, up: s.up, enabled: s.enabled }]));
}

/**
 * Disable up+enabled servers one at a time, as a rolling depool would: `safe` = how many leave the
 * pool at or above its threshold (canDepool() still true after the change), `left` = how many the LB
 * really took out of the pool.
 */
function depoolOneByOne(pc: Coordinator): { safe: number; left: number; tried: number } {
  let safe = 0;
  let left = 0;
  let tried = 0;
  let breached = false;
  for (const s of [...pc.servers.values()]) {
    if (!(s.up && s.enabled)) continue;
    tried++;
    pc.setServer(s.host, { weight: s.weight, enabled: false });
    if (!pc.servers.get(s.host)!.pooled) left++;
    if (!breached && pc.canDepool()) safe++;
    else breached = true;
  }
  return { safe, left, tried };
}

// Deterministic pseudo-random mixes: 300 pools of 1–12 servers over yes/no/inactive × up/down.
function* mixes(): Generator<{ servers: S[]; threshold: number }> {
  let seed = 42;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const thresholds = [0, 0.25, 0.28, 0.5, 0.6, 0.7, 0.75, 1];
  for (let i = 0; i < 300; i++) {
    const n = 1 + Math.floor(rnd() * 12);
    const servers: S[] = Array.from({ length: n }, () => {
      const r = rnd();
      return { pooled: r < 0.6 ? 'yes' : r < 0.8 ? 'no' : 'inactive', up: rnd() > 0.2 };
    });
    yield { servers, threshold: thresholds[Math.floor(rnd() * thresholds.length)]! };
  }
}

describe.each(MODES)('capacity rules agree with the lab simulator’s PyBal coordinator (mode %s)', (mode) => {
  it('for 300 mixes of yes/no/inactive and down servers, predicted canTakeOut = depools that keep the threshold', () => {
    let checked = 0;
    let nonZero = 0;
    let breachesAccepted = 0;
    for (const { servers, threshold } of mixes()) {
      const { pc } = coordinatorFor(mode, servers, threshold);
      const fromView = countsFromView(view(pc));
      const predicted = canTakeOut(countsFromConftool(servers), threshold);
      expect({ total: fromView.total, upEnabled: fromView.upEnabled }).toEqual(countsFromConftool(servers));
      expect(canTakeOut(fromView, threshold)).toBe(predicted);
      const r = depoolOneByOne(pc);
      expect({ servers, threshold, safe: r.safe }).toEqual({ servers, threshold, safe: predicted });
      if (mode === 'wikitech') {
        // PyBal refuses the first depool past the threshold: what left is what was safe.
        expect({ servers, threshold, left: r.left }).toEqual({ servers, threshold, left: predicted });
      } else {
        // coordinator.py takes every disabled server out; past canTakeOut the pool is below its
        // threshold and the LB's own view says so (nothing of it refused the depool).
        expect({ servers, threshold, left: r.left }).toEqual({ servers, threshold, left: r.tried });
        if (r.tried > predicted) {
          breachesAccepted++;
          const after = countsFromView(view(pc));
          expect(after.upEnabled).toBeLessThan(minUpEnabled(after.total, threshold));
        }
      }
      checked++;
      if (predicted > 0) nonZero++;
    }
    expect(checked).toBe(300);
    expect(nonZero).toBeGreaterThan(50);
    if (mode === 'upstream') expect(breachesAccepted).toBeGreaterThan(50);
  }, 30000);
});

describe('a depool past the threshold, in each mode', () => {
  it('wikitech: the server shows disabled/pooled (kept) and is released when capacity returns', () => {
    const { pc, names } = coordinatorFor(
      'wikitech',
      [
        { pooled: 'yes', up: true },
        { pooled: 'yes', up: true },
        { pooled: 'yes', up: false },
        { pooled: 'yes', up: true },
      ],
      0.5,
    );
    expect(canTakeOut(countsFromView(view(pc)), 0.5)).toBe(1);
    pc.setServer(names[0]!, { weight: 10, enabled: false });
    pc.setServer(names[1]!, { weight: 10, enabled: false });
    expect(view(pc).get(names[1]!)).toMatchObject({ enabled: false, pooled: true });
    expect(countsFromView(view(pc)).pooledDown).toContain(names[1]);
    pc.checkResult(names[2]!, true);
    expect(view(pc).get(names[1]!)).toMatchObject({ enabled: false, pooled: false });
  });

  it('upstream: the server leaves at once; the down one is force-pooled instead and shows as pooled-down', () => {
    const { pc, names } = coordinatorFor(
      'upstream',
      [
        { pooled: 'yes', up: true },
        { pooled: 'yes', up: true },
        { pooled: 'yes', up: false },
        { pooled: 'yes', up: true },
      ],
      0.5,
    );
    expect(canTakeOut(countsFromView(view(pc)), 0.5)).toBe(1);
    pc.setServer(names[0]!, { weight: 10, enabled: false });
    pc.setServer(names[1]!, { weight: 10, enabled: false });
    expect(view(pc).get(names[1]!)).toMatchObject({ enabled: false, pooled: false });
    expect(view(pc).get(names[2]!)).toMatchObject({ enabled: true, up: false, pooled: true });
    const c = countsFromView(view(pc));
    expect(c.pooledDown).toEqual([names[2]]);
    expect(canTakeOut(c, 0.5)).toBe(0);
    expect(c.upEnabled).toBeLessThan(minUpEnabled(c.total, 0.5));
  });
});
