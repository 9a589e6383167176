// The contract suites against the lab's implementations: the lab provisioner on real sshd hosts,
// the file inventory the lab seeds, the http inventory and http monitoring on the lab's endpoint.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  AlertmanagerMonitoring,
  FileInventory,
  HttpInventory,
  HttpMonitoring,
  PluginProvisioner,
  fromConfig,
  loadFromConfig,
  type Provisioner,
} from '@galley/lifecycle';
import { inventoryContract, monitoringContract, provisionerContract } from '@galley/lifecycle/testing';
import { parseConfig } from '@galley/config';
import { LabLifecycle, labProvisionerModule } from '@galley/lab';
import type { SshRunner } from '@galley/lifecycle';
import { privateLab } from '@galley/lab/testing';
import YAML from 'yaml';

const run = promisify(execFile);
const p = privateLab({ hosts: 4, lbs: 1, rebootMs: 500 });
const lc = () => new LabLifecycle(p.lab);
/** The lab's provisioner: @galley/lab's plugin module, through lifecycle's plugin wrapper (as galley runs it). */
const labProvisioner = async (opts: { dryRun?: boolean } = {}): Promise<Provisioner> => {
  const prov = PluginProvisioner.load({ module: await labProvisionerModule(), options: { labDir: p.lab.dir } }, opts);
  await prov.ready();
  return prov;
};

async function ssh(host: string, cmd: string): Promise<string> {
  const { stdout } = await run('ssh', ['-F', p.lab.info.sshConfig, host, cmd], { timeout: 10_000 });
  return stdout.trim();
}

/** The key the host's sshd really presents (ssh-keyscan), independent of any file. */
async function servedKey(host: string): Promise<string> {
  const h = p.lab.info.hosts.find((x) => x.name === host)!;
  const { stdout } = await run('ssh-keyscan', ['-t', 'ed25519', '-p', String(h.port), h.address], { timeout: 10_000 });
  return stdout
    .split('\n')
    .find((l) => l.includes('ssh-ed25519'))!
    .split(/\s+/)
    .slice(1, 3)
    .join(' ');
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

/** Off: the lab's records. On: over SSH with the lab's known_hosts (the provisioner publishes the new key there). */
async function observeLabHost(host: string): Promise<{ os: string; hostKey: string; power: 'on' | 'off' }> {
  const power = lc().powerState(host);
  if (power === 'off') return { os: lc().os(host), hostKey: lc().hostKey(host), power };
  return { os: await ssh(host, 'lsb_release -sc'), hostKey: await servedKey(host), power };
}

provisionerContract('lab', () => ({
  make: async ({ dryRun }) => labProvisioner({ dryRun }),
  host: () => p.lab.info.hosts[0]!.name,
  observe: observeLabHost,
  waitUp,
}));

// A `type: plugin` module wrapping a built-in inventory or monitoring (only their operations).
const FIXTURE = path.resolve(import.meta.dirname, '../../src/testing/plugin-fixture.ts');

// `type: plugin` through fromConfig: the lab provisioner's module (only its operations; dry-run and
// recording are the plugin wrapper's), as the generated config names it, against the same real hosts.
provisionerContract('plugin (the lab provisioner through fromConfig)', () => ({
  make: async ({ dryRun }) =>
    (
      await loadFromConfig(
        { provisioner: { type: 'plugin', module: await labProvisionerModule(), options: { labDir: p.lab.dir } } },
        { dryRun },
      )
    ).provisioner!,
  host: () => p.lab.info.hosts[0]!.name,
  observe: observeLabHost,
  waitUp,
}));

inventoryContract("plugin (wrapping the lab's http inventory)", () => ({
  make: async ({ dryRun }) => {
    lc().resetInventory();
    return (
      await loadFromConfig(
        { inventory: { type: 'plugin', module: FIXTURE, options: { wrap: 'http', url: lc().monitoringUrl } } },
        { dryRun },
      )
    ).inventory!;
  },
  known: () => p.lab.info.hosts[2]!.name,
  snapshot: async () => fs.readFileSync(lc().httpInventoryFile, 'utf8'),
}));

monitoringContract("plugin (wrapping the lab's http monitoring)", () => ({
  make: async ({ dryRun }) =>
    (
      await loadFromConfig(
        { monitoring: { type: 'plugin', module: FIXTURE, options: { wrap: 'http', url: lc().monitoringUrl } } },
        { dryRun },
      )
    ).monitoring!,
  activeDowntimes: async (host) =>
    lc()
      .downtimes()
      .filter((d) => d.host === host && !d.removed)
      .map((d) => d.id),
}));

// The command provisioner's SSH mode for real: a lab host is the management host, reached by a
// @galley/remote Remote with the lab's ssh: settings; the "site tool" is a script there that
// manages machine directories. (@galley/lifecycle does not depend on @galley/remote: reached
// through jest's module mapper, as a caller would hand its Remote in.)
const remoteModule = '@galley/remote';
let mgmtRemote: (SshRunner & { close(): Promise<void> }) | undefined;
async function labRemote(): Promise<SshRunner> {
  if (!mgmtRemote) {
    const cfg = parseConfig(YAML.parse(fs.readFileSync(p.lab.info.config, 'utf8')), p.lab.info.config);
    const { Remote } = (await import(remoteModule)) as { Remote: new (c: unknown) => SshRunner & { close(): Promise<void> } };
    mgmtRemote = new Remote(cfg.ssh);
  }
  return mgmtRemote;
}
afterAll(async () => mgmtRemote?.close());
const site = () => path.join(p.lab.dir, 'site-tool');
function siteTool(): { tool: string; machines: string } {
  const machines = path.join(site(), 'machines');
  const tool = path.join(site(), 'tool.sh');
  if (!fs.existsSync(tool)) {
    fs.mkdirSync(path.join(machines, 'db1001.eqiad.wmnet'), { recursive: true });
    fs.writeFileSync(path.join(machines, 'db1001.eqiad.wmnet', 'os'), 'bullseye\n');
    fs.writeFileSync(path.join(machines, 'db1001.eqiad.wmnet', 'power'), 'on\n');
    fs.writeFileSync(
      path.join(machines, 'db1001.eqiad.wmnet', 'key'),
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIInitialKeyInitialKeyInitialKey000\n',
    );
    fs.writeFileSync(
      tool,
      `#!/bin/sh
set -e
if [ "$1" = args ]; then shift; for a in "$@"; do printf '<%s>\\n' "$a"; done > ${site()}/args.out; echo "\${GALLEY_LAB_HOST:-local}" > ${site()}/ran-on; exit 0; fi
# The tool exists only on the management host: anywhere else it refuses.
[ -n "\${GALLEY_LAB_HOST:-}" ] || { echo "not on the management host" >&2; exit 9; }
M=${machines}/$2
[ -d "$M" ] || { echo "no machine $2" >&2; exit 3; }
case $1 in
  reinstall) echo "$3" > "$M/os"; echo "ssh-ed25519 $(head -c 32 /dev/urandom | base64 -w0)" > "$M/key";;
  on|off) echo "$1" > "$M/power";;
  cycle) echo on > "$M/power";;
  status) echo "Chassis Power is $(cat "$M/power")";;
  key) echo "$2 $(cat "$M/key") root@$2";;
esac
`,
      { mode: 0o755 },
    );
  }
  return { tool, machines };
}
const mgmt = () => p.lab.info.hosts[1]!.name;
const viaCommands = () => {
  const { tool } = siteTool();
  return {
    via: mgmt(),
    reinstall: [tool, 'reinstall', '{host}', '{os}'],
    powerOn: [tool, 'on', '{host}'],
    powerOff: [tool, 'off', '{host}'],
    powerCycle: [tool, 'cycle', '{host}'],
    powerStatus: [tool, 'status', '{host}'],
    hostKey: [tool, 'key', '{host}'],
  };
};

provisionerContract('command via SSH on a lab host', () => ({
  make: async ({ dryRun }) =>
    (await loadFromConfig({ provisioner: { type: 'command', ...viaCommands() } }, { dryRun }, { ssh: await labRemote() })).provisioner!,
  host: () => 'db1001.eqiad.wmnet',
  observe: async (h) => {
    const m = path.join(siteTool().machines, h);
    return {
      os: fs.readFileSync(path.join(m, 'os'), 'utf8').trim(),
      hostKey: fs.readFileSync(path.join(m, 'key'), 'utf8').trim(),
      power: fs.readFileSync(path.join(m, 'power'), 'utf8').trim() as 'on' | 'off',
    };
  },
  waitUp: async () => undefined,
}));

describe('the command provisioner via SSH (lab)', () => {
  it("the management host's shell gets each argv element as one literal argument; its failures are named", async () => {
    const { tool } = siteTool();
    const lines: string[] = [];
    fs.rmSync(path.join(site(), 'args.out'), { force: true });
    const prov = (
      await loadFromConfig(
        {
          provisioner: {
            type: 'command',
            via: mgmt(),
            reinstall: [tool, 'args', "--note=it's {host}; $(touch /tmp/{os}-pwned) `id`", '{os}', '', 'a  b', '*'],
            powerStatus: [tool, 'status', '{host}'],
          },
        },
        { log: (l) => lines.push(l) },
        { ssh: await labRemote() },
      )
    ).provisioner!;
    await prov.reinstall('db1001.eqiad.wmnet', 'trixie');
    expect(fs.readFileSync(path.join(site(), 'args.out'), 'utf8')).toBe(
      "<--note=it's db1001.eqiad.wmnet; $(touch /tmp/trixie-pwned) `id`>\n<trixie>\n<>\n<a  b>\n<*>\n",
    );
    expect(fs.existsSync('/tmp/trixie-pwned')).toBe(false);
    // It ran on the management host (the lab's sshd sets GALLEY_LAB_HOST), not locally.
    expect(fs.readFileSync(path.join(site(), 'ran-on'), 'utf8').trim()).toBe(mgmt());
    expect(lines).toContain('command provisioner: reinstall db1001.eqiad.wmnet with trixie');
    await expect(prov.powerStatus('nosuch.eqiad.wmnet')).rejects.toMatchObject({
      code: 'ERR_LIFECYCLE_PROVISIONER',
      message: `provisioner powerStatus for nosuch.eqiad.wmnet (on ${mgmt()}: ${tool} status nosuch.eqiad.wmnet) failed: exit code 3\nno machine nosuch.eqiad.wmnet`,
    });
  }, 60_000);
});

inventoryContract("file (the lab's inventory.yaml)", () => ({
  make: async ({ dryRun }) => {
    lc().resetInventory();
    return new FileInventory(lc().inventoryFile, { dryRun });
  },
  known: () => p.lab.info.hosts[1]!.name,
  snapshot: async () => fs.readFileSync(lc().inventoryFile, 'utf8'),
}));

inventoryContract("http (the lab's endpoint)", () => ({
  make: async ({ dryRun }) => {
    lc().resetInventory();
    return new HttpInventory({ url: lc().monitoringUrl }, { dryRun });
  },
  known: () => p.lab.info.hosts[2]!.name,
  snapshot: async () => fs.readFileSync(lc().httpInventoryFile, 'utf8'),
}));

monitoringContract("http (the lab's endpoint)", () => ({
  make: async ({ dryRun }) => new HttpMonitoring({ url: lc().monitoringUrl }, { dryRun }),
  activeDowntimes: async (host) =>
    lc()
      .downtimes()
      .filter((d) => d.host === host && !d.removed)
      .map((d) => d.id),
}));

monitoringContract("alertmanager (the lab's real Alertmanager)", () => ({
  make: async ({ dryRun }) => new AlertmanagerMonitoring({ url: p.lab.info.alertmanager!.url }, { dryRun }),
  activeDowntimes: async (host) =>
    (await p.lab.silences())
      .filter(
        (x) => x.status.state === 'active' && x.matchers.some((m) => m.name === 'instance' && new RegExp(`^(?:${m.value})$`).test(host)),
      )
      .map((x) => x.id),
}));

describe("the alertmanager client against the lab's real Alertmanager", () => {
  it("a host's silence suppresses a real alert for its service (silencedBy), not another service's or host's; extended in place; expired: the alert fires again", async () => {
    const [h, other] = [p.lab.info.hosts[0]!.name, p.lab.info.hosts[1]!.name];
    const am = new AlertmanagerMonitoring({ url: p.lab.info.alertmanager!.url });
    try {
      await am.check();
      const id = await am.downtime(h, {
        durationMs: 120_000,
        reason: 'lifecycle lab test',
        services: ['nginx'],
        createdBy: 'tester',
        runId: 'run-x',
      });
      const sil = (await p.lab.silences()).find((x) => x.id === id)!;
      expect(sil).toMatchObject({ status: { state: 'active' }, createdBy: 'tester', comment: 'lifecycle lab test (galley run run-x)' });
      expect((await p.lab.alert(h, 'nginx', 60_000)).status).toEqual({ state: 'suppressed', silencedBy: [id], inhibitedBy: [] });
      expect((await p.lab.alert(h, 'php-fpm', 60_000)).status.state).toBe('active');
      expect((await p.lab.alert(other, 'nginx', 60_000)).status.state).toBe('active');
      const kept = await am.extendDowntime(id, { durationMs: 3_600_000, reason: 'kept' });
      expect(kept.id).toBe(id);
      expect(Date.parse(kept.endsAt)).toBeGreaterThan(Date.now() + 3_500_000);
      expect((await p.lab.silences()).find((x) => x.id === id)).toMatchObject({
        endsAt: kept.endsAt,
        comment: 'lifecycle lab test (galley run run-x); kept',
      });
      await am.removeDowntime(id);
      expect((await p.lab.silences()).find((x) => x.id === id)?.status.state).toBe('expired');
      expect((await p.lab.alert(h, 'nginx', 1000)).status.state).toBe('active');
    } finally {
      await am.close();
    }
  });
});

describe("the lab's lifecycle support", () => {
  it('the generated config selects the lab provisioner, the file inventory and the http monitoring', async () => {
    const cfg = parseConfig(YAML.parse(fs.readFileSync(p.lab.info.config, 'utf8')), p.lab.info.config);
    const c = fromConfig(cfg);
    // The lab provisioner is a plugin: @galley/lab's module, with the lab's directory.
    expect([c.provisioner?.kind, c.inventory?.kind, c.monitoring?.kind]).toEqual(['plugin', 'file', 'http']);
    expect(cfg.provisioner).toEqual({ type: 'plugin', module: await labProvisionerModule(), options: { labDir: p.lab.dir } });
    await (c.provisioner as PluginProvisioner).ready();
    expect(cfg.hosts?.postInstall).toEqual(['lab-config-apply']);
    expect((await c.inventory!.get(p.lab.info.hosts[3]!.name))?.status).toBe('active');
    for (const x of [c.provisioner, c.inventory, c.monitoring]) await x?.close();
  });

  it('a reinstalled host keeps its services down until lab-config-apply; a never-boots fault keeps it off', async () => {
    const host = p.lab.info.hosts[3]!.name;
    const prov = await labProvisioner();
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
