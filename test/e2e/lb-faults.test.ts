// sre.lb.rolling-restart through the built `cookbook` binary against the shared lab, with faults
// injected while it runs: a health check that never passes, an LB that lags at repool, a restart
// that hangs past its timeout, an LB that errors or goes down during the depool verification.
// eqiad jobrunner: mw1301–mw1304, nginx + php-fpm, all pooled=yes; 2 LBs (lvs1019, lvs1020),
// threshold 0.5, PyBal delay ~200 ms, restarts take 300 ms per unit.
import { afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Lab } from '@galley/lab';
import { sharedLab } from '@galley/lab/testing';
import { cookbook, etcdRange, outputOf, poolsPrefix, restartTimes, settled, Watcher } from './lb-helpers.js';

jest.setTimeout(120_000);

const J = ['mw1301', 'mw1302', 'mw1303', 'mw1304'].map((h) => `${h}.eqiad.wmnet`);
let lab: Lab;

beforeAll(async () => {
  lab = await sharedLab();
});
afterEach(async () => {
  await lab.reset();
});

async function pooled(): Promise<Record<string, string>> {
  const { kvs } = await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'jobrunner'));
  return Object.fromEntries(
    [...kvs].map(([k, v]) => [k.split('/').slice(-2).join('/'), (JSON.parse(v.value) as { pooled: string }).pooled]),
  );
}

const short = (h: string): string => h.replace(/\./g, '\\.');

describe('faults during a rolling restart (lab failure injection)', () => {
  it('a health check that never passes: the host stays depooled, is reported, the run stops; exit 1', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    // nginx is down on mw1302 (its LB health checks fail too); the restart of php-fpm itself succeeds
    await lab.failService(J[1]!, 'nginx', 'down');
    const since = Date.now();
    const r = await cookbook(lab, [
      '--output',
      'json',
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=1',
      'sleep=0',
      'restart=php-fpm',
      'health-check=systemctl is-active nginx',
      'health-timeout=3s',
      'reason=e2e health check',
    ]);
    expect(r.code).toBe(1);
    const out = outputOf(r)!;
    expect(out).toMatchObject({ status: 'failed', succeeded: [J[0]], notAttempted: [J[2], J[3]], failedBatches: 1 });
    expect(out.failed).toEqual([
      expect.objectContaining({
        host: J[1],
        stillDepooled: true,
        reason: expect.stringMatching(/^health check `systemctl is-active nginx` did not pass within 3000 ms/),
      }),
    ]);
    // the action did run on mw1302 (so it is the health check that held it out)
    expect((await restartTimes(lab, J[1]!, since)).map((x) => x.units)).toEqual(['php-fpm']);
    // mw1301 passed its health check before it was repooled
    const phases = r.events.filter((e) => e.type === 'host-phase' && e.host === J[0]).map((e) => e.phase);
    expect(phases.indexOf('healthy')).toBeGreaterThan(phases.indexOf('acted'));
    expect(phases.indexOf('repooling')).toBeGreaterThan(phases.indexOf('healthy'));
    const now = await pooled();
    expect(now[`nginx/${J[1]}`]).toBe('no');
    expect(now[`php-fpm/${J[1]}`]).toBe('no');
    expect(now[`nginx/${J[0]}`]).toBe('yes');
    expect(now[`nginx/${J[2]}`]).toBe('yes');
    expect(await restartTimes(lab, J[2]!, since)).toEqual([]);
    expect(r.stderr).toMatch(new RegExp(`Failed, STILL DEPOOLED: ${short(J[1]!)} .*health check`));
  });

  it('an LB that lags at repool: verify-in fails, the host is depooled again and reported; exit 1', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const w = new Watcher(lab, 'eqiad', 'jobrunner');
    await w.start();
    let armed: Promise<void> | undefined;
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
        'verify-timeout=2s',
        'reason=e2e lag at repool',
      ],
      {
        onEvent: (e) => {
          // armed while mw1301 restarts (600 ms), i.e. after its depool was verified and before its repool
          if (!armed && e.type === 'host-phase' && e.host === J[0] && e.phase === 'acting') armed = lab.lb('lvs1019', 'lag', 6000);
        },
      },
    );
    await armed;
    await w.stop();
    expect(r.code).toBe(1);
    const out = outputOf(r)!;
    expect(out).toMatchObject({ status: 'failed', succeeded: [], notAttempted: [J[1], J[2], J[3]] });
    expect(out.failed).toEqual([
      expect.objectContaining({
        host: J[0],
        stillDepooled: true,
        reason: expect.stringMatching(
          /^repool not verified on every LB, depooled again: PyBal verification failed: .*within the 2000 ms deadline \(waited [2-9]\.\d s\):.*lvs1019/s,
        ),
      }),
    ]);
    expect(r.events.some((e) => e.type === 'verification' && e.direction === 'out' && e.ok === true)).toBe(true);
    expect(r.events.some((e) => e.type === 'verification' && e.direction === 'in' && e.ok === false)).toBe(true);
    // the repool was written, then undone: back at pooled=no in conftool, never reported done
    const now = await pooled();
    expect(now[`nginx/${J[0]}`]).toBe('no');
    expect(now[`php-fpm/${J[0]}`]).toBe('no');
    expect(r.events.some((e) => e.type === 'host-phase' && e.phase === 'done')).toBe(false);
    expect(w.maxDepooled).toBe(1);
    expect([...w.nonYesWritten]).toEqual([]);
  });

  it('a restart that hangs past command-timeout: the host stays depooled and is reported; exit 1', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    await lab.failService(J[1]!, 'nginx', 'hang');
    const since = Date.now();
    const t0 = Date.now();
    const r = await cookbook(lab, [
      '--output',
      'json',
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=1',
      'sleep=0',
      'command-timeout=2s',
      'reason=e2e command timeout',
    ]);
    expect(r.code).toBe(1);
    // the timeout, not the test's deadline, ended the hanging restart
    expect(Date.now() - t0).toBeLessThan(60_000);
    const out = outputOf(r)!;
    expect(out).toMatchObject({ status: 'failed', succeeded: [J[0]], notAttempted: [J[2], J[3]] });
    expect(out.failed).toEqual([
      expect.objectContaining({ host: J[1], stillDepooled: true, reason: expect.stringMatching(/^action failed: .*(timed out|timeout)/i) }),
    ]);
    expect((await restartTimes(lab, J[1]!, since)).map((x) => x.units)).toEqual(['nginx php-fpm']);
    const now = await pooled();
    expect(now[`nginx/${J[1]}`]).toBe('no');
    expect(now[`php-fpm/${J[1]}`]).toBe('no');
    expect(now[`nginx/${J[2]}`]).toBe('yes');
    expect(await restartTimes(lab, J[2]!, since)).toEqual([]);
  });

  it.each(['error', 'down'] as const)(
    'an LB that goes %s during the depool verification: no restart; put back, but not verifiable in, so out again and reported as conftool holds it; exit 1',
    async (fault) => {
      await settled(lab, 'eqiad', 'jobrunner');
      // lvs1020 lags 2 s behind conftool from the start: batch 1 still verifies (within 6 s), and the
      // fault below lands while batch 2 is certainly still waiting for lvs1020 to have mw1302 out.
      await lab.lb('lvs1020', 'lag', 2000);
      let armed: Promise<void> | undefined;
      const since = Date.now();
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
          'verify-timeout=6s',
          `reason=e2e lb ${fault} in verify-out`,
        ],
        {
          onEvent: (e) => {
            if (!armed && e.type === 'host-phase' && e.host === J[1] && e.phase === 'depooled') armed = lab.lb('lvs1020', fault);
          },
        },
      );
      await armed;
      expect(r.code).toBe(1);
      const out = outputOf(r)!;
      const runId = r.events.find((e) => typeof e.runId === 'string')?.runId;
      expect(out).toMatchObject({ status: 'failed', succeeded: [J[0]], notAttempted: [J[2], J[3]] });
      // every object the run wrote is verified in on every LB or out again: lvs1020 answers neither,
      // so the host stays out (fail closed) and the report says exactly what conftool holds
      expect(out.failed).toEqual([
        expect.objectContaining({
          host: J[1],
          stillDepooled: true,
          reason: expect.stringMatching(/^depool not verified on every LB: .*lvs1020.*; repool not verified on every LB, depooled again/s),
          objects: [
            expect.objectContaining({ pooled: 'no', owner: expect.objectContaining({ runId }) }),
            expect.objectContaining({ pooled: 'no', owner: expect.objectContaining({ runId }) }),
          ],
        }),
      ]);
      expect(r.events.filter((e) => e.type === 'host-phase' && e.host === J[1]).map((e) => e.phase)).toEqual([
        'depooling',
        'depooled',
        'failed',
      ]);
      expect(await restartTimes(lab, J[1]!, since)).toEqual([]);
      expect((await restartTimes(lab, J[0]!, since)).map((x) => x.units)).toEqual(['nginx php-fpm']);
      const now = await pooled();
      expect(now[`nginx/${J[1]}`]).toBe('no');
      expect(now[`php-fpm/${J[1]}`]).toBe('no');
      expect(
        Object.entries(now)
          .filter(([k]) => !k.endsWith(`/${J[1]}`))
          .every(([, p]) => p === 'yes'),
      ).toBe(true);
      expect(r.stderr).toMatch(new RegExp(`Failed, STILL DEPOOLED: ${short(J[1]!)}`));
      expect(r.stderr).toMatch(/ {2}now: eqiad\/jobrunner\/nginx\/mw1302\.eqiad\.wmnet=no \(held out by /);
    },
  );
});
