import { describe, expect, it } from '@jest/globals';
// The lab's PyBal coordinator (pure logic, what the simulators run): our capacity prediction must
// equal the number of depools it really accepts, for every mix of states.
import { PoolCoordinator } from '../../lab/src/pybal/coordinator.js';
import type { LbServerView } from './parse.js';
import { canTakeOut, countsFromConftool, countsFromView, type ConftoolPooled } from './rules.js';

type S = { pooled: ConftoolPooled; up: boolean };

function coordinatorFor(servers: readonly S[], threshold: number): { pc: PoolCoordinator; names: string[] } {
  const pc = new PoolCoordinator('p', threshold);
  const cfgs = new Map<string, { weight: number; enabled: boolean }>();
  const names: string[] = [];
  servers.forEach((s, i) => {
    const host = `mw${1001 + i}`;
    names.push(host);
    if (s.pooled !== 'inactive') cfgs.set(host, { weight: 10, enabled: s.pooled === 'yes' });
  });
  pc.setAll(cfgs, () => true);
  servers.forEach((s, i) => {
    if (!s.up) pc.resultDown(names[i]!);
  });
  return { pc, names };
}

function view(pc: PoolCoordinator): Map<string, LbServerView> {
  return new Map([...pc.servers.values()].map((s) => [s.host, { pooled: s.pooled, weight: s.weight, up: s.up, enabled: s.enabled }]));
}

/** Disable up+enabled servers one at a time, as a rolling depool would; count those the LB really depools. */
function acceptedDepools(pc: PoolCoordinator): number {
  let n = 0;
  for (const s of [...pc.servers.values()]) {
    if (!(s.up && s.enabled)) continue;
    pc.setServer(s.host, { weight: s.weight, enabled: false });
    if (pc.servers.get(s.host)!.pooled) break;
    n++;
  }
  return n;
}

// Deterministic pseudo-random mixes: 300 pools of 1–12 servers over yes/no/inactive × up/down.
function* mixes(): Generator<{ servers: S[]; threshold: number }> {
  let seed = 42;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
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

describe('capacity rules agree with the lab simulator’s PyBal coordinator', () => {
  it('for 300 mixes of yes/no/inactive and down servers, predicted canTakeOut = depools actually accepted', () => {
    let checked = 0;
    let nonZero = 0;
    for (const { servers, threshold } of mixes()) {
      const { pc } = coordinatorFor(servers, threshold);
      const fromView = countsFromView(view(pc));
      const predicted = canTakeOut(countsFromConftool(servers), threshold);
      expect({ total: fromView.total, upEnabled: fromView.upEnabled }).toEqual(countsFromConftool(servers));
      expect(canTakeOut(fromView, threshold)).toBe(predicted);
      expect({ servers, threshold, accepted: acceptedDepools(pc) }).toEqual({ servers, threshold, accepted: predicted });
      checked++;
      if (predicted > 0) nonZero++;
    }
    expect(checked).toBe(300);
    expect(nonZero).toBeGreaterThan(50);
  }, 30000);

  it('a server kept pooled by the threshold shows disabled/pooled and is released when capacity returns', () => {
    const { pc, names } = coordinatorFor([{ pooled: 'yes', up: true }, { pooled: 'yes', up: true }, { pooled: 'yes', up: false }, { pooled: 'yes', up: true }], 0.5);
    expect(canTakeOut(countsFromView(view(pc)), 0.5)).toBe(1);
    pc.setServer(names[0]!, { weight: 10, enabled: false });
    pc.setServer(names[1]!, { weight: 10, enabled: false });
    expect(view(pc).get(names[1]!)).toMatchObject({ enabled: false, pooled: true });
    expect(countsFromView(view(pc)).pooledDown).toContain(names[1]);
    pc.resultUp(names[2]!);
    expect(view(pc).get(names[1]!)).toMatchObject({ enabled: false, pooled: false });
  });
});
