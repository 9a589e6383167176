import { describe, expect, it } from '@jest/globals';
import { parseMs, parseRestartMs, pickRestartMs, restartTimes } from './restart-times.js';

describe('per-host restart times', () => {
  it('parses MS and MIN:MAX; refuses anything else naming the option (ERR_LAB_BAD_OPTION)', () => {
    expect(parseRestartMs('300')).toBe(300);
    expect(parseRestartMs('0')).toBe(0);
    expect(parseRestartMs('300:3000')).toEqual({ min: 300, max: 3000 });
    expect(parseRestartMs('500:500')).toEqual({ min: 500, max: 500 });
    for (const bad of ['abc', '3000:300', '-5', '1.5', '300:', ':300', '300:3000:1', '', '1e3']) {
      expect(() => parseRestartMs(bad)).toThrow(
        expect.objectContaining({ code: 'ERR_LAB_BAD_OPTION', message: expect.stringContaining('--restart-ms') }),
      );
    }
    expect(() => parseRestartMs('3000:300')).toThrow(expect.objectContaining({ hint: expect.stringContaining('did you mean 300:3000') }));
    expect(parseMs('1500', 'MS')).toBe(1500);
    expect(() => parseMs('300:3000', 'MS')).toThrow(expect.objectContaining({ code: 'ERR_LAB_BAD_OPTION' }));
  });

  it('a range picks, per host name, a time within it: the same on every call, spread over the range, another pick with a seed', () => {
    const hosts = Array.from({ length: 200 }, (_, i) => `mw${1001 + i}.eqiad.wmnet`);
    const a = restartTimes({ min: 300, max: 3000 }, hosts);
    expect(restartTimes({ min: 300, max: 3000 }, hosts)).toEqual(a);
    const v = Object.values(a);
    expect(Math.min(...v)).toBeGreaterThanOrEqual(300);
    expect(Math.max(...v)).toBeLessThanOrEqual(3000);
    // Uniform enough: each third of the range gets a fair share of 200 hosts.
    for (const [lo, hi] of [
      [300, 1200],
      [1200, 2100],
      [2100, 3001],
    ] as const)
      expect(v.filter((x) => x >= lo && x < hi).length).toBeGreaterThan(40);
    const seeded = restartTimes({ min: 300, max: 3000, seed: '2' }, hosts);
    expect(seeded).not.toEqual(a);
    expect(pickRestartMs({ min: 7, max: 7 }, 'x')).toBe(7);
  });

  it('a number is every host; a function is checked per host', () => {
    expect(restartTimes(300, ['a', 'b'])).toEqual({ a: 300, b: 300 });
    expect(restartTimes((h) => (h === 'a' ? 100 : 900), ['a', 'b'])).toEqual({ a: 100, b: 900 });
    expect(() => restartTimes((h) => (h === 'a' ? -1 : 900), ['a', 'b'])).toThrow(
      expect.objectContaining({ code: 'ERR_LAB_BAD_OPTION', message: expect.stringContaining('for a') }),
    );
    expect(() => restartTimes({ min: 3000, max: 300 }, ['a'])).toThrow(expect.objectContaining({ code: 'ERR_LAB_BAD_OPTION' }));
    expect(() => restartTimes(Number.NaN, ['a'])).toThrow(expect.objectContaining({ code: 'ERR_LAB_BAD_OPTION' }));
  });
});
