// sre.hosts.decommission-host end to end: the built `cookbook` binary against a private lab.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Conftool } from '@galley/confctl';
import { LabLifecycle } from '@galley/lab';
import { privateLab } from '@galley/lab/testing';
import { conftool, lbViews, outputOf, run, stateOf } from './hosts-harness.js';

jest.setTimeout(120_000);

// 8 hosts: eqiad appservers mw1001–mw1003, eqiad jobrunners mw1301–mw1303, codfw mw2001/mw2301.
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

const decom = (args: string[]) => run(p.lab.info.config, ['--yes', '--output', 'json', 'sre.hosts.decommission-host', 'task-id=T4242', ...args]);

describe('sre.hosts.decommission-host', () => {
  it('dry-run: the plan for every host, nothing changed (etcd revision, lab state, inventory)', async () => {
    const rev = await c.confctl.revision();
    const inv = fs.readFileSync(lc.inventoryFile, 'utf8');
    const r = await run(p.lab.info.config, ['-d', 'sre.hosts.decommission-host', 'task-id=T4242', 'host=mw[1301-1302].eqiad.wmnet']);
    expect(r.code).toBe(0);
    const text = r.stdout + r.stderr;
    for (const want of ['mw1301.eqiad.wmnet', 'mw1302.eqiad.wmnet', 'set pooled=inactive', 'wipe: lab-wipe', 'power off', 'delete conftool objects', 'inventory: decommissioned', 'DRY-RUN']) expect(text).toContain(want);
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

  it('decommissions two hosts, one of them unreachable: gone from conftool and every LB, inventory updated, wipe recorded', async () => {
    await p.lab.stopHost('mw1303.eqiad.wmnet');
    const r = await decom(['host=mw[1302-1303].eqiad.wmnet']);
    const out = outputOf<Out>(r);
    expect({ code: r.code, failed: out.failed }).toEqual({ code: 0, failed: [] });
    for (const h of ['mw1302.eqiad.wmnet', 'mw1303.eqiad.wmnet']) {
      expect(await stateOf(c.confctl, h)).toEqual([]);
      expect((await lbViews(p.lab, h)).every((v) => v.endsWith('=absent'))).toBe(true);
      expect(lc.inventory()[h]?.status).toBe('decommissioned');
      expect(lc.powerState(h)).toBe('off');
    }
    expect(lc.wipes('mw1302.eqiad.wmnet')).toHaveLength(1);
    expect(await p.lab.serviceState('mw1302.eqiad.wmnet', 'nginx')).toBe('inactive');
    expect(lc.wipes('mw1303.eqiad.wmnet')).toEqual([]);
    const unreachable = out.hosts.find((h) => h.host === 'mw1303.eqiad.wmnet')!;
    expect(unreachable.warnings.join('\n')).toContain('unreachable over SSH');
    expect(lc.downtimes().filter((d) => d.host.startsWith('mw130')).map((d) => d.reason)).toEqual(['decommission (T4242)', 'decommission (T4242)']);
    // The rest of the pool is untouched.
    expect(await stateOf(c.confctl, 'mw1301.eqiad.wmnet')).toEqual(['nginx=yes/10', 'php-fpm=yes/10']);
  });

  it('a failure on one host does not stop the others, and the exit code says so', async () => {
    // The provisioning system does not know mw1001 (gone from the lab provisioner's machine list):
    // its power-off fails; mw1002 is still decommissioned.
    const file = `${lc.dir}/provisioner.json`;
    const saved = fs.readFileSync(file, 'utf8');
    const prov = JSON.parse(saved) as { hosts: Record<string, unknown> };
    delete prov.hosts['mw1001.eqiad.wmnet'];
    fs.writeFileSync(file, JSON.stringify(prov));
    try {
      const r = await decom(['host=mw[1001-1002].eqiad.wmnet']);
      const out = outputOf<Out>(r);
      expect(r.code).toBe(1);
      expect(out.failed).toEqual(['mw1001.eqiad.wmnet']);
      const bad = out.hosts.find((h) => h.host === 'mw1001.eqiad.wmnet')!;
      expect(bad.steps.find((s) => !s.ok)?.step).toBe('power off');
      // Failed host: out of traffic but its objects kept, inventory says decommissioning.
      expect(await stateOf(c.confctl, 'mw1001.eqiad.wmnet')).toEqual(['nginx=inactive/10', 'php-fpm=inactive/10']);
      expect(lc.inventory()['mw1001.eqiad.wmnet']?.status).toBe('decommissioning');
      expect(r.stdout).toContain("set/pooled=yes:weight=10");
      expect(await stateOf(c.confctl, 'mw1002.eqiad.wmnet')).toEqual([]);
      expect(lc.inventory()['mw1002.eqiad.wmnet']?.status).toBe('decommissioned');
    } finally {
      fs.writeFileSync(file, saved);
    }
  });
});
