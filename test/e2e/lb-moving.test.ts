// window=moving through the built `cookbook` binary against the shared lab (eqiad jobrunner:
// mw1301–mw1304, threshold 0.5, so 2 of 4 may be out), with one slow host (its restart takes
// 2.5 s): the others go through the second slot meanwhile, never more than batch= out, watched from
// etcd and every PyBal simulator; and the same restarts in lockstep, where the slow host holds its batch.
import { afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Lab } from '@galley/lab';
import { sharedLab } from '@galley/lab/testing';
import { cookbook, outputOf, settled, Watcher } from './lb-helpers.js';

jest.setTimeout(120_000);

const J = ['mw1301', 'mw1302', 'mw1303', 'mw1304'].map((h) => `${h}.eqiad.wmnet`);
let lab: Lab;

beforeAll(async () => {
  lab = await sharedLab();
});
afterEach(async () => {
  await lab.reset();
});

const at = (events: { type: string; ts?: string; host?: unknown; phase?: unknown }[], host: string, phase: string): number => {
  const e = events.find((x) => x.type === 'host-phase' && x.host === host && x.phase === phase);
  if (!e) throw new Error(`no ${phase} event for ${host}`);
  return Date.parse(e.ts!);
};

describe('sre.lb.rolling-restart window=moving', () => {
  it('a slow host does not hold the others: mw1302–mw1304 are restarted and back while mw1301 restarts; never more than 2 out', async () => {
    await lab.setRestartMs(J[0]!, 2500);
    await settled(lab, 'eqiad', 'jobrunner');
    const w = new Watcher(lab, 'eqiad', 'jobrunner');
    await w.start();
    const r = await cookbook(lab, [
      '--output',
      'json',
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=2',
      'window=moving',
      'sleep=0',
      'reason=e2e moving window',
    ]);
    await w.stop();
    if (r.code !== 0) throw new Error(`exit ${r.code}:\n${r.stderr}`);
    expect(outputOf(r)).toMatchObject({ status: 'succeeded', failed: [], notAttempted: [] });
    expect((outputOf(r) as { succeeded: string[] }).succeeded.sort()).toEqual(J);
    expect(w.maxDepooled).toBe(2);
    expect([...w.nonYesWritten]).toEqual([]);
    // the three others started after mw1301 and were done before mw1301's restart ended
    const slowActed = at(r.events, J[0]!, 'acted');
    for (const h of J.slice(1)) {
      expect(at(r.events, h, 'depooling')).toBeGreaterThan(at(r.events, J[0]!, 'depooling'));
      expect(at(r.events, h, 'done')).toBeLessThan(slowActed);
    }
    // each host is its own batch in the report
    expect((outputOf(r) as { batches: { hosts: string[] }[] }).batches.map((b) => b.hosts.length)).toEqual([1, 1, 1, 1]);
  });

  it('lockstep, for comparison: mw1302 (same batch as the slow mw1301) is repooled only after mw1301, and mw1303 starts after it', async () => {
    await lab.setRestartMs(J[0]!, 2500);
    await settled(lab, 'eqiad', 'jobrunner');
    const r = await cookbook(lab, [
      '--output',
      'json',
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=2',
      'sleep=0',
      'reason=e2e lockstep',
    ]);
    if (r.code !== 0) throw new Error(`exit ${r.code}:\n${r.stderr}`);
    expect(at(r.events, J[1]!, 'repooling')).toBeGreaterThanOrEqual(at(r.events, J[0]!, 'acted'));
    expect(at(r.events, J[2]!, 'depooling')).toBeGreaterThan(at(r.events, J[0]!, 'done'));
  });

  it('a failing restart in the window: that host stays depooled and reported, nothing new starts, the host already out is repooled; exit 1', async () => {
    await lab.failService(J[1]!, 'nginx', 'restart');
    await lab.setRestartMs(J[0]!, 1500);
    await settled(lab, 'eqiad', 'jobrunner');
    const r = await cookbook(lab, [
      '--output',
      'json',
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=2',
      'window=moving',
      'sleep=0',
      'reason=e2e moving failure',
    ]);
    expect(r.code).toBe(1);
    const out = outputOf(r) as {
      failed: { host: string; stillDepooled: boolean }[];
      succeeded: string[];
      notAttempted: string[];
      stopReason: string;
    };
    expect(out.failed).toEqual([expect.objectContaining({ host: J[1], stillDepooled: true })]);
    expect(out.succeeded).toEqual([J[0]]);
    expect(out.notAttempted).toEqual(J.slice(2));
    expect(out.stopReason).toMatch(/more than max-failed-batches=0/);
  });
});
