// The duration checks the sre.lb cookbooks declare (`check:`): the runner runs them before any lock,
// client or announcement; each refusal names the argument as typed and the accepted range.
import { describe, expect, it } from '@jest/globals';
import type { ArgSpec } from '@galley/core';
import { durationArg, formatDuration, MAX_DURATION_MS } from './args.js';
import {
  POOL_LOCK_TTL_S,
  poolArgs,
  poolLock,
  RESTART_SERVICE_LOCK_TTL_S,
  restartServiceArgs,
  restartServiceLock,
  ROLLING_LOCK_TTL_S,
  rollingArgs,
  rollingLock,
} from './operations.js';

describe('durationArg', () => {
  const timeout = durationArg({ positive: true });
  const sleep = durationArg();

  const rows: [typeof timeout, unknown, string | undefined][] = [
    // [check, value, problem or undefined]
    [timeout, '120s', undefined],
    [timeout, '500ms', undefined],
    [timeout, '24h', undefined],
    [timeout, 0.5, undefined],
    [sleep, '0', undefined],
    [sleep, 0, undefined],
    [
      timeout,
      '0',
      'command-timeout=0: must be above 0 (0 is not "no timeout"); accepted: above 0, at most 24h (hosts stay out of traffic and locks stay held for the whole wait)',
    ],
    [timeout, '0s', 'command-timeout=0s: must be above 0 (0 is not "no timeout"); accepted: above 0, at most 24h'],
    [timeout, 0, 'command-timeout=0: must be above 0'],
    [timeout, '-5s', 'command-timeout=-5s: a duration cannot be negative; accepted: above 0, at most 24h'],
    [timeout, -1, 'command-timeout=-1: a duration cannot be negative; accepted: above 0, at most 24h'],
    [sleep, '-1', 'command-timeout=-1: a duration cannot be negative; accepted: 0 or more, at most 24h'],
    [timeout, '25h', 'command-timeout=25h: more than 24h; accepted: above 0, at most 24h'],
    [timeout, '86400001ms', 'command-timeout=86400001ms: more than 24h'],
    [timeout, '1e9', 'command-timeout=1e9: not a duration like 30s, 2m, 500ms or a number of seconds; accepted: above 0, at most 24h'],
    [timeout, 'soon', 'command-timeout=soon: not a duration'],
    [timeout, Number.NaN, 'command-timeout=NaN: not a duration'],
  ];
  it.each(rows.map(([c, v, p]) => [`${c === timeout ? 'a timeout' : 'a pause'} of ${JSON.stringify(v)}`, c, v, p] as const))(
    '%s',
    (_title, check, value, problem) => {
      const got = check.check(value, 'command-timeout');
      if (problem === undefined) expect(got).toBeUndefined();
      else expect(got).toContain(problem);
    },
  );

  it("a cookbook's lock max hold bounds it when below a day, and says so", () => {
    const c = durationArg({ positive: true, lockTtlSeconds: 3600 });
    expect(c.check('1h', 'command-timeout')).toBeUndefined();
    expect(c.check('61m', 'command-timeout')).toBe(
      "command-timeout=61m: more than 1h; accepted: above 0, at most 1h (the max hold of this cookbook's lock)",
    );
    expect(c.accepts).toBe(
      "a duration like 30s, 2m, 500ms, or a number of seconds: above 0, at most 1h (the max hold of this cookbook's lock)",
    );
    // a lock held longer than a day: the day is still the bound
    expect(durationArg({ lockTtlSeconds: 2 * 86400 }).check('25h', 'sleep')).toBe(
      'sleep=25h: more than 24h; accepted: 0 or more, at most 24h (hosts stay out of traffic and locks stay held for the whole wait)',
    );
  });

  it('formatDuration says a bound as it would be typed', () => {
    expect([MAX_DURATION_MS, 12 * 3600_000, 600_000, 90_000, 1500].map(formatDuration)).toEqual(['24h', '12h', '10m', '90s', '1500ms']);
  });
});

describe("each sre.lb duration argument is bounded by its cookbook's lock", () => {
  const cases: [string, ArgSpec, number, string[]][] = [
    [
      'rolling',
      rollingArgs,
      rollingLock({ cluster: 'jobrunner' }).ttlSeconds,
      ['sleep', 'health-timeout', 'command-timeout', 'verify-timeout'],
    ],
    [
      'restart-service',
      restartServiceArgs,
      restartServiceLock({ host: 'mw1001.eqiad.wmnet' }).ttlSeconds,
      ['command-timeout', 'verify-timeout'],
    ],
    ['pool/depool', poolArgs, poolLock({ host: 'mw1001.eqiad.wmnet' }).ttlSeconds, ['verify-timeout']],
  ];
  it.each(cases)('%s', (_what, args, ttlSeconds, names) => {
    for (const name of names) {
      const check = args[name]?.check;
      expect(check).toBeDefined();
      expect(check!.check(`${ttlSeconds}s`, name)).toBeUndefined();
      expect(check!.check(`${ttlSeconds + 1}s`, name)).toMatch(
        new RegExp(`^${name}=${ttlSeconds + 1}s: more than ${formatDuration(ttlSeconds * 1000)}; accepted: `),
      );
      // timeouts: 0 refused; the pause between batches may be 0
      expect(check!.check('0', name) === undefined).toBe(name === 'sleep');
    }
  });
  it('the lock max holds are the constants the checks use', () => {
    expect([
      rollingLock({ cluster: 'x' }).ttlSeconds,
      restartServiceLock({ host: 'h' }).ttlSeconds,
      poolLock({ host: 'h' }).ttlSeconds,
    ]).toEqual([ROLLING_LOCK_TTL_S, RESTART_SERVICE_LOCK_TTL_S, POOL_LOCK_TTL_S]);
  });
});
