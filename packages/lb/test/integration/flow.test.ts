// Drain, capacity-wait, failure budgets, deadline and order (issue 14 items 2, 5, 6) against the lab:
// real etcd, real sshd hosts, the PyBal simulators. Times are measured on the wall clock and on the
// hosts (the fake systemctl's log), weights are read back from conftool. Short durations only.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Lab } from '@galley/lab';
import { sharedLab } from '@galley/lab/testing';
import {
  orderHosts,
  parseBatchSpec,
  parseMaxFailed,
  runRolling,
  selectHosts,
  type CommandSpec,
  type LbEvent,
  type RollingOptions,
} from '@galley/lb';
import { harness, markLogs, restartsOn, type Harness } from './harness.js';

// eqiad jobrunner = mw1301–mw1304 (nginx + php-fpm, all pooled=yes), 2 LBs, threshold 0.5.
const HOSTS = ['mw1301', 'mw1302', 'mw1303', 'mw1304'].map((h) => `${h}.eqiad.wmnet`);
const restart: CommandSpec[] = [{ argv: ['systemctl', 'restart', 'nginx', 'php-fpm'], timeoutMs: 10_000 }];

jest.setTimeout(60_000);

let lab: Lab;
let h: Harness | undefined;
let tmp: string;

beforeAll(async () => {
  lab = await sharedLab();
  // the hosts share the filesystem (own UTS + mount namespaces): drain-check reads files the test writes
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-flow-'));
  fs.chmodSync(tmp, 0o755);
});
afterEach(async () => {
  await h?.close();
  h = undefined;
  await lab.reset();
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function start(): Promise<Harness> {
  h = await harness(lab, { dc: 'eqiad', cluster: 'jobrunner', verifyTimeoutMs: 5000 });
  await markLogs(lab);
  return h;
}

/** Wall-clock time of every event, by type and host (host-phase: `phase:host`). */
function clocked(x: Harness): Map<string, number> {
  const at = new Map<string, number>();
  const emit = x.ports.emit;
  x.ports.emit = (e: LbEvent) => {
    emit(e);
    const key = e.type === 'host-phase' ? `${e.phase}:${e.host}` : e.type;
    if (!at.has(key)) at.set(key, Date.now());
  };
  return at;
}

async function rolling(x: Harness, opts: Partial<Omit<RollingOptions, 'selection' | 'batch'>> & { batch?: string; hosts?: string[] } = {}) {
  const selection = await selectHosts(x.ports.store, {
    dc: 'eqiad',
    cluster: 'jobrunner',
    ...(opts.hosts ? { hosts: new Set(opts.hosts) } : {}),
  });
  return runRolling(x.ports, { commands: restart, sleepMs: 0, ...opts, selection, batch: parseBatchSpec(opts.batch ?? '1') });
}

async function nodesNow(x: Harness): Promise<Record<string, { pooled: string; weight: number }>> {
  const nodes = await x.confctl.select({ dc: 'eqiad', cluster: 'jobrunner' });
  return Object.fromEntries(nodes.map((n) => [`${n.tags.service}/${n.tags.name.split('.')[0]}`, { pooled: n.pooled, weight: n.weight }]));
}

/** When the host's fake systemctl last logged a restart (its own clock, ms). */
async function restartedAt(host: string): Promise<number> {
  const line = (await lab.systemctlLog(host)).filter((l) => / restart /.test(l)).at(-1);
  return Math.round(Number(line?.split(' ')[0]) * 1000);
}

describe('drain against the lab', () => {
  it('drain=1s: each restart starts at least 1 s after every LB had the host out (measured on the host)', async () => {
    const x = await start();
    const at = clocked(x);
    const r = await rolling(x, { hosts: HOSTS.slice(0, 2), drain: { ms: 1000, weight: false } });
    expect(r.status).toBe('succeeded');
    for (const host of HOSTS.slice(0, 2)) {
      const gap = (await restartedAt(host)) - at.get(`verified-out:${host}`)!;
      expect(gap).toBeGreaterThanOrEqual(1000);
      expect(gap).toBeLessThan(3000);
    }
    expect(x.violations).toEqual([]);
  });

  it('drain-check: waits until the host reports 0 connections (the answer changes under it); one still busy at the bound is not restarted, put back, failed', async () => {
    const x = await start();
    const at = clocked(x);
    fs.writeFileSync(path.join(tmp, 'conns-mw1301'), '3\n');
    fs.writeFileSync(path.join(tmp, 'conns-mw1302'), '2\n');
    const answers: { host: string; n: number | null }[] = [];
    let zeroAt = 0;
    const emit = x.ports.emit;
    x.ports.emit = (e) => {
      emit(e);
      if (e.type === 'drain-check') answers.push(...e.answers.map((a) => ({ host: a.host, n: a.connections })));
      if (e.type === 'drain' && e.hosts.includes(HOSTS[0]!)) {
        setTimeout(() => {
          fs.writeFileSync(path.join(tmp, 'conns-mw1301'), '0\n');
          zeroAt = Date.now();
        }, 800);
      }
    };
    const check = { shell: `cat ${tmp}/conns-$(hostname -s)`, timeoutMs: 5000 };
    const r = await rolling(x, {
      hosts: HOSTS.slice(0, 2),
      drain: { ms: 1500, weight: false, check, checkIntervalMs: 200 },
      maxFailedBatches: 1,
    });
    const a1 = answers.filter((a) => a.host === HOSTS[0]).map((a) => a.n);
    expect(a1[0]).toBe(3);
    expect(a1.at(-1)).toBe(0);
    expect(await restartedAt(HOSTS[0]!)).toBeGreaterThanOrEqual(zeroAt);
    expect((await restartedAt(HOSTS[0]!)) - at.get(`verified-out:${HOSTS[0]}`)!).toBeGreaterThanOrEqual(800);
    // mw1302 said 2 for the whole 1.5 s: never restarted, back in its pools, reported
    expect(answers.filter((a) => a.host === HOSTS[1]).every((a) => a.n === 2)).toBe(true);
    expect(await restartsOn(lab, HOSTS[1]!)).toEqual([]);
    expect(r.succeeded).toEqual([HOSTS[0]]);
    expect(r.failed).toEqual([
      expect.objectContaining({
        host: HOSTS[1],
        stillDepooled: false,
        reason: expect.stringMatching(
          /drain-check `cat .*` still reported 2 established connection\(s\) after drain=1500 ms; not acted on, put back/,
        ),
      }),
    ]);
    expect(Object.values(await nodesNow(x)).every((n) => n.pooled === 'yes')).toBe(true);
    expect(x.violations).toEqual([]);
  });

  it("drain=weight: weight 0 while pooled, then out, then back with the old weight (read back from conftool); an operator's weight set meanwhile is left as found", async () => {
    const x = await start();
    const before = await nodesNow(x);
    const seen: Record<string, Record<string, { pooled: string; weight: number }>> = {};
    const emit = x.ports.emit;
    const pending: Promise<void>[] = [];
    const order: string[] = [];
    let lbsAtDrain: Promise<(number | undefined)[]> | undefined;
    x.ports.emit = (e) => {
      emit(e);
      if (e.type === 'verification' || e.type === 'drain') order.push(e.type === 'drain' ? 'drain' : `${e.direction}:${e.ok}`);
      // what conftool holds during the drain (weight 0, still pooled) and once every LB has it out
      if (e.type === 'drain' && e.hosts.includes(HOSTS[0]!)) {
        pending.push(nodesNow(x).then((n) => void (seen.draining = n)));
        // and what each LB's simulator applied last for mw1301's nginx: weight 0, before the drain wait began
        lbsAtDrain ??= Promise.all(
          lab.info.loadBalancers.map(
            async (lb) =>
              (await lab.lbHistory(lb.name)).filter((x) => x.host === HOSTS[0] && x.key?.includes('/nginx/') && x.to).at(-1)?.to?.weight,
          ),
        );
      }
      if (e.type === 'host-phase' && e.host === HOSTS[0] && e.phase === 'verified-out')
        pending.push(nodesNow(x).then((n) => void (seen.out = n)));
      // an operator sets mw1302's nginx weight while the host is out
      if (e.type === 'host-phase' && e.host === HOSTS[1] && e.phase === 'acting')
        pending.push(
          x.confctl
            .update({ dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', name: 'mw1302\\.eqiad\\.wmnet' }, { weight: 7 })
            .then(() => undefined),
        );
    };
    const r = await rolling(x, { hosts: HOSTS.slice(0, 2), drain: { ms: 500, weight: true } });
    await Promise.all(pending);
    expect(seen.draining?.['nginx/mw1301']).toEqual({ pooled: 'yes', weight: 0 });
    // the drain waited for every LB to show weight 0 (verified), then the depool was verified out
    expect(order.slice(0, 3)).toEqual(['weight-0:true', 'drain', 'out:true']);
    expect(await lbsAtDrain).toEqual(lab.info.loadBalancers.map(() => 0));
    expect(seen.draining?.['php-fpm/mw1301']).toEqual({ pooled: 'yes', weight: 0 });
    expect(seen.out?.['nginx/mw1301']).toEqual({ pooled: 'no', weight: 0 });
    const after = await nodesNow(x);
    expect(after['nginx/mw1301']).toEqual(before['nginx/mw1301']);
    expect(after['php-fpm/mw1301']).toEqual(before['php-fpm/mw1301']);
    expect(before['nginx/mw1301']!.weight).toBeGreaterThan(0);
    // the operator's weight stands, and the object stays where the operator's change found it
    expect(after['nginx/mw1302']).toEqual({ pooled: 'no', weight: 7 });
    expect(after['php-fpm/mw1302']).toEqual(before['php-fpm/mw1302']);
    expect(r.leftAsFound).toEqual([
      expect.objectContaining({ host: HOSTS[1], object: expect.stringContaining('nginx/mw1302'), why: expect.stringMatching(/weight=7/) }),
    ]);
    // the only object out at the end is the one the operator took over (the engine counts a host whose
    // objects someone else changed as done, with them in leftAsFound): nothing else
    expect(x.violations).toEqual([`${HOSTS[1]} done while an LB has nginx out`]);
  });

  it('drain=weight, an LB that does not apply the weight in time: the host is not depooled nor acted on, its weight restored, reported', async () => {
    const x = await start();
    const before = await nodesNow(x);
    const lb = lab.info.loadBalancers[1]!.name;
    const mark = (await lab.lbHistory(lb)).length;
    /** The weights this LB applied to mw1301's object of the service since the test began. */
    const applied = async (svc: string) =>
      (await lab.lbHistory(lb))
        .slice(mark)
        .filter((e) => e.host === HOSTS[0] && e.key?.includes(`/${svc}/`) && e.to)
        .map((e) => e.to!.weight);
    // conftool changes reach this LB 8 s late: past the 5 s verification deadline
    await lab.lb(lb, 'lag', 8000);
    try {
      const r = await rolling(x, { hosts: [HOSTS[0]!], drain: { ms: 200, weight: true } });
      expect(r.status).toBe('failed');
      expect(r.failed).toEqual([
        expect.objectContaining({
          host: HOSTS[0],
          stillDepooled: false,
          reason: expect.stringMatching(
            new RegExp(
              `^weight=0 \\(drain=weight\\) not applied on every LB: [\\s\\S]*${lb} still has mw1301\\.eqiad\\.wmnet pooled at weight 10 in pool jobrunner-nginx_eqiad: it has not applied the conftool change`,
            ),
          ),
        }),
      ]);
      expect(await restartsOn(lab, HOSTS[0]!)).toEqual([]);
      const after = await nodesNow(x);
      expect(after['nginx/mw1301']).toEqual(before['nginx/mw1301']);
      expect(after['php-fpm/mw1301']).toEqual(before['php-fpm/mw1301']);
    } finally {
      // the lagging LB applies the weight 0 and then its restore late: wait for both, for the next test
      const caughtUp = async () => (await Promise.all(['nginx', 'php-fpm'].map(applied))).every((w) => w.includes(0) && w.at(-1) === 10);
      for (let i = 0; i < 200 && !(await caughtUp()); i++) await new Promise((res) => setTimeout(res, 100));
      await lab.lb(lb, 'up');
    }
  });
});

describe('capacity-wait against the lab', () => {
  /** mw1304's nginx down: PyBal has 3 of 4 nginx servers up, so a batch of 2 would breach threshold 0.5. */
  async function short(x: Harness): Promise<void> {
    await lab.failService(HOSTS[3]!, 'nginx', 'down');
    const nginx = (await x.confctl.select({ dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', name: 'mw1301.*' }))[0]!;
    const pool = x.ports.capacity.poolOf(nginx)!;
    for (let i = 0; i < 100 && (await x.ports.capacity.capacity([pool])).get(pool)!.canTakeOut > 1; i++)
      await new Promise((res) => setTimeout(res, 100));
  }

  it('a batch short of capacity waits, showing the pools, and goes on once the down host is healed', async () => {
    const x = await start();
    await short(x);
    let healed = 0;
    const emit = x.ports.emit;
    x.ports.emit = (e) => {
      emit(e);
      if (e.type === 'capacity-wait' && !healed) {
        healed = Date.now();
        void lab.heal(HOSTS[3]!);
      }
    };
    const t0 = Date.now();
    const r = await rolling(x, { hosts: HOSTS.slice(0, 2), batch: '2', capacityWaitMs: 20_000, capacityWaitIntervalMs: 300 });
    expect(r.status).toBe('succeeded');
    const waits = x.events.filter((e) => e.type === 'capacity-wait');
    expect(waits[0]).toMatchObject({
      batch: 1,
      pools: expect.arrayContaining([
        expect.objectContaining({ depool: 2, canTakeOut: 1, ok: false, detail: expect.stringMatching(/3 of 4 up and enabled/) }),
      ]),
    });
    expect(x.events.some((e) => e.type === 'warning' && /batch 1 waits for capacity/.test(e.message))).toBe(true);
    // nothing was depooled before capacity came back
    expect(await restartedAt(HOSTS[0]!)).toBeGreaterThan(healed);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(x.violations).toEqual([]);
  });

  it('a wait that runs out is refused as without one, with the numbers; nothing changed', async () => {
    const x = await start();
    await short(x);
    const r = await rolling(x, { hosts: HOSTS.slice(0, 2), batch: '2', capacityWaitMs: 1000, capacityWaitIntervalMs: 300 });
    expect(r.status).toBe('refused');
    expect(r.stopReason).toMatch(
      /batch 1: depooling 2 server\(s\) from pool \S+ would breach its depool threshold: only 1 can leave now .*\(after waiting 1s for capacity, capacity-wait=1s\)/,
    );
    expect(x.events.filter((e) => e.type === 'capacity-wait').length).toBeGreaterThanOrEqual(3);
    expect(Object.values(await nodesNow(x)).every((n) => n.pooled === 'yes')).toBe(true);
    for (const host of HOSTS) expect(await restartsOn(lab, host)).toEqual([]);
  });
});

describe('budgets and order against the lab', () => {
  it('max-failed=25% of 4: the first failed host is tolerated, the second stops the run', async () => {
    await lab.failService(HOSTS[0]!, 'nginx', 'restart');
    await lab.failService(HOSTS[2]!, 'nginx', 'restart');
    const x = await start();
    const r = await rolling(x, { batch: '2', maxFailedHosts: parseMaxFailed('25%') });
    expect(r.failed.map((f) => f.host)).toEqual([HOSTS[0], HOSTS[2]]);
    expect(r.succeeded).toEqual([HOSTS[1]]);
    expect(r.notAttempted).toEqual([HOSTS[3]]);
    expect(r.stopReason).toBe('2 failed host(s), more than max-failed=25% (1 of 4 selected host(s), rounded down)');
    expect(x.maxDepooled()).toBeLessThanOrEqual(2);
    expect(x.violations).toEqual([]);
  });

  it('deadline=1s with order=shuffled seed=5: stops starting batches past the deadline, everything back, in the seeded order', async () => {
    const x = await start();
    const t0 = Date.now();
    const r = await rolling(x, { deadlineMs: 1000, order: { order: 'shuffled', seed: 5 } });
    expect(r.status).toBe('failed');
    expect(r.stopReason).toMatch(/^deadline=1s reached: no new batch was started after it \(\d host\(s\) not attempted\)$/);
    expect(r.deadline).toEqual({ ms: 1000, reached: true });
    expect(r.order).toEqual({ order: 'shuffled', seed: 5 });
    const want = orderHosts(
      HOSTS.map((host) => ({ host })),
      { order: 'shuffled', seed: 5 },
    ).map((o) => o.host);
    expect(r.batches.map((b) => b.hosts[0])).toEqual(want.slice(0, r.batches.length));
    expect(r.succeeded.length).toBeGreaterThanOrEqual(1);
    expect(r.notAttempted.length).toBeGreaterThanOrEqual(1);
    expect(r.inFlight).toEqual([]);
    // the last batch started before the deadline; none after
    const started = x.events.filter((e) => e.type === 'batch-started').length;
    expect(started).toBe(r.batches.length);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(Object.values(await nodesNow(x)).every((n) => n.pooled === 'yes')).toBe(true);
    expect(x.violations).toEqual([]);
  });
});
