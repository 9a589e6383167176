import { describe, expect, it } from '@jest/globals';
import { parseFleet } from './fleet.js';

describe('fleet description', () => {
  it('accepts conftool-sync lists and per-service values', () => {
    expect(
      parseFleet(
        'eqiad:\n  appserver:\n    mw1001: [nginx, php-fpm]\n    mw1002:\n      nginx: {pooled: "yes", weight: 10}\n      php-fpm:\n',
      ),
    ).toEqual({
      eqiad: { appserver: { mw1001: { nginx: null, 'php-fpm': null }, mw1002: { nginx: { pooled: 'yes', weight: 10 }, 'php-fpm': null } } },
    });
  });

  it('reports every problem with its path', () => {
    let err: (Error & { code?: string }) | undefined;
    try {
      parseFleet(
        'eqiad:\n  appserver:\n    mw1001: {nginx: {pooled: maybe, weight: -1}}\n    "a/b": [nginx]\n    mw1003: 7\n  jobrunner: [x]\n',
        'f.yaml',
      );
    } catch (e) {
      err = e as Error;
    }
    expect(err?.code).toBe('ERR_CONFCTL_FLEET_INVALID');
    expect(err?.message).toContain('f.yaml');
    expect(err?.message).toContain('eqiad.appserver.mw1001.nginx: pooled must be one of yes|no|inactive');
    expect(err?.message).toContain('"a/b" is not a valid key segment');
    expect(err?.message).toContain('eqiad.appserver.mw1003: expected a list of services');
    expect(err?.message).toContain('eqiad.jobrunner: expected a mapping host → services');
    expect(() => parseFleet('a: [', 'g.yaml')).toThrow(/not valid YAML/);
  });
});
