import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { privateLab } from '@galley/lab/testing';
import { conftoolKey, type Lab, type PybalMode } from '@galley/lab';
import { labEtcd } from '../../src/etcd-client.js';
import { waitFor } from '../../src/procs.js';

// jest's testTimeout is a global option: the integration project's 60 s does not reach here.
jest.setTimeout(60000);

const DELAY = 400;
// Own lab: these tests depool servers and fail services, which would disturb other packages' tests.
const p = privateLab({ hosts: 12, ssh: false, lbs: 2, pybalDelayMs: DELAY });
const POOL = 'jobrunner-nginx_eqiad';
const JOBRUNNERS = ['mw1301.eqiad.wmnet', 'mw1302.eqiad.wmnet', 'mw1303.eqiad.wmnet', 'mw1304.eqiad.wmnet'];

async function setPooled(host: string, pooled: 'yes' | 'no' | 'inactive', lab: Lab = p.lab): Promise<void> {
  const etcd = labEtcd(lab.info.etcd.endpoints);
  try {
    await etcd
      .put(conftoolKey(lab.info.namespace, { dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', name: host }))
      .value(JSON.stringify({ pooled, weight: 10 }));
  } finally {
    etcd.close();
  }
}

async function get(url: string, json: boolean): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(url, { headers: json ? { accept: 'application/json' } : {} });
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

type ServerJson = { pooled: boolean; weight: number; up: boolean; enabled: boolean };
async function server(lb: string, host: string): Promise<ServerJson> {
  return JSON.parse((await get(`${lb}/pools/${POOL}/${host}`, true)).body) as ServerJson;
}

/** Wait until every LB shows `want` for the host (JSON), return how long it took. */
async function onEveryLb(host: string, want: Partial<ServerJson>, timeoutMs = 10000, lab: Lab = p.lab): Promise<number> {
  const start = Date.now();
  await waitFor(
    `${host} to be ${JSON.stringify(want)} on every LB`,
    async () => {
      const all = await Promise.all(lab.info.loadBalancers.map((lb) => server(lb.url, host)));
      return all.every((s) => Object.entries(want).every(([k, v]) => s[k as keyof ServerJson] === v)) ? true : undefined;
    },
    { timeoutMs, intervalMs: 25 },
  );
  return Date.now() - start;
}

afterEach(async () => {
  await p.lab.reset();
  for (const h of JOBRUNNERS) await onEveryLb(h, { enabled: true, up: true, pooled: true });
});

describe('PyBal simulators (private lab)', () => {
  it('history.jsonl: each change of a server on each LB, with its cause, etcd revision and time; invalid values recorded, not applied', async () => {
    const { lab } = p;
    const host = JOBRUNNERS[1]!;
    const key = conftoolKey(lab.info.namespace, { dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', name: host });
    const t0 = Date.now();
    await setPooled(host, 'no');
    await onEveryLb(host, { enabled: false, pooled: false });
    const etcd = labEtcd(lab.info.etcd.endpoints);
    let rev: number;
    try {
      rev = Number((await etcd.get(key).exec()).kvs[0]!.mod_revision);
      await etcd.put(key).value('{not json');
    } finally {
      etcd.close();
    }
    await new Promise((r) => setTimeout(r, DELAY));
    for (const lb of lab.info.loadBalancers) {
      const mine = (await lab.lbHistory(lb.name)).filter((e) => e.host === host && e.pool === POOL && e.t >= t0);
      const applied = mine.find((e) => e.cause === 'conftool');
      expect(applied).toMatchObject({
        lb: lb.name,
        key,
        rev,
        from: { enabled: true, pooled: true, up: true, weight: 10 },
        to: { enabled: false, pooled: false, up: true, weight: 10 },
      });
      // applied after the propagation delay, not when written
      expect(applied!.t - t0).toBeGreaterThanOrEqual(DELAY - 20);
      expect(mine.find((e) => e.cause === 'invalid')).toMatchObject({ key, rev: expect.any(Number) });
      expect(mine.filter((e) => e.cause === 'invalid')[0]!.rev).toBeGreaterThan(rev);
      // the first entry of the file is the start-up read: a full view of every pool
      const first = (await lab.lbHistory(lb.name))[0]!;
      expect(first).toMatchObject({ cause: 'relist', from: null });
    }
    // the garbage value was ignored: still out
    expect(await server(lab.info.loadBalancers[0]!.url, host)).toMatchObject({ enabled: false, pooled: false });
  });

  it('a conftool change reaches every simulator after the configured delay, in text and JSON', async () => {
    const { lab } = p;
    const host = JOBRUNNERS[0]!;
    // t0 just before the put (the client is connected first): no LB can apply it before t0 + DELAY.
    const etcd = labEtcd(lab.info.etcd.endpoints);
    let t0: number;
    try {
      await etcd.get(`${lab.info.namespace}/`).string();
      t0 = Date.now();
      await etcd
        .put(conftoolKey(lab.info.namespace, { dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', name: host }))
        .value(JSON.stringify({ pooled: 'no', weight: 10 }));
    } finally {
      etcd.close();
    }
    // Every LB polled from right after the put until it shows the change; each answer is stamped
    // with the time it arrived (the LB's state at some moment before that).
    const seen = await Promise.all(
      lab.info.loadBalancers.map(async (lb) => {
        const answers: { at: number; changed: boolean; applied: boolean }[] = [];
        while (Date.now() - t0 < DELAY + 5000) {
          const s = await server(lb.url, host);
          answers.push({ at: Date.now() - t0, changed: !s.enabled || !s.pooled, applied: !s.enabled && !s.pooled });
          if (answers.at(-1)!.applied) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        return { lb: lb.name, answers };
      }),
    );
    for (const { lb, answers } of seen) {
      // Not before the delay: the first read, right after the put, shows the old state, and no
      // answer that arrived earlier than DELAY shows the new one…
      expect({ lb, first: answers[0] }).toEqual({ lb, first: { at: expect.any(Number), changed: false, applied: false } });
      const applied = answers.find((a) => a.applied);
      expect({ lb, changedBeforeDelay: answers.filter((a) => a.changed && a.at < DELAY - 20) }).toEqual({ lb, changedBeforeDelay: [] });
      // …but soon after it (1 s of slack for scheduling on a shared 2-core machine).
      expect({ lb, applied: applied !== undefined }).toEqual({ lb, applied: true });
      expect(applied!.at).toBeLessThan(DELAY + 1000);
    }
    for (const lb of lab.info.loadBalancers) {
      expect(await get(`${lb.url}/pools/${POOL}/${host}`, false)).toEqual({
        status: 200,
        body: 'disabled/up/not pooled\n',
        type: 'text/plain',
      });
      expect(await get(`${lb.url}/pools/${POOL}/${host}`, true)).toEqual({
        status: 200,
        body: '{"pooled":false,"weight":10,"up":true,"enabled":false}',
        type: 'application/json',
      });
      expect((await get(`${lb.url}/pools/${POOL}`, false)).body).toContain(`${host}:\tdisabled/up/not pooled\n`);
    }
  });

  it('depool threshold: with two servers pooled=no, a third whose service goes down stays pooled and /alerts is critical; heal + repool → ok', async () => {
    const { lab } = p;
    const [a, b, c] = JOBRUNNERS;
    await setPooled(a!, 'no');
    await setPooled(b!, 'no');
    await onEveryLb(b!, { enabled: false, pooled: false });
    await onEveryLb(a!, { enabled: false, pooled: false });
    await lab.failService(c!, 'nginx', 'down');
    await onEveryLb(c!, { enabled: true, up: false, pooled: true });
    for (const lb of lab.info.loadBalancers) {
      expect(await get(`${lb.url}/pools/${POOL}/${c!}`, false)).toMatchObject({ body: 'enabled/down/pooled\n' });
      expect(await get(`${lb.url}/alerts`, false)).toMatchObject({
        status: 200,
        body: `CRITICAL - ${POOL}: Servers ${c!} are marked down but pooled`,
      });
      expect(JSON.parse((await get(`${lb.url}/alerts`, true)).body)).toEqual({
        status: 'critical',
        msg: `${POOL}: Servers ${c!} are marked down but pooled`,
      });
    }
    await lab.heal(c!);
    await onEveryLb(c!, { up: true, pooled: true });
    await setPooled(a!, 'yes');
    await setPooled(b!, 'yes');
    await onEveryLb(a!, { enabled: true, pooled: true });
    await onEveryLb(b!, { enabled: true, pooled: true });
    for (const lb of lab.info.loadBalancers) expect((await get(`${lb.url}/alerts`, false)).body).toBe('OK - All pools are healthy');
  });

  it('seed semantics: pooled=no that would breach the threshold leaves the server pooled until capacity returns', async () => {
    const { lab } = p;
    const [a, b, c] = JOBRUNNERS;
    await lab.failService(a!, 'nginx', 'down');
    await onEveryLb(a!, { up: false, pooled: false });
    await setPooled(b!, 'no');
    await onEveryLb(b!, { enabled: false, pooled: false });
    await setPooled(c!, 'no');
    await onEveryLb(c!, { enabled: false });
    for (const lb of lab.info.loadBalancers) {
      expect(await server(lb.url, c!)).toEqual({ pooled: true, weight: 10, up: true, enabled: false });
      expect((await get(`${lb.url}/alerts`, false)).body).toContain(`Servers ${c!} are marked down but pooled`);
    }
    await lab.heal(a!);
    await onEveryLb(c!, { enabled: false, pooled: false });
  });

  it('inactive removes a server from /pools/<pool> (and from the totals)', async () => {
    const { lab } = p;
    const host = JOBRUNNERS[3]!;
    await setPooled(host, 'inactive');
    await waitFor(
      `${host} to leave ${POOL}`,
      async () => {
        const bodies = await Promise.all(lab.info.loadBalancers.map((lb) => get(`${lb.url}/pools/${POOL}`, true)));
        return bodies.every((b) => !(host in (JSON.parse(b.body) as object))) ? true : undefined;
      },
      { timeoutMs: 10000 },
    );
    for (const lb of lab.info.loadBalancers) {
      expect((await get(`${lb.url}/pools/${POOL}`, false)).body).not.toContain(host);
      expect(Object.keys(JSON.parse((await get(`${lb.url}/pools/${POOL}`, true)).body) as object)).toHaveLength(3);
      expect(await get(`${lb.url}/pools/${POOL}/${host}`, false)).toEqual({
        status: 404,
        body: 'The desired url was not found',
        type: 'text/plain',
      });
      expect(await get(`${lb.url}/pools/${POOL}/${host}`, true)).toEqual({
        status: 404,
        body: '{"error":"The desired url was not found"}',
        type: 'application/json',
      });
    }
  });

  it('LB faults: down refuses connections, error answers 500, lag slows propagation, up restores', async () => {
    const { lab } = p;
    const [lvsA, lvsB] = lab.info.loadBalancers;
    await lab.lb(lvsA!.name, 'down');
    await expect(fetch(`${lvsA!.url}/pools`)).rejects.toThrow();
    expect((await get(`${lvsB!.url}/pools`, false)).status).toBe(200);
    await lab.lb(lvsA!.name, 'up');
    await lab.lb(lvsA!.name, 'error');
    expect((await get(`${lvsA!.url}/pools`, false)).status).toBe(500);
    await lab.lb(lvsA!.name, 'up');
    expect((await get(`${lvsA!.url}/pools`, false)).status).toBe(200);

    await lab.lb(lvsA!.name, 'lag', 2000);
    const host = JOBRUNNERS[1]!;
    await setPooled(host, 'no');
    const fast = await onEveryLb.call(null, host, { enabled: false }, 10000).catch(() => -1);
    expect(fast).toBeGreaterThan(-1);
    // lvsB applied it after ~DELAY; lvsA only after DELAY + 2000.
    const t = Date.now();
    await setPooled(host, 'yes');
    await waitFor('lvsB to apply', async () => ((await server(lvsB!.url, host)).enabled ? true : undefined), {
      timeoutMs: 10000,
      intervalMs: 20,
    });
    expect((await server(lvsA!.url, host)).enabled).toBe(false);
    await waitFor('lvsA to apply', async () => ((await server(lvsA!.url, host)).enabled ? true : undefined), {
      timeoutMs: 15000,
      intervalMs: 20,
    });
    expect(Date.now() - t).toBeGreaterThanOrEqual(DELAY + 2000 - 100);
    await lab.lb(lvsA!.name, 'up');
  });
});

/**
 * The threshold scenarios above, end to end through etcd and both simulators, in both modes: each
 * step's expected view (JSON of /pools/<pool>/<host> on every LB) per mode. The upstream column
 * follows PyBal's coordinator.py (see src/pybal/modes.test.ts for the same steps on the pure
 * coordinators, with the function each row comes from).
 */
type View = Partial<ServerJson>;
const metricSample = (body: string, name: string, labels: string): string | undefined =>
  body
    .split('\n')
    .find((l) => l.startsWith(`${name}{${labels}} `))
    ?.split(' ')[1];
type ModeStep = {
  what: string;
  act: (lab: Lab) => Promise<void>;
  host: string;
  wikitech: View;
  upstream: View;
  alert: { wikitech: string; upstream: string };
};
const [J1, J2, J3, J4] = JOBRUNNERS as [string, string, string, string];
const OK = 'OK - All pools are healthy';
const crit = (h: string) => `CRITICAL - ${POOL}: Servers ${h} are marked down but pooled`;
const modeScenarios: { name: string; steps: ModeStep[] }[] = [
  {
    name: 'two pooled=no, a third fails (kept pooled in both), healed, then one re-enabled',
    steps: [
      {
        what: `${J1} no`,
        act: (l) => setPooled(J1, 'no', l),
        host: J1,
        wikitech: { enabled: false, pooled: false },
        upstream: { enabled: false, pooled: false },
        alert: { wikitech: OK, upstream: OK },
      },
      {
        what: `${J2} no`,
        act: (l) => setPooled(J2, 'no', l),
        host: J2,
        wikitech: { enabled: false, pooled: false },
        upstream: { enabled: false, pooled: false },
        alert: { wikitech: OK, upstream: OK },
      },
      // resultDown → depool: canDepool() is 1 < 2 in both
      {
        what: `${J3} nginx down`,
        act: (l) => l.failService(J3, 'nginx', 'down'),
        host: J3,
        wikitech: { enabled: true, up: false, pooled: true },
        upstream: { enabled: true, up: false, pooled: true },
        alert: { wikitech: crit(J3), upstream: crit(J3) },
      },
      {
        what: `${J3} healed`,
        act: (l) => l.heal(J3),
        host: J3,
        wikitech: { up: true, pooled: true },
        upstream: { up: true, pooled: true },
        alert: { wikitech: OK, upstream: OK },
      },
      // upstream: merge's P1 marks it down, refreshPreexistingServer's assert fails, the update is dropped
      {
        what: `${J1} yes`,
        act: (l) => setPooled(J1, 'yes', l),
        host: J1,
        wikitech: { enabled: true, up: true, pooled: true },
        upstream: { enabled: true, up: false, pooled: false },
        alert: { wikitech: OK, upstream: OK },
      },
    ],
  },
  {
    name: 'a pooled=no that would breach the threshold: wikitech keeps it pooled, upstream depools it and force-pools the down server',
    steps: [
      {
        what: `${J1} nginx down`,
        act: (l) => l.failService(J1, 'nginx', 'down'),
        host: J1,
        wikitech: { up: false, pooled: false },
        upstream: { up: false, pooled: false },
        alert: { wikitech: OK, upstream: OK },
      },
      {
        what: `${J2} no`,
        act: (l) => setPooled(J2, 'no', l),
        host: J2,
        wikitech: { enabled: false, pooled: false },
        upstream: { enabled: false, pooled: false },
        alert: { wikitech: OK, upstream: OK },
      },
      // wikitech: canDepool() 1 < 2 keeps it; upstream: maintainState P0 depools, _ensureDepoolThreshold force-pools J1
      {
        what: `${J3} no`,
        act: (l) => setPooled(J3, 'no', l),
        host: J3,
        wikitech: { enabled: false, up: true, pooled: true },
        upstream: { enabled: false, up: true, pooled: false },
        alert: { wikitech: crit(J3), upstream: crit(J1) },
      },
      {
        what: `${J1} as seen then`,
        act: async () => undefined,
        host: J1,
        wikitech: { enabled: true, up: false, pooled: false },
        upstream: { enabled: true, up: false, pooled: true },
        alert: { wikitech: crit(J3), upstream: crit(J1) },
      },
      // resultUp → repool: wikitech drains J3; upstream leaves J1 pooled and clears pooledDownServers
      {
        what: `${J1} healed`,
        act: (l) => l.heal(J1),
        host: J1,
        wikitech: { enabled: true, up: true, pooled: true },
        upstream: { enabled: true, up: true, pooled: true },
        alert: { wikitech: OK, upstream: OK },
      },
      {
        what: `${J3} as seen then`,
        act: async () => undefined,
        host: J3,
        wikitech: { enabled: false, pooled: false },
        upstream: { enabled: false, pooled: false },
        alert: { wikitech: OK, upstream: OK },
      },
    ],
  },
];

describe.each(['wikitech', 'upstream'] as const)('PyBal mode %s (private lab): the threshold scenarios step by step', (mode: PybalMode) => {
  const q = privateLab({ hosts: 12, ssh: false, lbs: 2, pybalDelayMs: 200, pybalMode: mode });
  afterEach(async () => {
    await q.lab.reset();
    for (const h of JOBRUNNERS) await onEveryLb(h, { enabled: true, up: true, pooled: true }, 10000, q.lab);
  });

  it('lab.json and status record the mode', async () => {
    expect(q.lab.info.pybalMode).toBe(mode);
    const st = await q.lab.status();
    expect(st.filter((s) => s.component === 'pybal').map((s) => s.detail)).toEqual(
      q.lab.info.loadBalancers.map((lb) => `${lb.url} mode=${mode} answering`),
    );
  });

  it.each(modeScenarios)('$name', async ({ steps }) => {
    const { lab } = q;
    for (const st of steps) {
      await st.act(lab);
      await onEveryLb(st.host, st[mode], 10000, lab).catch(async (err: unknown) => {
        const seen = await Promise.all(lab.info.loadBalancers.map((lb) => server(lb.url, st.host)));
        throw new Error(
          `${mode}, step "${st.what}": want ${JSON.stringify(st[mode])} on every LB, saw ${JSON.stringify(seen)} (${(err as Error).message})`,
        );
      });
      for (const lb of lab.info.loadBalancers)
        expect({ step: st.what, alerts: (await get(`${lb.url}/alerts`, false)).body }).toEqual({ step: st.what, alerts: st.alert[mode] });
    }
    // The last view holds (a few health-check rounds later): nothing converges behind our back.
    await new Promise((r) => setTimeout(r, 600));
    const last = steps.at(-1)!;
    for (const lb of lab.info.loadBalancers) expect(await server(lb.url, last.host)).toMatchObject(last[mode]);
  });

  it('/metrics: the Prometheus text format with PyBal’s names, labels and types', async () => {
    const { lab } = q;
    const refusedBefore = await Promise.all(
      lab.info.loadBalancers.map(async (lb) =>
        Number(
          metricSample((await get(`${lb.url}/metrics`, false)).body, 'pybal_service_could_not_depool_total', `service="${POOL}"`) ?? 0,
        ),
      ),
    );
    await lab.failService(J1, 'nginx', 'down');
    await onEveryLb(J1, { up: false, pooled: false }, 10000, lab);
    await setPooled(J2, 'no', lab);
    await onEveryLb(J2, { enabled: false, pooled: false }, 10000, lab);
    await setPooled(J3, 'no', lab);
    await onEveryLb(J3, { enabled: false }, 10000, lab);
    for (const [i, lb] of lab.info.loadBalancers.entries()) {
      const res = await get(`${lb.url}/metrics`, true); // JSON asked: /metrics answers its own format anyway
      expect(res.status).toBe(200);
      expect(res.type).toBe('text/plain; version=0.0.4; charset=utf-8');
      const lines = res.body.split('\n');
      const sample = (name: string, labels: string) => metricSample(res.body, name, labels);
      const svc = `service="${POOL}"`;
      expect(lines).toEqual(
        expect.arrayContaining([
          '# TYPE pybal_service_servers gauge',
          '# TYPE pybal_service_could_not_depool_total counter',
          '# TYPE pybal_monitor_up_transitions_total counter',
          '# TYPE pybal_monitor_status gauge',
          'pybal_bgp_enabled 0.0',
        ]),
      );
      expect(sample('pybal_service_servers', svc)).toBe('4.0');
      expect(sample('pybal_service_servers_enabled', svc)).toBe('2.0');
      expect(sample('pybal_service_depool_threshold', svc)).toBe('0.5');
      expect(sample('pybal_service_pooled_down_servers', svc)).toBe('1.0');
      expect(sample('pybal_service_can_depool', svc)).toBe('0.0');
      expect(sample('pybal_monitor_status', `host="${J1}",monitor="ProxyFetch",${svc}`)).toBe('0.0');
      expect(sample('pybal_monitor_status', `host="${J4}",monitor="ProxyFetch",${svc}`)).toBe('1.0');
      // wikitech refused J3's depool (one more); upstream never refuses an admin depool, and J1's
      // monitor depool was allowed (reset restarted it: no refusal yet, so no child).
      const refused = sample('pybal_service_could_not_depool_total', svc);
      expect(mode === 'wikitech' ? Number(refused) - refusedBefore[i]! : refused).toBe(mode === 'wikitech' ? 1 : undefined);
    }
  });

  if (mode === 'upstream') {
    it('a wedged pool (the re-enable assert) is cleared by `lb LB restart` and by reset', async () => {
      const { lab } = q;
      await setPooled(J1, 'no', lab);
      await onEveryLb(J1, { enabled: false, pooled: false }, 10000, lab);
      await setPooled(J1, 'yes', lab);
      await onEveryLb(J1, { enabled: true, up: false, pooled: false }, 10000, lab);
      const [a] = lab.info.loadBalancers;
      await lab.lb(a!.name, 'restart');
      expect(await server(a!.url, J1)).toEqual({ enabled: true, up: true, pooled: true, weight: 10 });
      expect(await server(lab.info.loadBalancers[1]!.url, J1)).toMatchObject({ enabled: true, up: false, pooled: false });
    });
  }
});
