import { describe, expect, it } from '@jest/globals';
import { LockTimeoutError } from '@galley/core';
import { GalleyError } from '@galley/errors';
import {
  CapacityError,
  isLbError,
  isNothingSelectedError,
  LbArgumentError,
  NothingSelectedError,
  ResumeMismatchError,
  UnknownPoolError,
  WholeClusterError,
} from './errors.js';
import { selectHosts } from './select.js';
import { FakeFleet } from './testing/index.js';

describe("lb's guards", () => {
  it("isLbError: each of lb's refusals, not another package's error", () => {
    const lb = [
      new LbArgumentError('sleep=-1: must not be negative'),
      new WholeClusterError(4, 4, 'eqiad/jobrunner'),
      new NothingSelectedError('cluster=nope', 'no object'),
      new UnknownPoolError(['/conftool/v1/pools/eqiad/x/nginx/mw1001']),
      new CapacityError('batch 1: too many out', {}),
      new ResumeMismatchError('r1', 'eqiad/jobrunner', 'codfw/jobrunner'),
    ];
    expect(lb.map(isLbError)).toEqual(lb.map(() => true));
    expect(
      [new LockTimeoutError('lb-cluster/eqiad-jobrunner', 1, 60, []), new GalleyError('ERR_LBX', 'x'), new Error('ERR_LB_CAPACITY')].map(
        isLbError,
      ),
    ).toEqual([false, false, false]);
  });

  it('isNothingSelectedError: what selectHosts throws for a selection with nothing to act on', async () => {
    const fleet = FakeFleet.cluster(2);
    const err = await selectHosts(fleet.store, { cluster: 'no-such-cluster' }).catch((e: unknown) => e);
    expect(isNothingSelectedError(err)).toBe(true);
    expect(isNothingSelectedError(new LbArgumentError('x'))).toBe(false);
  });
});
