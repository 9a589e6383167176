import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { CommandProvisioner, expandArgv } from './command.js';
import { FileInventory, readInventoryFile, writeInventoryFile } from './file-inventory.js';
import { fromConfig } from './from-config.js';
import { parsePublicKey } from './keys.js';
import { NoneMonitoring } from './none.js';
import { inventoryContract, monitoringContract, provisionerContract } from './testing/contract.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-lifecycle-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function fileFixture(ext: 'yaml' | 'json') {
  let file = '';
  return () => ({
    async make({ dryRun }: { dryRun: boolean }) {
      file = path.join(tmp, `inv-${++n}.${ext}`);
      writeInventoryFile(file, { hosts: { 'mw1001.eqiad.wmnet': { status: 'active', rack: 'A1' }, 'mw1002.eqiad.wmnet': { status: 'active' } } });
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
fs.writeFileSync(path.join(machines, 'db1001.eqiad.wmnet', 'key'), `ssh-ed25519 ${Buffer.from('initial-key-000000000000000000000').toString('base64')}\n`);
fs.writeFileSync(tool, `#!/bin/sh
set -e
M=${machines}/$2
[ -d "$M" ] || { echo "no machine $2" >&2; exit 3; }
case $1 in
  reinstall) echo "$3" > "$M/os"; echo "ssh-ed25519 $(head -c 32 /dev/urandom | base64 -w0)" > "$M/key";;
  on|off) echo "$1" > "$M/power";;
  cycle) echo on > "$M/power";;
  status) echo "Chassis Power is $(cat "$M/power")";;
  key) echo "$2 $(cat "$M/key") root@$2";;
esac
`, { mode: 0o755 });
const commandCfg = {
  reinstall: [tool, 'reinstall', '{host}', '{os}'],
  powerOn: [tool, 'on', '{host}'],
  powerOff: [tool, 'off', '{host}'],
  powerCycle: [tool, 'cycle', '{host}'],
  powerStatus: [tool, 'status', '{host}'],
  hostKey: [tool, 'key', '{host}'],
};
provisionerContract('command', () => ({
  make: async ({ dryRun }) => new CommandProvisioner(commandCfg, { dryRun }),
  host: () => 'db1001.eqiad.wmnet',
  observe: async (h) => ({
    os: fs.readFileSync(path.join(machines, h, 'os'), 'utf8').trim(),
    hostKey: fs.readFileSync(path.join(machines, h, 'key'), 'utf8').trim(),
    power: fs.readFileSync(path.join(machines, h, 'power'), 'utf8').trim() as 'on' | 'off',
  }),
  waitUp: async () => undefined,
}));

describe('CommandProvisioner', () => {
  it('substitutes placeholders inside single argv elements, never splitting them', () => {
    expect(expandArgv(['ipmi', '--host={host}', '{os}', 'x y'], { host: 'mw1001.eqiad.wmnet', os: 'bookworm' })).toEqual(['ipmi', '--host=mw1001.eqiad.wmnet', 'bookworm', 'x y']);
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

  it('concurrent writers do not lose each other\'s updates', async () => {
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
    const c = fromConfig({ provisioner: { type: 'lab', labDir: tmp }, inventory: { type: 'file', path: path.join(tmp, 'x.yaml') }, monitoring: { type: 'none' } }, { dryRun: true });
    expect([c.provisioner?.kind, c.inventory?.kind, c.monitoring?.kind]).toEqual(['lab', 'file', 'none']);
    expect(c.provisioner?.dryRun && c.inventory?.dryRun && c.monitoring?.dryRun).toBe(true);
    expect(fromConfig({})).toEqual({});
  });

  it('parses a public key out of .pub files and known_hosts lines', () => {
    expect(parsePublicKey('mw1001,[127.0.0.1]:2222 ssh-ed25519 AAAAC3Nza== comment')).toBe('ssh-ed25519 AAAAC3Nza==');
    expect(parsePublicKey('ssh-ed25519 AAAAC3Nzb root@x\n')).toBe('ssh-ed25519 AAAAC3Nzb');
    expect(parsePublicKey('no key here')).toBeUndefined();
  });
});
