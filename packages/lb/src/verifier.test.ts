// pybalVerifier (the verification that gates every action) is PybalService's, mapped to the lb
// port: a verdict is a moment at which every LB agreed, not LBs that each agreed at some point.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PybalClient, PybalService, PybalTopology } from '@galley/pybal';
import { FakePybal } from '@galley/pybal/testing';
import { pybalVerifier } from './adapters.js';
import type { PoolObject } from './ports.js';

const h1 = 'mw1001.eqiad.wmnet';
const obj: PoolObject = {
  key: `/conftool/v1/pools/eqiad/jobrunner/nginx/${h1}`,
  tags: { dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', name: h1 },
  pooled: 'no',
  weight: 10,
};
const IN = { enabled: true, pooled: true, up: true };
const OUT = { enabled: false, pooled: false, up: true };

describe('pybalVerifier against two fake LBs', () => {
  let a: FakePybal;
  let b: FakePybal;
  let client: PybalClient;
  let svc: PybalService;
  beforeAll(async () => {
    [a, b] = await Promise.all([FakePybal.start('lvs1019'), FakePybal.start('lvs1020')]);
    client = new PybalClient({ retries: 0, requestTimeoutMs: 3000, retryDelayMs: 5 });
    const topology = new PybalTopology({
      loadBalancers: { lvs1019: { url: a.url }, lvs1020: { url: b.url } },
      pools: [{ dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', pool: 'jobrunner_nginx', loadBalancers: ['lvs1019', 'lvs1020'] }],
      defaultDepoolThreshold: 0.5,
    });
    svc = new PybalService({ topology, client, verifyTimeoutMs: 1000 });
  });
  afterAll(async () => {
    await client.close();
    await Promise.all([a.close(), b.close()]);
  });

  it('does not verify out when the LB that agreed first has put the host back by the time the last one agrees', async () => {
    a.setPool('jobrunner_nginx', { [h1]: { ...OUT, weight: 10 } });
    b.setPool('jobrunner_nginx', { [h1]: { ...IN, weight: 10 } });
    const verifier = pybalVerifier(svc);
    // lvs1019 agrees in the first round; later lvs1020 catches up while lvs1019 flips back.
    setTimeout(() => {
      b.set('jobrunner_nginx', h1, OUT);
      a.set('jobrunner_nginx', h1, IN);
    }, 150);
    const v = await verifier.verifyOut([obj], { timeoutMs: 800 });
    expect(v.ok).toBe(false);
    expect(v.failedHosts).toEqual([h1]);
    expect(v.report).toContain('lvs1019');

    // Once both show it out at the same time, it is verified.
    a.set('jobrunner_nginx', h1, OUT);
    const again = await verifier.verifyOut([obj], { timeoutMs: 800 });
    expect(again).toMatchObject({ ok: true, failedHosts: [], deadlineMs: 800 });
    // The pool's numbers in that answer too (its one server is out: below its threshold).
    const capacity = { upEnabled: 0, total: 1, threshold: 0.5, below: true };
    expect(again.lbs).toEqual(
      ['lvs1019', 'lvs1020'].map((lb) => ({
        pool: 'jobrunner_nginx',
        lb,
        ok: true,
        asked: 1,
        hosts: [{ host: h1, seen: { ...OUT, weight: 10 }, ok: true }],
        capacity,
      })),
    );
    expect(again.report).toMatch(/^verified mw1001\.eqiad\.wmnet depooled on lvs1019, lvs1020 \(1 round, \d\.\d s\)$/);
  });

  it('maps what each LB showed into the port, polls every 25 ms whatever the service default, and never calls an object without a pool ok', async () => {
    a.setPool('jobrunner_nginx', { [h1]: { ...IN, weight: 10 } });
    b.setPool('jobrunner_nginx', { [h1]: { ...IN, up: false, weight: 10 } });
    // the service's own default: 50 ms growing to 500 ms
    expect(svc.pollIntervalMs).toBe(50);
    const v = await pybalVerifier(svc).verifyIn([{ ...obj, pooled: 'yes' }], { timeoutMs: 400 });
    expect(v).toMatchObject({ ok: false, failedHosts: [h1], deadlineMs: 400 });
    expect(v.lbs?.map((l) => [l.lb, l.ok, l.hosts[0]?.seen])).toEqual([
      ['lvs1019', true, { ...IN, weight: 10 }],
      ['lvs1020', false, { ...IN, up: false, weight: 10 }],
    ]);
    // 400 ms at a fixed 25 ms pause: many more rounds than the back-off's ~5
    expect(v.rounds).toBeGreaterThanOrEqual(8);
    expect(v.report).toContain('lvs1020 has mw1001.eqiad.wmnet enabled but down in pool jobrunner_nginx');

    const memcached: PoolObject = { ...obj, key: obj.key.replace('nginx', 'memcached'), tags: { ...obj.tags, service: 'memcached' } };
    const u = await pybalVerifier(svc).verifyOut([memcached]);
    expect(u).toMatchObject({ ok: false, failedHosts: [] });
    expect(u.report).toContain('not verified (no PyBal pool configured)');
  });

  it('verifies in only at a moment every LB has the host pooled, enabled and up', async () => {
    a.setPool('jobrunner_nginx', { [h1]: { ...IN, weight: 10 } });
    b.setPool('jobrunner_nginx', { [h1]: { ...OUT, weight: 10 } });
    const verifier = pybalVerifier(svc);
    setTimeout(() => {
      b.set('jobrunner_nginx', h1, IN);
      a.set('jobrunner_nginx', h1, { up: false });
    }, 150);
    const v = await verifier.verifyIn([{ ...obj, pooled: 'yes' }], { timeoutMs: 800 });
    expect(v.ok).toBe(false);
    expect(v.failedHosts).toEqual([h1]);
  });
});
