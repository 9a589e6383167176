import { afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Lab } from '@galley/lab';
import { sharedLab } from '@galley/lab/testing';
import { parseBatchSpec, planRolling, runRolling, selectHosts, type CommandSpec, type RollingOptions } from '@galley/lb';
import { harness, markLogs, restartsOn, type Harness } from './harness.js';

// The shared lab: eqiad jobrunner = mw1301–mw1304 (nginx + php-fpm, all pooled=yes), 2 LBs,
// threshold 0.5 (so at most 2 of 4 can be out), PyBal propagation delay ~200 ms.
const HOSTS = ['mw1301', 'mw1302', 'mw1303', 'mw1304'].map((h) => `${h}.eqiad.wmnet`);
const restart: CommandSpec[] = [{ argv: ['systemctl', 'restart', 'nginx', 'php-fpm'], timeoutMs: 10_000 }];

jest.setTimeout(60_000);

let lab: Lab;
let h: Harness | undefined;

beforeAll(async () => {
  lab = await sharedLab();
});
afterEach(async () => {
  await h?.close();
  h = undefined;
  await lab.reset();
});

async function start(verifyTimeoutMs = 5000): Promise<Harness> {
  h = await harness(lab, { dc: 'eqiad', cluster: 'jobrunner', verifyTimeoutMs });
  await markLogs(lab);
  return h;
}

async function rolling(x: Harness, opts: Partial<Omit<RollingOptions, 'selection' | 'batch'>> & { batch?: string } = {}) {
  const selection = await selectHosts(x.ports.store, { dc: 'eqiad', cluster: 'jobrunner' });
  return runRolling(x.ports, { commands: restart, ...opts, selection, batch: parseBatchSpec(opts.batch ?? '2') });
}

async function pooledNow(x: Harness): Promise<Record<string, string>> {
  const nodes = await x.confctl.select({ dc: 'eqiad', cluster: 'jobrunner' });
  return Object.fromEntries(nodes.map((n) => [`${n.tags.service}/${n.tags.name.split('.')[0]}`, n.pooled]));
}

const allYes = Object.fromEntries(HOSTS.flatMap((host) => ['nginx', 'php-fpm'].map((s) => [`${s}/${host.split('.')[0]}`, 'yes'])));

describe('rolling restart against the lab', () => {
  it('restarts every host, never more than a batch out, acting only when every LB has the host out', async () => {
    const x = await start();
    const t0 = Date.now();
    const emit0 = x.ports.emit;
    const times: string[] = [];
    x.ports.emit = (e) => {
      emit0(e);
      if (process.env.LB_DEBUG)
        times.push(
          `${Date.now() - t0} ${e.type} ${'host' in e ? e.host : ''} ${'phase' in e ? e.phase : ''} ${'elapsedMs' in e ? e.elapsedMs : ''}`,
        );
    };
    const r = await rolling(x, { batch: '2' });
    if (process.env.LB_DEBUG) process.stderr.write(times.join('\n') + '\n');
    const ms = Date.now() - t0;
    expect(r.status).toBe('succeeded');
    expect(r.succeeded).toEqual(HOSTS);
    expect(x.violations).toEqual([]);
    expect(x.writesToNonYes).toEqual([]);
    expect(x.maxDepooled()).toBe(2);
    expect(await pooledNow(x)).toEqual(allYes);
    for (const host of HOSTS) expect(await restartsOn(lab, host)).toEqual(['restart nginx php-fpm']);
    // every verification really waited for the LBs, and passed
    const v = x.events.filter((e) => e.type === 'verification');
    expect(v).toHaveLength(4);
    expect(v.every((e) => e.type === 'verification' && e.ok)).toBe(true);
    expect(ms).toBeLessThan(20_000);
  });

  it('a failing restart leaves that host depooled, reported and counted; the run stops (max-failed-batches=0)', async () => {
    await lab.failService('mw1302.eqiad.wmnet', 'nginx', 'restart');
    const x = await start();
    const r = await rolling(x, { batch: '1' });
    expect(r.status).toBe('failed');
    expect(r.succeeded).toEqual(['mw1301.eqiad.wmnet']);
    expect(r.failed).toEqual([
      expect.objectContaining({ host: 'mw1302.eqiad.wmnet', stillDepooled: true, reason: expect.stringMatching(/action failed/) }),
    ]);
    expect(r.failedBatches).toBe(1);
    expect(r.notAttempted).toEqual(['mw1303.eqiad.wmnet', 'mw1304.eqiad.wmnet']);
    const now = await pooledNow(x);
    expect(now['nginx/mw1302']).toBe('no');
    expect(now['php-fpm/mw1302']).toBe('no');
    expect(now['nginx/mw1303']).toBe('yes');
    expect(await restartsOn(lab, 'mw1303.eqiad.wmnet')).toEqual([]);
    expect(x.violations).toEqual([]);
  });

  it('max-failed-batches=1: goes on after one failed batch, with the failed host counted against the batch size', async () => {
    await lab.failService('mw1301.eqiad.wmnet', 'php-fpm', 'restart');
    const x = await start();
    const r = await rolling(x, { batch: '2', maxFailedBatches: 1 });
    expect(r.failed.map((f) => f.host)).toEqual(['mw1301.eqiad.wmnet']);
    expect(r.succeeded).toEqual(['mw1302.eqiad.wmnet', 'mw1303.eqiad.wmnet', 'mw1304.eqiad.wmnet']);
    expect(x.maxDepooled()).toBeLessThanOrEqual(2);
    expect(x.violations).toEqual([]);
    // batches after the failure were shrunk to 1 host so that 2 are never exceeded
    expect(r.batches.map((b) => b.hosts.length)).toEqual([2, 1, 1]);
  });

  it('an LB that is down: refused before any change', async () => {
    const x = await start();
    await lab.lb('lvs1020', 'down');
    const r = await rolling(x, { batch: '1' });
    expect(r.status).toBe('refused');
    expect(r.stopReason).toMatch(/capacity of pool jobrunner-(nginx|php-fpm)_eqiad is unknown \(lvs1020/);
    expect(await pooledNow(x)).toEqual(allYes);
    for (const host of HOSTS) expect(await restartsOn(lab, host)).toEqual([]);
  });

  it('an LB that errors mid-run: nothing runs on the batch it cannot verify; it is refused, or put back and (not verifiable in) out again', async () => {
    const x = await start(1500);
    const emit = x.ports.emit;
    let broke = false;
    x.ports.emit = (e) => {
      emit(e);
      if (!broke && e.type === 'batch-done' && e.batch === 1) {
        broke = true;
        void lab.lb('lvs1019', 'error');
      }
    };
    const r = await rolling(x, { batch: '1' });
    expect(r.succeeded).toEqual(['mw1301.eqiad.wmnet']);
    // batch 2 is refused at the capacity check (the LB answers 500) or, if the fault landed later, put back
    expect(['refused', 'failed']).toContain(r.status);
    expect(await restartsOn(lab, 'mw1302.eqiad.wmnet')).toEqual([]);
    expect(x.violations).toEqual([]);
    const now = await pooledNow(x);
    if (r.status === 'refused') {
      expect(now['nginx/mw1302']).toBe('yes');
    } else {
      // depooled, not verifiable out: put back, but not verifiable in either (the LB answers 500),
      // so out again (fail closed), and the report says what conftool holds
      expect(now['nginx/mw1302']).toBe('no');
      expect(r.failed).toEqual([expect.objectContaining({ host: 'mw1302.eqiad.wmnet', stillDepooled: true })]);
    }
  });

  it('an LB that lags past the deadline: no action on the batch, it is put back and counts as failed', async () => {
    const x = await start(1500);
    await lab.lb('lvs1020', 'lag', 4000);
    const r = await rolling(x, { batch: '1' });
    expect(r.status).toBe('failed');
    expect(r.failed).toEqual([
      expect.objectContaining({
        host: 'mw1301.eqiad.wmnet',
        stillDepooled: false,
        reason: expect.stringMatching(/depool not verified on every LB.*lvs1020/s),
      }),
    ]);
    expect(await restartsOn(lab, 'mw1301.eqiad.wmnet')).toEqual([]);
    expect(await pooledNow(x)).toEqual(allYes);
    expect(x.violations).toEqual([]);
  });

  it('a batch that would breach the depool threshold is refused before any change, naming the pool and numbers', async () => {
    const x = await start();
    await lab.failService('mw1304.eqiad.wmnet', 'nginx', 'down');
    // let the simulators' health checks see it down
    for (let i = 0; i < 50 && !(await downOnLbs('mw1304.eqiad.wmnet')); i++) await sleep(100);
    const r = await rolling(x, { batch: '2' });
    expect(r.status).toBe('refused');
    expect(r.stopReason).toMatch(
      /pool jobrunner-nginx_eqiad would breach its depool threshold: only 1 can leave now \(lvs1019: 3 of 4 up and enabled, threshold 0.5/,
    );
    expect(await pooledNow(x)).toEqual(allYes);
    expect(x.writesToNonYes).toEqual([]);
  });

  it('interrupted mid-batch: the running restart finishes, nothing new starts; resume repools and finishes', async () => {
    const x = await start();
    const ac = new AbortController();
    const run = x.ports.executor.run;
    x.ports.executor.run = async (hosts, cmds, o) => {
      if (hosts.includes('mw1303.eqiad.wmnet')) ac.abort();
      return run(hosts, cmds, o);
    };
    const r = await rolling(x, { batch: '2', signal: ac.signal });
    expect(r.status).toBe('interrupted');
    expect(r.inFlight.map((f) => [f.host, f.phase])).toEqual([
      ['mw1303.eqiad.wmnet', 'acted'],
      ['mw1304.eqiad.wmnet', 'acted'],
    ]);
    expect((await pooledNow(x))['nginx/mw1303']).toBe('no');
    x.ports.executor.run = run;
    const r2 = await rolling(x, { batch: '2', resume: { runId: 'earlier', entries: [...x.journal] } });
    expect(r2.status).toBe('succeeded');
    expect(r2.succeeded).toEqual(['mw1303.eqiad.wmnet', 'mw1304.eqiad.wmnet']);
    expect(await pooledNow(x)).toEqual(allYes);
    // not restarted twice
    expect(await restartsOn(lab, 'mw1303.eqiad.wmnet')).toEqual(['restart nginx php-fpm']);
    expect(x.violations).toEqual([]);
  });

  it('dry-run plan: batches, objects, capacity from live PyBal state; nothing written', async () => {
    const x = await start();
    const rev = await x.confctl.revision();
    const selection = await selectHosts(x.ports.store, { dc: 'eqiad', cluster: 'jobrunner' });
    const plan = await planRolling(x.ports, { selection, batch: parseBatchSpec('1,3'), commands: restart });
    expect(plan.batches.map((b) => b.hosts.length)).toEqual([1, 3]);
    expect(plan.batches[0]!.warnings).toEqual([]);
    expect(plan.batches[1]!.warnings.join()).toMatch(/only 2 can leave now/);
    expect(await x.confctl.revision()).toBe(rev);
  });
});

async function downOnLbs(host: string): Promise<boolean> {
  const out = await Promise.all(
    lab.info.loadBalancers.map(async (lb) => {
      const r = await fetch(`${lb.url}/pools/jobrunner-nginx_eqiad/${host}`, { headers: { accept: 'application/json' } }).catch(
        () => undefined,
      );
      const j = r?.ok ? ((await r.json()) as { up?: boolean }) : undefined;
      return j?.up === false;
    }),
  );
  return out.every(Boolean);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
