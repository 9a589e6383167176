// sre.lb.* through the built `cookbook` binary against the shared lab, with a watcher on etcd and
// on every PyBal simulator. eqiad jobrunner: mw1301–mw1304, all pooled=yes; eqiad appserver:
// mw1001–mw1003 yes, mw1004 no; codfw appserver mw2002 inactive. 2 LBs, threshold 0.5, PyBal
// delay ~200 ms, restarts take 300 ms per unit.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Lab } from '@galley/lab';
import { sharedLab } from '@galley/lab/testing';
import { cookbook, etcdPut, etcdRange, outputOf, poolsPrefix, restartTimes, settled, Watcher } from './lb-helpers.js';

jest.setTimeout(120_000);

const J = ['mw1301', 'mw1302', 'mw1303', 'mw1304'].map((h) => `${h}.eqiad.wmnet`);
const A = ['mw1001', 'mw1002', 'mw1003', 'mw1004'].map((h) => `${h}.eqiad.wmnet`);
let lab: Lab;

beforeAll(async () => {
  lab = await sharedLab();
});
afterEach(async () => {
  await lab.reset();
});

async function pooled(dc: string, cluster: string): Promise<Record<string, string>> {
  const { kvs } = await etcdRange(lab, poolsPrefix(lab, dc, cluster));
  return Object.fromEntries(
    [...kvs].map(([k, v]) => [k.split('/').slice(-2).join('/'), (JSON.parse(v.value) as { pooled: string }).pooled]),
  );
}

async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

const phaseTimes = (events: { type: string; ts?: string; host?: unknown; phase?: unknown }[], phase: string): Map<string, number> =>
  new Map(events.filter((e) => e.type === 'host-phase' && e.phase === phase).map((e) => [String(e.host), Date.parse(e.ts!)]));

describe('sre.lb.rolling-restart', () => {
  it('restarts the cluster in batches; the watchers see no more than a batch out, no action before every LB has a host out, no host done before every LB has it back', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const w = new Watcher(lab, 'eqiad', 'jobrunner');
    await w.start();
    const since = Date.now();
    const r = await cookbook(lab, [
      '--output',
      'json',
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=2',
      'sleep=0',
      'reason=e2e rolling restart',
    ]);
    await w.stop();
    expect(r.code).toBe(0);
    expect(outputOf(r)).toMatchObject({ status: 'succeeded', succeeded: J, failed: [], notAttempted: [] });
    expect(w.maxDepooled).toBe(2);
    expect([...w.nonYesWritten]).toEqual([]);
    expect(Object.values(await pooled('eqiad', 'jobrunner')).every((p) => p === 'yes')).toBe(true);
    const done = phaseTimes(r.events, 'done');
    for (const host of J) {
      const restarts = await restartTimes(lab, host, since);
      expect(restarts.map((x) => x.units)).toEqual(['nginx php-fpm']);
      // while the restart runs (two units of 300 ms each), every LB sample has the host out
      const during = w.views(host, restarts[0]!.t, restarts[0]!.t + 500);
      expect(during.length).toBeGreaterThan(0);
      expect(during.filter((v) => v.pooled)).toEqual([]);
      // from the moment it is reported done, every LB sample has it pooled, enabled and up
      const after = w.views(host, done.get(host)! + 20, Date.now());
      expect(after.filter((v) => !(v.pooled && v.enabled && v.up))).toEqual([]);
    }
    // events for --output json
    const types = new Set(r.events.map((e) => e.type));
    for (const t of ['batch-planned', 'batch-started', 'host-phase', 'verification', 'batch-done', 'capacity']) expect(types).toContain(t);
  });

  it('never writes objects that were no or inactive, and still restarts those hosts (appserver: mw1004 is pooled=no)', async () => {
    await settled(lab, 'eqiad', 'appserver');
    const w = new Watcher(lab, 'eqiad', 'appserver');
    await w.start();
    const since = Date.now();
    const r = await cookbook(lab, [
      'sre.lb.rolling-restart',
      'cluster=appserver',
      'dc=eqiad',
      'batch=1',
      'sleep=0',
      'reason=e2e no/inactive',
    ]);
    await w.stop();
    expect(r.code).toBe(0);
    expect([...w.nonYesWritten]).toEqual([]);
    expect(w.maxDepooled).toBe(1);
    expect((await pooled('eqiad', 'appserver'))['nginx/mw1004.eqiad.wmnet']).toBe('no');
    const restarts = await restartTimes(lab, 'mw1004.eqiad.wmnet', since);
    expect(restarts).toHaveLength(1);
    // nothing was depooled on mw1004, yet every LB sample during its restart has it out
    const during = w.views('mw1004.eqiad.wmnet', restarts[0]!.t, restarts[0]!.t + 500);
    expect(during.length).toBeGreaterThan(0);
    expect(during.filter((v) => v.pooled || v.enabled)).toEqual([]);
    expect(r.stdout + r.stderr).toMatch(/All hosts done: 4 succeeded/);
  });

  it('an inactive object and a host with a yes and a no object in the selected cluster: neither is ever written (mod revisions unchanged), the yes one is depooled and repooled', async () => {
    // eqiad jobrunner: mw1303 nginx=no (php-fpm stays yes), mw1304 php-fpm=inactive (nginx stays yes)
    const prefix = poolsPrefix(lab, 'eqiad', 'jobrunner');
    const noKey = `${prefix}nginx/${J[2]}`;
    const inactiveKey = `${prefix}php-fpm/${J[3]}`;
    await etcdPut(lab, noKey, JSON.stringify({ pooled: 'no', weight: 10 }));
    await etcdPut(lab, inactiveKey, JSON.stringify({ pooled: 'inactive', weight: 10 }));
    await settled(lab, 'eqiad', 'jobrunner');
    const before = await etcdRange(lab, prefix);
    const w = new Watcher(lab, 'eqiad', 'jobrunner');
    await w.start();
    const since = Date.now();
    const r = await cookbook(lab, [
      '--output',
      'json',
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=1',
      'sleep=0',
      'reason=e2e inactive and mixed',
    ]);
    await w.stop();
    expect(r.code).toBe(0);
    expect(outputOf(r)).toMatchObject({ status: 'succeeded', succeeded: J, failed: [] });
    expect([...w.nonYesWritten]).toEqual([]);
    expect(w.maxDepooled).toBe(1);
    const after = await etcdRange(lab, prefix);
    for (const k of [noKey, inactiveKey]) {
      expect(after.kvs.get(k)!.modRevision).toBe(before.kvs.get(k)!.modRevision);
      expect(after.kvs.get(k)!.value).toBe(before.kvs.get(k)!.value);
    }
    // the other object of each of those hosts was yes: depooled and repooled (written), and is yes again
    for (const k of [`${prefix}php-fpm/${J[2]}`, `${prefix}nginx/${J[3]}`]) {
      expect(after.kvs.get(k)!.modRevision).toBeGreaterThan(before.kvs.get(k)!.modRevision);
      expect((JSON.parse(after.kvs.get(k)!.value) as { pooled: string }).pooled).toBe('yes');
    }
    // nor does the run's record of its changes name them
    const changes = r.events.filter((e) => e.type === 'change').map((e) => JSON.stringify(e));
    expect(changes.filter((c) => c.includes(`php-fpm/${J[2]}`))).toHaveLength(2);
    expect(changes.filter((c) => c.includes(`nginx/${J[2]}`) || c.includes(`php-fpm/${J[3]}`))).toEqual([]);
    for (const h of J) expect(await restartTimes(lab, h, since)).toHaveLength(1);
  });

  it('a failing restart leaves that host depooled, reported and counted; exit 1', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    await lab.failService('mw1302.eqiad.wmnet', 'nginx', 'restart');
    const since = Date.now();
    const r = await cookbook(lab, [
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=1',
      'sleep=0',
      'reason=e2e failing restart',
    ]);
    expect(r.code).toBe(1);
    const text = r.stdout + r.stderr;
    expect(text).toMatch(/FAILED: 1 succeeded, 1 failed, 0 stopped mid-way, 2 not attempted \(1 failed batch/);
    expect(text).toMatch(
      /Failed, STILL DEPOOLED: mw1302\.eqiad\.wmnet \(eqiad\/jobrunner\/nginx\/mw1302\.eqiad\.wmnet, eqiad\/jobrunner\/php-fpm\/mw1302\.eqiad\.wmnet\): action failed/,
    );
    const now = await pooled('eqiad', 'jobrunner');
    expect(now['nginx/mw1302.eqiad.wmnet']).toBe('no');
    expect(now['php-fpm/mw1302.eqiad.wmnet']).toBe('no');
    expect(now['nginx/mw1303.eqiad.wmnet']).toBe('yes');
    expect(await restartTimes(lab, 'mw1303.eqiad.wmnet', since)).toEqual([]);
  });

  it('max-failed-batches=1 goes past one failed batch and stops at the second', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    await lab.failService('mw1301.eqiad.wmnet', 'nginx', 'restart');
    await lab.failService('mw1303.eqiad.wmnet', 'nginx', 'restart');
    const r = await cookbook(lab, [
      '--output',
      'json',
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=1',
      'sleep=0',
      'max-failed-batches=1',
      'reason=e2e max failed',
    ]);
    expect(r.code).toBe(1);
    // batch size 1 with mw1301 left out: the budget is used up, so the run stops rather than exceed it
    expect(outputOf(r)).toMatchObject({
      failedBatches: 1,
      succeeded: [],
      failed: [expect.objectContaining({ host: J[0], stillDepooled: true })],
    });
    expect(String(outputOf(r)!.stopReason)).toMatch(/still depooled after failures/);
    const r2 = await (async () => {
      await lab.reset();
      await settled(lab, 'eqiad', 'jobrunner');
      await lab.failService('mw1301.eqiad.wmnet', 'nginx', 'restart');
      await lab.failService('mw1303.eqiad.wmnet', 'nginx', 'restart');
      return cookbook(lab, [
        '--output',
        'json',
        'sre.lb.rolling-restart',
        'cluster=jobrunner',
        'dc=eqiad',
        'batch=2',
        'sleep=0',
        'max-failed-batches=1',
        'reason=e2e max failed',
      ]);
    })();
    expect(r2.code).toBe(1);
    expect(outputOf(r2)).toMatchObject({ failedBatches: 2, succeeded: [J[1]] });
    expect((outputOf(r2)!.failed as { host: string }[]).map((f) => f.host)).toEqual([J[0], J[2]]);
    expect(outputOf(r2)!.notAttempted).toEqual([J[3]]);
  });

  it('an LB that is down: refused before any change (etcd revision unchanged)', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    await lab.lb('lvs1020', 'down');
    const before = await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'jobrunner'));
    const r = await cookbook(lab, ['sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'sleep=0', 'reason=e2e lb down']);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/REFUSED.*\n.*capacity of pool jobrunner-(nginx|php-fpm)_eqiad is unknown \(lvs1020/);
    const after = await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'jobrunner'));
    expect([...after.kvs].map(([k, v]) => [k, v.modRevision])).toEqual([...before.kvs].map(([k, v]) => [k, v.modRevision]));
  });

  it('an LB that lags past the deadline: no action, the batch is put back, exit 1', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    await lab.lb('lvs1019', 'lag', 5000);
    const since = Date.now();
    const r = await cookbook(lab, [
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=1',
      'sleep=0',
      'verify-timeout=2s',
      'reason=e2e lb lag',
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/Failed, back as it was: mw1301\.eqiad\.wmnet: depool not verified on every LB/);
    expect(await restartTimes(lab, 'mw1301.eqiad.wmnet', since)).toEqual([]);
    expect(Object.values(await pooled('eqiad', 'jobrunner')).every((p) => p === 'yes')).toBe(true);
  });

  it('a host with nothing to depool (all `no`) that PyBal still keeps pooled is not restarted: every LB is asked first; exit 1, nothing written', async () => {
    await settled(lab, 'eqiad', 'appserver');
    // eqiad appserver nginx: mw1004 pooled (sre.lb.pool), then mw1001 and mw1002 go down, then
    // someone sets mw1004 to pooled=no by hand: PyBal cannot depool it without breaching the
    // threshold (1 up and enabled < 4 × 0.5), so it stays pooled, disabled.
    expect((await cookbook(lab, ['sre.lb.pool', `host=${A[3]}`, 'service=nginx'])).code).toBe(0);
    await lab.failService(A[0]!, 'nginx', 'down');
    await lab.failService(A[1]!, 'nginx', 'down');
    const pool = lab.info.pools.find((p) => p.dc === 'eqiad' && p.cluster === 'appserver' && p.service === 'nginx')!.pool;
    const views = async (): Promise<Record<string, { pooled: boolean; enabled: boolean; up: boolean }>[]> =>
      Promise.all(
        lab.info.loadBalancers.map(
          async (lb) =>
            (await (await fetch(`${lb.url}/pools/${pool}`, { headers: { accept: 'application/json' } })).json()) as Record<
              string,
              { pooled: boolean; enabled: boolean; up: boolean }
            >,
        ),
      );
    await until('every LB has mw1001 and mw1002 down and out', async () =>
      (await views()).every((v) => [A[0]!, A[1]!].every((h) => !v[h]?.up && !v[h]?.pooled)),
    );
    const key = `${poolsPrefix(lab, 'eqiad', 'appserver')}nginx/${A[3]}`;
    const cur = JSON.parse((await etcdRange(lab, key)).kvs.get(key)!.value) as Record<string, unknown>;
    await etcdPut(lab, key, JSON.stringify({ ...cur, pooled: 'no' }));
    await until('every LB keeps mw1004 pooled although disabled', async () =>
      (await views()).every((v) => v[A[3]!]?.enabled === false && v[A[3]!]?.pooled === true),
    );
    const before = await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'appserver'));
    const since = Date.now();
    const r = await cookbook(lab, [
      '--output',
      'json',
      'sre.lb.rolling-restart',
      'cluster=appserver',
      'dc=eqiad',
      `hosts=${A[3]}`,
      'batch=1',
      'sleep=0',
      'verify-timeout=2s',
      'reason=e2e nothing to depool',
    ]);
    expect(r.code).toBe(1);
    expect(await restartTimes(lab, A[3]!, since)).toEqual([]);
    expect(outputOf(r)).toMatchObject({
      status: 'failed',
      succeeded: [],
      failed: [
        expect.objectContaining({ host: A[3], stillDepooled: false, reason: expect.stringMatching(/depool not verified on every LB/) }),
      ],
    });
    expect(r.events.some((e) => e.type === 'verification' && e.direction === 'out' && e.ok === false)).toBe(true);
    const after = await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'appserver'));
    expect([...after.kvs].map(([k, v]) => [k, v.modRevision])).toEqual([...before.kvs].map(([k, v]) => [k, v.modRevision]));
  });

  it('out means disabled on every LB: a lagging LB that still has a down host enabled (not pooled right now) holds the restart back', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    await lab.failService(J[0]!, 'nginx', 'down');
    await lab.failService(J[0]!, 'php-fpm', 'down');
    const pools = lab.info.pools.filter((p) => p.dc === 'eqiad' && p.cluster === 'jobrunner');
    await until('every LB has mw1301 enabled, down and not pooled', async () =>
      (
        await Promise.all(
          lab.info.loadBalancers.flatMap((lb) =>
            pools.map(async (p) => {
              const v = (
                (await (await fetch(`${lb.url}/pools/${p.pool}`, { headers: { accept: 'application/json' } })).json()) as Record<
                  string,
                  { pooled: boolean; enabled: boolean; up: boolean }
                >
              )[J[0]!];
              return v?.enabled === true && !v.up && !v.pooled;
            }),
          ),
        )
      ).every(Boolean),
    );
    await lab.lb('lvs1019', 'lag', 5000);
    const since = Date.now();
    const r = await cookbook(lab, [
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      `hosts=${J[0]}`,
      'batch=1',
      'sleep=0',
      'verify-timeout=2s',
      'reason=e2e enabled but down',
    ]);
    expect(r.code).toBe(1);
    // put back, but a down host is not "in" on any LB (PyBal pools it only once up): so it is
    // taken out again (fail closed) and reported as conftool holds it, never as "back as it was"
    expect(r.stdout + r.stderr).toMatch(
      /Failed, STILL DEPOOLED: mw1301\.eqiad\.wmnet \([^)]*\): depool not verified on every LB: .*lvs1019.*; repool not verified on every LB, depooled again/s,
    );
    expect(await restartTimes(lab, J[0]!, since)).toEqual([]);
    await lab.lb('lvs1019', 'up');
    const now = await pooled('eqiad', 'jobrunner');
    expect([now[`nginx/${J[0]}`], now[`php-fpm/${J[0]}`]]).toEqual(['no', 'no']);
    expect(
      Object.entries(now)
        .filter(([k]) => !k.endsWith(`/${J[0]}`))
        .every(([, p]) => p === 'yes'),
    ).toBe(true);
  });

  it('a batch that would breach the depool threshold is refused before any change, with pool and numbers', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const before = await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'jobrunner'));
    const r = await cookbook(lab, [
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=3',
      'sleep=0',
      'reason=e2e threshold',
    ]);
    expect(r.code).toBe(1);
    // (exact numbers: the library's integration test; here an LB may still be catching up with the previous test)
    expect(r.stdout + r.stderr).toMatch(
      /depooling 3 server\(s\) from pool jobrunner-nginx_eqiad would breach its depool threshold: only [0-2] can leave now \(lvs1019: \d of 4 up and enabled, threshold 0.5/,
    );
    const after = await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'jobrunner'));
    expect([...after.kvs].map(([k, v]) => [k, v.modRevision])).toEqual([...before.kvs].map(([k, v]) => [k, v.modRevision]));
  });

  it('the whole cluster as one batch is refused as bad arguments: exit 1 with the code (not 99, an uncaught exception)', async () => {
    const r = await cookbook(lab, ['sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=4', 'reason=e2e whole']);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(
      /REFUSED: a batch of 4 host\(s\) would take all 4 host\(s\) of dc=eqiad cluster=jobrunner out at once \[ERR_LB_WHOLE_CLUSTER\]; nothing was changed/,
    );
  });

  it('dry-run: the plan per batch with capacity warnings from live PyBal state; nothing changes', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const before = await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'jobrunner'));
    const r = await cookbook(lab, ['-d', 'sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1,3', 'reason=e2e dry-run']);
    expect(r.code).toBe(0);
    const text = r.stdout + r.stderr;
    expect(text).toMatch(/Batch 1: mw1301\.eqiad\.wmnet\n/);
    expect(text).toMatch(/Batch 2: mw1302\.eqiad\.wmnet, mw1303\.eqiad\.wmnet, mw1304\.eqiad\.wmnet/);
    expect(text).toMatch(/WARNING: would breach the depool threshold/);
    expect(text).toMatch(/Commands on each host while depooled: `systemctl restart nginx php-fpm`/);
    expect((await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'jobrunner'))).revision).toBe(before.revision);
  });
});

describe('one rolling operation per (dc, cluster)', () => {
  it('rolling-run without dc= waits for a rolling-restart with dc=eqiad on the same cluster (a shared lock per dc+cluster touched); never more than a batch out', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const w = new Watcher(lab, 'eqiad', 'jobrunner');
    await w.start();
    let second: Promise<Awaited<ReturnType<typeof cookbook>>> | undefined;
    let listed: Promise<Awaited<ReturnType<typeof cookbook>>> | undefined;
    const first = await cookbook(
      lab,
      ['--output', 'json', 'sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'sleep=0', 'reason=e2e cluster lock 1'],
      {
        onEvent: (e) => {
          if (!second && e.type === 'host-phase' && e.host === J[0] && e.phase === 'acting') {
            second = cookbook(lab, [
              '--output',
              'json',
              'sre.lb.rolling-run',
              'cluster=jobrunner',
              'services=nginx',
              'batch=1',
              'sleep=0',
              'command=true',
              'reason=e2e cluster lock 2',
            ]);
            // what an operator sees meanwhile: the cluster lock by its own name, held by the first run
            listed = cookbook(lab, ['--locks', 'lb-cluster']);
          }
        },
      },
    );
    const firstEnd = Date.now();
    expect(second).toBeDefined();
    const r2 = await second!;
    await w.stop();
    expect(first.code).toBe(0);
    expect(r2.code).toBe(0);
    // the second run waited on the shared eqiad/jobrunner lock, then did its work after the first ended
    expect(r2.events.some((e) => e.type === 'lock' && e.status === 'waiting' && e.key === 'lb-cluster/eqiad-jobrunner')).toBe(true);
    const l = await listed!;
    expect(l.code).toBe(0);
    expect(l.stdout).toMatch(new RegExp(`^lb-cluster/eqiad-jobrunner  \\S+ .* run ${first.events[0]!.runId!}  \\(concurrency 1,`, 'm'));
    const firstDepool = r2.events.find((e) => e.type === 'host-phase' && e.phase === 'depooling');
    expect(Date.parse(firstDepool!.ts!)).toBeGreaterThanOrEqual(firstEnd - 1000);
    expect(w.maxDepooled).toBe(1);
    expect(Object.values(await pooled('eqiad', 'jobrunner')).every((p) => p === 'yes')).toBe(true);
  });
});

describe('interruptions', () => {
  it('SIGINT mid-batch: exit 97 with what is left where; --resume finishes the run', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    let sent = false;
    const r = await cookbook(
      lab,
      ['--output', 'json', 'sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'sleep=0', 'reason=e2e sigint'],
      {
        onEvent: (e, child) => {
          if (!sent && e.type === 'host-phase' && e.host === J[1] && e.phase === 'acting') {
            sent = true;
            child.kill('SIGINT');
          }
        },
      },
    );
    expect(r.code).toBe(97);
    const out = outputOf(r)!;
    expect(out).toMatchObject({ status: 'interrupted', succeeded: [J[0]], notAttempted: [J[2], J[3]] });
    expect(out.inFlight).toEqual([expect.objectContaining({ host: J[1], phase: 'acted' })]);
    expect(r.stderr).toMatch(/Stopped at acted: mw1302\.eqiad\.wmnet, STILL DEPOOLED/);
    expect((await pooled('eqiad', 'jobrunner'))['nginx/mw1302.eqiad.wmnet']).toBe('no');
    const runId = r.events[0]!.runId!;
    const since = Date.now();
    const r2 = await cookbook(lab, [
      '--output',
      'json',
      '--resume',
      runId,
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=1',
      'sleep=0',
      'reason=e2e resume',
    ]);
    expect(r2.code).toBe(0);
    expect(outputOf(r2)).toMatchObject({ status: 'succeeded', succeeded: [J[1], J[2], J[3]] });
    expect(Object.values(await pooled('eqiad', 'jobrunner')).every((p) => p === 'yes')).toBe(true);
    // mw1302's restart had completed: repooled without restarting it again; mw1301 skipped
    expect(await restartTimes(lab, J[1]!, since)).toEqual([]);
    expect(await restartTimes(lab, J[0]!, since)).toEqual([]);
    expect(await restartTimes(lab, J[3]!, since)).toHaveLength(1);
  });

  it('--resume re-checks a leftover at verified-out: one pooled again by hand meanwhile is not restarted; another cluster/dc/services is refused', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    let sent = false;
    const r = await cookbook(
      lab,
      [
        '--output',
        'json',
        'sre.lb.rolling-restart',
        'cluster=jobrunner',
        'dc=eqiad',
        'batch=1',
        'sleep=0',
        'reason=e2e sigint at verified-out',
      ],
      {
        onEvent: (e, child) => {
          // SIGINT during the verify-out wait (≥ the PyBal delay): the host is left at verified-out
          if (!sent && e.type === 'host-phase' && e.host === J[1] && e.phase === 'depooled') {
            sent = true;
            child.kill('SIGINT');
          }
        },
      },
    );
    expect(r.code).toBe(97);
    expect(outputOf(r)!.inFlight).toEqual([expect.objectContaining({ host: J[1], phase: 'verified-out' })]);
    const runId = r.events[0]!.runId!;
    // a different scope is refused before anything is written
    const before = await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'jobrunner'));
    const bad = await cookbook(lab, [
      '--resume',
      runId,
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'services=nginx',
      'batch=1',
      'sleep=0',
      'reason=e2e resume other scope',
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stdout + bad.stderr).toMatch(
      /ERR_LB_RESUME_MISMATCH|that run was dc=eqiad cluster=jobrunner services=\(all\), this one is dc=eqiad cluster=jobrunner services=nginx/,
    );
    const after = await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'jobrunner'));
    expect([...after.kvs].map(([k, v]) => [k, v.modRevision])).toEqual([...before.kvs].map(([k, v]) => [k, v.modRevision]));
    // the SRE pools mw1302 back by hand, then resumes
    // the run's marker is on it: pooling it asks first (no TTY, no --yes: exit 2, nothing written)
    const asked = await cookbook(lab, ['sre.lb.pool', `host=${J[1]}`]);
    expect(asked.code).toBe(2);
    expect(asked.stdout + asked.stderr).toMatch(new RegExp(`held out by ${runId}`));
    expect((await pooled('eqiad', 'jobrunner'))[`nginx/${J[1]}`]).toBe('no');
    expect((await cookbook(lab, ['--yes', 'sre.lb.pool', `host=${J[1]}`])).code).toBe(0);
    const since = Date.now();
    const r2 = await cookbook(lab, [
      '--output',
      'json',
      '--resume',
      runId,
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=1',
      'sleep=0',
      'reason=e2e resume after manual pool',
    ]);
    expect(r2.code).toBe(1);
    expect(await restartTimes(lab, J[1]!, since)).toEqual([]);
    expect(outputOf(r2)!.failed).toContainEqual(
      expect.objectContaining({ host: J[1], stillDepooled: false, reason: expect.stringMatching(/not out of its pools/) }),
    );
    expect(Object.values(await pooled('eqiad', 'jobrunner')).every((p) => p === 'yes')).toBe(true);
  });

  it('kill -9 mid-batch: the lock frees itself within the lease TTL and --resume finds and finishes the leftovers', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    let killedAt = 0;
    // The run's locks as etcd holds them while mw1302 restarts, read before the kill: what must go
    // away below has to have been there (a run that held nothing would pass the check vacuously).
    let held: Promise<string[]> | undefined;
    const r = await cookbook(
      lab,
      ['--output', 'json', 'sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'sleep=0', 'reason=e2e kill'],
      {
        onEvent: (e, child) => {
          if (!held && e.type === 'host-phase' && e.host === J[1] && e.phase === 'acting') {
            const id = String(e.runId);
            held = etcdRange(lab, '/galley/locks/').then(({ kvs }) => [...kvs].filter(([, v]) => v.value.includes(id)).map(([k]) => k));
          }
          if (!killedAt && e.type === 'host-phase' && e.host === J[1] && e.phase === 'repooling') {
            killedAt = Date.now();
            void held!.finally(() => child.kill('SIGKILL'));
          }
        },
      },
    );
    expect(r.signal).toBe('SIGKILL');
    const runId = r.events[0]!.runId!;
    expect(await held).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\/galley\/locks\/cookbooks\/sre\.lb\.rolling-restart:eqiad-jobrunner\//),
        expect.stringMatching(/^\/galley\/locks\/lb-cluster\/eqiad-jobrunner\//),
        expect.stringMatching(/^\/galley\/locks\/hosts\/mw1302\.eqiad\.wmnet\//),
      ]),
    );
    // every lock of the killed run (cluster lock and host locks) goes away with its lease (TTL 5 s)
    let freedAt = 0;
    while (!freedAt) {
      const { kvs } = await etcdRange(lab, '/galley/locks/');
      if (![...kvs.values()].some((v) => v.value.includes(runId))) freedAt = Date.now();
      else await new Promise((res) => setTimeout(res, 100));
      if (Date.now() - killedAt > 30_000) break;
    }
    expect(freedAt - killedAt).toBeGreaterThan(0);
    expect(freedAt - killedAt).toBeLessThan(5_000 + 2_000);
    const r2 = await cookbook(lab, [
      '--output',
      'json',
      '--resume',
      runId,
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=1',
      'sleep=0',
      'reason=e2e resume after kill',
    ]);
    expect(r2.code).toBe(0);
    expect(outputOf(r2)).toMatchObject({ status: 'succeeded' });
    expect((outputOf(r2)!.succeeded as string[]).slice(0, 1)).toEqual([J[1]]);
    expect(Object.values(await pooled('eqiad', 'jobrunner')).every((p) => p === 'yes')).toBe(true);
  });
});

describe('single-host cookbooks', () => {
  it('depool / pool act only from the right state, verified; nothing to do is exit 0', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const h = J[2]!;
    const d1 = await cookbook(lab, ['sre.lb.depool', `host=${h}`]);
    expect(d1.code).toBe(0);
    expect(d1.stdout + d1.stderr).toMatch(
      /depooled eqiad\/jobrunner\/(nginx|php-fpm)\/mw1303.*; verified mw1303\.eqiad\.wmnet depooled on lvs1019, lvs1020 \(\d+ rounds?, \d+\.\d s\)/,
    );
    expect((await pooled('eqiad', 'jobrunner'))[`nginx/${h}`]).toBe('no');
    const d2 = await cookbook(lab, ['sre.lb.depool', `host=${h}`]);
    expect(d2.code).toBe(0);
    expect(d2.stdout + d2.stderr).toMatch(/nothing to do: mw1303\.eqiad\.wmnet is already depooled/);
    const p1 = await cookbook(lab, ['sre.lb.pool', `host=${h}`, 'service=nginx']);
    expect(p1.code).toBe(0);
    const now = await pooled('eqiad', 'jobrunner');
    expect(now[`nginx/${h}`]).toBe('yes');
    expect(now[`php-fpm/${h}`]).toBe('no');
    const p2 = await cookbook(lab, ['sre.lb.pool', `host=${h}`, 'service=nginx']);
    expect(p2.code).toBe(0);
    expect(p2.stdout + p2.stderr).toMatch(/nothing to do/);
    // inactive is never pooled
    const p3 = await cookbook(lab, ['sre.lb.pool', 'host=mw2002.codfw.wmnet']);
    expect(p3.code).toBe(1);
    expect(p3.stdout + p3.stderr).toMatch(/never pools inactive objects/);
    expect((await pooled('codfw', 'appserver'))['nginx/mw2002.codfw.wmnet']).toBe('inactive');
  });

  it('depool that would breach the threshold is refused; the object is not written', async () => {
    await settled(lab, 'eqiad', 'appserver');
    // eqiad appserver: 3 of 4 yes (mw1004 no) → one can leave, then none
    expect((await cookbook(lab, ['sre.lb.depool', `host=${A[0]}`])).code).toBe(0);
    const before = await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'appserver'));
    const r = await cookbook(lab, ['sre.lb.depool', `host=${A[1]}`]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(
      /REFUSED: depooling 1 server\(s\) from pool appserver-(nginx|php-fpm)_eqiad would breach its depool threshold: only 0 can leave now \(lvs1019: 2 of 4 up and enabled/,
    );
    const after = await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'appserver'));
    expect([...after.kvs].map(([k, v]) => [k, v.modRevision])).toEqual([...before.kvs].map(([k, v]) => [k, v.modRevision]));
  });

  it('restart-service restarts one unit, depooling only that service', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const w = new Watcher(lab, 'eqiad', 'jobrunner');
    await w.start();
    const since = Date.now();
    const before = await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'jobrunner'));
    const r = await cookbook(lab, ['sre.lb.restart-service', `host=${J[0]}`, 'service=nginx']);
    await w.stop();
    expect(r.code).toBe(0);
    expect((await restartTimes(lab, J[0]!, since)).map((x) => x.units)).toEqual(['nginx']);
    const after = await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'jobrunner'));
    const key = (s: string) => `${poolsPrefix(lab, 'eqiad', 'jobrunner')}${s}/${J[0]}`;
    expect(after.kvs.get(key('php-fpm'))!.modRevision).toBe(before.kvs.get(key('php-fpm'))!.modRevision);
    expect(after.kvs.get(key('nginx'))!.modRevision).toBeGreaterThan(before.kvs.get(key('nginx'))!.modRevision);
    expect(w.maxDepooled).toBe(1);
  });

  it('rolling-run runs the commands in order while out of the pools and shows the output grouped', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const r = await cookbook(lab, [
      'sre.lb.rolling-run',
      'cluster=jobrunner',
      'dc=eqiad',
      'services=nginx',
      'batch=2',
      'sleep=0',
      'command=systemctl is-active nginx',
      'command=hostname -f',
      'reason=e2e rolling run',
    ]);
    expect(r.code).toBe(0);
    const text = r.stdout + r.stderr;
    expect(text).toMatch(/All hosts done: 4 succeeded/);
    for (const h of J)
      expect(text).toMatch(
        new RegExp(
          `===== ${h.replace(/\./g, '\\.')} \\(1\\) =====\\n\\$ systemctl is-active nginx\\nactive\\n\\$ hostname -f\\n${h.replace(/\./g, '\\.')}`,
        ),
      );
  });

  it("rolling-run: identical output is one Cumin-style node group; the audit log keeps each host's output and the journal", async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const r = await cookbook(lab, [
      'sre.lb.rolling-run',
      'cluster=jobrunner',
      'dc=eqiad',
      'services=nginx',
      'batch=2',
      'sleep=0',
      'command=systemctl is-active nginx',
      'reason=e2e rolling run groups',
    ]);
    expect(r.code).toBe(0);
    const text = r.stdout + r.stderr;
    expect(text).toMatch(/===== mw\[1301-1304\]\.eqiad\.wmnet \(4\) =====\n\$ systemctl is-active nginx\nactive\n/);
    expect(text.match(/^===== /gm)).toHaveLength(1);
    const runId = /\(run (\S+)\)/.exec(text)![1]!;
    const audit = fs
      .readFileSync(path.join(lab.dir, 'logs', 'sre', 'lb', 'rolling-run.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(
        (l) =>
          JSON.parse(l) as {
            type: string;
            runId?: string;
            host?: string;
            outputs?: { cmd: string; stdout: string }[];
            entry?: { type?: string; host?: string; phase?: string };
          },
      )
      .filter((e) => e.runId === runId);
    const outputs = audit.filter((e) => e.type === 'host-output');
    expect(outputs.map((e) => e.host).sort()).toEqual(J);
    for (const e of outputs)
      expect(e.outputs).toEqual([
        expect.objectContaining({ cmd: 'systemctl is-active nginx', stdout: expect.stringMatching(/^active\n?$/) }),
      ]);
    const journal = audit.filter((e) => e.type === 'journal').map((e) => e.entry!);
    expect(journal.some((j) => j.type === 'lb-run')).toBe(true);
    for (const h of J) {
      const phases = journal.filter((j) => j.type === 'lb-host-phase' && j.host === h).map((j) => j.phase);
      expect(phases).toEqual(expect.arrayContaining(['depooling', 'acting', 'acted', 'repooling', 'done']));
      expect(phases.indexOf('acting')).toBeLessThan(phases.indexOf('done'));
    }
  });
});
