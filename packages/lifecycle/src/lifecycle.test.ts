import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { parseConfig } from '@galley/config';
import { CommandProvisioner, expandArgv, type SshRunner } from './command.js';
import { FileInventory, readInventoryFile, writeInventoryFile } from './file-inventory.js';
import { fromConfig, loadFromConfig } from './from-config.js';
import { parsePublicKey } from './keys.js';
import { NoneMonitoring } from './none.js';
import { PluginProvisioner } from './plugin.js';
import { inventoryContract, monitoringContract, provisionerContract } from './testing/contract.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-lifecycle-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function fileFixture(ext: 'yaml' | 'json') {
  let file = '';
  return () => ({
    async make({ dryRun }: { dryRun: boolean }) {
      file = path.join(tmp, `inv-${++n}.${ext}`);
      writeInventoryFile(file, {
        hosts: { 'mw1001.eqiad.wmnet': { status: 'active', rack: 'A1' }, 'mw1002.eqiad.wmnet': { status: 'active' } },
      });
      return new FileInventory(file, { dryRun });
    },
    known: () => 'mw1001.eqiad.wmnet',
    snapshot: async () => fs.readFileSync(file, 'utf8'),
  });
}
inventoryContract('file (YAML)', fileFixture('yaml'));
inventoryContract('file (JSON)', fileFixture('json'));

monitoringContract('none', () => ({
  make: async ({ dryRun }) => new NoneMonitoring({ dryRun }),
  activeDowntimes: async () => undefined,
}));

// A "site tool" made of shell scripts over a machine directory: proves the command provisioner
// passes {host}/{os} as single argv elements to real processes and reads their output.
const machines = path.join(tmp, 'machines');
const tool = path.join(tmp, 'tool.sh');
fs.mkdirSync(path.join(machines, 'db1001.eqiad.wmnet'), { recursive: true });
fs.writeFileSync(path.join(machines, 'db1001.eqiad.wmnet', 'os'), 'bullseye\n');
fs.writeFileSync(path.join(machines, 'db1001.eqiad.wmnet', 'power'), 'on\n');
fs.writeFileSync(
  path.join(machines, 'db1001.eqiad.wmnet', 'key'),
  `ssh-ed25519 ${Buffer.from('initial-key-000000000000000000000').toString('base64')}\n`,
);
fs.writeFileSync(
  tool,
  `#!/bin/sh
set -e
if [ "$1" = args ]; then shift; for a in "$@"; do printf '<%s>\n' "$a"; done; exit 0; fi
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
const commandCfg = {
  reinstall: [tool, 'reinstall', '{host}', '{os}'],
  powerOn: [tool, 'on', '{host}'],
  powerOff: [tool, 'off', '{host}'],
  powerCycle: [tool, 'cycle', '{host}'],
  powerStatus: [tool, 'status', '{host}'],
  hostKey: [tool, 'key', '{host}'],
};
/** What the tool's machine dir holds for the host. */
const observeMachine = async (h: string) => ({
  os: fs.readFileSync(path.join(machines, h, 'os'), 'utf8').trim(),
  hostKey: fs.readFileSync(path.join(machines, h, 'key'), 'utf8').trim(),
  power: fs.readFileSync(path.join(machines, h, 'power'), 'utf8').trim() as 'on' | 'off',
});
provisionerContract('command', () => ({
  make: async ({ dryRun }) => new CommandProvisioner(commandCfg, { dryRun }),
  host: () => 'db1001.eqiad.wmnet',
  observe: observeMachine,
  waitUp: async () => undefined,
}));

describe('CommandProvisioner', () => {
  it('substitutes placeholders inside single argv elements, never splitting them', () => {
    expect(expandArgv(['ipmi', '--host={host}', '{os}', 'x y'], { host: 'mw1001.eqiad.wmnet', os: 'bookworm' })).toEqual([
      'ipmi',
      '--host=mw1001.eqiad.wmnet',
      'bookworm',
      'x y',
    ]);
    expect(() => expandArgv(['x', '{nope}'], { host: 'h' })).toThrow(/unknown placeholder \{nope\}/);
  });

  it('refuses host/os values that are not plain names (no option or shell injection)', async () => {
    const p = new CommandProvisioner(commandCfg);
    await expect(p.reinstall('-rf', 'bookworm')).rejects.toMatchObject({ code: 'ERR_LIFECYCLE_PROVISIONER' });
    await expect(p.reinstall('db1001.eqiad.wmnet', 'x; touch /tmp/pwned')).rejects.toMatchObject({ code: 'ERR_LIFECYCLE_PROVISIONER' });
    expect(fs.readFileSync(path.join(machines, 'db1001.eqiad.wmnet', 'os'), 'utf8')).not.toContain('touch');
  });

  it('reports a failing command with its exit status and stderr, and a missing one as not configured', async () => {
    const p = new CommandProvisioner({ reinstall: commandCfg.reinstall });
    await expect(p.reinstall('nosuch.eqiad.wmnet', 'bookworm')).rejects.toThrow(/no machine nosuch\.eqiad\.wmnet/);
    await expect(p.powerOff('db1001.eqiad.wmnet')).rejects.toMatchObject({ code: 'ERR_LIFECYCLE_NOT_CONFIGURED' });
  });

  it('kills a command past its timeout', async () => {
    const p = new CommandProvisioner({ reinstall: ['/bin/sleep', '5'], timeoutMs: 200 });
    const t0 = Date.now();
    await expect(p.reinstall('db1001.eqiad.wmnet', 'bookworm')).rejects.toThrow(/timed out after 200 ms/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});

describe('FileInventory', () => {
  it('keeps other fields of a record and never leaves a temp file behind', async () => {
    const file = path.join(tmp, 'keep.yaml');
    writeInventoryFile(file, { hosts: { 'mw1001.eqiad.wmnet': { status: 'active', rack: 'B2' } } });
    const inv = new FileInventory(file);
    await inv.setStatus('mw1001.eqiad.wmnet', 'decommissioning');
    expect(readInventoryFile(file).hosts['mw1001.eqiad.wmnet']).toEqual({ status: 'decommissioning', rack: 'B2' });
    expect(fs.readdirSync(tmp).filter((f) => f.includes('keep.yaml') && f !== 'keep.yaml')).toEqual([]);
  });

  it("concurrent writers do not lose each other's updates", async () => {
    const file = path.join(tmp, 'race.json');
    const hosts = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`mw${1001 + i}.eqiad.wmnet`, { status: 'active' as const }]));
    writeInventoryFile(file, { hosts });
    await Promise.all(Object.keys(hosts).map((h) => new FileInventory(file).setStatus(h, 'offline')));
    expect(Object.values(readInventoryFile(file).hosts).map((r) => r.status)).toEqual(Array(20).fill('offline'));
  });

  it('names the file and the host on a bad status value', () => {
    const file = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(file, 'hosts:\n  mw1001.eqiad.wmnet: { status: gone }\n');
    expect(() => readInventoryFile(file)).toThrow(/bad\.yaml: host mw1001\.eqiad\.wmnet has status "gone"/);
  });
});

describe('fromConfig and keys', () => {
  it('builds what the sections ask for, bound to dry-run', () => {
    // (`type: lab` is gone: the lab's provisioner is a plugin of @galley/lab; the built-in provisioner is `command`.)
    const c = fromConfig(
      {
        provisioner: { type: 'command', reinstall: ['pxe', '{host}', '{os}'] },
        inventory: { type: 'file', path: path.join(tmp, 'x.yaml') },
        monitoring: { type: 'none' },
      },
      { dryRun: true },
    );
    expect([c.provisioner?.kind, c.inventory?.kind, c.monitoring?.kind]).toEqual(['command', 'file', 'none']);
    expect(c.provisioner?.dryRun && c.inventory?.dryRun && c.monitoring?.dryRun).toBe(true);
    expect(fromConfig({})).toEqual({});
  });

  it('parses a public key out of .pub files and known_hosts lines', () => {
    expect(parsePublicKey('mw1001,[127.0.0.1]:2222 ssh-ed25519 AAAAC3Nza== comment')).toBe('ssh-ed25519 AAAAC3Nza==');
    expect(parsePublicKey('ssh-ed25519 AAAAC3Nzb root@x\n')).toBe('ssh-ed25519 AAAAC3Nzb');
    expect(parsePublicKey('no key here')).toBeUndefined();
  });
});

// `type: plugin`: the same contracts through fromConfig, against a module whose factory wraps the
// built-in implementations and returns only their operations.
const FIXTURE = path.join(import.meta.dirname, 'testing', 'plugin-fixture.ts');

provisionerContract('plugin (wrapping command)', () => ({
  make: async ({ dryRun }) =>
    (await loadFromConfig({ provisioner: { type: 'plugin', module: FIXTURE, options: { wrap: 'command', ...commandCfg } } }, { dryRun }))
      .provisioner!,
  host: () => 'db1001.eqiad.wmnet',
  observe: observeMachine,
  waitUp: async () => undefined,
}));

{
  let file = '';
  inventoryContract('plugin (wrapping file)', () => ({
    async make({ dryRun }) {
      file = path.join(tmp, `inv-${++n}.yaml`);
      writeInventoryFile(file, {
        hosts: { 'mw1001.eqiad.wmnet': { status: 'active', rack: 'A1' }, 'mw1002.eqiad.wmnet': { status: 'active' } },
      });
      return (await loadFromConfig({ inventory: { type: 'plugin', module: FIXTURE, options: { wrap: 'file', path: file } } }, { dryRun }))
        .inventory!;
    },
    known: () => 'mw1001.eqiad.wmnet',
    snapshot: async () => fs.readFileSync(file, 'utf8'),
  }));
}

monitoringContract('plugin (wrapping none)', () => ({
  make: async ({ dryRun }) =>
    (await loadFromConfig({ monitoring: { type: 'plugin', module: FIXTURE, options: { wrap: 'none' } } }, { dryRun })).monitoring!,
  activeDowntimes: async () => undefined,
}));

describe('plugins', () => {
  const dir = path.join(tmp, 'plugins');
  fs.mkdirSync(dir, { recursive: true });
  const mod = (name: string, body: string) => {
    const f = path.join(dir, `${name}.mjs`);
    fs.writeFileSync(f, body);
    return f;
  };
  const calls: string[] = [];
  (globalThis as { pluginCalls?: string[] }).pluginCalls = calls;
  const ops = (extra = '') => `{
    reinstall: async (h, os) => { globalThis.pluginCalls.push('reinstall ' + h + ' ' + os); },
    powerOff: async (h) => { globalThis.pluginCalls.push('off ' + h); },
    powerOn: async () => {}, powerCycle: async () => {},
    powerStatus: async (h) => h.startsWith('odd') ? 'sideways' : 'on',
    hostKey: async (h) => h.startsWith('odd') ? 'not a key' : 'ssh-ed25519 AAAAC3Nzb root@' + h,
    ${extra}
  }`;

  it('the config takes `type: plugin` with module, options, timeoutMs in each section; a relative module path is refused', () => {
    const cfg = parseConfig(
      {
        provisioner: { type: 'plugin', module: '/opt/site/redfish.mjs', options: { bmc: 'redfish', retries: 2 }, timeoutMs: 900_000 },
        inventory: { type: 'plugin', module: '@site/netbox-inventory' },
        monitoring: { type: 'plugin', module: '@site/alertmanager', options: {} },
      },
      '/etc/galley/config.yaml',
    );
    expect(cfg.provisioner).toEqual({
      type: 'plugin',
      module: '/opt/site/redfish.mjs',
      options: { bmc: 'redfish', retries: 2 },
      timeoutMs: 900_000,
    });
    expect(fromConfig(cfg).provisioner?.callTimeoutMs).toBe(900_000);
    expect(() => parseConfig({ provisioner: { type: 'plugin', module: './redfish.mjs' } }, '/etc/galley/config.yaml')).toThrow(
      /provisioner\.module.*not a relative path/s,
    );
    expect(() => parseConfig({ monitoring: { type: 'plugin', module: '/x.mjs', url: 'http://x' } }, '/etc/galley/config.yaml')).toThrow(
      /url/,
    );
  });

  it('a module that does not load is ERR_LIFECYCLE_PLUGIN_LOAD naming the module, from ready(), the first call and loadFromConfig', async () => {
    const missing = path.join(dir, 'nosuch.mjs');
    const c = fromConfig({ provisioner: { type: 'plugin', module: missing } });
    await expect(c.provisioner!.ready!()).rejects.toMatchObject({
      code: 'ERR_LIFECYCLE_PLUGIN_LOAD',
      message: expect.stringContaining(`provisioner plugin module ${missing} could not be loaded`),
    });
    await expect(c.provisioner!.powerStatus('mw1001.eqiad.wmnet')).rejects.toMatchObject({ code: 'ERR_LIFECYCLE_PLUGIN_LOAD' });
    await expect(loadFromConfig({ inventory: { type: 'plugin', module: '@galley/no-such-plugin' } })).rejects.toMatchObject({
      code: 'ERR_LIFECYCLE_PLUGIN_LOAD',
      message: expect.stringContaining('@galley/no-such-plugin'),
    });
    const syntax = mod('syntax', 'export default (;');
    await expect(loadFromConfig({ monitoring: { type: 'plugin', module: syntax } })).rejects.toMatchObject({
      code: 'ERR_LIFECYCLE_PLUGIN_LOAD',
      message: expect.stringContaining(syntax),
    });
    const throws = mod('throws', 'export default (o) => { throw new Error("no endpoint in options: " + JSON.stringify(o)); };');
    await expect(loadFromConfig({ monitoring: { type: 'plugin', module: throws, options: { a: 1 } } })).rejects.toMatchObject({
      code: 'ERR_LIFECYCLE_PLUGIN_LOAD',
      message: expect.stringMatching(/its factory failed: no endpoint in options: \{"a":1\}/),
    });
  });

  it('a module that does not implement the interface is ERR_LIFECYCLE_PLUGIN_INTERFACE naming the module and what is missing', async () => {
    const noDefault = mod('nodefault', 'export const x = 1;');
    await expect(loadFromConfig({ provisioner: { type: 'plugin', module: noDefault } })).rejects.toMatchObject({
      code: 'ERR_LIFECYCLE_PLUGIN_INTERFACE',
      message: `the provisioner plugin module ${noDefault} has no factory: its default export is missing`,
    });
    const notFn = mod('notfn', 'export default { reinstall() {} };');
    await expect(loadFromConfig({ provisioner: { type: 'plugin', module: notFn } })).rejects.toMatchObject({
      code: 'ERR_LIFECYCLE_PLUGIN_INTERFACE',
      message: expect.stringContaining('a object, not a function'),
    });
    const partial = mod(
      'partial',
      'export default async () => ({ reinstall: async () => {}, powerOn: async () => {}, powerStatus: "on" });',
    );
    await expect(loadFromConfig({ provisioner: { type: 'plugin', module: partial } })).rejects.toMatchObject({
      code: 'ERR_LIFECYCLE_PLUGIN_INTERFACE',
      message: `the provisioner plugin module ${partial} does not implement the provisioner interface: missing powerOff(), powerCycle(), powerStatus(), hostKey()`,
    });
    // The same module fits where its methods are the interface's: checked per client.
    const inv = mod('inv', 'export default () => ({ get: async () => undefined, setStatus: async () => {}, remove: async () => {} });');
    await expect(loadFromConfig({ inventory: { type: 'plugin', module: inv } })).resolves.toMatchObject({
      inventory: { kind: 'plugin', module: inv },
    });
    await expect(loadFromConfig({ monitoring: { type: 'plugin', module: inv } })).rejects.toMatchObject({
      code: 'ERR_LIFECYCLE_PLUGIN_INTERFACE',
      message: expect.stringContaining('missing downtime(), removeDowntime()'),
    });
  });

  it('gets options and its context; in dry-run its writes are never called; what it returns is checked', async () => {
    const ctxs = mod(
      'ctx',
      `export default (options, ctx) => { globalThis.pluginCalls.push(JSON.stringify([options, ctx])); return ${ops()}; };`,
    );
    calls.length = 0;
    const dry = (await loadFromConfig({ provisioner: { type: 'plugin', module: ctxs, options: { bmc: 'redfish' } } }, { dryRun: true }))
      .provisioner!;
    expect(calls).toEqual([JSON.stringify([{ bmc: 'redfish' }, { client: 'provisioner', module: ctxs }])]);
    await dry.reinstall('mw1001.eqiad.wmnet', 'trixie');
    await dry.powerOff('mw1001.eqiad.wmnet');
    expect(calls).toHaveLength(1);
    expect(dry.actions.map((a) => `${a.action}:${a.dryRun}`)).toEqual(['reinstall:true', 'power-off:true']);
    const real = dry.with({ dryRun: false });
    await real.reinstall('mw1001.eqiad.wmnet', 'trixie');
    expect(calls.slice(1)).toEqual(['reinstall mw1001.eqiad.wmnet trixie']);
    expect(await real.hostKey('mw1001.eqiad.wmnet')).toBe('ssh-ed25519 AAAAC3Nzb');
    await expect(real.powerStatus('odd1001.eqiad.wmnet')).rejects.toMatchObject({
      code: 'ERR_LIFECYCLE_PROVISIONER',
      message: expect.stringContaining('returned "sideways"'),
    });
    // A key is the trust anchor after a reinstall: anything else is refused.
    await expect(real.hostKey('odd1001.eqiad.wmnet')).rejects.toMatchObject({
      code: 'ERR_LIFECYCLE_PROVISIONER',
      message: expect.stringContaining('returned no SSH public key'),
    });
  });

  it("a plugin error becomes the client's error naming the module; a call past timeoutMs is given up", async () => {
    const bad = mod('bad', `export default () => (${ops(`get: async () => ({ status: 'lost' })`)});`);
    const p = PluginProvisioner.load({ module: bad });
    expect(p.callTimeoutMs).toBe(600_000);
    const hang = mod(
      'hang',
      `export default () => ({ ...${ops()}, reinstall: () => new Promise(() => {}), powerOn: async () => { throw new Error('BMC said 503'); } });`,
    );
    const h = PluginProvisioner.load({ module: hang, timeoutMs: 200 });
    expect(h.callTimeoutMs).toBe(200);
    await expect(h.powerOn('mw1001.eqiad.wmnet')).rejects.toMatchObject({
      code: 'ERR_LIFECYCLE_PROVISIONER',
      message: `provisioner plugin ${hang}: powerOn mw1001.eqiad.wmnet failed: BMC said 503`,
    });
    const t0 = Date.now();
    await expect(h.reinstall('mw1001.eqiad.wmnet', 'trixie')).rejects.toMatchObject({
      code: 'ERR_LIFECYCLE_PROVISIONER',
      message: expect.stringContaining('reinstall mw1001.eqiad.wmnet did not return within 200 ms'),
    });
    expect(Date.now() - t0).toBeLessThan(3000);
    const badInv = mod(
      'badinv',
      `export default () => ({ get: async () => ({ status: 'lost' }), setStatus: async () => {}, remove: async () => {} });`,
    );
    const i = (await loadFromConfig({ inventory: { type: 'plugin', module: badInv } })).inventory!;
    await expect(i.get('mw1001.eqiad.wmnet')).rejects.toMatchObject({
      code: 'ERR_INVENTORY_BACKEND',
      message: expect.stringContaining(`inventory plugin ${badInv}: get mw1001.eqiad.wmnet returned {"status":"lost"}`),
    });
  });

  it('monitoring: silencesTakeOuts/keepFailedForMs are config, known before the module loads; extendDowntime() is then required, its answer checked, never called in dry-run', async () => {
    expect(() =>
      parseConfig({ inventory: { type: 'plugin', module: '/x.mjs', silencesTakeOuts: true } }, '/etc/galley/config.yaml'),
    ).toThrow(/silencesTakeOuts/);
    const mon = (extend: string) =>
      mod(
        `mon${++n}`,
        `export default () => ({ downtime: async () => 'd1', removeDowntime: async () => {}, check: async () => { globalThis.pluginCalls.push('check'); }, ${extend} });`,
      );
    const none = mon('');
    await expect(loadFromConfig({ monitoring: { type: 'plugin', module: none, silencesTakeOuts: true } })).rejects.toMatchObject({
      code: 'ERR_LIFECYCLE_PLUGIN_INTERFACE',
      message: `the monitoring plugin module ${none} does not implement the monitoring interface: missing extendDowntime()`,
    });
    // Without silencesTakeOuts the same module is a plain monitoring plugin (the sre.hosts cookbooks only).
    expect((await loadFromConfig({ monitoring: { type: 'plugin', module: none } })).monitoring!.silencesTakeOuts).toBe(false);
    const garbage = mon(`extendDowntime: async (id) => { globalThis.pluginCalls.push('extend ' + id); return { id }; }`);
    const cfg = parseConfig(
      { monitoring: { type: 'plugin', module: garbage, silencesTakeOuts: true, keepFailedForMs: 900_000 } },
      '/etc/galley/config.yaml',
    );
    const m = fromConfig(cfg, { dryRun: true }).monitoring!;
    // Synchronously, before the module has loaded: the rolling run decides from these.
    expect([m.silencesTakeOuts, m.keepFailedForMs]).toEqual([true, 900_000]);
    calls.length = 0;
    await m.check!();
    const dry = await m.extendDowntime!('d1', { durationMs: 60_000, reason: 'kept' });
    expect(dry).toMatchObject({ id: 'd1', state: 'active' });
    expect(calls).toEqual(['check']);
    expect(m.actions.map((a) => `${a.action}:${a.dryRun}`)).toEqual(['extend-downtime:true']);
    await expect(m.with({ dryRun: false }).extendDowntime!('d1', { durationMs: 60_000, reason: 'kept' })).rejects.toMatchObject({
      code: 'ERR_MONITORING_BACKEND',
      message: `monitoring plugin ${garbage}: extendDowntime d1 returned {"id":"d1"}, not {id, state, endsAt}`,
    });
    expect(calls).toEqual(['check', 'extend d1']);
    await m.close();
  });
});

// The SSH mode (`via:`) through a real @galley/remote Remote (quoting, timeouts, failure kinds)
// over its FakeTransport, whose "management host" runs the exact exec string in a local POSIX
// shell: what a remote login shell would make of it. @galley/lifecycle does not depend on
// @galley/remote (callers hand a Remote in), so it is reached through jest's module mapper.
interface FakeReply {
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  delayMs?: number;
  failure?: 'unreachable' | 'timeout';
  message?: string;
}
interface FakeTransportLike {
  calls: { host: string; command: string }[];
}
async function viaRemote(
  handler?: (host: string, command: string) => FakeReply | undefined,
): Promise<{ remote: SshRunner; fake: FakeTransportLike; shell: string[] }> {
  const remoteModule = '@galley/remote';
  const { Remote } = (await import(remoteModule)) as { Remote: new (cfg: undefined, opts: { transport: unknown }) => SshRunner };
  const { FakeTransport } = (await import(`${remoteModule}/testing`)) as {
    FakeTransport: new (h: (host: string, command: string) => FakeReply | undefined) => FakeTransportLike;
  };
  const shell: string[] = [];
  const fake = new FakeTransport(
    handler ??
      ((host, command) => {
        if (host !== 'cumin1001.eqiad.wmnet') return { failure: 'unreachable', message: `no route to ${host}` };
        const r = spawnSync('/bin/sh', ['-c', command], { encoding: 'utf8' });
        shell.push(r.stdout);
        return { exitCode: r.status ?? 255, stdout: r.stdout, stderr: r.stderr };
      }),
  );
  return { remote: new Remote(undefined, { transport: fake }), fake, shell };
}
const viaCfg = { ...commandCfg, via: 'cumin1001.eqiad.wmnet' };

let viaFake: FakeTransportLike | undefined;
provisionerContract('command via SSH (Remote, fake transport, local sh as the management host)', () => ({
  make: async ({ dryRun }) => {
    const v = await viaRemote();
    viaFake = v.fake;
    return (await loadFromConfig({ provisioner: { type: 'command', ...viaCfg } }, { dryRun }, { ssh: v.remote })).provisioner!;
  },
  host: () => 'db1001.eqiad.wmnet',
  observe: observeMachine,
  waitUp: async () => {
    // Every command went to the management host, none to the target.
    expect(new Set(viaFake!.calls.map((c) => c.host))).toEqual(new Set(['cumin1001.eqiad.wmnet']));
  },
}));

describe('CommandProvisioner via SSH', () => {
  it("each argv element reaches the management host's command as one argument, quotes, spaces and $(…) literal", async () => {
    const { remote, fake, shell } = await viaRemote();
    const p = new CommandProvisioner(
      {
        reinstall: [tool, 'args', "--note=it's {host}; $(touch /tmp/pwned-{os})", '{os}', '', 'a  b'],
        via: 'cumin1001.eqiad.wmnet',
        timeoutMs: 30_000,
      },
      {},
      undefined,
      remote,
    );
    await p.reinstall('db1001.eqiad.wmnet', 'trixie');
    expect(shell).toEqual(["<--note=it's db1001.eqiad.wmnet; $(touch /tmp/pwned-trixie)>\n<trixie>\n<>\n<a  b>\n"]);
    expect(fs.existsSync('/tmp/pwned-trixie')).toBe(false);
    // Bounded on the remote side too: coreutils timeout kills the process group there.
    expect(fake.calls[0]!.command).toMatch(/^timeout -k 2 30s /);
  });

  it('names the management host, the command and what went wrong: exit code with stderr, unreachable, timeout', async () => {
    const { remote } = await viaRemote();
    const p = new CommandProvisioner({ ...viaCfg, timeoutMs: 30_000 }, {}, undefined, remote);
    await expect(p.reinstall('nosuch.eqiad.wmnet', 'bookworm')).rejects.toMatchObject({
      code: 'ERR_LIFECYCLE_PROVISIONER',
      message: `provisioner reinstall for nosuch.eqiad.wmnet (on cumin1001.eqiad.wmnet: ${tool} reinstall nosuch.eqiad.wmnet bookworm) failed: exit code 3\nno machine nosuch.eqiad.wmnet`,
    });
    const gone = new CommandProvisioner({ ...viaCfg, via: 'cumin2002.codfw.wmnet' }, {}, undefined, remote);
    await expect(gone.powerStatus('db1001.eqiad.wmnet')).rejects.toThrow(
      /on cumin2002\.codfw\.wmnet: .* failed \(unreachable: no route to cumin2002\.codfw\.wmnet\)/,
    );
    const slow = await viaRemote(() => ({ delayMs: 5000, exitCode: 0 }));
    const t0 = Date.now();
    await expect(
      new CommandProvisioner({ ...viaCfg, timeoutMs: 200 }, {}, undefined, slow.remote).powerOff('db1001.eqiad.wmnet'),
    ).rejects.toThrow(/timed out after 200 ms/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('the config takes via: a host name', () => {
    expect(
      parseConfig(
        { provisioner: { type: 'command', reinstall: ['pxe', '{host}'], via: 'cumin1001.eqiad.wmnet' } },
        '/etc/galley/config.yaml',
      ).provisioner,
    ).toMatchObject({ via: 'cumin1001.eqiad.wmnet' });
    expect(() =>
      parseConfig({ provisioner: { type: 'command', reinstall: ['pxe'], via: '-oProxyCommand=x' } }, '/etc/galley/config.yaml'),
    ).toThrow(/provisioner\.via: must be a host name/);
  });

  it('dry-run sends only the reads; without an SSH runner via: is refused up front', async () => {
    const { remote, fake } = await viaRemote();
    const p = new CommandProvisioner(viaCfg, { dryRun: true }, undefined, remote);
    await p.reinstall('db1001.eqiad.wmnet', 'trixie');
    await p.powerOff('db1001.eqiad.wmnet');
    expect(await p.powerStatus('db1001.eqiad.wmnet')).toBe('on');
    expect(fake.calls.map((c) => c.command.split(' ').slice(5).join(' '))).toEqual(['status db1001.eqiad.wmnet']);
    await expect(loadFromConfig({ provisioner: { type: 'command', ...viaCfg } })).rejects.toMatchObject({
      code: 'ERR_LIFECYCLE_PROVISIONER',
      message: expect.stringContaining('on cumin1001.eqiad.wmnet over SSH (via:), but no SSH runner'),
    });
    await expect(new CommandProvisioner(commandCfg).ready()).resolves.toBeUndefined();
  });
});
