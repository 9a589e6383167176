// sre.lb.rolling-restart through the built binary on a lab with a 3-member etcd cluster: one
// member stopped mid-run → the run completes; quorum lost mid-run → it stops before its next
// write, reports what is left where, and --resume finishes once etcd is back.
import { describe, expect, it, jest } from '@jest/globals';
import { privateLab } from '@galley/lab/testing';
import { cookbook, etcdRange, outputOf, poolsPrefix, settled } from './lb-helpers.js';

jest.setTimeout(180_000);

const J = ['mw1301', 'mw1302', 'mw1303', 'mw1304'].map((h) => `${h}.eqiad.wmnet`);
const env = privateLab({ hosts: 12, lbs: 2, etcdMembers: 3, pybalDelayMs: 200 }, 120_000);

async function allYes(): Promise<boolean> {
  const { kvs } = await etcdRange(env.lab, poolsPrefix(env.lab, 'eqiad', 'jobrunner'));
  return [...kvs.values()].every((v) => (JSON.parse(v.value) as { pooled: string }).pooled === 'yes');
}

describe('etcd trouble during a rolling restart', () => {
  it('one member of three stopped mid-run: the run completes', async () => {
    const lab = env.lab;
    await settled(lab, 'eqiad', 'jobrunner');
    const member = lab.info.etcd.members[0]!.name;
    let stopped: Promise<void> | undefined;
    const r = await cookbook(
      lab,
      ['--output', 'json', 'sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'sleep=0', 'reason=e2e etcd member down'],
      {
        onEvent: (e) => {
          if (!stopped && e.type === 'host-phase' && e.phase === 'depooled') stopped = lab.etcdStop(member);
        },
      },
    );
    await stopped;
    expect(r.code).toBe(0);
    expect(outputOf(r)).toMatchObject({ status: 'succeeded', succeeded: J });
    expect(await allYes()).toBe(true);
    await lab.etcdStart(member);
  });

  it('quorum lost mid-run: stops before its next write and reports; --resume finishes when etcd is back', async () => {
    const lab = env.lab;
    await lab.reset();
    await settled(lab, 'eqiad', 'jobrunner');
    // A lagging LB parks the run in batch 2's depool verification for ~3 s: quorum goes away
    // there, so the next write the run attempts is the one before the restart. Not at the
    // `depooled` event itself: verify-out first re-reads conftool (a few ms), and a read that
    // meets the members going down is "cannot check the host is out" — put back, another outcome.
    // 800 ms in, the run is waiting on lvs1019 (2.2 s of lag left).
    await lab.lb('lvs1019', 'lag', 3000);
    const [m1, m2] = lab.info.etcd.members.map((m) => m.name) as [string, string];
    let stopped: Promise<void> | undefined;
    const t0 = Date.now();
    const since = Date.now();
    const r = await cookbook(
      lab,
      ['--output', 'json', 'sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'sleep=0', 'reason=e2e etcd quorum lost'],
      {
        onEvent: (e) => {
          if (!stopped && e.type === 'host-phase' && e.host === J[1] && e.phase === 'depooled') {
            stopped = new Promise((res) => setTimeout(res, 800))
              .then(() => Promise.all([lab.etcdStop(m1), lab.etcdStop(m2)]))
              .then(() => undefined);
          }
        },
      },
    );
    await stopped;
    expect(r.code).not.toBe(0);
    expect(Date.now() - t0).toBeLessThan(120_000);
    const text = r.stderr;
    expect(text).toMatch(/Succeeded: mw1301\.eqiad\.wmnet\n/);
    // mw1302 is out and was not restarted: reported as left depooled, with the reason
    expect(text).toMatch(/Stopped at (depooled|verified-out): mw1302\.eqiad\.wmnet, STILL DEPOOLED/);
    expect(text).toMatch(/cannot write the run journal|lock was lost/);
    expect(text).toMatch(/Not attempted: mw1303\.eqiad\.wmnet, mw1304\.eqiad\.wmnet/);
    expect((await lab.systemctlLog(J[1]!)).filter((l) => Number(l.split(' ')[0]) * 1000 >= since)).toEqual([]);
    await Promise.all([lab.etcdStart(m1), lab.etcdStart(m2)]);
    await lab.lb('lvs1019', 'up');
    const runId = r.events[0]!.runId!;
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
      'reason=e2e resume after quorum',
    ]);
    expect(r2.code).toBe(0);
    expect(outputOf(r2)).toMatchObject({ status: 'succeeded', succeeded: [J[1], J[2], J[3]] });
    expect(await allYes()).toBe(true);
  });
});
