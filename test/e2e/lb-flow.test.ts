// drain / capacity-wait / budgets / order through the built `cookbook` binary (issue 14 items 2, 5,
// 6): the dry-run plan shows them all and writes nothing; the config's lb: section is the default
// of drain= (a real restart-service run, its events read from --output json).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Lab } from '@galley/lab';
import { sharedLab } from '@galley/lab/testing';
import { cookbook, etcdRange, settled } from './lb-helpers.js';

jest.setTimeout(60_000);

let lab: Lab;
let tmp: string;

beforeAll(async () => {
  lab = await sharedLab();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-lb-flow-'));
});
afterEach(async () => {
  await lab.reset();
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('drain, capacity-wait, budgets and order through the binary', () => {
  it('the dry-run plan shows the drain per host, the deadline, the order with its seed and the budgets; nothing is written', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const before = (await etcdRange(lab, '/')).revision;
    const r = await cookbook(lab, [
      '-d',
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'drain=weight:5s',
      'capacity-wait=2m',
      'max-failed=25%',
      'deadline=1h',
      'order=shuffled',
      'seed=9',
      'reason=e2e plan',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toContain(
      'max-failed-batches not applied, max-failed=25% (1 failed host(s) of 4 tolerated, rounded down; one more stops the run)',
    );
    expect(out).toContain("order=shuffled seed=9 (this plan's order; give seed=9 to the real run to get the same one)");
    expect(out).toContain('deadline=1h: past it no new batch starts');
    expect(out).toContain('capacity-wait=2m: a batch short of capacity waits up to that long (asking the LBs every 5s)');
    expect(out).toContain('drain=weight: weight=0 while still pooled, wait 5000 ms, then depool (the weight is restored on put-back)');
    for (const h of ['mw1301', 'mw1302', 'mw1303', 'mw1304'])
      expect(out).toMatch(new RegExp(`  ${h}\\.eqiad\\.wmnet: weight=0, drain, then depool `));
    // the intended changes include the weight writes
    expect(out).toMatch(
      /mw1301\.eqiad\.wmnet: eqiad\/jobrunner\/nginx\/mw1301\.eqiad\.wmnet weight=10 → weight=0 first, still pooled \(then back\)/,
    );
    expect((await etcdRange(lab, '/')).revision).toBe(before);
  });

  it("the config's lb.drainMs is drain='s default: restart-service waits it between out and the restart", async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const config = path.join(tmp, 'cookbook.config.yaml');
    fs.writeFileSync(config, `${fs.readFileSync(lab.info.config, 'utf8')}\nlb:\n  drainMs: 700\n`);
    const r = await cookbook(
      lab,
      ['--output', 'json', 'sre.lb.restart-service', 'host=mw1301.eqiad.wmnet', 'service=nginx', 'reason=e2e drain default'],
      { config },
    );
    expect(r.code).toBe(0);
    const drain = r.events.find((e) => e.type === 'drain');
    expect(drain).toMatchObject({ hosts: ['mw1301.eqiad.wmnet'], ms: 700 });
    const out = Date.parse(String(r.events.find((e) => e.type === 'host-phase' && e.phase === 'verified-out')?.ts));
    const acting = Date.parse(String(r.events.find((e) => e.type === 'host-phase' && e.phase === 'acting')?.ts));
    expect(acting - out).toBeGreaterThanOrEqual(700);
  });

  it('a bad lb: section is a config error naming the field, before anything runs', async () => {
    const config = path.join(tmp, 'bad.config.yaml');
    fs.writeFileSync(config, `${fs.readFileSync(lab.info.config, 'utf8')}\nlb:\n  drainMs: -5\n`);
    const r = await cookbook(lab, ['-d', 'sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'reason=e2e bad config'], { config });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/lb\.drainMs: must be a whole number of milliseconds from 0 to 3600000 \(0: no drain\)/);
  });
});
