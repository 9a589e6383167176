// sre.hosts.decommission-host end to end: the built `cookbook` binary against a private lab.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Conftool } from '@galley/confctl';
import { LabLifecycle } from '@galley/lab';
import { privateLab } from '@galley/lab/testing';
import { conftool, conftoolSnapshot, lbViews, outputOf, run, stateOf, type Res } from './hosts-harness.js';

jest.setTimeout(120_000);

// 8 hosts: eqiad appservers mw1001–mw1003 (mw1003 seeded pooled=no), eqiad jobrunners mw1301–mw1303,
// codfw mw2001/mw2301. Depool threshold 0.5: the eqiad appserver pools have room for 0 more servers
// out (2 of 3 up and enabled, 2 needed), the eqiad jobrunner pools for 1.
const p = privateLab({ hosts: 8, lbs: 2, rebootMs: 500, pybalDelayMs: 100 });
let c: { confctl: Conftool; close(): void };
let lc: LabLifecycle;

beforeAll(() => {
  c = conftool(p.lab);
  lc = new LabLifecycle(p.lab);
});
afterAll(() => c.close());

interface Out {
  hosts: { host: string; status: string; warnings: string[]; steps: { step: string; ok: boolean }[]; error?: string }[];
  failed: string[];
}

const decom = (args: string[]) =>
  run(p.lab.info.config, ['--yes', '--output', 'json', 'sre.hosts.decommission-host', 'task-id=T4242', ...args]);

/** What a decommission may change besides conftool: inventory, downtimes, power, wipes, services. */
async function hostSideSnapshot(hosts: string[]): Promise<string> {
  const per = await Promise.all(
    hosts.map(async (h) => `${h} power=${lc.powerState(h)} wipes=${lc.wipes(h).length} nginx=${await p.lab.serviceState(h, 'nginx')}`),
  );
  return [fs.readFileSync(lc.inventoryFile, 'utf8'), JSON.stringify(lc.downtimes()), ...per].join('\n');
}

const text = (r: Res) => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;

describe('sre.hosts.decommission-host', () => {
  it('dry-run: the plan for every host, nothing changed (etcd revision, lab state, inventory)', async () => {
    const rev = await c.confctl.revision();
    const inv = fs.readFileSync(lc.inventoryFile, 'utf8');
    const r = await run(p.lab.info.config, ['-d', 'sre.hosts.decommission-host', 'task-id=T4242', 'host=mw[1301-1302].eqiad.wmnet']);
    expect(r.code).toBe(0);
    const text = r.stdout + r.stderr;
    for (const want of [
      'mw1301.eqiad.wmnet',
      'mw1302.eqiad.wmnet',
      'set pooled=inactive',
      'wipe: lab-wipe',
      'power off',
      'delete conftool objects',
      'inventory: decommissioned',
      'DRY-RUN',
    ])
      expect(text).toContain(want);
    // 2 of the 3 jobrunners: the plan says a real run would refuse (capacity), and why.
    expect(text).toMatch(
      /a real run would refuse[^\n]*depooling 2 server\(s\) from pool jobrunner-nginx_eqiad would breach its depool threshold: only 1 can leave now/,
    );
    expect(await c.confctl.revision()).toBe(rev);
    expect(fs.readFileSync(lc.inventoryFile, 'utf8')).toBe(inv);
    expect(lc.wipes('mw1301.eqiad.wmnet')).toEqual([]);
    expect(lc.powerState('mw1301.eqiad.wmnet')).toBe('on');
    expect(await p.lab.serviceState('mw1301.eqiad.wmnet', 'nginx')).toBe('active');
  });

  it('refuses more than 5 hosts without --force, and more than 20 even with it', async () => {
    const six = await decom(['host=mw[1001-1003].eqiad.wmnet,mw[1301-1303].eqiad.wmnet']);
    expect(six.code).not.toBe(0);
    expect(six.stdout + six.stderr).toContain('more than 5 needs --force');
    const many = await decom(['--force', 'host=mw[1001-1021].eqiad.wmnet']);
    expect(many.code).not.toBe(0);
    expect(many.stdout + many.stderr).toContain('at most 20');
    expect(await stateOf(c.confctl, 'mw1301.eqiad.wmnet')).toEqual(['nginx=yes/10', 'php-fpm=yes/10']);
  });

  it('not confirmed (no TTY, no --yes): a documented exit code, "not confirmed, nothing changed", nothing changed', async () => {
    const hosts = ['mw1301.eqiad.wmnet', 'mw1003.eqiad.wmnet'];
    const before = await conftoolSnapshot(c.confctl);
    const side = await hostSideSnapshot(hosts);
    // The harness spawns with stdin ignored: not a TTY.
    const r = await run(p.lab.info.config, [
      '--output',
      'json',
      'sre.hosts.decommission-host',
      'task-id=T4242',
      'host=mw1301.eqiad.wmnet,mw1003.eqiad.wmnet',
    ]);
    expect({ code: r.code, status: outputOf<{ status: string }>(r).status }).toEqual({ code: 2, status: 'not-confirmed' });
    expect(r.stdout + r.stderr).toContain('not confirmed, nothing changed');
    expect(await conftoolSnapshot(c.confctl)).toEqual(before);
    expect(await hostSideSnapshot(hosts)).toBe(side);
  });

  it('refuses to take 2 of the 3 jobrunners out (threshold 0.5): pool and numbers named, nothing changed; `no` hosts need no capacity', async () => {
    const hosts = ['mw1301.eqiad.wmnet', 'mw1302.eqiad.wmnet'];
    const before = await conftoolSnapshot(c.confctl);
    const side = await hostSideSnapshot(hosts);
    const r = await decom(['host=mw[1301-1302].eqiad.wmnet']);
    expect(r.code).not.toBe(0);
    expect(text(r)).toMatch(/ERR_HOSTS_CAPACITY/);
    expect(text(r)).toMatch(
      /depooling 2 server\(s\) from pool jobrunner-nginx_eqiad would breach its depool threshold: only 1 can leave now \([^\n]*3 of 3 up and enabled, threshold 0\.5[^\n]*\); it would take out mw1301\.eqiad\.wmnet, mw1302\.eqiad\.wmnet/,
    );
    expect(await conftoolSnapshot(c.confctl)).toEqual(before);
    expect(await hostSideSnapshot(hosts)).toBe(side);
    // The one appserver that carries traffic cannot go either (mw1003 is already pooled=no).
    const one = await decom(['host=mw1001.eqiad.wmnet']);
    expect(text(one)).toMatch(
      /^exit [1-9][\s\S]*depooling 1 server\(s\) from pool appserver-nginx_eqiad would breach its depool threshold: only 0 can leave now/,
    );
    expect(await conftoolSnapshot(c.confctl)).toEqual(before);
  });

  it('decommissions two hosts, one of them unreachable: gone from conftool and every LB, inventory updated, wipe recorded', async () => {
    // One jobrunner (the pool has room for one) and the `no` appserver (serves nothing: needs no room).
    await p.lab.stopHost('mw1003.eqiad.wmnet');
    const r = await decom(['host=mw1302.eqiad.wmnet,mw1003.eqiad.wmnet']);
    const out = outputOf<Out>(r);
    expect({ code: r.code, failed: out.failed }).toEqual({ code: 0, failed: [] });
    for (const h of ['mw1302.eqiad.wmnet', 'mw1003.eqiad.wmnet']) {
      expect(await stateOf(c.confctl, h)).toEqual([]);
      // The LBs drop a deleted server within their propagation delay (mw1003 was `no`: disabled, so
      // out from the start, and still listed until its delete applies): polled, not sampled once.
      const end = Date.now() + 10_000;
      let views = await lbViews(p.lab, h);
      while (!views.every((v) => v.endsWith('=absent')) && Date.now() < end) {
        await new Promise((res) => setTimeout(res, 200));
        views = await lbViews(p.lab, h);
      }
      expect(views.filter((v) => !v.endsWith('=absent'))).toEqual([]);
      expect(lc.inventory()[h]?.status).toBe('decommissioned');
      expect(lc.powerState(h)).toBe('off');
    }
    expect(lc.wipes('mw1302.eqiad.wmnet')).toHaveLength(1);
    expect(await p.lab.serviceState('mw1302.eqiad.wmnet', 'nginx')).toBe('inactive');
    expect(lc.wipes('mw1003.eqiad.wmnet')).toEqual([]);
    const unreachable = out.hosts.find((h) => h.host === 'mw1003.eqiad.wmnet')!;
    expect(unreachable.warnings.join('\n')).toContain('unreachable over SSH');
    expect(
      lc
        .downtimes()
        .filter((d) => d.host === 'mw1302.eqiad.wmnet' || d.host === 'mw1003.eqiad.wmnet')
        .map((d) => d.reason),
    ).toEqual(['decommission (T4242)', 'decommission (T4242)']);
    // The rest of the pool is untouched.
    expect(await stateOf(c.confctl, 'mw1301.eqiad.wmnet')).toEqual(['nginx=yes/10', 'php-fpm=yes/10']);
  });

  it('a failure on one host does not stop the others, and the exit code says so', async () => {
    // mw1003 (decommissioned above) is back as seeded (pooled=no), the others as seeded too.
    await p.lab.reset();
    lc.reset();
    // The provisioning system does not know mw1003 (gone from the lab provisioner's machine list):
    // its power-off fails; mw1301 is still decommissioned.
    const file = `${lc.dir}/provisioner.json`;
    const saved = fs.readFileSync(file, 'utf8');
    const prov = JSON.parse(saved) as { hosts: Record<string, unknown> };
    delete prov.hosts['mw1003.eqiad.wmnet'];
    fs.writeFileSync(file, JSON.stringify(prov));
    try {
      const r = await decom(['host=mw1003.eqiad.wmnet,mw1301.eqiad.wmnet']);
      const out = outputOf<Out>(r);
      expect(r.code).toBe(1);
      expect(out.failed).toEqual(['mw1003.eqiad.wmnet']);
      const bad = out.hosts.find((h) => h.host === 'mw1003.eqiad.wmnet')!;
      expect(bad.steps.find((s) => !s.ok)?.step).toBe('power off');
      // Failed host: out of traffic but its objects kept, inventory says decommissioning. mw1003 was
      // `no`: out already, so never written (a run takes out only what is pooled), just verified out.
      expect(await stateOf(c.confctl, 'mw1003.eqiad.wmnet')).toEqual(['nginx=no/10', 'php-fpm=no/10']);
      expect(r.stdout).toContain(
        'conftool now: eqiad/appserver/nginx/mw1003.eqiad.wmnet=no, eqiad/appserver/php-fpm/mw1003.eqiad.wmnet=no',
      );
      expect(lc.inventory()['mw1003.eqiad.wmnet']?.status).toBe('decommissioning');
      expect(r.stdout).toContain('set/pooled=no:weight=10');
      expect(await stateOf(c.confctl, 'mw1301.eqiad.wmnet')).toEqual([]);
      expect(lc.inventory()['mw1301.eqiad.wmnet']?.status).toBe('decommissioned');
    } finally {
      fs.writeFileSync(file, saved);
    }
  });
});
