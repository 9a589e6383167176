import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { EtcdUnavailableError, type Conftool } from '@galley/confctl';
import { FakeConftool } from '@galley/confctl/testing';
import { runCookbookForTest } from '@galley/core/testing';
import { PybalClient, PybalService, PybalTopology, type StatusReport } from '@galley/pybal';
import { FakePybal } from '@galley/pybal/testing';
import status from './status.js';

const V = (enabled: boolean, up: boolean, pooled: boolean) => ({ enabled, up, pooled, weight: 10 });
const hosts = ['mw1301', 'mw1302', 'mw1303', 'mw1304'].map((h) => `${h}.eqiad.wmnet`);

describe('sre.lb.status', () => {
  let lbs: FakePybal[];
  let client: PybalClient;
  let pybal: PybalService;
  let confctl: FakeConftool;

  beforeAll(async () => {
    lbs = await Promise.all([FakePybal.start('lvs1019'), FakePybal.start('lvs1020')]);
    client = new PybalClient({ retries: 0, requestTimeoutMs: 1000 });
  });
  afterAll(async () => {
    await client.close();
    await Promise.all(lbs.map((l) => l.close()));
  });
  beforeEach(() => {
    confctl = new FakeConftool();
    const seed: Record<string, unknown> = {};
    for (const h of hosts) {
      seed[`eqiad/jobrunner/nginx/${h}`] = { pooled: 'yes', weight: 10 };
      seed[`codfw/jobrunner/nginx/${h.replace('eqiad', 'codfw')}`] = { pooled: 'yes', weight: 10 };
    }
    seed[`eqiad/jobrunner/nginx/${hosts[3]!}`] = { pooled: 'no', weight: 10 };
    confctl.seed(seed);
    for (const lb of lbs) {
      lb.setPool('jobrunner-nginx_eqiad', Object.fromEntries(hosts.map((h) => [h, V(true, true, true)])));
      lb.set('jobrunner-nginx_eqiad', hosts[3]!, { enabled: false, pooled: false });
    }
    pybal = new PybalService({
      client,
      topology: new PybalTopology({
        loadBalancers: { lvs1019: { url: lbs[0]!.url }, lvs1020: { url: lbs[1]!.url } },
        pools: [
          { dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', pool: 'jobrunner-nginx_eqiad', loadBalancers: ['lvs1019', 'lvs1020'] },
        ],
      }),
    });
  });

  it('shows, per pool, conftool next to each LB, capacity and alerts; codfw without a pool is listed as such', async () => {
    lbs[1]!.set('jobrunner-nginx_eqiad', hosts[0]!, { enabled: false, pooled: false }); // lvs1020 lagging behind conftool
    const r = await runCookbookForTest(status, { args: ['cluster=jobrunner'], clients: { confctl, pybal } });
    expect(r.exitCode).toBe(0);
    const out = r.output as StatusReport;
    expect(out.pools.map((p) => p.pool.pool)).toEqual(['jobrunner-nginx_eqiad']);
    const p = out.pools[0]!;
    expect(p.rows.map((row) => [row.host, row.conftool.pooled, row.flags.map((f) => `${f.kind}@${f.lb ?? ''}`)])).toEqual([
      [hosts[0], 'yes', ['lagging@lvs1020']],
      [hosts[1], 'yes', []],
      [hosts[2], 'yes', []],
      [hosts[3], 'no', []],
    ]);
    // 4 in the pool (the `no` one counts), 3 (lvs1019) / 2 (lvs1020) up and enabled, 2 needed.
    expect(p.capacity).toMatchObject({
      canTakeOut: 0,
      perLb: [
        { lb: 'lvs1019', total: 4, upEnabled: 3, canTakeOut: 1 },
        { lb: 'lvs1020', total: 4, upEnabled: 2, canTakeOut: 0 },
      ],
    });
    expect(p.alerts.map((a) => a.status)).toEqual(['ok', 'ok']);
    expect(out.unmapped.map((u) => u.host)).toEqual(hosts.map((h) => h.replace('eqiad', 'codfw')));
    expect(r.logs.some((l) => l.startsWith('WARN 1 object(s) where conftool and the load balancers disagree'))).toBe(true);
    const text = r.events.find((e) => e.type === 'output') as { text?: string } | undefined;
    expect(text?.text).toContain('capacity: can take out 0 more');
  });

  it('shows who holds each host out and why (owner markers next to the conftool value)', async () => {
    const [n] = await confctl.select({ dc: 'eqiad', name: 'mw1304\\.eqiad\\.wmnet' });
    await confctl.transition([
      {
        node: n!,
        change: { pooled: 'no' },
        owner: { set: { runId: 'operator:alice', user: 'alice', reason: 'disk errors T1234', time: '2026-12-04T01:00:00.000Z' } },
      },
    ]);
    const r = await runCookbookForTest(status, { args: ['cluster=jobrunner', 'dc=eqiad'], clients: { confctl, pybal } });
    expect(r.exitCode).toBe(0);
    expect((r.output as { heldOut: unknown[] }).heldOut).toEqual([
      {
        object: `eqiad/jobrunner/nginx/${hosts[3]!}`,
        pooled: 'no',
        owner: { runId: 'operator:alice', user: 'alice', reason: 'disk errors T1234', time: '2026-12-04T01:00:00.000Z' },
      },
    ]);
    const text = r.events.find((e) => e.type === 'output') as { text?: string } | undefined;
    expect(text?.text).toContain(
      `Held out (owner markers):\n  eqiad/jobrunner/nginx/${hosts[3]!}=no: operator:alice (alice: disk errors T1234) since 2026-12-04T01:00:00.000Z`,
    );
  });

  it('narrows to dc and service, and reads only (no conftool change recorded)', async () => {
    const r = await runCookbookForTest(status, { args: ['cluster=jobrunner', 'dc=eqiad', 'service=nginx'], clients: { confctl, pybal } });
    expect(r.exitCode).toBe(0);
    expect(r.plan).toEqual([]);
    const out = r.output as StatusReport;
    expect(out.unmapped).toEqual([]);
    expect(out.pools[0]!.rows).toHaveLength(4);
    expect(out.pools[0]!.capacity.canTakeOut).toBe(1);
  });

  it('with etcd unreachable, still shows every configured pool as the LBs serve it, conftool unknown, exit 2', async () => {
    lbs[1]!.remove('jobrunner-nginx_eqiad', hosts[2]!); // lvs1020 does not list mw1303
    lbs[0]!.set('jobrunner-nginx_eqiad', hosts[1]!, { up: false }); // lvs1019 keeps mw1302 pooled while down
    const down = new EtcdUnavailableError(['http://127.0.0.1:2379'], new Error('connect ECONNREFUSED 127.0.0.1:2379'));
    // Only the read fails: a stand-in for a conftool whose etcd is down.
    const unreachable = { select: () => Promise.reject(down) } as unknown as Conftool;
    const r = await runCookbookForTest(status, { args: ['cluster=jobrunner'], clients: { confctl: unreachable, pybal } });
    expect(r.exitCode).toBe(2);
    expect(r.logs.join('\n')).toContain('ERROR etcd is not reachable at http://127.0.0.1:2379: connect ECONNREFUSED');
    expect(r.logs.join('\n')).toContain('conftool state UNKNOWN: showing 1 configured pool(s) as the load balancers serve them');
    const out = r.output as StatusReport;
    expect(out.conftoolUnknown).toContain('etcd is not reachable');
    const p = out.pools[0]!;
    expect(p.pool.pool).toBe('jobrunner-nginx_eqiad');
    expect(p.rows.map((row) => [row.host, row.conftool.pooled, row.flags.map((f) => `${f.kind}@${f.lb ?? ''}`)])).toEqual([
      [hosts[0], undefined, []],
      [hosts[1], undefined, ['pooled-down@lvs1019']],
      [hosts[2], undefined, ['missing-on-lb@lvs1020']],
      [hosts[3], undefined, []],
    ]);
    expect(p.rows[2]!.flags[0]!.message).toBe('lvs1020 does not list mw1303.eqiad.wmnet in pool jobrunner-nginx_eqiad (lvs1019 does)');
    expect(p.extraOnLb).toEqual([]);
    expect(p.capacity.perLb.map((c) => [c.lb, c.total, c.upEnabled, c.canTakeOut])).toEqual([
      ['lvs1019', 4, 2, 0],
      ['lvs1020', 3, 2, 0],
    ]);
    const text = (r.events.find((e) => e.type === 'output') as { text?: string } | undefined)?.text ?? '';
    expect(text).toMatch(/^conftool: UNKNOWN \(etcd is not reachable at http:\/\/127\.0\.0\.1:2379/);
    expect(text).toMatch(/mw1301\.eqiad\.wmnet\s+unknown\s+enabled\/up\/pooled\s+enabled\/up\/pooled/);
    expect(text).toMatch(/mw1304\.eqiad\.wmnet\s+unknown\s+disabled\/up\/not pooled\s+disabled\/up\/not pooled/);
  });

  it('with etcd unreachable and no configured pool for the selection, fails with exit 1', async () => {
    const down = new EtcdUnavailableError(['http://127.0.0.1:2379'], new Error('connect ECONNREFUSED'));
    const unreachable = { select: () => Promise.reject(down) } as unknown as Conftool;
    const r = await runCookbookForTest(status, { args: ['cluster=nosuch'], clients: { confctl: unreachable, pybal } });
    expect(r.exitCode).toBe(1);
    expect(r.logs.join('\n')).toContain('conftool cannot be read and no PyBal pool is configured for cluster=nosuch');
  });

  it('fails with exit 1 and the selector when nothing matches', async () => {
    const r = await runCookbookForTest(status, { args: ['cluster=nosuch'], clients: { confctl, pybal } });
    expect(r.exitCode).toBe(1);
    expect(r.logs.join('\n')).toMatch(/ERROR .*nosuch/);
  });
});
