// The contract suites against the lab's implementations: the lab provisioner on real sshd hosts,
// the file inventory the lab seeds, the http inventory and http monitoring on the lab's endpoint.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { FileInventory, HttpInventory, HttpMonitoring, LabProvisioner, fromConfig, loadFromConfig } from '@galley/lifecycle';
import { inventoryContract, monitoringContract, provisionerContract } from '@galley/lifecycle/testing';
import { parseConfig } from '@galley/config';
import { LabLifecycle } from '@galley/lab';
import { privateLab } from '@galley/lab/testing';
import YAML from 'yaml';

const run = promisify(execFile);
const p = privateLab({ hosts: 4, lbs: 1, rebootMs: 500 });
const lc = () => new LabLifecycle(p.lab);

async function ssh(host: string, cmd: string): Promise<string> {
  const { stdout } = await run('ssh', ['-F', p.lab.info.sshConfig, host, cmd], { timeout: 10_000 });
  return stdout.trim();
}

/** The key the host's sshd really presents (ssh-keyscan), independent of any file. */
async function servedKey(host: string): Promise<string> {
  const h = p.lab.info.hosts.find((x) => x.name === host)!;
  const { stdout } = await run('ssh-keyscan', ['-t', 'ed25519', '-p', String(h.port), h.address], { timeout: 10_000 });
  return stdout.split('\n').find((l) => l.includes('ssh-ed25519'))!.split(/\s+/).slice(1, 3).join(' ');
}

async function waitUp(host: string): Promise<void> {
  const end = Date.now() + 20_000;
  for (;;) {
    try {
      await servedKey(host);
      // Up means sshd answers with the key it has on disk (the reboot has happened).
      if ((await servedKey(host)) === lc().hostKey(host)) return;
    } catch {
      // still rebooting
    }
    if (Date.now() > end) throw new Error(`${host} did not come back`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

provisionerContract('lab', () => ({
  make: async ({ dryRun }) => new LabProvisioner(p.lab.dir, { dryRun }),
  host: () => p.lab.info.hosts[0]!.name,
  observe: async (host) => {
    const power = lc().powerState(host);
    if (power === 'off') return { os: lc().os(host), hostKey: lc().hostKey(host), power };
    // Over SSH with the lab's known_hosts (the provisioner publishes the new key there).
    return { os: await ssh(host, 'lsb_release -sc'), hostKey: await servedKey(host), power };
  },
  waitUp,
}));

// `type: plugin` through fromConfig: a module whose factory wraps the lab provisioner (only its
// operations; dry-run and recording are the plugin wrapper's), against the same real hosts.
const FIXTURE = path.resolve(import.meta.dirname, '../../src/testing/plugin-fixture.ts');
provisionerContract('plugin (wrapping lab)', () => ({
  make: async ({ dryRun }) => (await loadFromConfig({ provisioner: { type: 'plugin', module: FIXTURE, options: { wrap: 'lab', labDir: p.lab.dir } } }, { dryRun })).provisioner!,
  host: () => p.lab.info.hosts[0]!.name,
  observe: async (host) => {
    const power = lc().powerState(host);
    if (power === 'off') return { os: lc().os(host), hostKey: lc().hostKey(host), power };
    return { os: await ssh(host, 'lsb_release -sc'), hostKey: await servedKey(host), power };
  },
  waitUp,
}));

inventoryContract('plugin (wrapping the lab\'s http inventory)', () => ({
  make: async ({ dryRun }) => {
    lc().resetInventory();
    return (await loadFromConfig({ inventory: { type: 'plugin', module: FIXTURE, options: { wrap: 'http', url: lc().monitoringUrl } } }, { dryRun })).inventory!;
  },
  known: () => p.lab.info.hosts[2]!.name,
  snapshot: async () => fs.readFileSync(lc().httpInventoryFile, 'utf8'),
}));

monitoringContract('plugin (wrapping the lab\'s http monitoring)', () => ({
  make: async ({ dryRun }) => (await loadFromConfig({ monitoring: { type: 'plugin', module: FIXTURE, options: { wrap: 'http', url: lc().monitoringUrl } } }, { dryRun })).monitoring!,
  activeDowntimes: async (host) => lc().downtimes().filter((d) => d.host === host && !d.removed).map((d) => d.id),
}));

inventoryContract('file (the lab\'s inventory.yaml)', () => ({
  make: async ({ dryRun }) => {
    lc().resetInventory();
    return new FileInventory(lc().inventoryFile, { dryRun });
  },
  known: () => p.lab.info.hosts[1]!.name,
  snapshot: async () => fs.readFileSync(lc().inventoryFile, 'utf8'),
}));

inventoryContract('http (the lab\'s endpoint)', () => ({
  make: async ({ dryRun }) => {
    lc().resetInventory();
    return new HttpInventory({ url: lc().monitoringUrl }, { dryRun });
  },
  known: () => p.lab.info.hosts[2]!.name,
  snapshot: async () => fs.readFileSync(lc().httpInventoryFile, 'utf8'),
}));

monitoringContract('http (the lab\'s endpoint)', () => ({
  make: async ({ dryRun }) => new HttpMonitoring({ url: lc().monitoringUrl }, { dryRun }),
  activeDowntimes: async (host) => lc().downtimes().filter((d) => d.host === host && !d.removed).map((d) => d.id),
}));

describe('the lab\'s lifecycle support', () => {
  it('the generated config selects the lab provisioner, the file inventory and the http monitoring', async () => {
    const cfg = parseConfig(YAML.parse(fs.readFileSync(p.lab.info.config, 'utf8')), p.lab.info.config);
    const c = fromConfig(cfg);
    expect([c.provisioner?.kind, c.inventory?.kind, c.monitoring?.kind]).toEqual(['lab', 'file', 'http']);
    expect(cfg.hosts?.postInstall).toEqual(['lab-config-apply']);
    expect((await c.inventory!.get(p.lab.info.hosts[3]!.name))?.status).toBe('active');
    for (const x of [c.provisioner, c.inventory, c.monitoring]) await x?.close();
  });

  it('a reinstalled host keeps its services down until lab-config-apply; a never-boots fault keeps it off', async () => {
    const host = p.lab.info.hosts[3]!.name;
    const prov = new LabProvisioner(p.lab.dir);
    await prov.reinstall(host, 'bookworm');
    await waitUp(host);
    expect(await ssh(host, 'lsb_release -sc')).toBe('bookworm');
    expect(await ssh(host, 'systemctl is-active nginx || true')).toBe('inactive');
    await ssh(host, 'lab-config-apply');
    expect(await ssh(host, 'systemctl is-active nginx php-fpm')).toBe('active\nactive');
    lc().failReinstall(host);
    await prov.reinstall(host, 'trixie');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await prov.powerStatus(host)).toBe('off');
    await expect(ssh(host, 'true')).rejects.toThrow();
    lc().reset();
    await prov.powerOn(host);
    await waitUp(host);
  }, 60_000);
});
