import { describe, expect, it } from '@jest/globals';
import { GalleyError } from '@galley/errors';
import {
  ArgsError,
  ConfirmationError,
  isConfirmationError,
  isLockFailure,
  LockExpiredError,
  LockLostError,
  LockTimeoutError,
  LockUnconfirmedError,
} from './errors.js';
import { nonInteractiveConfirm } from './execute.js';

describe('the guards other packages match core errors with', () => {
  it('isLockFailure: every lock error the runner raises, nothing else', () => {
    const lock = [
      new LockTimeoutError('hosts/mw1001.eqiad.wmnet', 1, 60, []),
      new LockLostError('lease 7 lost'),
      new LockExpiredError('cookbooks/sre.x', 60),
      new LockUnconfirmedError('/galley/locks/hosts/x/1', 'acquire', new Error('deadline')),
    ];
    expect(lock.map(isLockFailure)).toEqual([true, true, true, true]);
    const other = [
      new ArgsError('sre.x', 'bad'),
      new ConfirmationError('go?'),
      new GalleyError('ERR_CONFCTL_FENCED', 'fenced'),
      new Error('ERR_LOCK_LOST'),
      { code: 'ERR_LOCK_LOST' },
      undefined,
    ];
    expect(other.map(isLockFailure)).toEqual([false, false, false, false, false, false]);
  });

  it('isConfirmationError: what ctx.confirm throws without a TTY and without --yes', async () => {
    const err = await nonInteractiveConfirm(false)('wipe mw1001?').catch((e: unknown) => e);
    expect(isConfirmationError(err)).toBe(true);
    expect(isConfirmationError(new LockLostError('x'))).toBe(false);
  });
});
