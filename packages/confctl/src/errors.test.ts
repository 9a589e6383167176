import { describe, expect, it } from '@jest/globals';
import { GalleyError } from '@galley/errors';
import { EtcdUnavailableError, isEtcdError, isNoMatchError, NoMatchError } from './errors.js';
import { FakeConftool } from './testing/index.js';

describe('the guards other packages match confctl errors with', () => {
  it('isNoMatchError: what a selection matching nothing throws', async () => {
    const ct = new FakeConftool().seed({ 'eqiad/jobrunner/nginx/mw1001.eqiad.wmnet': { pooled: 'yes', weight: 10 } });
    const err = await ct.select({ name: 'nope' }).catch((e: unknown) => e);
    expect(isNoMatchError(err)).toBe(true);
    expect(isNoMatchError(new EtcdUnavailableError(['http://127.0.0.1:1'], new Error('refused')))).toBe(false);
  });

  it('isEtcdError: etcd unreachable, refusing credentials or TLS files unreadable; not a conftool answer', () => {
    expect(isEtcdError(new EtcdUnavailableError(['http://127.0.0.1:1'], new Error('refused')))).toBe(true);
    expect(isEtcdError(new GalleyError('ERR_ETCD_AUTH', 'refused our credentials'))).toBe(true);
    expect(isEtcdError(new NoMatchError({ name: 'x' }, '/conftool/v1/pools'))).toBe(false);
    expect(isEtcdError(new Error('ERR_ETCD_UNAVAILABLE'))).toBe(false);
  });
});
