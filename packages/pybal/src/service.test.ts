import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { PybalClient } from './client.js';
import type { LbServerView } from './parse.js';
import { renderStatus } from './render.js';
import { PybalService, type NodeLike } from './service.js';
import { FakePybal } from './testing/fake-server.js';
import { PybalTopology } from './topology.js';

const V = (enabled: boolean, up: boolean, pooled: boolean): LbServerView => ({ enabled, up, pooled, weight: 10 });
const node = (name: string, pooled: 'yes' | 'no' | 'inactive' = 'yes', service = 'nginx'): NodeLike => ({
  tags: { dc: 'eqiad', cluster: 'jobrunner', service, name },
  pooled,
  weight: 10,
});
const hosts = ['mw1001', 'mw1002', 'mw1003', 'mw1004', 'mw1005', 'mw1006'].map((h) => `${h}.eqiad.wmnet`);
const [h1, h2, h3, h4] = hosts as [string, string, string, string];

describe('PybalService against two fake LBs', () => {
  let a: FakePybal;
  let b: FakePybal;
  let client: PybalClient;
  let svc: PybalService;
  let lines: string[];

  beforeAll(async () => {
    [a, b] = await Promise.all([FakePybal.start('lvs1019'), FakePybal.start('lvs1020')]);
    // Generous per-request timeout: a loaded CI machine can stall loopback answers for a while.
    client = new PybalClient({ retries: 0, requestTimeoutMs: 3000, retryDelayMs: 5 });
  });
  afterAll(async () => {
    await client.close();
    await Promise.all([a.close(), b.close()]);
  });
  beforeEach(async () => {
    for (const f of [a, b]) {
      await f.up();
      f.mode = 'ok';
      f.requests.length = 0;
      f.onRequest = undefined;
      f.setAlerts(undefined);
      f.setPool('jobrunner_nginx', Object.fromEntries(hosts.map((h) => [h, V(true, true, true)])));
      f.setPool('jobrunner_php', Object.fromEntries(hosts.map((h) => [h, V(true, true, true)])));
    }
    const topology = new PybalTopology({
      loadBalancers: { lvs1019: { url: a.url }, lvs1020: { url: b.url } },
      pools: [
        { dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', pool: 'jobrunner_nginx', loadBalancers: ['lvs1019', 'lvs1020'] },
        {
          dc: 'eqiad',
          cluster: 'jobrunner',
          service: 'php-fpm',
          pool: 'jobrunner_php',
          loadBalancers: ['lvs1019', 'lvs1020'],
          depoolThreshold: 0.3,
        },
      ],
      defaultDepoolThreshold: 0.5,
    });
    lines = [];
    svc = new PybalService({ topology, client, verifyTimeoutMs: 600, log: (l) => lines.push(l) });
  });

  it('verifies a depool once every LB has applied it, polling each pool once per LB per round', async () => {
    a.set('jobrunner_nginx', h1, { enabled: false, pooled: false });
    setTimeout(() => b.set('jobrunner_nginx', h1, { enabled: false, pooled: false }), 400);
    const v = await svc.verifyDepooled([node(h1)], { timeoutMs: 3000 });
    expect(v.ok).toBe(true);
    expect(v.disagreements).toEqual([]);
    expect(v.rounds).toBeGreaterThan(2);
    expect(v.elapsedMs).toBeGreaterThanOrEqual(400);
    expect(v.elapsedMs).toBeLessThan(4000);
    expect(v.report).toMatch(/^verified mw1001\.eqiad\.wmnet depooled on lvs1019, lvs1020/);
    // An LB that already agreed is not asked again while the other catches up, only once more in
    // the confirming round that asks every LB at once.
    expect(a.requests).toHaveLength(2);
    expect(b.requests.length).toBeGreaterThan(2);
    expect(new Set(b.requests.map((r) => r.path))).toEqual(new Set(['/pools/jobrunner_nginx']));
  });

  it('does not verify a depool when the LB that agreed first has put the host back by the time the other agrees', async () => {
    a.set('jobrunner_nginx', h1, { enabled: false, pooled: false });
    setTimeout(() => {
      b.set('jobrunner_nginx', h1, { enabled: false, pooled: false });
      a.set('jobrunner_nginx', h1, { enabled: true, pooled: true });
    }, 300);
    const v = await svc.verifyDepooled([node(h1)], { timeoutMs: 1200 });
    expect(v.ok).toBe(false);
    expect(v.disagreements.map((d) => d.lb)).toEqual(['lvs1019']);
  });

  it('returns per pool and LB what each LB showed, how often it was asked, the rounds and the wait; poll settings come through with()', async () => {
    const fast = svc.with({ pollIntervalMs: 25, maxPollIntervalMs: 25 });
    expect([fast.pollIntervalMs, fast.maxPollIntervalMs, fast.verifyTimeoutMs]).toEqual([25, 25, 600]);
    a.set('jobrunner_nginx', h1, { enabled: false, pooled: false }).set('jobrunner_nginx', h2, { enabled: false, pooled: false });
    b.set('jobrunner_nginx', h2, { enabled: false, pooled: false });
    const times: number[] = [];
    b.onRequest = () => times.push(Date.now());
    setTimeout(() => b.set('jobrunner_nginx', h1, { enabled: false, pooled: false }), 300);
    const v = await fast.verifyDepooled([node(h1), node(h2)], { timeoutMs: 3000 });
    expect(v).toMatchObject({ ok: true, expected: 'depooled', hosts: [h1, h2], deadlineMs: 3000, disagreements: [] });
    const out = V(false, true, false);
    // The pool's numbers in each answer (6 servers, 2 of them out: 4 up and enabled, at least 3 needed).
    const capacity = { upEnabled: 4, total: 6, threshold: 0.5, below: false };
    expect(v.lbs).toEqual([
      // lvs1019 agreed at once: asked in the first round and in the confirming one only
      {
        pool: 'jobrunner_nginx',
        lb: 'lvs1019',
        ok: true,
        asked: 2,
        hosts: [
          { host: h1, seen: out, ok: true },
          { host: h2, seen: out, ok: true },
        ],
        capacity,
      },
      {
        pool: 'jobrunner_nginx',
        lb: 'lvs1020',
        ok: true,
        asked: v.rounds,
        hosts: [
          { host: h1, seen: out, ok: true },
          { host: h2, seen: out, ok: true },
        ],
        capacity,
      },
    ]);
    expect(a.requests).toHaveLength(2);
    expect(b.requests).toHaveLength(v.rounds);
    expect(v.elapsedMs).toBeGreaterThanOrEqual(300);
    expect(v.report).toBe(`verified ${h1}, ${h2} depooled on lvs1019, lvs1020 (${v.rounds} rounds, ${(v.elapsedMs / 1000).toFixed(1)} s)`);
    // a fixed 25 ms pause, not the default 50 ms growing 1.5× a round to 500 ms
    const gaps = times
      .slice(1)
      .map((t, i) => t - times[i]!)
      .sort((x, y) => x - y);
    expect(gaps.length).toBeGreaterThanOrEqual(5);
    expect(gaps[Math.floor(gaps.length / 2)]!).toBeLessThan(60);
  });

  it('an LB that flips back during the confirming round is not verified; the verdict is a round in which every LB agreed', async () => {
    const fast = svc.with({ pollIntervalMs: 25, maxPollIntervalMs: 25 });
    const OUT = { enabled: false, pooled: false };
    const IN = { enabled: true, pooled: true };
    // Round 1: lvs1019 out, lvs1020 in. Round 2 (lvs1020 only): out. Round 3 confirms with both:
    // lvs1019 has put the host back just then, and keeps it back.
    a.set('jobrunner_nginx', h1, OUT);
    a.onRequest = (_p, n) => void (n === 2 && a.set('jobrunner_nginx', h1, IN));
    b.onRequest = (_p, n) => void (n === 2 && b.set('jobrunner_nginx', h1, OUT));
    const v = await fast.verifyDepooled([node(h1)], { timeoutMs: 500 });
    expect(v.ok).toBe(false);
    expect(v.lbs.map((l) => [l.lb, l.ok, l.hosts[0]!.seen])).toEqual([
      ['lvs1019', false, V(true, true, true)],
      ['lvs1020', true, V(false, true, false)],
    ]);
    // lvs1020 agreed in round 2 and in the confirming round 3, then was not asked again
    expect(v.lbs[1]!.asked).toBe(3);
    expect(v.lbs[0]!.asked).toBe(v.rounds - 1);
    expect(v.disagreements).toEqual([
      {
        lb: 'lvs1019',
        pool: 'jobrunner_nginx',
        host: h1,
        expected: 'depooled',
        saw: V(true, true, true),
        why: expect.stringContaining('(lvs1020 already did: lvs1019 is lagging)'),
      },
    ]);
    expect(v.report.split('\n')).toEqual([
      `PyBal verification failed: not depooled on lvs1019 (lvs1020 agreed) within the 500 ms deadline (waited ${(v.elapsedMs / 1000).toFixed(1)} s):`,
      `  - lvs1019 still has ${h1} enabled and pooled in pool jobrunner_nginx: it has not applied the conftool change (lvs1020 already did: lvs1019 is lagging) [lvs1019 says enabled/up/pooled]`,
    ]);

    // The same flip-back, but lvs1019 takes the host out again at its next answer: a second
    // confirming round (both LBs asked once more) is the verdict.
    for (const f of [a, b]) f.requests.length = 0;
    a.set('jobrunner_nginx', h1, OUT);
    b.set('jobrunner_nginx', h1, IN);
    a.onRequest = (_p, n) => void (n === 2 ? a.set('jobrunner_nginx', h1, IN) : n === 3 && a.set('jobrunner_nginx', h1, OUT));
    const w = await fast.verifyDepooled([node(h1)], { timeoutMs: 2000 });
    expect(w).toMatchObject({ ok: true, rounds: 5 });
    expect(w.lbs.map((l) => [l.lb, l.asked])).toEqual([
      ['lvs1019', 4],
      ['lvs1020', 4],
    ]);
  });

  it('an LB that fails one answer is asked again the next round; one that keeps failing is named with its error', async () => {
    const fast = svc.with({ pollIntervalMs: 25, maxPollIntervalMs: 25 });
    for (const f of [a, b]) f.set('jobrunner_nginx', h1, { enabled: false, pooled: false });
    b.failNext(500);
    const v = await fast.verifyDepooled([node(h1)], { timeoutMs: 2000 });
    expect(v).toMatchObject({ ok: true });
    // no retry inside a round: the failed answer is round 1, then round 2 and the confirming round 3
    expect(b.requests).toHaveLength(3);
    expect(v.lbs[1]).toMatchObject({ lb: 'lvs1020', ok: true, asked: 3 });

    b.mode = 'error';
    const w = await fast.verifyDepooled([node(h1)], { timeoutMs: 300 });
    expect(w.ok).toBe(false);
    const error = expect.stringMatching(/^load balancer lvs1020 answered HTTP 500 for http:\/\/127\.0\.0\.1:\d+\/pools\/jobrunner_nginx/);
    expect(w.lbs[1]).toEqual({
      pool: 'jobrunner_nginx',
      lb: 'lvs1020',
      ok: false,
      error,
      asked: w.rounds,
      hosts: [{ host: h1, seen: { error }, ok: false, why: error }],
    });
    expect(w.lbs[0]).toMatchObject({ lb: 'lvs1019', ok: true, asked: 1 });
    expect(w.report).toMatch(
      /^PyBal verification failed: not depooled on lvs1020 \(lvs1019 agreed\) within the 300 ms deadline \(waited \d+\.\d s\):\n {2}- lvs1020 gave no usable answer for pool jobrunner_nginx \(mw1001\.eqiad\.wmnet\): load balancer lvs1020 answered HTTP 500/,
    );
    expect(w.elapsedMs).toBeGreaterThanOrEqual(300);
  });

  it('times out naming the lagging LB, what it said and that the other LB already applied it', async () => {
    a.set('jobrunner_nginx', h1, { enabled: false, pooled: false });
    const v = await svc.verifyDepooled([node(h1)]);
    expect(v.ok).toBe(false);
    expect(v.elapsedMs).toBeGreaterThanOrEqual(600);
    expect(v.disagreements).toEqual([
      {
        lb: 'lvs1020',
        pool: 'jobrunner_nginx',
        host: h1,
        expected: 'depooled',
        saw: V(true, true, true),
        why: expect.stringContaining('lvs1019 already did: lvs1020 is lagging'),
      },
    ]);
    // the headline names the LB that failed, not every LB asked, and the deadline against the real wait
    expect(v.report).toContain(
      `PyBal verification failed: not depooled on lvs1020 (lvs1019 agreed) within the 600 ms deadline (waited ${(v.elapsedMs / 1000).toFixed(1)} s):`,
    );
    expect(v).toMatchObject({ deadlineMs: 600, expected: 'depooled', hosts: [h1] });
    expect(v.report).toContain('lvs1020 still has mw1001.eqiad.wmnet enabled and pooled in pool jobrunner_nginx');
  });

  it('reports a depool kept by the threshold with the LB and the numbers', async () => {
    // 2 already out, 1 down: the pool of 6 is at 0.5 and the LBs keep h1 pooled.
    for (const f of [a, b]) {
      f.set('jobrunner_nginx', h2, { enabled: false, pooled: false })
        .set('jobrunner_nginx', h3, { enabled: false, pooled: false })
        .set('jobrunner_nginx', h4, { up: false, pooled: true });
    }
    a.set('jobrunner_nginx', h1, { enabled: false, pooled: false });
    b.set('jobrunner_nginx', h1, { enabled: false, pooled: true });
    const v = await svc.verifyDepooled([node(h1)], { timeoutMs: 300 });
    expect(v.ok).toBe(false);
    expect(v.disagreements).toHaveLength(1);
    expect(v.disagreements[0]!.why).toBe(
      'lvs1020 keeps mw1001.eqiad.wmnet pooled: pool jobrunner_nginx is at its depool threshold 0.5 (2 of 6 up and enabled, 3 needed)',
    );
    expect(v.report).toContain('[lvs1020 says disabled/up/pooled]');
  });

  it.each([
    [
      'down',
      /lvs1020 gave no usable answer for pool jobrunner_nginx \(mw1001\.eqiad\.wmnet, mw1002\.eqiad\.wmnet\): load balancer lvs1020 unreachable at http:\/\/127\.0\.0\.1:\d+\/pools\/jobrunner_nginx: connection refused/,
    ],
    [
      'error',
      /lvs1020 gave no usable answer for pool jobrunner_nginx .*: load balancer lvs1020 answered HTTP 500 for http:\/\/127\.0\.0\.1:\d+\/pools\/jobrunner_nginx/,
    ],
  ])('times out with a clear report when one LB is %s', async (mode, msg) => {
    a.set('jobrunner_nginx', h1, { enabled: false, pooled: false }).set('jobrunner_nginx', h2, { enabled: false, pooled: false });
    if (mode === 'down') await b.down();
    else b.mode = 'error';
    const v = await svc.verifyDepooled([node(h1), node(h2)], { timeoutMs: 300 });
    expect(v.ok).toBe(false);
    expect(v.disagreements.map((d) => [d.lb, d.host])).toEqual([
      ['lvs1020', h1],
      ['lvs1020', h2],
    ]);
    expect(v.disagreements[0]!.saw).toHaveProperty('error');
    expect(v.report).toMatch(msg);
    // one line per LB and pool, not per host
    expect(v.report.split('\n')).toHaveLength(2);
  });

  it('verifies a repool only when enabled and pooled, and says when health checks keep it out', async () => {
    for (const f of [a, b])
      f.set('jobrunner_nginx', h1, { enabled: true, up: false, pooled: false }).set('jobrunner_php', h1, {
        enabled: true,
        up: true,
        pooled: true,
      });
    const v = await svc.verifyPooled([node(h1), node(h1, 'yes', 'php-fpm')], { timeoutMs: 300 });
    expect(v.ok).toBe(false);
    expect(v.disagreements.map((d) => `${d.lb} ${d.pool}`).sort()).toEqual(['lvs1019 jobrunner_nginx', 'lvs1020 jobrunner_nginx']);
    expect(v.disagreements[0]!.why).toContain('enabled but down in pool jobrunner_nginx: its health checks fail');
    for (const f of [a, b]) f.set('jobrunner_nginx', h1, { up: true, pooled: true });
    expect((await svc.verifyPooled([node(h1), node(h1, 'yes', 'php-fpm')])).ok).toBe(true);
  });

  it('verifies weight 0 (drain=weight) once every LB pools the host at weight 0 or not at all, naming the LB that still gives it weight', async () => {
    a.set('jobrunner_nginx', h1, { weight: 0 });
    const v = await svc.verifyWeightZero([node(h1)], { timeoutMs: 300 });
    expect([v.ok, v.expected]).toEqual([false, 'at weight 0']);
    expect(v.disagreements.map((d) => [d.lb, d.why])).toEqual([
      [
        'lvs1020',
        'lvs1020 still has mw1001.eqiad.wmnet pooled at weight 10 in pool jobrunner_nginx: it has not applied the conftool change (lvs1019 already did: lvs1020 is lagging)',
      ],
    ]);
    expect(v.report).toMatch(/^PyBal verification failed: not at weight 0 on lvs1020/);
    // not pooled on an LB: no new connections either
    b.set('jobrunner_nginx', h1, { pooled: false });
    expect((await svc.verifyWeightZero([node(h1)], { timeoutMs: 300 })).ok).toBe(true);
    b.set('jobrunner_nginx', h1, { pooled: true, weight: 0 });
    expect((await svc.verifyWeightZero([node(h1)], { timeoutMs: 300 })).ok).toBe(true);
  });

  it('does not take "enabled but not pooled" (host down, LB has not applied the depool) as out', async () => {
    // Both LBs still have h1 enabled; it is not pooled only because its health checks fail.
    for (const f of [a, b]) f.set('jobrunner_nginx', h1, { enabled: true, up: false, pooled: false });
    const v = await svc.verifyDepooled([node(h1, 'no')], { timeoutMs: 300 });
    expect(v.ok).toBe(false);
    expect(v.disagreements.map((d) => [d.lb, d.host, d.saw])).toEqual([
      ['lvs1019', h1, V(true, false, false)],
      ['lvs1020', h1, V(true, false, false)],
    ]);
    expect(v.report).toContain(
      'lvs1019 still has mw1001.eqiad.wmnet enabled in pool jobrunner_nginx (not pooled only because its health checks fail): it has not applied the conftool change',
    );
    // ...and that it is not out: PyBal pools it again the moment it is up
    expect(v.report).toContain('and pools it again once the host is up');
    expect(v.lbs.every((l) => !l.ok && l.hosts[0]!.seen !== null)).toBe(true);
    // Once one LB disables it, that LB is done and the other is named as lagging; then both pass.
    a.set('jobrunner_nginx', h1, { enabled: false });
    const half = await svc.verifyDepooled([node(h1, 'no')], { timeoutMs: 300 });
    expect(half.disagreements.map((d) => d.lb)).toEqual(['lvs1020']);
    expect(half.disagreements[0]!.why).toContain('(lvs1019 already did: lvs1020 is lagging)');
    b.set('jobrunner_nginx', h1, { enabled: false });
    expect((await svc.verifyDepooled([node(h1, 'no')], { timeoutMs: 300 })).ok).toBe(true);
    // Not listed at all (inactive applied) is out too.
    for (const f of [a, b]) f.remove('jobrunner_nginx', h1);
    expect((await svc.verifyDepooled([node(h1, 'inactive')], { timeoutMs: 300 })).ok).toBe(true);
  });

  it('does not verify a repool of a host PyBal keeps pooled while down, unless requireUp is false', async () => {
    // h2–h4 out, h1 down: the pool of 6 at 0.5 needs 3 up and enabled, so the LBs force-pool h1.
    for (const f of [a, b]) {
      for (const h of [h2, h3, h4]) f.set('jobrunner_nginx', h, { enabled: false, pooled: false });
      f.set('jobrunner_nginx', h1, { enabled: true, up: false, pooled: true });
    }
    const v = await svc.verifyPooled([node(h1)], { timeoutMs: 300 });
    expect(v.ok).toBe(false);
    expect(v.disagreements.map((d) => [d.lb, d.host, d.saw])).toEqual([
      ['lvs1019', h1, V(true, false, true)],
      ['lvs1020', h1, V(true, false, true)],
    ]);
    expect(v.report).toContain(
      'lvs1020 has mw1001.eqiad.wmnet enabled but down in pool jobrunner_nginx: its health checks fail, and PyBal keeps it pooled only to stay above the depool threshold 0.5 (2 of 6 up and enabled, 3 needed)',
    );
    expect((await svc.verifyPooled([node(h1)], { timeoutMs: 300, requireUp: false })).ok).toBe(true);
  });

  it('in dry-run reads once and reports "would verify" instead of polling to a timeout', async () => {
    const dry = svc.with({ dryRun: true });
    const v = await dry.verifyDepooled([node(h1)], { timeoutMs: 5000 });
    expect(v).toMatchObject({ ok: true, dryRun: true, rounds: 1, disagreements: [] });
    // what each LB shows now is in the structured result, not only in the text
    expect(v.lbs.map((l) => [l.lb, l.ok, l.hosts[0]!.seen])).toEqual([
      ['lvs1019', false, V(true, true, true)],
      ['lvs1020', false, V(true, true, true)],
    ]);
    expect(v.report).toBe(
      'DRY-RUN: would verify mw1001.eqiad.wmnet depooled on lvs1019, lvs1020 (now: lvs1019: mw1001.eqiad.wmnet enabled/up/pooled; lvs1020: mw1001.eqiad.wmnet enabled/up/pooled)',
    );
    expect(a.requests).toHaveLength(1);
    expect(b.requests).toHaveLength(1);
    expect(svc.dryRun).toBe(false);
  });

  it('stops polling when the caller aborts and says so', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    const v = await svc.verifyDepooled([node(h1)], { timeoutMs: 10000, signal: ac.signal });
    expect(v).toMatchObject({ ok: false, aborted: true });
    expect(v.elapsedMs).toBeLessThan(5000); // the deadline was 10 s
    expect(v.report).toMatch(/^PyBal verification interrupted/);
  });

  it('lists nodes without a configured pool as not verified', async () => {
    const v = await svc.verifyDepooled([node(h1, 'yes', 'memcached')]);
    expect(v).toMatchObject({ ok: true, rounds: 0, lbs: [], unmapped: [`eqiad/jobrunner/memcached/${h1}`] });
    expect(v.report).toContain('not verified (no PyBal pool configured)');
    expect(lines.join('\n')).toContain('map to no pool');
  });

  it('computes capacity per LB, worst case across LBs, unreachable LB counting as 0', async () => {
    const pool = svc.topology.poolFor('eqiad', 'jobrunner', 'nginx')!;
    a.set('jobrunner_nginx', h1, { enabled: false, pooled: false });
    b.set('jobrunner_nginx', h1, { enabled: false, pooled: false }).set('jobrunner_nginx', h2, { up: false, pooled: false });
    const c = await svc.capacity(pool);
    expect(c).toEqual({
      pool: 'jobrunner_nginx',
      canTakeOut: 1,
      perLb: [
        { lb: 'lvs1019', total: 6, upEnabled: 5, pooled: 5, threshold: 0.5, canTakeOut: 2 },
        { lb: 'lvs1020', total: 6, upEnabled: 4, pooled: 4, threshold: 0.5, canTakeOut: 1 },
      ],
    });
    await a.down();
    const c2 = await svc.capacity(pool);
    expect(c2.canTakeOut).toBe(0);
    expect(c2.perLb[0]).toMatchObject({
      lb: 'lvs1019',
      canTakeOut: 0,
      error: expect.stringMatching(
        /^load balancer lvs1019 unreachable at http:\/\/127\.0\.0\.1:\d+\/pools\/jobrunner_nginx: connection (refused|reset)/,
      ),
    });
  });

  it('compares conftool with every LB and flags lagging, kept-pooled, pooled-down, missing and inactive-listed', async () => {
    b.set('jobrunner_nginx', h1, { enabled: false, pooled: false }); // conftool yes, lvs1020 lagging
    for (const f of [a, b]) f.set('jobrunner_nginx', h2, { enabled: false, pooled: true }); // conftool no, kept
    for (const f of [a, b]) f.set('jobrunner_nginx', h3, { up: false, pooled: true }); // pooled down
    a.remove('jobrunner_nginx', h4); // missing on lvs1019; conftool inactive → fine there, listed on lvs1020
    b.remove('jobrunner_nginx', hosts[5]!); // conftool yes, lvs1020 does not list it
    const rows = await svc.compare([node(h1), node(h2, 'no'), node(h3), node(h4, 'inactive'), node(hosts[4]!), node(hosts[5]!)]);
    const kinds = rows.map((r) => r.flags.map((f) => `${f.kind}@${f.lb ?? ''}`));
    expect(kinds).toEqual([
      ['lagging@lvs1020'],
      ['kept-pooled@lvs1019', 'kept-pooled@lvs1020'],
      ['pooled-down@lvs1019', 'pooled-down@lvs1020'],
      ['listed-while-inactive@lvs1020'],
      [],
      ['missing-on-lb@lvs1020'],
    ]);
    expect(rows[5]!.flags[0]!.message).toBe('lvs1020 does not list mw1006.eqiad.wmnet in pool jobrunner_nginx');
    expect(rows[5]!.lbs).toEqual([
      { lb: 'lvs1019', view: V(true, true, true) },
      { lb: 'lvs1020', view: null },
    ]);
    expect(rows[1]!.flags[0]!.message).toContain('lvs1019 keeps mw1002.eqiad.wmnet pooled');
    expect(rows[0]!.lbs).toEqual([
      { lb: 'lvs1019', view: V(true, true, true) },
      { lb: 'lvs1020', view: V(false, true, false) },
    ]);
  });

  it('builds the status report (rows, capacity, alerts, servers unknown to conftool) and renders it', async () => {
    for (const f of [a, b]) f.set('jobrunner_nginx', 'mw9999.eqiad.wmnet', V(true, true, true));
    a.set('jobrunner_nginx', h3, { up: false });
    b.mode = 'error';
    const nodes = [...hosts.map((h) => node(h)), node(h1, 'yes', 'php-fpm')];
    const report = await svc.status(nodes);
    expect(report.pools.map((x) => x.pool.pool)).toEqual(['jobrunner_nginx', 'jobrunner_php']);
    // lvs1019's alert is about the nginx pool only; the php pool shows ok for it.
    expect(report.alerts[0]).toEqual({
      lb: 'lvs1019',
      status: 'critical',
      msg: 'jobrunner_nginx: Servers mw1003.eqiad.wmnet are marked down but pooled',
    });
    expect(report.pools[1]!.alerts[0]).toEqual({ lb: 'lvs1019', status: 'ok', msg: '' });
    const p = report.pools[0]!;
    expect(p.rows).toHaveLength(6);
    expect(p.extraOnLb).toEqual([{ lb: 'lvs1019', host: 'mw9999.eqiad.wmnet', view: V(true, true, true) }]);
    expect(p.alerts[0]).toEqual({
      lb: 'lvs1019',
      status: 'critical',
      msg: 'jobrunner_nginx: Servers mw1003.eqiad.wmnet are marked down but pooled',
    });
    expect(p.alerts[1]).toMatchObject({ lb: 'lvs1020', error: expect.stringContaining('HTTP 500') });
    expect(p.capacity.canTakeOut).toBe(0);
    expect(p.capacity.perLb[0]).toMatchObject({ total: 7, upEnabled: 6, canTakeOut: 2 });
    const text = renderStatus(report);
    expect(text).toContain('pool jobrunner_nginx (eqiad/jobrunner/nginx), depool threshold 0.5');
    expect(text).toMatch(/mw1003\.eqiad\.wmnet\s+yes\/10\s+enabled\/down\/pooled\s+ERROR\s+pooled-down@lvs1019,lb-error@lvs1020/);
    expect(text).toContain('! lvs1019 lists mw9999.eqiad.wmnet (enabled/up/pooled) which conftool does not have as yes/no');
    expect(text).toContain('capacity: can take out 0 more (lvs1019: 6/7 up+enabled, 7 pooled, can take out 2; lvs1020: unknown');
    expect(text).toContain('  alerts lvs1019: CRITICAL - jobrunner_nginx: Servers mw1003.eqiad.wmnet are marked down but pooled');
    expect(text).toContain(
      'alerts (all pools of each LB): lvs1019 CRITICAL - jobrunner_nginx: Servers mw1003.eqiad.wmnet are marked down but pooled; lvs1020 unknown (load balancer lvs1020 answered HTTP 500',
    );
    expect(text.match(/alerts lvs1019/g)).toHaveLength(1);
  });

  it('rejects a config naming a load balancer without a URL, listing every problem', () => {
    expect(
      () =>
        new PybalTopology({
          loadBalancers: { lvs1019: { url: 'http://x:9090' } },
          pools: [
            { dc: 'eqiad', cluster: 'c', service: 's', pool: 'p', loadBalancers: ['lvs1019', 'lvs1021'] },
            { dc: 'eqiad', cluster: 'c', service: 't', pool: 'q', loadBalancers: ['lvs1022'] },
          ],
        }),
    ).toThrow(expect.objectContaining({ code: 'ERR_PYBAL_CONFIG_INVALID', message: expect.stringMatching(/lvs1021[\s\S]*lvs1022/) }));
  });
});

describe('PybalService.assertVerified', () => {
  it('passes a verified result and throws ERR_PYBAL_NOT_VERIFIED carrying the report otherwise', () => {
    const base = { expected: 'depooled' as const, hosts: ['h'], lbs: [], rounds: 3, elapsedMs: 1000, deadlineMs: 1000, unmapped: [] };
    expect(() => PybalService.assertVerified({ ...base, ok: true, disagreements: [], report: 'verified' })).not.toThrow();
    const d = { lb: 'lvs1020', pool: 'p', host: 'h', expected: 'depooled' as const, saw: null, why: 'lagging' };
    expect(() => PybalService.assertVerified({ ...base, ok: false, disagreements: [d], report: 'lvs1020 is lagging' })).toThrow(
      expect.objectContaining({
        code: 'ERR_PYBAL_NOT_VERIFIED',
        message: 'lvs1020 is lagging',
        details: expect.objectContaining({ disagreements: [d] }),
      }),
    );
  });
});
