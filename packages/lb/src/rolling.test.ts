import { describe, expect, it } from '@jest/globals';
import { parseBatchSpec, planBatches, parseDuration, batchSizeAt } from './batches.js';
import { planRolling, formatPlan } from './plan.js';
import { formatReport, groupOutputs } from './report.js';
import { runRolling, type RollingOptions, type RollingReport } from './rolling.js';
import { selectHosts, type SelectOptions } from './select.js';
import { FakeFleet, type HostBehaviour } from './testing/index.js';
import type { CommandOutput, HostPhase, JournalEntry, LbEvent } from './ports.js';

const restart = [{ argv: ['systemctl', 'restart', 'nginx'], timeoutMs: 1000 }];

async function run(
  fleet: FakeFleet,
  opts: Partial<Omit<RollingOptions, 'selection' | 'batch'>> & { batch?: string; select?: SelectOptions } = {},
): Promise<RollingReport> {
  const selection = await selectHosts(fleet.store, opts.select ?? { dc: 'eqiad', cluster: 'jobrunner' });
  return runRolling(fleet.ports(), { commands: restart, ...opts, selection, batch: parseBatchSpec(opts.batch ?? '2') });
}

function phasesOf(events: LbEvent[], host: string): HostPhase[] {
  return events.flatMap((e) => (e.type === 'host-phase' && e.host === host ? [e.phase] : []));
}

function everythingBack(fleet: FakeFleet): boolean {
  return [...fleet.objects.values()].every((o) => o.pooled === fleet.initial.get(o.key));
}

describe('batch specs', () => {
  it.each([
    ['3', 10, [3, 3, 3, 1]],
    // percentages round down, at least one host (Kubernetes' maxUnavailable): 10% of 25 is 2, 30% of 4 is 1
    ['10%', 25, [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1]],
    ['30%', 4, [1, 1, 1, 1]],
    ['10%', 30, [3, 3, 3, 3, 3, 3, 3, 3, 3, 3]],
    ['99%', 3, [2, 1]],
    ['1%', 10, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]],
    ['1,3,25%', 20, [1, 3, 5, 5, 5, 1]],
    ['1,2', 7, [1, 2, 2, 2]],
  ])('%s over %d hosts → %j', (spec, n, sizes) => {
    const items = Array.from({ length: n }, (_, i) => i);
    expect(planBatches(items, parseBatchSpec(spec)).map((b) => b.length)).toEqual(sizes);
  });

  it.each(['0', '100%', '0%', 'x', '1,,2', '', '-1', '2.5'])('refuses %j with the accepted forms', (spec) => {
    expect(() => parseBatchSpec(spec)).toThrow(/batch=/);
  });

  it('reads durations', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1.5')).toBe(1500);
    expect(parseDuration(0)).toBe(0);
    expect(() => parseDuration('soon', 'sleep')).toThrow(/sleep=soon: expected a duration like/);
  });

  it('a negative duration is called negative, not an unknown shape', () => {
    expect(() => parseDuration('-1', 'sleep')).toThrow('sleep=-1: a duration cannot be negative');
    expect(() => parseDuration('-5s', 'verify-timeout')).toThrow('verify-timeout=-5s: a duration cannot be negative');
  });

  it('the ramp repeats its last element', () => {
    const s = parseBatchSpec('1,25%');
    expect([0, 1, 2, 9].map((i) => batchSizeAt(s, i, 40))).toEqual([1, 10, 10, 10]);
  });
});

describe('selection', () => {
  it('depools only pooled=yes objects of the selected services and says why it leaves the others', async () => {
    const fleet = FakeFleet.cluster(4, {
      pooled: { 'mw1002.eqiad.wmnet': { 'php-fpm': 'no' }, 'mw1004.eqiad.wmnet': { nginx: 'inactive', 'php-fpm': 'inactive' } },
    });
    const sel = await selectHosts(fleet.store, { dc: 'eqiad', cluster: 'jobrunner' });
    expect(sel.hosts.map((h) => h.host)).toEqual(['mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet', 'mw1003.eqiad.wmnet']);
    expect(sel.skipped).toEqual([{ host: 'mw1004.eqiad.wmnet', why: expect.stringMatching(/inactive/) }]);
    expect(sel.clusterSize).toBe(3);
    const h2 = sel.hosts[1]!;
    expect(h2.depool.map((o) => o.tags.service)).toEqual(['nginx']);
    expect(h2.leftAlone).toEqual([
      expect.objectContaining({ service: 'php-fpm', pooled: 'no', why: expect.stringMatching(/already pooled=no/) }),
    ]);

    const only = await selectHosts(fleet.store, { cluster: 'jobrunner', services: ['php-fpm'] });
    expect(only.hosts[0]!.depool.map((o) => o.tags.service)).toEqual(['php-fpm']);
    expect(only.hosts[0]!.leftAlone).toEqual([expect.objectContaining({ service: 'nginx', why: 'service not selected' })]);
  });

  it('a single host is measured against its own cluster', async () => {
    const fleet = FakeFleet.cluster(4);
    const sel = await selectHosts(fleet.store, { hosts: new Set(['mw1003.eqiad.wmnet']) });
    expect(sel.hosts.map((h) => h.host)).toEqual(['mw1003.eqiad.wmnet']);
    expect(sel.clusterSize).toBe(4);
  });

  it('an empty selection is an error naming it', async () => {
    const fleet = FakeFleet.cluster(2);
    await expect(selectHosts(fleet.store, { cluster: 'appserver' })).rejects.toMatchObject({
      code: 'ERR_LB_NOTHING_SELECTED',
      message: expect.stringMatching(/cluster=appserver/),
    });
  });
});

describe('rolling operation', () => {
  it('restarts every host in lockstep batches, verifying out before acting and in before done', async () => {
    const fleet = FakeFleet.cluster(8);
    const r = await run(fleet, { batch: '2', sleepMs: 5000 });
    expect(r.status).toBe('succeeded');
    expect(r.succeeded).toHaveLength(8);
    expect(r.failed).toEqual([]);
    expect(fleet.violations).toEqual([]);
    expect(fleet.maxDepooledHosts).toBe(2);
    expect(everythingBack(fleet)).toBe(true);
    expect(fleet.actions.map((a) => a.host)).toEqual([...Array(8)].map((_, i) => `mw${1001 + i}.eqiad.wmnet`));
    expect(phasesOf(fleet.events, 'mw1003.eqiad.wmnet')).toEqual([
      'depooling',
      'depooled',
      'verified-out',
      'acting',
      'acted',
      'repooling',
      'repooled',
      'done',
    ]);
    // lockstep: batch n+1 starts only after batch n is done
    const order = fleet.events
      .filter((e) => e.type === 'batch-started' || e.type === 'batch-done')
      .map((e) => `${e.type}:${(e as { batch: number }).batch}`);
    expect(order).toEqual([1, 2, 3, 4].flatMap((b) => [`batch-started:${b}`, `batch-done:${b}`]));
    // sleeps between batches, not after the last
    expect(fleet.events.filter((e) => e.type === 'sleep').map((e) => (e as { batch: number }).batch)).toEqual([1, 2, 3]);
    // the journal has every transition of every host
    expect(fleet.journalEntries.filter((e) => e.host === 'mw1008.eqiad.wmnet').map((e) => e.phase)).toEqual(
      phasesOf(fleet.events, 'mw1008.eqiad.wmnet'),
    );
    expect(formatReport(r)).toMatch(/^All hosts done: 8 succeeded, 0 failed/);
  });

  it('hosts left depooled by a failure shrink the next batches: the count says so before the batch (2/3, 3/3), never 2/2 then 3/3', async () => {
    const fleet = FakeFleet.cluster(6);
    fleet.behaviour.set('mw1001.eqiad.wmnet', 'action-fails');
    const r = await run(fleet, { batch: '2', maxFailedBatches: 1 });
    expect(r.failed.map((f) => f.host)).toEqual(['mw1001.eqiad.wmnet']);
    const counts = fleet.events.flatMap((e) => (e.type === 'batch-started' ? [`${e.batch}/${e.of}`] : []));
    expect(counts).toEqual(['1/3', '2/5', '3/5', '4/5', '5/5']);
    expect(fleet.events).toContainEqual({
      type: 'warning',
      message: expect.stringMatching(/^re-planned: 1 host\(s\) left depooled .* so 5 batches instead of 3$/),
    });
  });

  it('never writes objects that were no or inactive before the run, and still acts on their hosts', async () => {
    const fleet = FakeFleet.cluster(6, {
      pooled: { 'mw1001.eqiad.wmnet': { nginx: 'no', 'php-fpm': 'no' }, 'mw1002.eqiad.wmnet': { 'php-fpm': 'inactive' } },
    });
    const r = await run(fleet, { batch: '1' });
    expect(r.status).toBe('succeeded');
    expect(fleet.violations).toEqual([]);
    expect(fleet.writes.some((w) => w.key.endsWith('mw1001.eqiad.wmnet') || w.key.includes('php-fpm/mw1002'))).toBe(false);
    expect(fleet.actions.map((a) => a.host)).toContain('mw1001.eqiad.wmnet');
    expect(everythingBack(fleet)).toBe(true);
  });

  it('refuses to take the whole cluster as one batch', async () => {
    const fleet = FakeFleet.cluster(3);
    await expect(run(fleet, { batch: '3' })).rejects.toMatchObject({ code: 'ERR_LB_WHOLE_CLUSTER' });
    await expect(run(fleet, { batch: '1,3' })).rejects.toMatchObject({ code: 'ERR_LB_WHOLE_CLUSTER' });
    // a percentage rounds down, so only a one-host cluster is wholly taken by one (at least one host)
    await expect(run(FakeFleet.cluster(1), { batch: '50%' })).rejects.toMatchObject({ code: 'ERR_LB_WHOLE_CLUSTER' });
    expect(fleet.writes).toEqual([]);
  });

  it('"never the whole cluster" holds per (dc, cluster): without dc=, a batch may not take all of one dc\'s hosts out', async () => {
    const hosts = [
      ...[1, 2].map((i) => ({ name: `mw230${i}.codfw.wmnet`, dc: 'codfw' })),
      ...[1, 2, 3, 4].map((i) => ({ name: `mw130${i}.eqiad.wmnet`, dc: 'eqiad' })),
    ];
    const fleet = new FakeFleet({ hosts, threshold: 0 });
    const sel = await selectHosts(fleet.store, { cluster: 'jobrunner' });
    expect(sel.groups).toEqual([
      { dc: 'codfw', cluster: 'jobrunner', size: 2, selected: 2 },
      { dc: 'eqiad', cluster: 'jobrunner', size: 4, selected: 4 },
    ]);
    await expect(runRolling(fleet.ports(), { selection: sel, batch: parseBatchSpec('2'), commands: restart })).rejects.toMatchObject({
      code: 'ERR_LB_WHOLE_CLUSTER',
      message: expect.stringMatching(/a batch of 2 host\(s\) would take all 2 host\(s\) of dc=codfw cluster=jobrunner out at once/),
    });
    await expect(planRolling(fleet.ports(), { selection: sel, batch: parseBatchSpec('1,2'), commands: restart })).rejects.toMatchObject({
      code: 'ERR_LB_WHOLE_CLUSTER',
    });
    expect(fleet.writes).toEqual([]);
    // batch 1 is fine; so is batch 2 over part of codfw's hosts, or over eqiad alone
    expect((await runRolling(fleet.ports(), { selection: sel, batch: parseBatchSpec('1'), commands: restart })).status).toBe('succeeded');
    const some = await selectHosts(fleet.store, {
      cluster: 'jobrunner',
      hosts: new Set(['mw2301.codfw.wmnet', 'mw1301.eqiad.wmnet', 'mw1302.eqiad.wmnet']),
    });
    expect((await runRolling(fleet.ports(), { selection: some, batch: parseBatchSpec('2'), commands: restart })).status).toBe('succeeded');
    const eqiad = await selectHosts(fleet.store, { dc: 'eqiad', cluster: 'jobrunner' });
    expect((await runRolling(fleet.ports(), { selection: eqiad, batch: parseBatchSpec('2'), commands: restart })).status).toBe('succeeded');
    expect(fleet.violations).toEqual([]);
  });

  it('refuses objects without a PyBal pool before any change', async () => {
    const fleet = FakeFleet.cluster(3, { unpooledServices: ['php-fpm'] });
    await expect(run(fleet, { batch: '1' })).rejects.toMatchObject({ code: 'ERR_LB_NO_POOL' });
    expect(fleet.writes).toEqual([]);
  });

  type Case = [
    string,
    { behaviour: Record<number, HostBehaviour>; batch: string; maxFailedBatches?: number; n?: number },
    { status: string; failed: string[]; stillDepooled: string[]; notAttempted: number; failedBatches: number; actions: number },
  ];
  const cases: Case[] = [
    [
      'a failing restart stops the run (max-failed-batches=0)',
      { behaviour: { 3: 'action-fails' }, batch: '2' },
      { status: 'failed', failed: ['mw1003'], stillDepooled: ['mw1003'], notAttempted: 4, failedBatches: 1, actions: 4 },
    ],
    [
      'max-failed-batches=1 continues past one failed batch',
      { behaviour: { 1: 'action-fails' }, batch: '2', maxFailedBatches: 1 },
      { status: 'failed', failed: ['mw1001'], stillDepooled: ['mw1001'], notAttempted: 0, failedBatches: 1, actions: 8 },
    ],
    [
      '…and stops at the second',
      { behaviour: { 1: 'action-fails', 4: 'action-fails' }, batch: '2', maxFailedBatches: 1 },
      {
        status: 'failed',
        failed: ['mw1001', 'mw1004'],
        stillDepooled: ['mw1001', 'mw1004'],
        notAttempted: 4,
        failedBatches: 2,
        actions: 4,
      },
    ],
    [
      'a health check that never passes leaves the host depooled',
      { behaviour: { 2: 'unhealthy' }, batch: '2' },
      { status: 'failed', failed: ['mw1002'], stillDepooled: ['mw1002'], notAttempted: 6, failedBatches: 1, actions: 2 },
    ],
    [
      'a health check that passes on the third try is fine',
      { behaviour: { 2: 'unhealthy-then-ok' }, batch: '2' },
      { status: 'succeeded', failed: [], stillDepooled: [], notAttempted: 0, failedBatches: 0, actions: 8 },
    ],
    [
      'a host not back on the LBs after repool is depooled again',
      { behaviour: { 5: 'down-after-action' }, batch: '2', n: 10 },
      { status: 'failed', failed: ['mw1005'], stillDepooled: ['mw1005'], notAttempted: 4, failedBatches: 1, actions: 6 },
    ],
  ];
  it.each(cases)('%s', async (_name, c, want) => {
    const fleet = FakeFleet.cluster(c.n ?? 8);
    for (const [i, b] of Object.entries(c.behaviour)) fleet.behaviour.set(`mw${1000 + Number(i)}.eqiad.wmnet`, b);
    const r = await run(fleet, {
      batch: c.batch,
      maxFailedBatches: c.maxFailedBatches ?? 0,
      healthCheck: { command: { shell: 'check-health' }, timeoutMs: 10_000, intervalMs: 1000 },
    });
    const short = (h: string): string => h.split('.')[0]!;
    expect(r.status).toBe(want.status);
    expect(r.failed.map((f) => short(f.host))).toEqual(want.failed);
    expect(r.failed.filter((f) => f.stillDepooled).map((f) => short(f.host))).toEqual(want.stillDepooled);
    expect(r.notAttempted).toHaveLength(want.notAttempted);
    expect(r.failedBatches).toBe(want.failedBatches);
    expect(fleet.actions).toHaveLength(want.actions);
    expect(fleet.violations).toEqual([]);
    // failed hosts really are still depooled in conftool; every other host is back as it was
    for (const f of r.failed) expect(fleet.state(f.host)).toBe('no');
    expect(fleet.depooledByRun().map(short).sort()).toEqual(want.stillDepooled);
    // never more hosts depooled at once than the batch size, even with failed hosts left out
    expect(fleet.maxDepooledHosts).toBeLessThanOrEqual(Number(c.batch));
    if (want.failed.length) expect(formatReport(r)).toMatch(/STILL DEPOOLED: mw\d+\.eqiad\.wmnet/);
  });

  it('refuses a batch that would breach the depool threshold before any change, with the numbers', async () => {
    const fleet2 = FakeFleet.cluster(4);
    fleet2.down.add('mw1004.eqiad.wmnet');
    const r2 = await run(fleet2, { batch: '2' });
    expect(r2.status).toBe('refused');
    expect(r2.stopReason).toMatch(
      /pool eqiad_jobrunner_(nginx|php-fpm) would breach its depool threshold: only 1 can leave now \(3 of 4 up and enabled, threshold 0.5\)/,
    );
    expect(fleet2.writes).toEqual([]);
    expect(fleet2.actions).toEqual([]);
    expect(r2.notAttempted).toHaveLength(4);
  });

  // Someone else's host fails between the capacity check and the depool: the pool would be below
  // its threshold while the batch acts. The Wikitech page's PyBal keeps the batch pooled (verify out
  // fails); PyBal's own coordinator.py takes it out anyway, so the run checks the pool's numbers in
  // its verification too. Either way nothing acts and the batch is put back.
  it.each(['wikitech', 'upstream'] as const)(
    'a host failing right after the capacity check (PyBal %s): nothing acts, the batch is put back',
    async (pybalMode) => {
      const fleet = FakeFleet.cluster(4, { pybalMode });
      fleet.onWrite = (key, to) => {
        if (to === 'no' && key.endsWith('/nginx/mw1001.eqiad.wmnet')) fleet.down.add('mw1004.eqiad.wmnet');
      };
      const r = await run(fleet, { batch: '2' });
      expect(fleet.violations).toEqual([]);
      expect(fleet.actions).toEqual([]);
      expect(r.status).toBe('failed');
      expect(r.failed.map((f) => [f.host, f.stillDepooled])).toEqual([
        ['mw1001.eqiad.wmnet', false],
        ['mw1002.eqiad.wmnet', false],
      ]);
      expect(r.failed[0]!.reason).toMatch(
        pybalMode === 'wikitech'
          ? /^depool not verified on every LB: lvs1019 keeps mw1001\.eqiad\.wmnet pooled/
          : /^out on every LB, but below the depool threshold with this batch out: eqiad_jobrunner_(nginx|php-fpm) on lvs1019 \(1 of 4 up and enabled, threshold 0\.5\).*; not acting while it is$/,
      );
      expect(everythingBack(fleet)).toBe(true);
    },
  );

  it.each(['down', 'error'] as const)('an LB that is %s refuses the batch before any change', async (mode) => {
    const fleet = FakeFleet.cluster(6);
    fleet.lbMode.set('lvs1020', mode);
    const r = await run(fleet, { batch: '2' });
    expect(r.status).toBe('refused');
    expect(r.stopReason).toMatch(/capacity of pool .* is unknown \(lvs1020/);
    expect(fleet.writes).toEqual([]);
  });

  it('an LB that lags past the deadline: no action, the batch is put back and counts as failed', async () => {
    const fleet = FakeFleet.cluster(6);
    let writes = 0;
    fleet.onAction = () => undefined;
    const ports = fleet.ports();
    const emit = ports.emit;
    ports.emit = (e) => {
      emit(e);
      // the LB starts lagging once batch 2 is depooled
      if (e.type === 'host-phase' && e.phase === 'depooled' && e.batch === 2) fleet.lbMode.set('lvs1019', 'lag');
      writes = fleet.writes.length;
    };
    const selection = await selectHosts(fleet.store, { cluster: 'jobrunner' });
    const r = await runRolling(ports, { selection, batch: parseBatchSpec('2'), commands: restart, verifyTimeoutMs: 5000 });
    expect(writes).toBeGreaterThan(0);
    expect(r.status).toBe('failed');
    expect(r.failedBatches).toBe(1);
    expect(r.succeeded).toHaveLength(2);
    // Put back, but the lagging LB cannot confirm them in either: taken out again (fail closed),
    // and reported as conftool holds them (out, under the run's marker), not as "put back".
    expect(r.failed.map((f) => [f.host, f.stillDepooled])).toEqual([
      ['mw1003.eqiad.wmnet', true],
      ['mw1004.eqiad.wmnet', true],
    ]);
    expect(r.failed[0]!.reason).toMatch(
      /depool not verified on every LB: lvs1019: still shows the old state.*repool not verified on every LB/,
    );
    expect(r.failed[0]!.objects?.map((o) => [o.pooled, o.owner?.runId])).toEqual([
      ['no', 'lb-run'],
      ['no', 'lb-run'],
    ]);
    expect(fleet.actions.map((a) => a.host)).toEqual(['mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet']);
    expect(fleet.depooledByRun().sort()).toEqual(['mw1003.eqiad.wmnet', 'mw1004.eqiad.wmnet']);
    expect(phasesOf(fleet.events, 'mw1003.eqiad.wmnet')).toEqual(['depooling', 'depooled', 'failed']);
  });

  it('etcd unreachable mid-run: stops before its next write and reports what is left where', async () => {
    const fleet = FakeFleet.cluster(6);
    fleet.failWritesAfter = 10; // batch 1: 4 depool + 4 repool writes; batch 2 fails while depooling
    const r = await run(fleet, { batch: '2' });
    expect(r.status).toBe('failed');
    expect(r.stopReason).toMatch(/cannot write conftool: etcd unreachable/);
    expect(r.succeeded).toHaveLength(2);
    expect(fleet.actions).toHaveLength(2);
    expect(fleet.violations).toEqual([]);
    // the two objects batch 2 managed to depool could not be put back: reported as still depooled
    expect(r.failed.filter((f) => f.stillDepooled).map((f) => f.host)).toEqual(['mw1003.eqiad.wmnet']);
    expect(r.notAttempted).toHaveLength(2);
  });

  it('a lost journal stops the run before the next step', async () => {
    const fleet = FakeFleet.cluster(6);
    fleet.failJournalAfter = 20;
    const r = await run(fleet, { batch: '2' });
    expect(r.status).toBe('failed');
    expect(r.stopReason).toMatch(/cannot write the run journal/);
    expect(fleet.violations).toEqual([]);
    expect(r.notAttempted.length).toBeGreaterThan(0);
  });

  it('SIGINT mid-batch: the running action finishes, nothing new starts; --resume repools and finishes', async () => {
    const fleet = FakeFleet.cluster(8);
    const ac = new AbortController();
    fleet.onAction = (host) => {
      if (host === 'mw1003.eqiad.wmnet') ac.abort();
    };
    const r = await run(fleet, { batch: '2', signal: ac.signal, sleepMs: 1000 });
    expect(r.status).toBe('interrupted');
    expect(r.succeeded).toEqual(['mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet']);
    expect(r.inFlight.map((h) => [h.host, h.phase])).toEqual([
      ['mw1003.eqiad.wmnet', 'acted'],
      ['mw1004.eqiad.wmnet', 'acted'],
    ]);
    expect(r.inFlight[0]!.depooledObjects).toHaveLength(2);
    expect(r.notAttempted).toHaveLength(4);
    expect(fleet.depooledByRun().sort()).toEqual(['mw1003.eqiad.wmnet', 'mw1004.eqiad.wmnet']);
    expect(formatReport(r)).toMatch(/Stopped at acted: mw1003.eqiad.wmnet, STILL DEPOOLED/);
    // the resume hint names the run, not a placeholder
    expect(formatReport(r, { runId: '20261202T080000-abcdef' })).toContain(
      '`cookbook --resume 20261202T080000-abcdef …` (the same cookbook and arguments)',
    );
    expect(formatReport(r)).not.toContain('RUN_ID');

    fleet.onAction = undefined;
    const entries = [...fleet.journalEntries];
    fleet.events.length = 0;
    const r2 = await run(fleet, { batch: '2', resume: { runId: 'run-1', entries } });
    expect(r2.status).toBe('succeeded');
    expect(r2.succeeded.sort()).toEqual([3, 4, 5, 6, 7, 8].map((i) => `mw100${i}.eqiad.wmnet`));
    expect(r2.skipped.map((s) => s.host)).toEqual(['mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet']);
    // leftovers first, without acting again
    expect(phasesOf(fleet.events, 'mw1003.eqiad.wmnet')).toEqual(['repooling', 'repooled', 'done']);
    expect(fleet.actions.filter((a) => a.host === 'mw1003.eqiad.wmnet')).toHaveLength(1);
    expect(fleet.actions).toHaveLength(8);
    expect(everythingBack(fleet)).toBe(true);
    expect(fleet.violations).toEqual([]);
    expect(fleet.maxDepooledHosts).toBe(2);
  });

  it('resume after a crash: a host caught while acting is reported, not guessed; one caught while depooling continues', async () => {
    const fleet = FakeFleet.cluster(6);
    const ac = new AbortController();
    fleet.onAction = (host) => {
      if (host === 'mw1003.eqiad.wmnet') ac.abort();
    };
    await run(fleet, { batch: '2', signal: ac.signal });
    // Cut the journal as if the process was killed -9 right after mw1003/mw1004 entered "acting".
    const all = [...fleet.journalEntries];
    const cut = all.findIndex((e) => e.host === 'mw1004.eqiad.wmnet' && e.phase === 'acting');
    const entries = all.slice(0, cut + 1);
    fleet.onAction = undefined;
    const r = await run(fleet, { batch: '2', resume: { runId: 'run-9', entries } });
    expect(r.failed.map((f) => [f.host, f.stillDepooled])).toEqual([
      ['mw1003.eqiad.wmnet', true],
      ['mw1004.eqiad.wmnet', true],
    ]);
    expect(r.failed[0]!.reason).toMatch(/stopped while acting on it: outcome unknown/);
    expect(r.status).toBe('failed');
    // both leftovers stay out and use the whole batch budget: nothing else is depooled
    expect(r.stopReason).toMatch(/2 host\(s\) are still depooled/);
    expect(fleet.actions.filter((a) => a.host === 'mw1003.eqiad.wmnet')).toHaveLength(1);
    expect(fleet.maxDepooledHosts).toBe(2);

    // A crash between the "depooling" entry and the "depooled" one: the write did happen.
    const fleet2 = FakeFleet.cluster(6);
    const sel = await selectHosts(fleet2.store, { cluster: 'jobrunner' });
    const h = sel.hosts[0]!;
    // the crashed run's own write (its marker: the journal has no lb-run entry, so the run id)
    fleet2.byHand(h.depool, 'no', { runId: 'run-2', user: '', reason: '', time: '2026-12-04T00:00:00.000Z' });
    const r2 = await run(fleet2, {
      batch: '2',
      resume: {
        runId: 'run-2',
        entries: [{ type: 'lb-host-phase', host: h.host, phase: 'depooling', batch: 1, objects: h.depool.map((o) => o.key) }],
      },
    });
    expect(r2.status).toBe('succeeded');
    expect(phasesOf(fleet2.events, h.host)).toEqual(['verified-out', 'acting', 'acted', 'repooling', 'repooled', 'done']);
    expect(everythingBack(fleet2)).toBe(true);
  });

  it('a resumed run can itself be resumed: finished hosts are carried over', async () => {
    const fleet = FakeFleet.cluster(6);
    const ac = new AbortController();
    fleet.onAction = (host) => {
      if (host === 'mw1003.eqiad.wmnet') ac.abort();
    };
    await run(fleet, { batch: '2', signal: ac.signal });
    const first = [...fleet.journalEntries];
    fleet.journalEntries.length = 0;
    const ac2 = new AbortController();
    fleet.onAction = (host) => {
      if (host === 'mw1005.eqiad.wmnet') ac2.abort();
    };
    await run(fleet, { batch: '2', signal: ac2.signal, resume: { runId: 'run-1', entries: first } });
    const second = [...fleet.journalEntries];
    fleet.onAction = undefined;
    const r = await run(fleet, { batch: '2', resume: { runId: 'run-2', entries: second } });
    expect(r.status).toBe('succeeded');
    expect(r.skipped.map((s) => s.host).sort()).toEqual([
      'mw1001.eqiad.wmnet',
      'mw1002.eqiad.wmnet',
      'mw1003.eqiad.wmnet',
      'mw1004.eqiad.wmnet',
    ]);
    expect(fleet.actions).toHaveLength(6);
    expect(everythingBack(fleet)).toBe(true);
  });
});

describe('nothing acts on a host before every LB has it out, whatever this run wrote', () => {
  it('a host whose objects are all `no` but that PyBal keeps pooled (pool below threshold) is not acted on, stays as it was, and is reported', async () => {
    const fleet = FakeFleet.cluster(4, {
      pooled: { 'mw1001.eqiad.wmnet': { nginx: 'no', 'php-fpm': 'no' }, 'mw1002.eqiad.wmnet': { nginx: 'no', 'php-fpm': 'no' } },
    });
    fleet.down.add('mw1003.eqiad.wmnet');
    const o = [...fleet.objects.values()].find((x) => x.tags.name === 'mw1001.eqiad.wmnet')!;
    expect(fleet.lbView(o).pooled).toBe(true); // force-pooled: only mw1004 is up and enabled
    const r = await run(fleet, { batch: '1', select: { cluster: 'jobrunner', hosts: new Set(['mw1001.eqiad.wmnet']) } });
    expect(fleet.actions).toEqual([]);
    expect(fleet.violations).toEqual([]);
    expect(fleet.writes).toEqual([]);
    expect(r.status).toBe('failed');
    expect(r.failedBatches).toBe(1);
    expect(r.failed).toEqual([
      expect.objectContaining({
        host: 'mw1001.eqiad.wmnet',
        stillDepooled: false,
        reason: expect.stringMatching(/depool not verified on every LB: lvs1019 keeps mw1001\.eqiad\.wmnet pooled/),
      }),
    ]);
    expect(fleet.events.some((e) => e.type === 'verification' && e.direction === 'out' && !e.ok)).toBe(true);
    expect(phasesOf(fleet.events, 'mw1001.eqiad.wmnet')).toEqual(['depooled', 'put-back']);
  });

  it('the `no` objects of a host are checked in conftool again: one set back to yes since the selection means the host is not out; its batch is put back', async () => {
    const fleet = FakeFleet.cluster(6, { pooled: { 'mw1002.eqiad.wmnet': { 'php-fpm': 'no' } } });
    const selection = await selectHosts(fleet.store, { cluster: 'jobrunner' });
    // Someone pools mw1002's php-fpm by hand after the selection was read.
    [...fleet.objects.values()].find((x) => x.tags.name === 'mw1002.eqiad.wmnet' && x.tags.service === 'php-fpm')!.pooled = 'yes';
    fleet.initial.set('/conftool/v1/pools/eqiad/jobrunner/php-fpm/mw1002.eqiad.wmnet', 'yes');
    const r = await runRolling(fleet.ports(), { selection, batch: parseBatchSpec('2'), commands: restart });
    expect(fleet.actions).toEqual([]);
    expect(fleet.violations).toEqual([]);
    expect(r.status).toBe('failed');
    expect(r.failed.map((f) => [f.host, f.stillDepooled])).toEqual([
      ['mw1001.eqiad.wmnet', false],
      ['mw1002.eqiad.wmnet', false],
    ]);
    expect(r.failed[1]!.reason).toMatch(/not out of its pools: eqiad\/jobrunner\/php-fpm\/mw1002\.eqiad\.wmnet is pooled=yes in conftool/);
    expect(everythingBack(fleet)).toBe(true);
  });

  it('objects of services not selected may stay pooled; every selected one, `no` included, is verified out', async () => {
    const fleet = FakeFleet.cluster(6, { pooled: { 'mw1001.eqiad.wmnet': { nginx: 'no' } } });
    fleet.notSelected.add('php-fpm');
    const seen: string[][] = [];
    const ports = fleet.ports();
    const verifyOut = ports.verifier.verifyOut.bind(ports.verifier);
    ports.verifier = { ...ports.verifier, verifyOut: async (objs, o) => (seen.push(objs.map((x) => x.key)), verifyOut(objs, o)) };
    const selection = await selectHosts(fleet.store, { cluster: 'jobrunner', services: ['nginx'] });
    const r = await runRolling(ports, { selection, batch: parseBatchSpec('1'), commands: restart });
    expect(r.status).toBe('succeeded');
    expect(fleet.violations).toEqual([]);
    expect(seen[0]).toEqual(['/conftool/v1/pools/eqiad/jobrunner/nginx/mw1001.eqiad.wmnet']);
  });
});

describe('resume re-checks what the journal says', () => {
  async function interruptedAtVerifiedOut(): Promise<{ fleet: FakeFleet; entries: JournalEntry[] }> {
    const fleet = FakeFleet.cluster(6);
    const ac = new AbortController();
    const ports = fleet.ports();
    const emit = ports.emit;
    // SIGINT while batch 2 waits for the LBs: its hosts are left at verified-out
    ports.emit = (e) => {
      emit(e);
      if (e.type === 'host-phase' && e.phase === 'verified-out' && e.batch === 2) ac.abort();
    };
    const selection = await selectHosts(fleet.store, { cluster: 'jobrunner' });
    const r = await runRolling(ports, {
      selection,
      batch: parseBatchSpec('2'),
      commands: restart,
      signal: ac.signal,
      scope: { cluster: 'jobrunner' },
    });
    expect(r.inFlight.map((h) => `${h.host}@${h.phase}`)).toEqual(['mw1003.eqiad.wmnet@verified-out', 'mw1004.eqiad.wmnet@verified-out']);
    return { fleet, entries: [...fleet.journalEntries] };
  }

  it('a leftover at verified-out that was pooled again by hand is not acted on: conftool and the LBs are checked again first', async () => {
    const { fleet, entries } = await interruptedAtVerifiedOut();
    // the SRE puts mw1003 back by hand (what sre.lb.pool does)
    fleet.byHand(
      [...fleet.objects.values()].filter((o) => o.tags.name === 'mw1003.eqiad.wmnet'),
      'yes',
      null,
    );
    const before = fleet.actions.length;
    const r = await run(fleet, {
      batch: '2',
      select: { cluster: 'jobrunner' },
      resume: { runId: 'r1', entries },
      scope: { cluster: 'jobrunner' },
    });
    expect(fleet.actions.slice(before).filter((a) => a.host === 'mw1003.eqiad.wmnet')).toEqual([]);
    expect(fleet.violations).toEqual([]);
    expect(r.failed).toContainEqual(
      expect.objectContaining({
        host: 'mw1003.eqiad.wmnet',
        stillDepooled: false,
        reason: expect.stringMatching(/not out of its pools: .*mw1003.* pooled=yes in conftool/),
      }),
    );
    expect(fleet.state('mw1003.eqiad.wmnet')).toBe('yes');
    // mw1004, put back with its batch, is back as it was
    expect(fleet.state('mw1004.eqiad.wmnet')).toBe('yes');
  });

  it('an untouched leftover at verified-out is verified out again before the action', async () => {
    const { fleet, entries } = await interruptedAtVerifiedOut();
    fleet.events.length = 0;
    const r = await run(fleet, {
      batch: '2',
      select: { cluster: 'jobrunner' },
      resume: { runId: 'r1', entries },
      scope: { cluster: 'jobrunner' },
    });
    expect(r.status).toBe('succeeded');
    expect(phasesOf(fleet.events, 'mw1003.eqiad.wmnet')).toEqual(['verified-out', 'acting', 'acted', 'repooling', 'repooled', 'done']);
    const v = fleet.events.find((e) => e.type === 'verification' && e.direction === 'out');
    expect(v).toMatchObject({ batch: 0, hosts: ['mw1003.eqiad.wmnet', 'mw1004.eqiad.wmnet'], ok: true });
    expect(fleet.violations).toEqual([]);
  });

  it.each([
    ['cluster', { cluster: 'appserver' }],
    ['dc', { cluster: 'jobrunner', dc: 'eqiad' }],
    ['services', { cluster: 'jobrunner', services: ['nginx'] }],
  ])('--resume with a different %s is refused before anything is written', async (_what, scope) => {
    const { fleet, entries } = await interruptedAtVerifiedOut();
    const writes = fleet.writes.length;
    await expect(
      run(fleet, { batch: '2', select: { cluster: 'jobrunner' }, resume: { runId: 'r1', entries }, scope }),
    ).rejects.toMatchObject({
      code: 'ERR_LB_RESUME_MISMATCH',
      message: expect.stringMatching(/--resume r1: that run was dc=\(all\) cluster=jobrunner services=\(all\), this one is/),
    });
    expect(fleet.writes.length).toBe(writes);
  });

  it('a carried failed host someone repooled since no longer uses up the batch budget', async () => {
    const fleet = FakeFleet.cluster(6);
    fleet.behaviour.set('mw1001.eqiad.wmnet', 'action-fails');
    const r1 = await run(fleet, { batch: '1', select: { cluster: 'jobrunner' } });
    expect(r1.failed).toEqual([expect.objectContaining({ host: 'mw1001.eqiad.wmnet', stillDepooled: true })]);
    fleet.byHand(
      [...fleet.objects.values()].filter((o) => o.tags.name === 'mw1001.eqiad.wmnet'),
      'yes',
      null,
    );
    fleet.behaviour.delete('mw1001.eqiad.wmnet');
    const r2 = await run(fleet, {
      batch: '1',
      select: { cluster: 'jobrunner' },
      resume: { runId: 'r1', entries: [...fleet.journalEntries] },
    });
    expect(r2.stopReason).toBeUndefined();
    expect(r2.succeeded).toHaveLength(5);
    expect(r2.failed).toEqual([expect.objectContaining({ host: 'mw1001.eqiad.wmnet', stillDepooled: false })]);
  });
});

describe('errors other than a stop still end in a report', () => {
  it('a host lock that cannot be taken (wait timed out): stop with the report, the batch untouched', async () => {
    const fleet = FakeFleet.cluster(6);
    const ports = fleet.ports();
    let n = 0;
    ports.lockHosts = async () => {
      if (++n === 2) throw Object.assign(new Error('lock hosts/mw1003.eqiad.wmnet busy (timeout)'), { code: 'ERR_LOCK_TIMEOUT' });
    };
    const selection = await selectHosts(fleet.store, { cluster: 'jobrunner' });
    const r = await runRolling(ports, { selection, batch: parseBatchSpec('2'), commands: restart });
    expect(r.status).toBe('failed');
    expect(r.stopReason).toMatch(
      /cannot lock the hosts of batch 2 \(lock hosts\/mw1003\.eqiad\.wmnet busy \(timeout\) \[ERR_LOCK_TIMEOUT\]\); nothing of it was touched/,
    );
    expect(r.succeeded).toEqual(['mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet']);
    expect(r.notAttempted).toEqual(['mw1003.eqiad.wmnet', 'mw1004.eqiad.wmnet', 'mw1005.eqiad.wmnet', 'mw1006.eqiad.wmnet']);
    expect(fleet.depooledByRun()).toEqual([]);
  });

  it('the lease lost as the action starts (the runner refuses to run): the batch is put back, reported, stop', async () => {
    const fleet = FakeFleet.cluster(6);
    const ports = fleet.ports();
    const run0 = ports.executor.run.bind(ports.executor);
    ports.executor = {
      run: async (h, c, o) =>
        h.includes('mw1003.eqiad.wmnet')
          ? Promise.reject(Object.assign(new Error("the run's lock was lost (lease 7 lost)"), { code: 'ERR_LOCK_LOST' }))
          : run0(h, c, o),
    };
    const selection = await selectHosts(fleet.store, { cluster: 'jobrunner' });
    const r = await runRolling(ports, { selection, batch: parseBatchSpec('2'), commands: restart });
    expect(r.status).toBe('failed');
    expect(r.stopReason).toMatch(/cannot run the action on batch 2: the run's lock was lost/);
    expect(r.failed.map((f) => [f.host, f.stillDepooled])).toEqual([
      ['mw1003.eqiad.wmnet', false],
      ['mw1004.eqiad.wmnet', false],
    ]);
    expect(r.failed[0]!.reason).toMatch(/action not started/);
    expect(r.notAttempted).toHaveLength(2);
    expect(fleet.depooledByRun()).toEqual([]);
    expect(formatReport(r)).toMatch(/back as it was: mw1003/);
  });

  it('an executor that throws for another reason: outcome unknown, the hosts stay depooled and are listed', async () => {
    const fleet = FakeFleet.cluster(6);
    const ports = fleet.ports();
    const run0 = ports.executor.run.bind(ports.executor);
    ports.executor = {
      run: async (h, c, o) => (h.includes('mw1003.eqiad.wmnet') ? Promise.reject(new Error('socket hang up')) : run0(h, c, o)),
    };
    const selection = await selectHosts(fleet.store, { cluster: 'jobrunner' });
    const r = await runRolling(ports, { selection, batch: parseBatchSpec('2'), commands: restart });
    expect(r.status).toBe('failed');
    expect(r.failed.map((f) => [f.host, f.stillDepooled])).toEqual([
      ['mw1003.eqiad.wmnet', true],
      ['mw1004.eqiad.wmnet', true],
    ]);
    expect(r.failed[0]!.reason).toMatch(/did not complete \(socket hang up\): outcome unknown/);
    expect(fleet.depooledByRun().sort()).toEqual(['mw1003.eqiad.wmnet', 'mw1004.eqiad.wmnet']);
    expect(formatReport(r)).toMatch(/STILL DEPOOLED: mw1003/);
  });

  it('a verifier that throws: the report lists the hosts left depooled', async () => {
    const fleet = FakeFleet.cluster(6);
    const ports = fleet.ports();
    ports.verifier = { ...ports.verifier, verifyIn: async () => Promise.reject(new Error('pybal client bug')) };
    const selection = await selectHosts(fleet.store, { cluster: 'jobrunner' });
    const r = await runRolling(ports, { selection, batch: parseBatchSpec('2'), commands: restart });
    expect(r.status).toBe('failed');
    expect(r.stopReason).toMatch(/unexpected error: pybal client bug/);
    expect(r.inFlight.map((h) => [h.host, h.phase])).toEqual([
      ['mw1001.eqiad.wmnet', 'repooled'],
      ['mw1002.eqiad.wmnet', 'repooled'],
    ]);
  });
});

describe('rolling-run output groups', () => {
  it('groups identical output; a command that did not exit 0 says how it ended, so it is not grouped with hosts that succeeded', () => {
    const ok = (host: string): [string, CommandOutput[]] => [host, [{ cmd: 'check', exitCode: 0, stdout: 'same\n', stderr: '' }]];
    const groups = groupOutputs(
      new Map<string, CommandOutput[]>([
        ok('mw1001.eqiad.wmnet'),
        ok('mw1002.eqiad.wmnet'),
        ['mw1003.eqiad.wmnet', [{ cmd: 'check', exitCode: 3, stdout: 'same\n', stderr: '' }]],
        ['mw1004.eqiad.wmnet', [{ cmd: 'check', exitCode: null, stdout: '', stderr: '' }]],
      ]),
    );
    expect(groups).toEqual([
      { hosts: ['mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet'], output: '$ check\nsame' },
      { hosts: ['mw1003.eqiad.wmnet'], output: '$ check\nsame\n[exit code 3]' },
      { hosts: ['mw1004.eqiad.wmnet'], output: '$ check\n[no exit code: timed out or cut off]' },
    ]);
  });
});

describe('a progress display that throws', () => {
  it('does not stop the algorithm nor lose the report: every host is handled, the failure is noted once', async () => {
    const fleet = FakeFleet.cluster(6);
    fleet.behaviour.set('mw1003.eqiad.wmnet', 'action-fails');
    const ports = fleet.ports();
    const emit0 = ports.emit;
    let calls = 0;
    // as a terminal renderer that breaks once a step has ended: from the first batch-done on
    let broken = false;
    ports.emit = (e) => {
      emit0(e);
      if (e.type === 'batch-done') broken = true;
      if (broken) {
        calls++;
        throw new TypeError("Cannot read properties of undefined (reading 'write')");
      }
    };
    const selection = await selectHosts(fleet.store, { cluster: 'jobrunner' });
    const r = await runRolling(ports, { selection, batch: parseBatchSpec('2'), commands: restart });
    expect(calls).toBeGreaterThan(3);
    expect(r.status).toBe('failed');
    expect(r.succeeded).toEqual(['mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet', 'mw1004.eqiad.wmnet']);
    expect(r.failed).toEqual([expect.objectContaining({ host: 'mw1003.eqiad.wmnet', stillDepooled: true })]);
    expect(r.notAttempted).toEqual(['mw1005.eqiad.wmnet', 'mw1006.eqiad.wmnet']);
    expect(r.warnings.filter((w) => /progress display failed/.test(w))).toEqual([expect.stringContaining("reading 'write'")]);
    expect(fleet.depooledByRun()).toEqual(['mw1003.eqiad.wmnet']);
    expect(fleet.violations).toEqual([]);
  });
});

describe('dry-run plan', () => {
  it('prints what a percentage comes to: 30% of 4 hosts is 1, rounded down', async () => {
    const fleet = FakeFleet.cluster(4);
    const selection = await selectHosts(fleet.store, { cluster: 'jobrunner' });
    const plan = await planRolling(fleet.ports(), { selection, batch: parseBatchSpec('30%'), commands: restart });
    expect(plan.batchSpec).toEqual({ text: '30%', sizes: [1] });
    expect(plan.batches.map((b) => b.hosts.length)).toEqual([1, 1, 1, 1]);
    expect(formatPlan(plan)).toContain('batch=30%: 1 (30% of 4, rounded down, at least 1) host(s) per batch');
  });

  it('lists batches, objects, left-alone objects with reasons, capacity warnings and commands — and writes nothing', async () => {
    const fleet = FakeFleet.cluster(6, { pooled: { 'mw1002.eqiad.wmnet': { 'php-fpm': 'no' } } });
    fleet.down.add('mw1006.eqiad.wmnet');
    const selection = await selectHosts(fleet.store, { cluster: 'jobrunner' });
    const plan = await planRolling(fleet.ports(), {
      selection,
      batch: parseBatchSpec('1,3'),
      commands: restart,
      healthCheck: { command: { shell: 'curl -sf http://localhost/health' } },
    });
    expect(plan.batches.map((b) => b.hosts.map((h) => h.host))).toEqual([
      ['mw1001.eqiad.wmnet'],
      ['mw1002.eqiad.wmnet', 'mw1003.eqiad.wmnet', 'mw1004.eqiad.wmnet'],
      ['mw1005.eqiad.wmnet', 'mw1006.eqiad.wmnet'],
    ]);
    expect(plan.batches[1]!.hosts[0]!.leftAlone).toEqual([
      expect.objectContaining({ pooled: 'no', why: expect.stringMatching(/already pooled=no/) }),
    ]);
    // nginx: 5 of 6 up and enabled → 2 can leave; batch 2 takes 3 out
    expect(plan.batches[0]!.warnings).toEqual([]);
    expect(plan.batches[1]!.warnings.join()).toMatch(/would breach its depool threshold: only 2 can leave now/);
    expect(plan.commands).toEqual(['systemctl restart nginx']);
    const text = formatPlan(plan);
    expect(text).toMatch(/Batch 2: mw1002.eqiad.wmnet, mw1003.eqiad.wmnet, mw1004.eqiad.wmnet/);
    expect(text).toMatch(/left alone eqiad\/jobrunner\/php-fpm\/mw1002.eqiad.wmnet \(pooled=no\): already pooled=no before the run/);
    // the capacity warning is marked on its batch, once (the operation also logs it as a warning)
    expect(text).not.toMatch(/^WARNINGS:/m);
    expect(text).not.toContain(plan.batches[1]!.warnings[0]);
    expect(text).toMatch(/capacity eqiad_jobrunner_nginx: depool 3, can take out 2 .*WARNING: would breach the depool threshold/);
    expect(text).toContain('batch=1,3: batches of 1, then 3 host(s), the last repeating');
    expect(fleet.writes).toEqual([]);
    expect(fleet.actions).toEqual([]);
  });
});

describe('moving window (window=moving)', () => {
  const names = (n: number) => Array.from({ length: n }, (_, i) => `mw${1001 + i}.eqiad.wmnet`);

  it('a slow host does not hold the others: the next host goes out as soon as one is back, never more than batch= out at once', async () => {
    const fleet = FakeFleet.cluster(8, { threshold: 0.1 });
    const hosts = names(8);
    for (const h of hosts) fleet.actionMs.set(h, 5);
    fleet.actionMs.set(hosts[0]!, 150);
    const r = await run(fleet, { batch: '2', window: 'moving' });
    expect(r.status).toBe('succeeded');
    expect(r.succeeded.sort()).toEqual(hosts);
    expect(fleet.violations).toEqual([]);
    expect(everythingBack(fleet)).toBe(true);
    // at most 2 out of their pools at any moment, and 2 acting at once (the window was used)
    expect(fleet.maxDepooledHosts).toBe(2);
    expect(fleet.maxActing).toBe(2);
    // the slow first host finished last: the other six went through the second slot meanwhile
    expect(fleet.actionsDone.at(-1)).toBe(hosts[0]);
    // lockstep for comparison: the slow host holds its batch, so mw1003 starts only after it
    const lock = FakeFleet.cluster(8, { threshold: 0.1 });
    for (const h of hosts) lock.actionMs.set(h, 5);
    lock.actionMs.set(hosts[0]!, 150);
    await run(lock, { batch: '2' });
    expect(lock.actionsDone.indexOf(hosts[0]!)).toBeLessThan(lock.actionsDone.indexOf(hosts[2]!));
    // each host is its own batch, numbered in the order they started
    expect(r.batches.map((b) => b.hosts)).toEqual(hosts.map((h) => [h]));
  });

  it('a failed host stays depooled, counts as a failed batch, and stops new starts; the hosts already out finish and are repooled', async () => {
    const fleet = FakeFleet.cluster(8, { threshold: 0.1 });
    const hosts = names(8);
    for (const h of hosts) fleet.actionMs.set(h, 20);
    fleet.actionMs.set(hosts[0]!, 5);
    fleet.behaviour.set(hosts[0]!, 'action-fails');
    const r = await run(fleet, { batch: '3', window: 'moving' });
    expect(r.status).toBe('failed');
    expect(r.failed).toEqual([expect.objectContaining({ host: hosts[0], stillDepooled: true })]);
    expect(r.stopReason).toMatch(/1 failed host\(s\) in a moving window, more than max-failed-batches=0/);
    // hosts 2 and 3 were out when host 1 failed: they finished and went back in
    expect(r.succeeded.sort()).toEqual([hosts[1], hosts[2]]);
    expect(fleet.state(hosts[1]!)).toBe('yes');
    expect(fleet.state(hosts[0]!)).toBe('no');
    expect(r.notAttempted).toEqual(hosts.slice(3));
    expect(fleet.violations).toEqual([]);
  });

  it('hosts left depooled by failures use up the window: with max-failed-batches=1 and batch=2, one slot is left after a failure', async () => {
    const fleet = FakeFleet.cluster(6, { threshold: 0.1 });
    const hosts = names(6);
    for (const h of hosts) fleet.actionMs.set(h, 10);
    fleet.behaviour.set(hosts[0]!, 'action-fails');
    const r = await run(fleet, { batch: '2', window: 'moving', maxFailedBatches: 1 });
    expect(r.failed.map((f) => f.host)).toEqual([hosts[0]]);
    expect(r.succeeded.sort()).toEqual(hosts.slice(1));
    // the failed host counts as out: never more than 2 out, the failed one included
    expect(fleet.maxDepooledHosts).toBe(2);
    expect(fleet.violations).toEqual([]);
  });

  it('capacity: a window wider than the depool threshold allows waits for a host to come back instead of breaching it, and says so once', async () => {
    // 4 hosts, threshold 0.5: 2 must stay up and enabled, so only 2 may be out; batch=3 asks for 3
    const fleet = FakeFleet.cluster(5, { threshold: 0.5 });
    const hosts = names(5);
    for (const h of hosts) fleet.actionMs.set(h, 10);
    const r = await run(fleet, {
      batch: '3',
      window: 'moving',
      select: { dc: 'eqiad', cluster: 'jobrunner', hosts: new Set(hosts.slice(0, 4)) },
    });
    expect(r.status).toBe('succeeded');
    expect(fleet.maxDepooledHosts).toBe(2);
    expect(fleet.violations).toEqual([]);
    const waits = r.warnings.filter((w) => /the window waits for one to come back/.test(w));
    expect(waits.length).toBe(2); // once per pool (nginx, php-fpm), not once per try
  });

  it('refused like lockstep when even one host cannot leave with nothing of this run out', async () => {
    const fleet = FakeFleet.cluster(2, { threshold: 0.9 });
    const r = await run(fleet, { batch: '1', window: 'moving', select: { dc: 'eqiad', cluster: 'jobrunner', hosts: new Set(names(1)) } });
    expect(r.status).toBe('refused');
    expect(r.stopReason).toMatch(/would breach its depool threshold/);
    expect(fleet.writes).toEqual([]);
  });

  it('the ramp opens the window as hosts finish: batch=1,3 runs a canary alone, then up to 3 at once', async () => {
    const fleet = FakeFleet.cluster(7, { threshold: 0.1 });
    const hosts = names(7);
    for (const h of hosts) fleet.actionMs.set(h, 15);
    const acting: number[] = [];
    fleet.onAction = () => acting.push(fleet.actions.length);
    const r = await run(fleet, { batch: '1,3', window: 'moving' });
    expect(r.status).toBe('succeeded');
    expect(fleet.maxActing).toBe(3);
    expect(fleet.maxDepooledHosts).toBe(3);
    // the canary acted alone: the second host's action started after the canary's finished
    expect(fleet.actionsDone[0]).toBe(hosts[0]);
    const secondStart = fleet.events.findIndex((e) => e.type === 'host-phase' && e.host === hosts[1] && e.phase === 'depooling');
    const canaryDone = fleet.events.findIndex((e) => e.type === 'host-phase' && e.host === hosts[0] && e.phase === 'done');
    expect(secondStart).toBeGreaterThan(canaryDone);
  });

  it('an operator acts mid-window: a host depooled by hand before its turn stays depooled, one pooled back by hand after its restart is left in, not written again', async () => {
    const fleet = FakeFleet.cluster(6, { threshold: 0.1 });
    const hosts = names(6);
    for (const h of hosts) fleet.actionMs.set(h, 10);
    const objectsOf = (h: string) => [...fleet.objects.values()].filter((o) => o.tags.name === h);
    const ports = fleet.ports();
    const emit = ports.emit;
    ports.emit = (e) => {
      emit(e);
      // once mw1002 is restarted: the operator puts it back in, and takes mw1005 (not started yet) out
      if (e.type === 'host-phase' && e.host === hosts[1] && e.phase === 'acted') {
        fleet.byHand(objectsOf(hosts[1]), 'yes', null);
        fleet.byHand(objectsOf(hosts[4]!), 'no', {
          runId: 'operator:alice',
          user: 'alice',
          reason: 'debug',
          time: '2026-12-04T00:00:00.000Z',
        });
      }
    };
    const selection = await selectHosts(fleet.store, { dc: 'eqiad', cluster: 'jobrunner' });
    const writesBefore = fleet.writes.length;
    const r = await runRolling(ports, { selection, batch: parseBatchSpec('2'), window: 'moving', commands: restart });
    // mw1005: found already no at its turn, nothing written, not put back into traffic
    expect(objectsOf(hosts[4]!).map((o) => o.pooled)).toEqual(['no', 'no']);
    expect(
      fleet.writes
        .slice(writesBefore)
        .filter((w) => w.key.includes(hosts[4]!))
        .map((w) => `${w.from}>${w.to}`),
    ).toEqual(['yes>no', 'yes>no']); // the operator's two
    expect(
      r.warnings.filter((w) => w.includes(hosts[4]!) && /held out by operator:alice \(alice: debug\); left to them/.test(w)).length,
    ).toBe(2);
    // mw1002: the operator's yes stands; the run's repool found it changed and wrote nothing
    expect(objectsOf(hosts[1]!).map((o) => o.pooled)).toEqual(['yes', 'yes']);
    // writes to mw1002: the run's depool, then the operator's repool, and nothing after
    expect(
      fleet.writes
        .slice(writesBefore)
        .filter((w) => w.key.includes(hosts[1]!))
        .map((w) => `${w.from}>${w.to}`),
    ).toEqual(['yes>no', 'yes>no', 'no>yes', 'no>yes']);
    expect(r.succeeded).toContain(hosts[1]);
    expect(fleet.violations).toEqual([]);
  });

  it('an interrupted moving run resumes: the hosts it left out go first, the ones done are skipped, the rest roll in the window', async () => {
    const fleet = FakeFleet.cluster(6, { threshold: 0.1 });
    const hosts = names(6);
    for (const h of hosts) fleet.actionMs.set(h, 10);
    fleet.actionMs.set(hosts[0]!, 60);
    const ac = new AbortController();
    const ports = fleet.ports();
    const emit = ports.emit;
    // SIGINT once mw1003 is acting: mw1002 is done by then, mw1001 (slow) and mw1003 are still out
    ports.emit = (e) => {
      emit(e);
      if (e.type === 'host-phase' && e.phase === 'acting' && e.host === hosts[2]) ac.abort();
    };
    const selection = await selectHosts(fleet.store, { cluster: 'jobrunner' });
    const first = await runRolling(ports, {
      selection,
      batch: parseBatchSpec('2'),
      window: 'moving',
      commands: restart,
      signal: ac.signal,
      scope: { cluster: 'jobrunner' },
    });
    expect(first.status).toBe('interrupted');
    expect(first.succeeded).toEqual([hosts[1]]);
    expect(first.inFlight.map((h) => h.host).sort()).toEqual([hosts[0], hosts[2]]);
    const entries = [...fleet.journalEntries];
    const before = fleet.actions.length;
    const r = await run(fleet, {
      batch: '2',
      window: 'moving',
      select: { cluster: 'jobrunner' },
      resume: { runId: 'r1', entries },
      scope: { cluster: 'jobrunner' },
    });
    expect(r.status).toBe('succeeded');
    expect(r.skipped).toContainEqual({ host: hosts[1], why: 'done in run r1' });
    // the leftovers (acted, not repooled) are repooled without a second restart; the rest roll
    expect(
      fleet.actions
        .slice(before)
        .map((a) => a.host)
        .sort(),
    ).toEqual(hosts.slice(3));
    expect(everythingBack(fleet)).toBe(true);
    expect(fleet.violations).toEqual([]);
    expect(fleet.maxDepooledHosts).toBe(2);
  });

  it('interrupted: nothing new starts, the hosts out finish their step and are reported', async () => {
    const fleet = FakeFleet.cluster(6, { threshold: 0.1 });
    const hosts = names(6);
    for (const h of hosts) fleet.actionMs.set(h, 20);
    const ac = new AbortController();
    fleet.onAction = (h) => {
      if (h === hosts[1]) ac.abort();
    };
    const r = await run(fleet, { batch: '2', window: 'moving', signal: ac.signal });
    expect(r.status).toBe('interrupted');
    expect(fleet.actions.map((a) => a.host)).toEqual([hosts[0], hosts[1]]);
    expect(r.notAttempted).toEqual(hosts.slice(2));
    // acted, not repooled (first Ctrl+C finishes the step, starts nothing new): reported in flight, still out
    expect(r.inFlight.map((h) => h.host).sort()).toEqual([hosts[0], hosts[1]]);
    expect(r.inFlight.every((h) => h.depooledObjects.length === 2)).toBe(true);
  });
});
