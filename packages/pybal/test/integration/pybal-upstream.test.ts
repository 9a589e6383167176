import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Conftool, connectEtcd, type ConftoolNode } from '@galley/confctl';
import { loadConfig } from '@galley/config';
import { privateLab } from '@galley/lab/testing';
import { PybalClient, PybalService, PybalTopology, type LbServerView } from '@galley/pybal';

// PybalService's threshold scenarios (pybal.test.ts runs them on the shared, wikitech lab) against
// simulators running PyBal's own coordinator.py (`--pybal-mode upstream`, packages/lab/README.md
// "PyBal modes"). Pool jobrunner-nginx_eqiad: mw1301–mw1304, threshold 0.5 (2 up+enabled needed).
jest.setTimeout(60000);

const POOL = 'jobrunner-nginx_eqiad';
const [J1, J2, J3, J4] = ['mw1301', 'mw1302', 'mw1303', 'mw1304'].map((h) => `${h}.eqiad.wmnet`) as [string, string, string, string];
const p = privateLab({ hosts: 12, ssh: false, lbs: 2, pybalDelayMs: 100, pybalMode: 'upstream' });
let conftool: Conftool;
let client: PybalClient;
let svc: PybalService;

beforeAll(async () => {
  const { config } = await loadConfig({ file: p.lab.info.config });
  conftool = new Conftool(connectEtcd(config.etcd!), { namespace: p.lab.info.namespace });
  client = new PybalClient({ requestTimeoutMs: 1000, retries: 1 });
  svc = new PybalService({ topology: new PybalTopology(config.pybal!), client, verifyTimeoutMs: 3000 });
});
afterAll(async () => {
  await client.close();
  conftool.close();
});

const nodes = async (name: string): Promise<ConftoolNode[]> =>
  conftool.select({ dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', name });
async function until(host: string, pred: (v: LbServerView | null) => boolean): Promise<void> {
  const end = Date.now() + 5000;
  for (;;) {
    const views = await Promise.all(p.lab.info.loadBalancers.map((lb) => client.host(lb, POOL, host).catch(() => undefined)));
    if (views.every((v) => v !== undefined && pred(v))) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${host}: ${JSON.stringify(views)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every LB's monitor has reported on the host since its simulator (re)started (PyBal's /metrics). */
async function firstHealthCheck(host: string): Promise<void> {
  const end = Date.now() + 5000;
  for (;;) {
    const texts = await Promise.all(p.lab.info.loadBalancers.map(async (lb) => (await fetch(`${lb.url}/metrics`)).text().catch(() => '')));
    if (texts.every((t) => new RegExp(`^pybal_monitor_(up|down)_results_total\\{[^}]*host="${host.replace(/\./g, '\\.')}"`, 'm').test(t)))
      return;
    if (Date.now() > end) throw new Error(`no health check result for ${host} on every LB within 5 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('PybalService on an upstream PyBal lab', () => {
  afterEach(async () => {
    await p.lab.reset(); // restarts the simulators' PyBal too (a wedged pool is cleared only so)
    for (const h of [J1, J2, J3, J4]) await until(h, (v) => v !== null && v.enabled && v.pooled && v.up);
  }, 30000);

  it('a depool past the threshold is verified out (PyBal takes it out and force-pools the down server); the verification reports the pool below its threshold', async () => {
    await p.lab.failService(J2, 'nginx', 'down');
    await until(J2, (v) => v !== null && !v.up && !v.pooled);
    const first = await nodes(J1);
    await conftool.update(first, { pooled: 'no' });
    const v1 = await svc.verifyDepooled(first);
    expect(v1.ok).toBe(true);
    expect(v1.lbs.map((l) => l.capacity)).toEqual([
      { upEnabled: 2, total: 4, threshold: 0.5, below: false },
      { upEnabled: 2, total: 4, threshold: 0.5, below: false },
    ]);
    expect((await svc.capacity(svc.topology.poolFor('eqiad', 'jobrunner', 'nginx')!)).canTakeOut).toBe(0);
    // Where the Wikitech page's PyBal keeps J3 pooled (pybal.test.ts), coordinator.py takes it out:
    const second = await nodes(J3);
    await conftool.update(second, { pooled: 'no' });
    const v2 = await svc.verifyDepooled(second);
    expect(v2.ok).toBe(true);
    expect(v2.lbs.map((l) => [l.lb, l.capacity])).toEqual(
      ['lvs1019', 'lvs1020'].map((lb) => [lb, { upEnabled: 1, total: 4, threshold: 0.5, below: true }]),
    );
    // …and _ensureDepoolThreshold force-pools the down J2 instead, which /alerts names.
    await until(J2, (v) => v !== null && v.enabled && !v.up && v.pooled);
    const alerts = await client.alerts(p.lab.info.loadBalancers[0]!);
    expect(alerts).toMatchObject({ status: 'critical', msg: `${POOL}: Servers ${J2} are marked down but pooled` });
  }, 20000);

  it('a repool of a host the LBs keep pooled while it is down is not verified, as with the Wikitech page; healed, it is', async () => {
    for (const h of [J2, J3]) await p.lab.failService(h, 'nginx', 'down');
    for (const h of [J2, J3]) await until(h, (v) => v !== null && !v.up && !v.pooled);
    await p.lab.failService(J1, 'nginx', 'down');
    await until(J1, (v) => v !== null && v.enabled && !v.up && v.pooled);
    const objs = await nodes(J1);
    const v = await svc.verifyPooled(objs, { timeoutMs: 1000 });
    expect(v.ok).toBe(false);
    expect(v.report).toContain(
      `lvs1019 has ${J1} enabled but down in pool ${POOL}: its health checks fail, and PyBal keeps it pooled only to stay above the depool threshold 0.5 (1 of 4 up and enabled, 2 needed)`,
    );
    await p.lab.heal(J1);
    expect((await svc.verifyPooled(objs, { timeoutMs: 5000 })).ok).toBe(true);
  }, 30000);

  it('a repool of a healthy host never verifies: PyBal’s re-enable assert leaves it enabled/down/not pooled', async () => {
    // A config change before a server's first health check fails coordinator.py's assert too (a
    // different bug): after a (re)start, wait until every LB's monitor has reported on J4.
    await firstHealthCheck(J4);
    const objs = await nodes(J4);
    await conftool.update(objs, { pooled: 'no' });
    const out = await svc.verifyDepooled(objs);
    expect({ ok: out.ok, report: out.ok ? '' : out.report }).toEqual({ ok: true, report: '' });
    await conftool.update(await nodes(J4), { pooled: 'yes' });
    const v = await svc.verifyPooled(objs, { timeoutMs: 1500 });
    expect(v.ok).toBe(false);
    expect(v.disagreements.map((d) => [d.lb, d.saw])).toEqual(
      ['lvs1019', 'lvs1020'].map((lb) => [lb, { enabled: true, up: false, pooled: false, weight: 10 }]),
    );
    // Why: PyBal's code raised, as the simulator's log says (a PyBal restart — lb LB restart, reset — clears it).
    expect(fs.readFileSync(path.join(p.lab.dir, 'lb', 'lvs1019', 'pybal.log'), 'utf8')).toContain(
      `AssertionError: ${J4} up status inconsistent`,
    );
  }, 20000);
});
