// Drain, capacity-wait, failure budgets, deadline and host order (issue 14 items 2, 5, 6) as pure
// logic over the FakeFleet (virtual clock; the lab tests measure the same against real PyBal).
import { describe, expect, it } from '@jest/globals';
import { drainArg, maxFailedArg, seedArg } from './args.js';
import { parseBatchSpec } from './batches.js';
import { orderHosts, parseMaxFailed, resumeOrder, toleratedFailures } from './budget.js';
import { connectionsOf, parseDrain } from './drain.js';
import { formatPlan, planRolling } from './plan.js';
import type { LbEvent, LbPorts } from './ports.js';
import { runRolling, type RollingOptions, type RollingReport } from './rolling.js';
import { selectHosts } from './select.js';
import { FakeFleet } from './testing/index.js';

const restart = [{ argv: ['systemctl', 'restart', 'nginx'], timeoutMs: 1000 }];

async function run(
  fleet: FakeFleet,
  opts: Partial<Omit<RollingOptions, 'selection' | 'batch'>> & { batch?: string } = {},
  ports: LbPorts = fleet.ports(),
): Promise<RollingReport> {
  const selection = await selectHosts(fleet.store, { dc: 'eqiad', cluster: 'jobrunner' });
  return runRolling(ports, { commands: restart, ...opts, selection, batch: parseBatchSpec(opts.batch ?? '1') });
}

/** Each host's verified-out time (virtual clock), from the events. */
function timed(fleet: FakeFleet): { ports: LbPorts; outAt: Map<string, number>; events: LbEvent[] } {
  const ports = fleet.ports();
  const outAt = new Map<string, number>();
  const emit = ports.emit;
  ports.emit = (e) => {
    emit(e);
    if (e.type === 'host-phase' && e.phase === 'verified-out') outAt.set(e.host, fleet.clock.now());
  };
  return { ports, outAt, events: fleet.events };
}

const everythingBack = (fleet: FakeFleet): boolean =>
  [...fleet.objects.values()].every((o) => o.pooled === fleet.initial.get(o.key) && o.weight === 10);

describe('drain', () => {
  it('drain=2s: every action starts at least 2 s after every LB has the host out', async () => {
    const fleet = FakeFleet.cluster(4);
    const { ports, outAt } = timed(fleet);
    const r = await run(fleet, { drain: { ms: 2000, weight: false } }, ports);
    expect(r.status).toBe('succeeded');
    expect(fleet.actions).toHaveLength(4);
    for (const a of fleet.actions) expect(a.t - outAt.get(a.host)!).toBeGreaterThanOrEqual(2000);
    expect(fleet.violations).toEqual([]);
  });

  it('drain-check: polled until the host says 0, then acted on; one that never drains is not acted on, put back and failed (fail closed)', async () => {
    const fleet = FakeFleet.cluster(4);
    fleet.connections.set('mw1001.eqiad.wmnet', [3, 1, 0]);
    fleet.connections.set('mw1002.eqiad.wmnet', [5]);
    const { ports, outAt } = timed(fleet);
    const r = await run(fleet, { drain: { ms: 3000, weight: false, check: { shell: 'conns' }, checkIntervalMs: 500 } }, ports);
    const checks1 = fleet.connectionChecks.filter((c) => c.host === 'mw1001.eqiad.wmnet');
    expect(checks1.map((c) => c.n)).toEqual([3, 1, 0]);
    const act1 = fleet.actions.find((a) => a.host === 'mw1001.eqiad.wmnet')!;
    expect(act1.t).toBeGreaterThanOrEqual(checks1[2]!.t);
    expect(act1.t - outAt.get('mw1001.eqiad.wmnet')!).toBeGreaterThanOrEqual(1000);
    // mw1002 kept 5 connections for the whole bound: never acted on, back in its pools
    expect(fleet.actions.map((a) => a.host)).toEqual(['mw1001.eqiad.wmnet']);
    const checks2 = fleet.connectionChecks.filter((c) => c.host === 'mw1002.eqiad.wmnet');
    expect(checks2.at(-1)!.t - checks2[0]!.t).toBeGreaterThanOrEqual(3000 - 10);
    expect(r.status).toBe('failed');
    expect(r.failed).toEqual([
      expect.objectContaining({
        host: 'mw1002.eqiad.wmnet',
        stillDepooled: false,
        reason: expect.stringMatching(
          /drain-check `conns` still reported 5 established connection\(s\) after drain=3000 ms; not acted on, put back/,
        ),
      }),
    ]);
    expect(everythingBack(fleet)).toBe(true);
    expect(fleet.violations).toEqual([]);
  });

  it('drain=weight: weight 0 while pooled first, the wait there, then the depool; weight and pooled restored in one put-back', async () => {
    const fleet = FakeFleet.cluster(4);
    const r = await run(fleet, { drain: { ms: 1500, weight: true } });
    expect(r.status).toBe('succeeded');
    const key = '/conftool/v1/pools/eqiad/jobrunner/nginx/mw1001.eqiad.wmnet';
    const ws = fleet.weightWrites.filter((w) => w.key === key);
    expect(ws.map((w) => [w.from, w.to])).toEqual([
      [10, 0],
      [0, 10],
    ]);
    const ps = fleet.writes.filter((w) => w.key === key);
    // the weight write is with pooled=yes (yes → yes), the depool ≥ 1.5 s later, the put-back restores both
    expect(ps.map((w) => [w.from, w.to])).toEqual([
      ['yes', 'yes'],
      ['yes', 'no'],
      ['no', 'yes'],
    ]);
    expect(ps[1]!.t - ps[0]!.t).toBeGreaterThanOrEqual(1500);
    expect(ws[1]!.t).toBe(ps[2]!.t);
    expect(everythingBack(fleet)).toBe(true);
    expect(fleet.violations).toEqual([]);
  });

  it('drain=weight: an operator who changes the weight while the host is out is left as found (not repooled over it, reported)', async () => {
    const fleet = FakeFleet.cluster(4);
    const key = '/conftool/v1/pools/eqiad/jobrunner/nginx/mw1001.eqiad.wmnet';
    fleet.onAction = (host) => {
      if (host === 'mw1001.eqiad.wmnet') fleet.objects.get(key)!.weight = 7;
    };
    const r = await run(fleet, { drain: { ms: 100, weight: true }, maxFailedBatches: 3 });
    expect(fleet.objects.get(key)).toMatchObject({ pooled: 'no', weight: 7 });
    expect(r.leftAsFound).toEqual([expect.objectContaining({ host: 'mw1001.eqiad.wmnet', why: expect.stringMatching(/weight=7/) })]);
    // its other service went back with its weight
    expect(fleet.objects.get('/conftool/v1/pools/eqiad/jobrunner/php-fpm/mw1001.eqiad.wmnet')).toMatchObject({ pooled: 'yes', weight: 10 });
  });

  it('drain=weight: the drain waits for every LB to show weight 0; a host an LB does not show at 0 is put back, not depooled or acted on', async () => {
    const fleet = FakeFleet.cluster(4);
    const ports = fleet.ports();
    const emit = ports.emit;
    const seen: string[] = [];
    ports.emit = (e) => {
      emit(e);
      if (e.type === 'verification' || e.type === 'drain')
        seen.push(e.type === 'drain' ? `drain ${e.hosts.join(',')}` : `${e.direction}:${e.ok}`);
      // lvs1020 lags right after mw1002's weight write, and catches up once that verification is over
      if (e.type === 'host-phase' && e.phase === 'depooling' && e.host === 'mw1002.eqiad.wmnet') fleet.lbMode.set('lvs1020', 'lag');
      if (e.type === 'verification' && e.direction === 'weight-0') fleet.lbMode.delete('lvs1020');
    };
    const r = await run(fleet, { drain: { ms: 100, weight: true }, maxFailedBatches: 3 }, ports);
    expect(seen.slice(0, 6)).toEqual(['weight-0:true', 'drain mw1001.eqiad.wmnet', 'out:true', 'in:true', 'weight-0:false', 'in:true']);
    expect(r.failed).toEqual([
      expect.objectContaining({
        host: 'mw1002.eqiad.wmnet',
        stillDepooled: false,
        reason: expect.stringMatching(/^weight=0 \(drain=weight\) not applied on every LB: .*not depooled, not acted on, weight restored$/),
      }),
    ]);
    expect(fleet.actions.map((a) => a.host)).not.toContain('mw1002.eqiad.wmnet');
    const key = '/conftool/v1/pools/eqiad/jobrunner/nginx/mw1002.eqiad.wmnet';
    // the weight write and its restore, both at pooled=yes: never depooled
    expect(fleet.writes.filter((w) => w.key === key).map((w) => [w.from, w.to])).toEqual([
      ['yes', 'yes'],
      ['yes', 'yes'],
    ]);
    expect(fleet.weightWrites.filter((w) => w.key === key).map((w) => [w.from, w.to])).toEqual([
      [10, 0],
      [0, 10],
    ]);
    expect(everythingBack(fleet)).toBe(true);
  });

  it('drain=weight with drain-check: polled at weight 0 while still pooled, depooled once it says 0', async () => {
    const fleet = FakeFleet.cluster(4);
    fleet.connections.set('mw1001.eqiad.wmnet', [4, 0]);
    const r = await run(fleet, { drain: { ms: 5000, weight: true, check: { shell: 'conns' }, checkIntervalMs: 500 } });
    expect(r.status).toBe('succeeded');
    const key = '/conftool/v1/pools/eqiad/jobrunner/nginx/mw1001.eqiad.wmnet';
    const checks = fleet.connectionChecks.filter((c) => c.host === 'mw1001.eqiad.wmnet');
    const ps = fleet.writes.filter((w) => w.key === key);
    // both answers came while it was pooled at weight 0, the depool after the 0
    expect(checks.map((c) => c.n)).toEqual([4, 0]);
    expect(ps[0]!.t).toBeLessThanOrEqual(checks[0]!.t);
    expect(ps[1]).toMatchObject({ from: 'yes', to: 'no' });
    expect(ps[1]!.t).toBeGreaterThanOrEqual(checks[1]!.t);
    expect(everythingBack(fleet)).toBe(true);
  });

  it('drain=weight stopped by a signal while draining: not depooled, not acted on, the weight restored', async () => {
    const fleet = FakeFleet.cluster(4);
    const ac = new AbortController();
    const ports = fleet.ports();
    const emit = ports.emit;
    ports.emit = (e) => {
      emit(e);
      if (e.type === 'drain') ac.abort();
    };
    const r = await run(fleet, { drain: { ms: 5000, weight: true }, signal: ac.signal }, ports);
    expect(r.status).toBe('interrupted');
    expect(fleet.actions).toEqual([]);
    expect(everythingBack(fleet)).toBe(true);
    expect(fleet.owners.size).toBe(0);
  });

  it('drain=weight, the run killed after the weight write: a resume restores the weight it journaled', async () => {
    const fleet = FakeFleet.cluster(4);
    const keys = ['nginx', 'php-fpm'].map((svc) => `/conftool/v1/pools/eqiad/jobrunner/${svc}/mw1001.eqiad.wmnet`);
    const owner = { runId: 'r1', user: 'u', reason: '', time: new Date(0).toISOString() };
    const tags = (k: string) => fleet.objects.get(k)!.tags;
    for (const k of keys) {
      fleet.objects.get(k)!.weight = 0;
      fleet.owners.set(k, owner);
    }
    const entries = [
      { type: 'lb-run' as const, owner: 'r1' },
      { type: 'lb-host-phase' as const, host: 'mw1001.eqiad.wmnet', phase: 'depooling' as const, batch: 1, objects: keys },
      {
        type: 'lb-host-phase' as const,
        host: 'mw1001.eqiad.wmnet',
        phase: 'depooling' as const,
        batch: 1,
        objects: keys,
        changes: keys.map((k) => ({
          key: k,
          tags: tags(k),
          field: 'pooled' as const,
          from: 'yes' as const,
          to: 'yes' as const,
          weight: 0,
          weightFrom: 10,
        })),
      },
    ];
    await run(fleet, { resume: { runId: 'r1', entries } });
    for (const k of keys) expect(fleet.objects.get(k)).toMatchObject({ pooled: 'yes', weight: 10 });
    expect(fleet.owners.size).toBe(0);
  });

  it('parses drain= values', () => {
    expect(parseDrain('30s', 0)).toEqual({ ms: 30_000, weight: false });
    expect(parseDrain('weight', 5000)).toEqual({ ms: 5000, weight: true });
    expect(parseDrain('weight:2m', 0)).toEqual({ ms: 120_000, weight: true });
    expect(parseDrain(0, 0)).toEqual({ ms: 0, weight: false });
    expect(drainArg.check('-1s', 'drain')).toMatch(/^drain=-1s: a duration cannot be negative; accepted: /);
    expect(drainArg.check('weight:-1s', 'drain')).toMatch(/a duration cannot be negative/);
    expect(drainArg.check('2h', 'drain')).toMatch(/more than 1h/);
    expect(drainArg.check('soon', 'drain')).toMatch(/^drain=soon: expected a duration/);
    expect(drainArg.check('weight', 'drain')).toBeUndefined();
    expect(connectionsOf({ ok: true, outputs: [{ stdout: ' 0\n' }] })).toBe(0);
    expect(connectionsOf({ ok: true, outputs: [{ stdout: 'zero' }] })).toBeNull();
    expect(connectionsOf({ ok: false, outputs: [{ stdout: '0' }] })).toBeNull();
  });
});

describe('capacity-wait', () => {
  /** mw1004 down on the LBs: 3 of 4 up, threshold 0.5: one can leave, a batch of 2 cannot. */
  function shortFleet(healAfterRounds: number | undefined): { fleet: FakeFleet; ports: LbPorts; rounds: () => number } {
    const fleet = FakeFleet.cluster(4);
    fleet.down.add('mw1004.eqiad.wmnet');
    const ports = fleet.ports();
    let n = 0;
    const probe = ports.capacity;
    ports.capacity = {
      poolOf: (o) => probe.poolOf(o),
      capacity: async (p) => {
        n++;
        if (healAfterRounds !== undefined && n > healAfterRounds) fleet.down.delete('mw1004.eqiad.wmnet');
        return probe.capacity(p);
      },
    };
    return { fleet, ports, rounds: () => n };
  }

  it('waits (showing the pools and numbers) until capacity returns, then goes on', async () => {
    const { fleet, ports } = shortFleet(2);
    const selection = await selectHosts(fleet.store, {
      dc: 'eqiad',
      cluster: 'jobrunner',
      hosts: new Set(['mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet']),
    });
    const r = await runRolling(ports, {
      commands: restart,
      selection,
      batch: parseBatchSpec('2'),
      capacityWaitMs: 60_000,
      capacityWaitIntervalMs: 5000,
    });
    expect(r.status).toBe('succeeded');
    const waits = fleet.events.filter((e) => e.type === 'capacity-wait');
    expect(waits).toHaveLength(2);
    expect(waits[0]).toMatchObject({
      batch: 1,
      intervalMs: 5000,
      pools: expect.arrayContaining([expect.objectContaining({ depool: 2, canTakeOut: 1, ok: false })]),
    });
    const warn = fleet.events.find((e) => e.type === 'warning' && /waits for capacity/.test(e.message));
    expect(warn && warn.type === 'warning' && warn.message).toMatch(
      /batch 1 waits for capacity .*needs 2 out, only 1 can leave now \(3 of 4 up and enabled, threshold 0.5\)/,
    );
    // nothing was written while it waited
    expect(fleet.writes.length).toBe(8);
    expect(fleet.violations).toEqual([]);
  });

  it('runs out: refused as without a wait, with the numbers and how long it waited; nothing changed', async () => {
    const { fleet, ports, rounds } = shortFleet(undefined);
    const selection = await selectHosts(fleet.store, {
      dc: 'eqiad',
      cluster: 'jobrunner',
      hosts: new Set(['mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet']),
    });
    const r = await runRolling(ports, {
      commands: restart,
      selection,
      batch: parseBatchSpec('2'),
      capacityWaitMs: 12_000,
      capacityWaitIntervalMs: 5000,
    });
    expect(r.status).toBe('refused');
    expect(r.stopReason).toMatch(
      /batch 1: depooling 2 server\(s\) from pool eqiad_jobrunner_nginx would breach its depool threshold: only 1 can leave now .* \(after waiting 12s for capacity, capacity-wait=12s\)/,
    );
    expect(rounds()).toBe(4);
    expect(fleet.writes).toEqual([]);
  });

  it('without capacity-wait: refused at once, as before', async () => {
    const { fleet, ports, rounds } = shortFleet(undefined);
    const selection = await selectHosts(fleet.store, {
      dc: 'eqiad',
      cluster: 'jobrunner',
      hosts: new Set(['mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet']),
    });
    const r = await runRolling(ports, { commands: restart, selection, batch: parseBatchSpec('2') });
    expect(r.status).toBe('refused');
    expect(rounds()).toBe(1);
    expect(fleet.events.some((e) => e.type === 'capacity-wait')).toBe(false);
  });

  it('the deadline ends a capacity wait: stopped by the deadline (not refused), nothing changed', async () => {
    const { fleet, ports } = shortFleet(undefined);
    const selection = await selectHosts(fleet.store, {
      dc: 'eqiad',
      cluster: 'jobrunner',
      hosts: new Set(['mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet']),
    });
    const r = await runRolling(ports, {
      commands: restart,
      selection,
      batch: parseBatchSpec('2'),
      capacityWaitMs: 60_000,
      capacityWaitIntervalMs: 5000,
      deadlineMs: 7000,
    });
    expect(r.status).toBe('failed');
    expect(r.stopReason).toMatch(/^deadline=7s reached/);
    expect(fleet.clock.now()).toBeLessThan(8000);
    expect(fleet.writes).toEqual([]);
  });

  it('moving window: a host short of capacity with nothing of the run out waits too', async () => {
    const { fleet, ports } = shortFleet(1);
    fleet.down.add('mw1003.eqiad.wmnet');
    const selection = await selectHosts(fleet.store, {
      dc: 'eqiad',
      cluster: 'jobrunner',
      hosts: new Set(['mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet']),
    });
    const heal = ports.capacity.capacity;
    ports.capacity = {
      poolOf: ports.capacity.poolOf,
      capacity: async (p) => {
        const out = await heal(p);
        fleet.down.delete('mw1003.eqiad.wmnet');
        return out;
      },
    };
    const r = await runRolling(ports, {
      commands: restart,
      selection,
      batch: parseBatchSpec('1'),
      window: 'moving',
      capacityWaitMs: 30_000,
      capacityWaitIntervalMs: 1000,
    });
    expect(r.status).toBe('succeeded');
    expect(fleet.events.filter((e) => e.type === 'capacity-wait').length).toBeGreaterThanOrEqual(1);
  });
});

describe('max-failed', () => {
  it.each([
    ['25%', 4, 1],
    ['25%', 3, 0],
    ['33.3%', 3, 0],
    ['33.4%', 3, 1],
    ['100%', 5, 5],
    ['0%', 9, 0],
    ['2', 10, 2],
  ])('%s of %d hosts tolerates %d (rounded down)', (text, n, want) => {
    expect(toleratedFailures(parseMaxFailed(text), n)).toBe(want);
  });

  it.each(['120%', '-1', '1.5', 'x', '%'])('refuses %j naming it', (v) => {
    expect(maxFailedArg.check(v, 'max-failed')).toMatch(new RegExp(`^max-failed=${v.replace(/[.%]/g, '\\$&')}: `));
  });

  it('max-failed=25% of 8: two failed hosts go on, the third stops the run (no batch budget besides it)', async () => {
    const fleet = FakeFleet.cluster(8);
    for (const h of ['mw1001', 'mw1003', 'mw1005']) fleet.behaviour.set(`${h}.eqiad.wmnet`, 'action-fails');
    // batch=3: hosts left depooled use up the batch size, so later batches are of 1
    const r = await run(fleet, { batch: '3', maxFailedHosts: parseMaxFailed('25%') });
    expect(r.failed.map((f) => f.host)).toEqual(['mw1001.eqiad.wmnet', 'mw1003.eqiad.wmnet', 'mw1005.eqiad.wmnet']);
    expect(r.stopReason).toBe('3 failed host(s), more than max-failed=25% (2 of 8 selected host(s), rounded down)');
    expect(r.succeeded).toEqual(['mw1002.eqiad.wmnet', 'mw1004.eqiad.wmnet']);
    expect(r.notAttempted).toEqual(['mw1006.eqiad.wmnet', 'mw1007.eqiad.wmnet', 'mw1008.eqiad.wmnet']);
    expect(r.status).toBe('failed');
    expect(fleet.violations).toEqual([]);
  });
});

describe('budgets in a moving window', () => {
  it('max-failed=1 with window=moving: the second failed host stops new starts; the ones out finish', async () => {
    const fleet = FakeFleet.cluster(8);
    for (const h of ['mw1001', 'mw1003']) fleet.behaviour.set(`${h}.eqiad.wmnet`, 'action-fails');
    const r = await run(fleet, { batch: '3', window: 'moving', maxFailedHosts: parseMaxFailed('1') });
    expect(r.stopReason).toMatch(/^2 failed host\(s\), more than max-failed=1 \(1 of 8 selected host\(s\)\)$/);
    expect(r.failed.map((f) => f.host)).toEqual(['mw1001.eqiad.wmnet', 'mw1003.eqiad.wmnet']);
    expect(r.notAttempted.length).toBeGreaterThan(0);
    expect(r.inFlight).toEqual([]);
    expect(fleet.violations).toEqual([]);
  });

  it('deadline with window=moving: no host starts past it, the ones out finish and are back', async () => {
    const fleet = FakeFleet.cluster(6);
    const r = await run(fleet, { batch: '2', window: 'moving', deadlineMs: 500 });
    expect(r.stopReason).toMatch(/^deadline=500ms reached/);
    expect(r.inFlight).toEqual([]);
    expect(r.succeeded.length).toBeGreaterThanOrEqual(1);
    expect(r.notAttempted.length).toBeGreaterThanOrEqual(1);
    expect(everythingBack(fleet)).toBe(true);
  });
});

describe('deadline', () => {
  it('past the deadline no new batch starts; the one out finishes and is back; the report says the deadline stopped it', async () => {
    const fleet = FakeFleet.cluster(6);
    const r = await run(fleet, { batch: '1', deadlineMs: 1000, sleepMs: 200 });
    expect(r.status).toBe('failed');
    expect(r.stopReason).toMatch(/^deadline=1s reached: no new batch was started after it \(\d host\(s\) not attempted\)/);
    expect(r.deadline).toEqual({ ms: 1000, reached: true });
    expect(r.succeeded.length).toBeGreaterThanOrEqual(1);
    expect(r.succeeded.length + r.notAttempted.length).toBe(6);
    expect(r.inFlight).toEqual([]);
    expect(everythingBack(fleet)).toBe(true);
  });

  it('a deadline the run stays within changes nothing', async () => {
    const fleet = FakeFleet.cluster(4);
    const r = await run(fleet, { batch: '1', deadlineMs: 3_600_000 });
    expect(r.status).toBe('succeeded');
    expect(r.deadline).toEqual({ ms: 3_600_000, reached: false });
  });
});

describe('order', () => {
  const hosts = ['mw2.eqiad.wmnet', 'mw10.codfw.wmnet', 'cp1.eqiad.wmnet', 'mw1.codfw.wmnet', 'mw10.eqiad.wmnet'].map((host) => ({ host }));

  it('as-listed keeps the order; sorted is NodeSet order (pattern, then number)', () => {
    expect(orderHosts(hosts, { order: 'as-listed' }).map((h) => h.host)).toEqual(hosts.map((h) => h.host));
    expect(orderHosts(hosts, { order: 'sorted' }).map((h) => h.host)).toEqual([
      'cp1.eqiad.wmnet',
      'mw1.codfw.wmnet',
      'mw10.codfw.wmnet',
      'mw2.eqiad.wmnet',
      'mw10.eqiad.wmnet',
    ]);
  });

  it('shuffled: the same seed gives the same order, another seed another one', () => {
    const many = Array.from({ length: 20 }, (_, i) => ({ host: `mw${1001 + i}` }));
    const a = orderHosts(many, { order: 'shuffled', seed: 42 }).map((h) => h.host);
    expect(orderHosts(many, { order: 'shuffled', seed: 42 }).map((h) => h.host)).toEqual(a);
    expect(orderHosts(many, { order: 'shuffled', seed: 43 }).map((h) => h.host)).not.toEqual(a);
    expect([...a].sort()).toEqual(many.map((h) => h.host).sort());
    expect(seedArg.check(0, 'seed')).toMatch(/^seed=0: must be a whole number from 1/);
  });

  it('a shuffled run journals its order and seed; a resume keeps them, and refuses another order', async () => {
    const fleet = FakeFleet.cluster(6);
    const r = await run(fleet, { order: { order: 'shuffled', seed: 7 } });
    expect(r.order).toEqual({ order: 'shuffled', seed: 7 });
    expect(fleet.journalEntries[0]).toMatchObject({ type: 'lb-run', order: { order: 'shuffled', seed: 7 } });
    expect(fleet.actions.map((a) => a.host)).toEqual(
      orderHosts((await selectHosts(fleet.store, { cluster: 'jobrunner' })).hosts, { order: 'shuffled', seed: 7 }).map((h) => h.host),
    );
    expect(resumeOrder('r1', fleet.journalEntries, {})).toEqual({ order: 'shuffled', seed: 7 });
    expect(resumeOrder('r1', fleet.journalEntries, { order: 'shuffled' })).toEqual({ order: 'shuffled', seed: 7 });
    expect(() => resumeOrder('r1', fleet.journalEntries, { order: 'sorted' })).toThrow(
      /--resume r1: that run was order=shuffled seed=7, this one is order=sorted/,
    );
    expect(() => resumeOrder('r1', fleet.journalEntries, { seed: 8 })).toThrow(
      /that run was order=shuffled seed=7, this one is order=shuffled seed=8/,
    );
  });

  it('an interrupted shuffled run resumed without order= goes on in the same order', async () => {
    const fleet = FakeFleet.cluster(6);
    const ac = new AbortController();
    fleet.onAction = (h) => {
      if (fleet.actions.length === 1) ac.abort();
      void h;
    };
    await run(fleet, { order: { order: 'shuffled', seed: 11 }, signal: ac.signal });
    const first = fleet.actions.map((a) => a.host);
    fleet.onAction = undefined;
    const entries = [...fleet.journalEntries];
    const r2 = await run(fleet, { resume: { runId: 'r1', entries } });
    expect(r2.order).toEqual({ order: 'shuffled', seed: 11 });
    const all = orderHosts((await selectHosts(fleet.store, { cluster: 'jobrunner' })).hosts, { order: 'shuffled', seed: 11 }).map(
      (h) => h.host,
    );
    // the leftovers first (the host acted on), then the rest in the journaled shuffle
    expect(fleet.actions.map((a) => a.host).slice(first.length)).toEqual(all.filter((h) => !first.includes(h)));
  });
});

describe('dry-run plan', () => {
  it('shows drain per host, deadline, order, capacity-wait and budgets', async () => {
    const fleet = FakeFleet.cluster(4);
    const selection = await selectHosts(fleet.store, { cluster: 'jobrunner' });
    const plan = await planRolling(fleet.ports(), {
      selection,
      batch: parseBatchSpec('1'),
      commands: restart,
      drain: { ms: 30_000, weight: false, check: { shell: 'ss -Htn state established | wc -l' } },
      capacityWaitMs: 120_000,
      capacityWaitIntervalMs: 5000,
      maxFailedHosts: parseMaxFailed('25%'),
      deadlineMs: 3_600_000,
      order: { order: 'shuffled', seed: 5 },
    });
    const text = formatPlan(plan);
    expect(text).toContain(
      'max-failed-batches not applied, max-failed=25% (1 failed host(s) of 4 tolerated, rounded down; one more stops the run)',
    );
    expect(text).toContain("order=shuffled seed=5 (this plan's order; give seed=5 to the real run to get the same one)");
    expect(text).toContain('deadline=1h: past it no new batch starts');
    expect(text).toContain('capacity-wait=2m: a batch short of capacity waits up to that long (asking the LBs every 5s)');
    expect(text).toContain(
      'drain=30s: once every LB has the host out, wait until `ss -Htn state established | wc -l` prints 0 on the host, at most 30000 ms',
    );
    expect(text).toMatch(/ {2}mw1001\.eqiad\.wmnet: depool .*, drain until drain-check prints 0 \(at most 30s\)/);
    const w = formatPlan(
      await planRolling(fleet.ports(), { selection, batch: parseBatchSpec('1'), commands: restart, drain: { ms: 5000, weight: true } }),
    );
    expect(w).toMatch(/ {2}mw1001\.eqiad\.wmnet: weight=0, drain, then depool /);
  });
});
