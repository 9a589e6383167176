import { describe, expect, it } from '@jest/globals';
import type { LbServerView } from './parse.js';
import {
  canDepool,
  canTakeOut,
  countsFromConftool,
  countsFromView,
  explainKeptPooled,
  minUpEnabled,
  type ConftoolPooled,
} from './rules.js';

type S = { pooled: ConftoolPooled; up: boolean };
const yes = (up = true): S => ({ pooled: 'yes', up });
const no = (up = true): S => ({ pooled: 'no', up });
const inactive = (up = true): S => ({ pooled: 'inactive', up });

describe('PyBal depool-threshold rules', () => {
  // total counts yes+no (never inactive); up∧enabled counts only up `yes` servers.
  const cases: { name: string; servers: S[]; threshold: number; total: number; upEnabled: number; canTakeOut: number }[] = [
    { name: '6 yes at .5', servers: [yes(), yes(), yes(), yes(), yes(), yes()], threshold: 0.5, total: 6, upEnabled: 6, canTakeOut: 3 },
    {
      name: '4 yes + 2 no at .5: no still counts in the total',
      servers: [yes(), yes(), yes(), yes(), no(), no()],
      threshold: 0.5,
      total: 6,
      upEnabled: 4,
      canTakeOut: 1,
    },
    {
      name: '4 yes + 2 inactive at .5: inactive shrinks the total',
      servers: [yes(), yes(), yes(), yes(), inactive(), inactive()],
      threshold: 0.5,
      total: 4,
      upEnabled: 4,
      canTakeOut: 2,
    },
    { name: 'one yes down', servers: [yes(), yes(), yes(false), yes()], threshold: 0.5, total: 4, upEnabled: 3, canTakeOut: 1 },
    {
      name: 'at the threshold: 2 no + 1 down of 6',
      servers: [yes(), yes(), yes(), yes(false), no(), no()],
      threshold: 0.5,
      total: 6,
      upEnabled: 3,
      canTakeOut: 0,
    },
    {
      name: 'below the threshold never goes negative',
      servers: [yes(false), yes(false), yes(), no()],
      threshold: 0.5,
      total: 4,
      upEnabled: 1,
      canTakeOut: 0,
    },
    {
      name: 'a down `no` server changes nothing',
      servers: [yes(), yes(), no(false), no()],
      threshold: 0.5,
      total: 4,
      upEnabled: 2,
      canTakeOut: 0,
    },
    { name: 'threshold 0 lets everything go', servers: [yes(), yes(), yes()], threshold: 0, total: 3, upEnabled: 3, canTakeOut: 3 },
    { name: 'threshold 1 lets nothing go', servers: [yes(), yes(), yes()], threshold: 1, total: 3, upEnabled: 3, canTakeOut: 0 },
    {
      name: 'odd total rounds the requirement up (5 × .5 = 2.5 → 3)',
      servers: [yes(), yes(), yes(), yes(), yes()],
      threshold: 0.5,
      total: 5,
      upEnabled: 5,
      canTakeOut: 2,
    },
    {
      name: 'float product 25 × .28 = 7.000000000000001 → PyBal needs 8',
      servers: Array.from({ length: 25 }, () => yes()),
      threshold: 0.28,
      total: 25,
      upEnabled: 25,
      canTakeOut: 17,
    },
    { name: 'only inactive servers', servers: [inactive(), inactive()], threshold: 0.5, total: 0, upEnabled: 0, canTakeOut: 0 },
    {
      name: 'mix of all',
      servers: [yes(), yes(), yes(), yes(false), no(), no(false), inactive(), inactive(false)],
      threshold: 0.25,
      total: 6,
      upEnabled: 3,
      canTakeOut: 1,
    },
  ];

  it.each(cases)('$name', ({ servers, threshold, total, upEnabled, canTakeOut: expected }) => {
    const counts = countsFromConftool(servers);
    expect(counts).toEqual({ total, upEnabled });
    const n = canTakeOut(counts, threshold);
    expect(n).toBe(expected);
    // The answer is exactly the number canDepool accepts, one by one.
    let k = 0;
    while (k < upEnabled && canDepool(upEnabled - k - 1, total, threshold)) k++;
    expect(n).toBe(k);
  });

  it('minUpEnabled follows the float comparison PyBal makes', () => {
    expect(25 * 0.28 > 7).toBe(true);
    expect(minUpEnabled(25, 0.28)).toBe(8);
    expect(canDepool(7, 25, 0.28)).toBe(false);
    expect(minUpEnabled(6, 0.5)).toBe(3);
    expect(minUpEnabled(0, 0.5)).toBe(0);
  });

  it('counts one LB view: inactive servers are absent, pooled-down ones are listed', () => {
    const v = new Map<string, LbServerView>([
      ['a', { pooled: true, weight: 10, up: true, enabled: true }],
      ['b', { pooled: true, weight: 10, up: false, enabled: true }],
      ['c', { pooled: true, weight: 10, up: true, enabled: false }],
      ['d', { pooled: false, weight: 10, up: true, enabled: false }],
    ]);
    expect(countsFromView(v)).toEqual({ total: 4, upEnabled: 1, pooled: 3, pooledDown: ['b', 'c'] });
  });

  it('explains a server kept pooled with the numbers', () => {
    const msg = explainKeptPooled({
      lb: 'lvs1020',
      host: 'mw1003.eqiad.wmnet',
      pool: 'jobrunner_nginx',
      threshold: 0.5,
      counts: { total: 6, upEnabled: 3, pooled: 4, pooledDown: ['mw1003.eqiad.wmnet'] },
    });
    expect(msg).toBe(
      'lvs1020 keeps mw1003.eqiad.wmnet pooled: pool jobrunner_nginx is at its depool threshold 0.5 (3 of 6 up and enabled, 3 needed)',
    );
  });
});
