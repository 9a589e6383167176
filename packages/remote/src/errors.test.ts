import { describe, expect, it } from '@jest/globals';
import { isRebootTimeoutError, NoHostsError, RebootTimeoutError } from './errors.js';

describe('the guards other packages match remote errors with', () => {
  it('isRebootTimeoutError: only a reboot not seen in time', () => {
    expect(isRebootTimeoutError(new RebootTimeoutError(['mw1001.eqiad.wmnet'], 'mw1001.eqiad.wmnet', 5000))).toBe(true);
    expect(isRebootTimeoutError(new NoHostsError())).toBe(false);
    expect(isRebootTimeoutError(new Error('ERR_REMOTE_REBOOT_TIMEOUT'))).toBe(false);
  });
});
