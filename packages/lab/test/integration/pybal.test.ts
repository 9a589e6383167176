import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { privateLab } from '@galley/lab/testing';
import { conftoolKey } from '@galley/lab';
import { labEtcd } from '../../src/etcd-client.js';
import { waitFor } from '../../src/procs.js';

// jest's testTimeout is a global option: the integration project's 60 s does not reach here.
jest.setTimeout(60000);

const DELAY = 400;
// Own lab: these tests depool servers and fail services, which would disturb other packages' tests.
const p = privateLab({ hosts: 12, ssh: false, lbs: 2, pybalDelayMs: DELAY });
const POOL = 'jobrunner-nginx_eqiad';
const JOBRUNNERS = ['mw1301.eqiad.wmnet', 'mw1302.eqiad.wmnet', 'mw1303.eqiad.wmnet', 'mw1304.eqiad.wmnet'];

async function setPooled(host: string, pooled: 'yes' | 'no' | 'inactive'): Promise<void> {
  const { lab } = p;
  const etcd = labEtcd(lab.info.etcd.endpoints);
  try {
    await etcd.put(conftoolKey(lab.info.namespace, { dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', name: host })).value(JSON.stringify({ pooled, weight: 10 }));
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
async function onEveryLb(host: string, want: Partial<ServerJson>, timeoutMs = 10000): Promise<number> {
  const start = Date.now();
  await waitFor(`${host} to be ${JSON.stringify(want)} on every LB`, async () => {
    const all = await Promise.all(p.lab.info.loadBalancers.map((lb) => server(lb.url, host)));
    return all.every((s) => Object.entries(want).every(([k, v]) => s[k as keyof ServerJson] === v)) ? true : undefined;
  }, { timeoutMs, intervalMs: 25 });
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
      expect(applied).toMatchObject({ lb: lb.name, key, rev, from: { enabled: true, pooled: true, up: true, weight: 10 }, to: { enabled: false, pooled: false, up: true, weight: 10 } });
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
      await etcd.put(conftoolKey(lab.info.namespace, { dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', name: host })).value(JSON.stringify({ pooled: 'no', weight: 10 }));
    } finally {
      etcd.close();
    }
    // Every LB polled from right after the put until it shows the change; each answer is stamped
    // with the time it arrived (the LB's state at some moment before that).
    const seen = await Promise.all(lab.info.loadBalancers.map(async (lb) => {
      const answers: { at: number; changed: boolean; applied: boolean }[] = [];
      while (Date.now() - t0 < DELAY + 5000) {
        const s = await server(lb.url, host);
        answers.push({ at: Date.now() - t0, changed: !s.enabled || !s.pooled, applied: !s.enabled && !s.pooled });
        if (answers.at(-1)!.applied) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      return { lb: lb.name, answers };
    }));
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
      expect(await get(`${lb.url}/pools/${POOL}/${host}`, false)).toEqual({ status: 200, body: 'disabled/up/not pooled\n', type: 'text/plain' });
      expect(await get(`${lb.url}/pools/${POOL}/${host}`, true)).toEqual({ status: 200, body: '{"pooled":false,"weight":10,"up":true,"enabled":false}', type: 'application/json' });
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
      expect(await get(`${lb.url}/alerts`, false)).toMatchObject({ status: 200, body: `CRITICAL - ${POOL}: Servers ${c!} are marked down but pooled` });
      expect(JSON.parse((await get(`${lb.url}/alerts`, true)).body)).toEqual({ status: 'critical', msg: `${POOL}: Servers ${c!} are marked down but pooled` });
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
    await waitFor(`${host} to leave ${POOL}`, async () => {
      const bodies = await Promise.all(lab.info.loadBalancers.map((lb) => get(`${lb.url}/pools/${POOL}`, true)));
      return bodies.every((b) => !(host in (JSON.parse(b.body) as object))) ? true : undefined;
    }, { timeoutMs: 10000 });
    for (const lb of lab.info.loadBalancers) {
      expect((await get(`${lb.url}/pools/${POOL}`, false)).body).not.toContain(host);
      expect(Object.keys(JSON.parse((await get(`${lb.url}/pools/${POOL}`, true)).body) as object)).toHaveLength(3);
      expect(await get(`${lb.url}/pools/${POOL}/${host}`, false)).toEqual({ status: 404, body: 'The desired url was not found', type: 'text/plain' });
      expect(await get(`${lb.url}/pools/${POOL}/${host}`, true)).toEqual({ status: 404, body: '{"error":"The desired url was not found"}', type: 'application/json' });
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
    await waitFor('lvsB to apply', async () => ((await server(lvsB!.url, host)).enabled ? true : undefined), { timeoutMs: 10000, intervalMs: 20 });
    expect((await server(lvsA!.url, host)).enabled).toBe(false);
    await waitFor('lvsA to apply', async () => ((await server(lvsA!.url, host)).enabled ? true : undefined), { timeoutMs: 15000, intervalMs: 20 });
    expect(Date.now() - t).toBeGreaterThanOrEqual(DELAY + 2000 - 100);
    await lab.lb(lvsA!.name, 'up');
  });
});
