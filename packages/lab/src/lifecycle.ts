/**
 * Host-lifecycle support of the lab (issue 8): what the lab's provisioner plugin (provisioner.ts),
 * the `file` inventory and the `http` monitoring of @galley/lifecycle drive, and what tests observe.
 *
 * Layout under DIR/lifecycle/: `provisioner.json` (hosts → their dirs, for the lab provisioner),
 * `inventory.yaml` (every fleet host `active`; the `file` inventory of the generated config),
 * `http-inventory.json` (the REST inventory served by the endpoint), `downtimes.json` (every
 * downtime the monitoring endpoint recorded, with `removed` once removed), `server.json`, `server.log`.
 *
 * On each host (PATH has the host's bin/): `lsb_release -sc` prints the OS codename from
 * `state/os-release` (seeded `bullseye`; a reinstall rewrites it); `lab-config-apply` is the lab's
 * config management (starts every service the reinstall left down; the post-install command);
 * `lab-wipe` records a wipe in `state/wipe.log` and stops every service (the decommission wipe).
 * A reinstall leaves `state/faults/<svc>` = `wiped` for services without an injected fault, so
 * that they stay down across the reboot until `lab-config-apply`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GalleyConfigInput } from '@galley/config';
import YAML from 'yaml';
import type { HostSpec } from './hosts.js';
import type { Lab } from './lab.js';
import { freePort, isAlive, spawnDetached, tcpOpen, waitFor } from './procs.js';
import { trackProcess, trackedProcess } from './state.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const INITIAL_OS = 'bullseye';

export const lifecycleDir = (dir: string) => path.join(dir, 'lifecycle');

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function hostScripts(hdir: string): Record<string, string> {
  const S = q(path.join(hdir, 'state'));
  return {
    lsb_release: `#!/bin/sh
# galley lab: the OS codename the host was (re)installed with
. ${S}/os-release
case "$1" in
  -sc|-cs) echo "$VERSION_CODENAME";;
  -c) echo "Codename:	$VERSION_CODENAME";;
  *) echo "Distributor ID:	Debian"; echo "Codename:	$VERSION_CODENAME";;
esac
`,
    'lab-config-apply': `#!/bin/sh
# galley lab: config management after a reinstall: start every service, fail if one does not start
S=${S}
rc=0
for f in "$S"/services/*; do
  svc=\${f##*/}
  [ "$(cat "$S/faults/$svc" 2>/dev/null)" = wiped ] && rm -f "$S/faults/$svc"
  systemctl start "$svc" || { echo "lab-config-apply: $svc did not start" >&2; rc=1; }
done
echo "$(date +%s.%N) config-apply rc=$rc" >> "$S/lifecycle.log"
exit $rc
`,
    'lab-wipe': `#!/bin/sh
# galley lab: the decommission wipe (recorded, services gone)
S=${S}
echo "$(date +%s.%N) wipe $*" >> "$S/wipe.log"
for f in "$S"/services/*; do echo inactive > "$f"; done
echo "wiped $(hostname -f 2>/dev/null || hostname)"
`,
  };
}

/** Per host: the scripts and the OS marker. Idempotent (reset uses it too). */
export function prepareLifecycleHost(h: Pick<HostSpec, 'hdir'>): void {
  for (const [name, text] of Object.entries(hostScripts(h.hdir))) fs.writeFileSync(path.join(h.hdir, 'bin', name), text, { mode: 0o755 });
  fs.writeFileSync(path.join(h.hdir, 'state', 'os-release'), `ID=debian\nVERSION_CODENAME=${INITIAL_OS}\n`);
}

export function seedInventory(dir: string, hosts: readonly string[]): void {
  const hostsMap = Object.fromEntries(hosts.map((h) => [h, { status: 'active' }]));
  const write = (file: string, text: string) => {
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
  };
  write(path.join(lifecycleDir(dir), 'inventory.yaml'), YAML.stringify({ hosts: hostsMap }));
  write(path.join(lifecycleDir(dir), 'http-inventory.json'), JSON.stringify({ hosts: hostsMap }, null, 2) + '\n');
  write(path.join(lifecycleDir(dir), 'downtimes.json'), '[]\n');
}

/** Modules other processes load: the endpoint (a child process) and the provisioner plugin (galley). */
const ENTRY_SOURCES = ['lifecycle-server.ts', 'provisioner.ts'];

/** dist/<name>.js, or transpiled from the sources (jest) into node_modules/.cache. */
async function entryModule(name: 'lifecycle-server' | 'provisioner'): Promise<string> {
  if (import.meta.url.endsWith('.js')) return path.join(here, `${name}.js`);
  // Under node_modules/.cache: ignored by ESLint (`eslint .` in CI) and git, like the PyBal simulator's.
  // From there `@galley/lifecycle` (the provisioner's import) resolves through packages/lab/node_modules.
  const out = path.resolve(here, '..', 'node_modules', '.cache', 'galley-lab-lifecycle');
  const swc = await import('@swc/core');
  for (const rel of ENTRY_SOURCES) {
    const file = path.join(here, rel);
    const target = path.join(out, rel.replace(/\.ts$/, '.js'));
    if (fs.existsSync(target) && fs.statSync(target).mtimeMs >= fs.statSync(file).mtimeMs) continue;
    const { code } = await swc.transformFile(file, {
      jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
      module: { type: 'es6' },
      sourceMaps: false,
    });
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const tmp = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    fs.writeFileSync(tmp, code);
    fs.renameSync(tmp, target);
  }
  fs.writeFileSync(path.join(out, 'package.json'), '{"type":"module"}\n');
  return path.join(out, `${name}.js`);
}

const serverEntry = () => entryModule('lifecycle-server');

/**
 * The lab provisioner's module (provisioner.ts), as the generated config names it:
 * `provisioner: {type: plugin, module: <this>, options: {labDir}}`.
 */
export const labProvisionerModule = () => entryModule('provisioner');

function childEnv(): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _n, ...env } = process.env;
  return env;
}

/**
 * Lay out DIR/lifecycle, seed the inventory, write the host scripts, start the endpoint; returns
 * the generated config's provisioner/inventory/monitoring/hosts sections.
 */
export async function startLifecycle(
  dir: string,
  fleet: readonly HostSpec[],
  o: { rebootMs: number },
): Promise<Partial<GalleyConfigInput>> {
  const ldir = lifecycleDir(dir);
  fs.mkdirSync(ldir, { recursive: true });
  for (const h of fleet) prepareLifecycleHost(h);
  fs.writeFileSync(
    path.join(ldir, 'provisioner.json'),
    JSON.stringify(
      {
        version: 1,
        knownHosts: path.join(dir, 'known_hosts'),
        hosts: Object.fromEntries(fleet.map((h) => [h.name, { hdir: h.hdir, address: h.address, port: h.port, rebootMs: o.rebootMs }])),
      },
      null,
      2,
    ) + '\n',
  );
  seedInventory(
    dir,
    fleet.map((h) => h.name),
  );
  const port = await freePort();
  const cfgFile = path.join(ldir, 'server.json');
  fs.writeFileSync(
    cfgFile,
    JSON.stringify(
      { port, downtimesFile: path.join(ldir, 'downtimes.json'), inventoryFile: path.join(ldir, 'http-inventory.json') },
      null,
      2,
    ) + '\n',
  );
  const pid = spawnDetached(process.execPath, [await serverEntry(), cfgFile], { logFile: path.join(ldir, 'server.log'), env: childEnv() });
  trackProcess(dir, { kind: 'lifecycle', name: 'endpoint', pid });
  await waitFor(`the lab's lifecycle endpoint on 127.0.0.1:${port}`, async () => ((await tcpOpen('127.0.0.1', port)) ? true : undefined), {
    timeoutMs: 15000,
  });
  return {
    provisioner: { type: 'plugin', module: await labProvisionerModule(), options: { labDir: dir } },
    inventory: { type: 'file', path: path.join(ldir, 'inventory.yaml') },
    monitoring: { type: 'http', url: `http://127.0.0.1:${port}` },
    hosts: { postInstall: ['lab-config-apply'], wipe: ['lab-wipe', '{host}'], installTimeoutMs: 60_000 },
  };
}

/** What tests observe and break about the lab's host lifecycle. */
export class LabLifecycle {
  constructor(readonly lab: Lab) {}

  get dir(): string {
    return lifecycleDir(this.lab.dir);
  }

  get inventoryFile(): string {
    return path.join(this.dir, 'inventory.yaml');
  }

  get monitoringUrl(): string {
    const cfg = JSON.parse(fs.readFileSync(path.join(this.dir, 'server.json'), 'utf8')) as { port: number };
    return `http://127.0.0.1:${cfg.port}`;
  }

  get httpInventoryFile(): string {
    return path.join(this.dir, 'http-inventory.json');
  }

  #hdir(host: string): string {
    const d = path.join(this.lab.dir, 'hosts', host);
    if (!fs.existsSync(d)) throw new Error(`the lab has no host ${host}`);
    return d;
  }

  inventory(): Record<string, { status: string }> {
    return (YAML.parse(fs.readFileSync(this.inventoryFile, 'utf8')) as { hosts: Record<string, { status: string }> }).hosts;
  }

  downtimes(): { id: string; host: string; reason: string; durationMs: number; created: string; removed?: string }[] {
    return JSON.parse(fs.readFileSync(path.join(this.dir, 'downtimes.json'), 'utf8')) as ReturnType<LabLifecycle['downtimes']>;
  }

  /** The OS codename the host's marker says (what `lsb_release -sc` prints on it). */
  os(host: string): string {
    const m = /VERSION_CODENAME=(\S+)/.exec(fs.readFileSync(path.join(this.#hdir(host), 'state', 'os-release'), 'utf8'));
    return m?.[1] ?? '';
  }

  /** `type base64` of the key the host's sshd uses (its .pub). */
  hostKey(host: string): string {
    return fs
      .readFileSync(path.join(this.#hdir(host), 'ssh_host_ed25519_key.pub'), 'utf8')
      .trim()
      .split(/\s+/)
      .slice(0, 2)
      .join(' ');
  }

  powerState(host: string): 'on' | 'off' {
    return fs.existsSync(path.join(this.#hdir(host), 'state', 'down')) ? 'off' : 'on';
  }

  /** `<epoch> reinstall <os>` / `power-off` / `config-apply rc=N` lines. */
  events(host: string): string[] {
    return readLines(path.join(this.#hdir(host), 'state', 'lifecycle.log'));
  }

  wipes(host: string): string[] {
    return readLines(path.join(this.#hdir(host), 'state', 'wipe.log'));
  }

  /** The next reinstall of this host never boots (the host stays off). */
  failReinstall(host: string): void {
    fs.writeFileSync(path.join(this.#hdir(host), 'state', 'lifecycle-fault'), 'never-boots\n');
  }

  /** The provisioner vouches for a key this host does not have (its records are wrong). */
  vouchWrongKey(host: string): void {
    fs.writeFileSync(path.join(this.#hdir(host), 'state', 'lifecycle-fault'), 'wrong-key\n');
  }

  /** Undo failReinstall/vouchWrongKey; OS marker back to the seed; inventory and downtimes re-seeded. */
  reset(): void {
    for (const h of this.lab.info.hosts) {
      const hdir = this.#hdir(h.name);
      fs.rmSync(path.join(hdir, 'state', 'lifecycle-fault'), { force: true });
      prepareLifecycleHost({ hdir });
    }
    seedInventory(
      this.lab.dir,
      this.lab.info.hosts.map((h) => h.name),
    );
  }

  /** Inventory (file and REST) and downtimes back to the seed: every fleet host `active`, no downtime. */
  resetInventory(): void {
    seedInventory(
      this.lab.dir,
      this.lab.info.hosts.map((h) => h.name),
    );
  }

  endpointAlive(): boolean {
    const p = trackedProcess(this.lab.dir, 'lifecycle', 'endpoint');
    return p !== undefined && isAlive(p.pid);
  }
}

function readLines(file: string): string[] {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
  } catch {
    return [];
  }
}
