import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Conftool, connectEtcd, type ConftoolNode } from '@galley/confctl';
import { loadConfig } from '@galley/config';
import type { PybalConfig } from '@galley/pybal';
import type { Lab } from '@galley/lab';
import { sharedLab } from '@galley/lab/testing';
import { PybalClient, PybalService, PybalTopology, type LbServerView } from '@galley/pybal';
import { pybalApiContract } from '@galley/pybal/testing';

// Against the shared lab's PyBal simulators (2 LBs, propagation delay ~200 ms). The eqiad
// jobrunner pools hold 4 hosts (mw1301–mw1304), all pooled=yes, threshold 0.5.
const POOL = 'jobrunner-nginx_eqiad';
const [J1, J2, J3, J4] = ['mw1301', 'mw1302', 'mw1303', 'mw1304'].map((h) => `${h}.eqiad.wmnet`) as [string, string, string, string];

let lab: Lab;
let pybalCfg: PybalConfig;
let conftool: Conftool;
let client: PybalClient;
let svc: PybalService;

beforeAll(async () => {
  lab = await sharedLab();
  const { config } = await loadConfig({ file: lab.info.config });
  if (!config.pybal || !config.etcd) throw new Error(`the lab's config ${lab.info.config} has no pybal or etcd section`);
  pybalCfg = config.pybal;
  conftool = new Conftool(connectEtcd(config.etcd), { namespace: lab.info.namespace });
  client = new PybalClient({ requestTimeoutMs: 1000, retries: 1 });
  svc = new PybalService({ topology: new PybalTopology(pybalCfg), client, verifyTimeoutMs: 5000 });
});
afterAll(async () => {
  await client.close();
  conftool.close();
});

const nodes = async (name: string, service = 'nginx'): Promise<ConftoolNode[]> =>
  conftool.select({ dc: 'eqiad', cluster: 'jobrunner', service, name });
const lbRef = (name: string): { name: string; url: string } => lab.info.loadBalancers.find((l) => l.name === name)!;

/** Until every LB shows `pred` for the host (health checks and conftool changes take a moment). */
async function until(host: string, pred: (v: LbServerView | null) => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    // An LB still clearing an injected fault (reset() does not wait for it) is asked again.
    const views = await Promise.all(
      lab.info.loadBalancers.map((lb) => client.host(lb, POOL, host).catch((e: unknown) => ({ error: (e as Error).message }))),
    );
    if (views.every((v) => !(v && 'error' in v) && pred(v))) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${host}: ${JSON.stringify(views)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(['lvs1019', 'lvs1020'])('the lab simulator %s passes the PyBal API contract', (name) => {
  pybalApiContract(() => ({ lb: lbRef(name), pool: POOL, host: J1 }));
});

describe('PybalService on the lab', () => {
  afterEach(async () => {
    await lab.reset();
    for (const h of [J1, J2, J3, J4]) await until(h, (v) => v !== null && v.enabled && v.pooled && v.up);
  }, 30000);

  it('config maps the eqiad jobrunner nginx objects to the pool on both LBs', () => {
    const ref = svc.topology.poolFor('eqiad', 'jobrunner', 'nginx');
    expect(ref).toMatchObject({ pool: POOL, depoolThreshold: 0.5 });
    expect(ref!.loadBalancers.map((l) => l.name)).toEqual(['lvs1019', 'lvs1020']);
  });

  it('verifies a depool and a repool on every LB within the propagation delay', async () => {
    const objs = await nodes(J1);
    await conftool.update(objs, { pooled: 'no' });
    const out = await svc.verifyDepooled(objs);
    expect(out).toMatchObject({ ok: true, disagreements: [] });
    expect(out.elapsedMs).toBeLessThan(2000);
    // Re-read: update() given stale objects computes the change from their old state.
    await conftool.update(await nodes(J1), { pooled: 'yes' });
    const back = await svc.verifyPooled(objs);
    expect(back).toMatchObject({ ok: true, disagreements: [] });
    expect(back.elapsedMs).toBeLessThan(2000);
    expect(back.report).toMatch(/^verified mw1301\.eqiad\.wmnet pooled on lvs1019, lvs1020/);
  });

  it('times out naming the lagging LB when it applies the change after the deadline', async () => {
    await lab.lb('lvs1020', 'lag', 4000);
    const objs = await nodes(J2);
    await conftool.update(objs, { pooled: 'no' });
    const v = await svc.verifyDepooled(objs, { timeoutMs: 1500 });
    expect(v.ok).toBe(false);
    expect(v.disagreements).toEqual([
      {
        lb: 'lvs1020',
        pool: POOL,
        host: J2,
        expected: 'depooled',
        saw: { enabled: true, up: true, pooled: true, weight: 10 },
        why: expect.stringContaining('(lvs1019 already did: lvs1020 is lagging)'),
      },
    ]);
    expect(v.report).toContain('lvs1020 still has mw1302.eqiad.wmnet enabled and pooled in pool jobrunner-nginx_eqiad');
    // It does get there: a longer deadline passes.
    expect((await svc.verifyDepooled(objs, { timeoutMs: 8000 })).ok).toBe(true);
  }, 20000);

  it('a host that is down but still enabled on a lagging LB is not out: named, with why, what it shows and the deadline against the wait', async () => {
    // J1's nginx fails its health checks: both LBs show it enabled/down/not pooled (3 of 4 up is
    // above the threshold, so nothing force-pools it). lvs1020 then applies the depool 3 s late.
    await lab.failService(J1, 'nginx', 'down');
    await until(J1, (v) => v !== null && v.enabled && !v.up && !v.pooled);
    await lab.lb('lvs1020', 'lag', 3000);
    const objs = await nodes(J1);
    await conftool.update(objs, { pooled: 'no' });
    const fast = svc.with({ pollIntervalMs: 25, maxPollIntervalMs: 25 });
    const v = await fast.verifyDepooled(objs, { timeoutMs: 1200 });
    expect(v.ok).toBe(false);
    // (each LB's pool numbers ride along: `capacity`, checked by the capacity tests)
    expect(v.lbs).toEqual([
      {
        pool: POOL,
        lb: 'lvs1019',
        ok: true,
        asked: expect.any(Number),
        capacity: expect.any(Object),
        hosts: [{ host: J1, seen: { enabled: false, up: false, pooled: false, weight: 10 }, ok: true }],
      },
      {
        pool: POOL,
        lb: 'lvs1020',
        ok: false,
        asked: v.rounds,
        capacity: expect.any(Object),
        hosts: [{ host: J1, seen: { enabled: true, up: false, pooled: false, weight: 10 }, ok: false, why: expect.any(String) }],
      },
    ]);
    expect(v.elapsedMs).toBeGreaterThanOrEqual(1200);
    expect(v.report.split('\n')).toEqual([
      `PyBal verification failed: not depooled on lvs1020 (lvs1019 agreed) within the 1200 ms deadline (waited ${(v.elapsedMs / 1000).toFixed(1)} s):`,
      `  - lvs1020 still has ${J1} enabled in pool ${POOL} (not pooled only because its health checks fail): it has not applied the conftool change (lvs1019 already did: lvs1020 is lagging), and pools it again once the host is up [lvs1020 says enabled/down/not pooled]`,
    ]);
    // Once lvs1020 applies it, out on both.
    const later = await fast.verifyDepooled(objs, { timeoutMs: 8000 });
    expect(later).toMatchObject({ ok: true, disagreements: [] });
    expect(later.lbs.map((l) => l.hosts[0]!.seen)).toEqual([
      { enabled: false, up: false, pooled: false, weight: 10 },
      { enabled: false, up: false, pooled: false, weight: 10 },
    ]);
  }, 20000);

  it('times out with "connection refused" when an LB is down', async () => {
    await lab.lb('lvs1020', 'down');
    const objs = await nodes(J3);
    await conftool.update(objs, { pooled: 'no' });
    const v = await svc.verifyDepooled(objs, { timeoutMs: 1000 });
    expect(v.ok).toBe(false);
    expect(v.disagreements.map((d) => d.lb)).toEqual(['lvs1020']);
    expect(v.report).toMatch(
      new RegExp(
        `lvs1020 gave no usable answer for pool ${POOL} \\(${J3.replace(/\./g, '\\.')}\\): load balancer lvs1020 unreachable at ${lbRef('lvs1020').url.replace(/\./g, '\\.')}/pools/${POOL}: connection refused`,
      ),
    );
  });

  it('times out with the HTTP status when an LB answers 500', async () => {
    await lab.lb('lvs1019', 'error');
    const objs = await nodes(J3);
    await conftool.update(objs, { pooled: 'no' });
    // long enough for lvs1020 to apply the depool on a loaded machine: only the erroring LB disagrees
    const v = await svc.verifyDepooled(objs, { timeoutMs: 3000 });
    expect(v.ok).toBe(false);
    expect(v.disagreements.map((d) => d.lb)).toEqual(['lvs1019']);
    expect(v.report).toContain(`load balancer lvs1019 answered HTTP 500 for ${lbRef('lvs1019').url}/pools/${POOL}`);
  });

  it('an LB answering a body that is not PyBal’s is ERR_PYBAL_BAD_RESPONSE naming the LB and the URL', async () => {
    await lab.lb('lvs1019', 'garbage');
    const url = `${lbRef('lvs1019').url}/pools/${POOL}`;
    for (const format of ['json', 'text'] as const) {
      const c = new PybalClient({ requestTimeoutMs: 1000, retries: 1, format });
      try {
        const err = await c.pool(lbRef('lvs1019'), POOL).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'ERR_PYBAL_BAD_RESPONSE', details: { lb: 'lvs1019', url } });
        expect((err as Error).message).toContain(`unexpected ${format} body from load balancer lvs1019 at ${url}`);
      } finally {
        await c.close();
      }
    }
    // Verification names it too, and the other LB is unaffected.
    const objs = await nodes(J1);
    await conftool.update(objs, { pooled: 'no' });
    const v = await svc.verifyDepooled(objs, { timeoutMs: 1000 });
    expect(v.ok).toBe(false);
    expect(v.disagreements.map((d) => d.lb)).toEqual(['lvs1019']);
    expect(v.report).toContain(
      `lvs1019 gave no usable answer for pool ${POOL} (${J1}): unexpected json body from load balancer lvs1019 at ${url}`,
    );
    await lab.lb('lvs1019', 'up');
    expect((await svc.verifyDepooled(objs, { timeoutMs: 5000 })).ok).toBe(true);
  });

  it('reports a depool PyBal refuses because of the threshold, naming the LB and the numbers', async () => {
    // Pool of 4 at 0.5 needs 2 up+enabled. J2's nginx goes down (3 left), J1 is depooled (2 left):
    // depooling J3 as well would leave 1, so both LBs keep it pooled.
    await lab.failService(J2, 'nginx', 'down');
    await until(J2, (v) => v !== null && !v.up);
    const first = await nodes(J1);
    await conftool.update(first, { pooled: 'no' });
    expect((await svc.verifyDepooled(first)).ok).toBe(true);
    const pool = svc.topology.poolFor('eqiad', 'jobrunner', 'nginx')!;
    expect((await svc.capacity(pool)).canTakeOut).toBe(0);
    const second = await nodes(J3);
    await conftool.update(second, { pooled: 'no' });
    const v = await svc.verifyDepooled(second, { timeoutMs: 1500 });
    expect(v.ok).toBe(false);
    expect(v.disagreements.map((d) => [d.lb, d.host, d.saw])).toEqual([
      ['lvs1019', J3, { enabled: false, up: true, pooled: true, weight: 10 }],
      ['lvs1020', J3, { enabled: false, up: true, pooled: true, weight: 10 }],
    ]);
    expect(v.report).toContain(`lvs1019 keeps ${J3} pooled: pool ${POOL} is at its depool threshold 0.5 (1 of 4 up and enabled, 2 needed)`);
    expect(v.report).toContain(`lvs1020 keeps ${J3} pooled: pool ${POOL} is at its depool threshold 0.5 (1 of 4 up and enabled, 2 needed)`);
    const alerts = await client.alerts(lbRef('lvs1019'));
    expect(alerts.status).toBe('critical');
    expect(alerts.msg).toContain(J3);
    // Capacity returns (J2 heals): PyBal drains the kept server, and the verification passes.
    await lab.heal(J2);
    expect((await svc.verifyDepooled(second, { timeoutMs: 5000 })).ok).toBe(true);
  }, 20000);

  it('does not verify a repool of a host the LBs keep pooled while it is down (threshold), naming each LB and why', async () => {
    // Pool of 4 at 0.5 needs 2 up+enabled. J2 and J3 go down first (PyBal depools both: 2 left),
    // then J1: depooling it would leave 1, so both LBs force-pool it although it is down.
    for (const h of [J2, J3]) await lab.failService(h, 'nginx', 'down');
    for (const h of [J2, J3]) await until(h, (v) => v !== null && !v.up && !v.pooled);
    await lab.failService(J1, 'nginx', 'down');
    await until(J1, (v) => v !== null && v.enabled && !v.up && v.pooled);
    const objs = await nodes(J1);
    expect(objs.map((n) => n.pooled)).toEqual(['yes']);
    const v = await svc.verifyPooled(objs, { timeoutMs: 1000 });
    expect(v.ok).toBe(false);
    expect(v.disagreements.map((d) => [d.lb, d.host, d.saw])).toEqual([
      ['lvs1019', J1, { enabled: true, up: false, pooled: true, weight: 10 }],
      ['lvs1020', J1, { enabled: true, up: false, pooled: true, weight: 10 }],
    ]);
    for (const lb of ['lvs1019', 'lvs1020']) {
      expect(v.report).toContain(
        `${lb} has ${J1} enabled but down in pool ${POOL}: its health checks fail, and PyBal keeps it pooled only to stay above the depool threshold 0.5 (1 of 4 up and enabled, 2 needed)`,
      );
    }
    expect(() => PybalService.assertVerified(v)).toThrow(expect.objectContaining({ code: 'ERR_PYBAL_NOT_VERIFIED' }));
    // Whoever only needs "enabled and pooled" can still ask for that.
    expect((await svc.verifyPooled(objs, { timeoutMs: 1000, requireUp: false })).ok).toBe(true);
    // J1 heals: verified.
    await lab.heal(J1);
    expect((await svc.verifyPooled(objs, { timeoutMs: 5000 })).ok).toBe(true);
  }, 30000);

  // Expected numbers written out (not recomputed with the functions under test): total counts yes
  // and no (never inactive); canTakeOut = upEnabled − ceil(total × 0.5).
  const capacityCases: {
    name: string;
    no: string[];
    inactive: string[];
    down: string[];
    total: number;
    upEnabled: number;
    canTakeOut: number;
  }[] = [
    { name: 'all pooled', no: [], inactive: [], down: [], total: 4, upEnabled: 4, canTakeOut: 2 },
    { name: 'one no', no: [J1], inactive: [], down: [], total: 4, upEnabled: 3, canTakeOut: 1 },
    { name: 'one inactive', no: [], inactive: [J1], down: [], total: 3, upEnabled: 3, canTakeOut: 1 },
    { name: 'one down', no: [], inactive: [], down: [J2], total: 4, upEnabled: 3, canTakeOut: 1 },
    { name: 'no + inactive', no: [J1], inactive: [J4], down: [], total: 3, upEnabled: 2, canTakeOut: 0 },
    { name: 'inactive + down', no: [], inactive: [J1], down: [J2], total: 3, upEnabled: 2, canTakeOut: 0 },
  ];
  it.each(capacityCases)(
    'capacity matches PyBal’s rules: $name',
    async ({ no, inactive, down, total, upEnabled, canTakeOut: expected }) => {
      for (const h of no) await conftool.update(await nodes(h), { pooled: 'no' });
      for (const h of inactive) await conftool.update(await nodes(h), { pooled: 'inactive' });
      for (const h of down) await lab.failService(h, 'nginx', 'down');
      const states = [J1, J2, J3, J4].map((h): { pooled: 'yes' | 'no' | 'inactive'; up: boolean } => ({
        pooled: no.includes(h) ? 'no' : inactive.includes(h) ? 'inactive' : 'yes',
        up: !down.includes(h),
      }));
      for (const h of [J1, J2, J3, J4]) {
        const s = states[[J1, J2, J3, J4].indexOf(h)]!;
        await until(h, (v) => (s.pooled === 'inactive' ? v === null : v !== null && v.enabled === (s.pooled === 'yes') && v.up === s.up));
      }
      const cap = await svc.capacity(svc.topology.poolFor('eqiad', 'jobrunner', 'nginx')!);
      expect(cap.perLb).toEqual(
        ['lvs1019', 'lvs1020'].map((lb) => expect.objectContaining({ lb, total, upEnabled, canTakeOut: expected })),
      );
      expect(cap.canTakeOut).toBe(expected);
    },
    20000,
  );

  it('compares conftool with every LB: the lagging LB is flagged, the others agree', async () => {
    await lab.lb('lvs1020', 'lag', 3000);
    await conftool.update(await nodes(J1), { pooled: 'no' });
    await until(J1, (v) => v !== null && !v.enabled && !v.pooled, 1500).catch(() => undefined);
    const rows = await svc.compare(await conftool.select({ dc: 'eqiad', cluster: 'jobrunner', service: 'nginx' }));
    const j1 = rows.find((r) => r.host === J1)!;
    expect(j1.conftool.pooled).toBe('no');
    expect(j1.flags).toEqual([{ kind: 'lagging', lb: 'lvs1020', message: `lvs1020 has ${J1} enabled although conftool says pooled=no` }]);
    expect(rows.filter((r) => r.host !== J1).every((r) => r.flags.length === 0)).toBe(true);
  }, 15000);

  it('in dry-run reports "would verify" after one read instead of timing out', async () => {
    const dry = svc.with({ dryRun: true });
    const t0 = Date.now();
    const v = await dry.verifyDepooled(await nodes(J1), { timeoutMs: 10000 });
    expect(v).toMatchObject({ ok: true, dryRun: true, rounds: 1 });
    expect(v.report).toMatch(
      /^DRY-RUN: would verify mw1301\.eqiad\.wmnet depooled on lvs1019, lvs1020 \(now: lvs1019: mw1301\.eqiad\.wmnet enabled\/up\/pooled/,
    );
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});
