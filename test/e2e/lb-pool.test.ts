// sre.lb.pool / sre.lb.depool through the built `cookbook` binary against the shared lab: what
// they refuse, and what they say when a failed pool cannot be undone. eqiad jobrunner:
// mw1301–mw1304, nginx + php-fpm, all pooled=yes; 2 LBs, PyBal delay ~200 ms.
import { afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Lab } from '@galley/lab';
import { sharedLab } from '@galley/lab/testing';
import { cookbook, etcdPut, etcdRange, outputOf, poolsPrefix, settled } from './lb-helpers.js';

jest.setTimeout(120_000);

const H = 'mw1303.eqiad.wmnet';
let lab: Lab;

beforeAll(async () => {
  lab = await sharedLab();
});
afterEach(async () => {
  // also removes the extra conftool object a test adds (the re-seed deletes what the plan lacks)
  await lab.reset();
});

const revisions = async (): Promise<[string, number][]> =>
  [...(await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'jobrunner'))).kvs].map(([k, v]) => [k, v.modRevision]);
const pooledOf = async (key: string): Promise<string | undefined> => {
  const v = (await etcdRange(lab, key)).kvs.get(key);
  return v ? (JSON.parse(v.value) as { pooled: string }).pooled : undefined;
};

describe('sre.lb.pool / sre.lb.depool', () => {
  it('an object no PyBal pool is configured for is refused (ERR_LB_NO_POOL, exit 1), nothing written — never "pooled" unverified', async () => {
    // a conftool service the config has no PyBal pool for (memcached), on a jobrunner
    const key = `${poolsPrefix(lab, 'eqiad', 'jobrunner')}memcached/${H}`;
    await etcdPut(lab, key, JSON.stringify({ pooled: 'no', weight: 10 }));
    const before = await revisions();
    for (const args of [[`host=${H}`, 'service=memcached'], [`host=${H}`]]) {
      const r = await cookbook(lab, ['--output', 'json', 'sre.lb.pool', ...args]);
      expect(r.code).toBe(1);
      expect(outputOf(r)).toMatchObject({
        status: 'refused',
        code: 'ERR_LB_NO_POOL',
        stopReason: expect.stringContaining(`object(s) to pool, e.g. ${key}`),
      });
    }
    const text = await cookbook(lab, ['sre.lb.pool', `host=${H}`, 'service=memcached']);
    expect(text.code).toBe(1);
    expect(text.stdout + text.stderr).toMatch(
      /REFUSED: no PyBal pool is configured for 1 object\(s\) to pool.*\[ERR_LB_NO_POOL\]; nothing was changed/,
    );
    expect(text.stdout + text.stderr).toMatch(
      /hint: add the \(dc, cluster, service\) to the pybal\.pools section of the config, or restrict service=/,
    );
    // the same for a depool: it could never be verified either
    await etcdPut(lab, key, JSON.stringify({ pooled: 'yes', weight: 10 }));
    const before2 = await revisions();
    const d = await cookbook(lab, ['--output', 'json', 'sre.lb.depool', `host=${H}`, 'service=memcached']);
    expect(d.code).toBe(1);
    expect(outputOf(d)).toMatchObject({ status: 'refused', code: 'ERR_LB_NO_POOL' });
    expect(await revisions()).toEqual(before2);
    expect(before2.filter(([k]) => k !== key)).toEqual(before.filter(([k]) => k !== key));
  });

  it('a pool not verified on every LB is set back to no; when the set-back cannot happen (someone set it inactive meanwhile) it says so instead of claiming it', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const key = `${poolsPrefix(lab, 'eqiad', 'jobrunner')}nginx/${H}`;
    expect((await cookbook(lab, ['sre.lb.depool', `host=${H}`, 'service=nginx'])).code).toBe(0);
    await lab.lb('lvs1019', 'lag', 8000);
    const run = cookbook(lab, ['--output', 'json', 'sre.lb.pool', `host=${H}`, 'service=nginx', 'verify-timeout=4s']);
    // while the pool waits for lvs1019, someone decommissions the object
    const end = Date.now() + 20_000;
    while ((await pooledOf(key)) !== 'yes' && Date.now() < end) await new Promise((res) => setTimeout(res, 50));
    expect(await pooledOf(key)).toBe('yes');
    await etcdPut(lab, key, JSON.stringify({ pooled: 'inactive', weight: 10 }));
    const r = await run;
    expect(r.code).toBe(1);
    // not written back to no (someone else's inactive stands), and the report is conftool read back
    expect(outputOf(r)).toMatchObject({
      status: 'stuck',
      leftAsFound: [{ object: 'eqiad/jobrunner/nginx/mw1303.eqiad.wmnet', why: expect.stringMatching(/pooled=inactive .*left as found/) }],
      now: [{ object: 'eqiad/jobrunner/nginx/mw1303.eqiad.wmnet', pooled: 'inactive' }],
    });
    expect(r.stdout).not.toMatch(/, depooled again:/);
    expect(await pooledOf(key)).toBe('inactive');

    // and the ordinary case: nobody interferes, the object is back at no and the output says so
    await lab.reset();
    await settled(lab, 'eqiad', 'jobrunner');
    expect((await cookbook(lab, ['sre.lb.depool', `host=${H}`, 'service=nginx'])).code).toBe(0);
    await lab.lb('lvs1019', 'lag', 8000);
    const r2 = await cookbook(lab, ['sre.lb.pool', `host=${H}`, 'service=nginx', 'verify-timeout=2s']);
    expect(r2.code).toBe(1);
    expect(r2.stdout + r2.stderr).toMatch(/FAILED: mw1303\.eqiad\.wmnet \(nginx\): repool not verified on every LB, depooled again:/);
    expect(r2.stdout + r2.stderr).toMatch(/conftool now: eqiad\/jobrunner\/nginx\/mw1303\.eqiad\.wmnet=no \(held out by operator:/);
    // the report gives the wait the operator asked for, not the one last look taken after it
    expect(r2.stdout + r2.stderr).toMatch(
      /PyBal verification failed: not pooled on [^\n]*lvs1019[^\n]* within the 2000 ms deadline \(waited [2-9]\.\d s\):/,
    );
    expect(r2.stdout + r2.stderr).not.toMatch(/deadline 1 ms/);
    expect(await pooledOf(key)).toBe('no');
  });
});
