/**
 * The lab's machines as a `type: plugin` provisioner of @galley/lifecycle: what `galley-lab up` writes
 * to the generated config (`provisioner: {type: plugin, module: <this module>, options: {labDir}}`,
 * see labProvisionerModule in lifecycle.ts). Only the interface's operations are here: dry-run, the
 * recorded actions and the per-call bound are the plugin wrapper's, as for any site's plugin. Lab
 * code, never shipped in lifecycle: it knows the lab's disk layout.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parsePublicKey, ProvisionerError, type PluginFactory, type PowerState, type ProvisionerPlugin } from '@galley/lifecycle';

const run = promisify(execFile);

/**
 * What `galley-lab up` writes to DIR/lifecycle/provisioner.json for this provisioner. Per host dir
 * (`hdir`): `ssh_host_ed25519_key{,.pub}` (sshd's key, read when sshd starts), `state/` (the host's
 * fake systemd state: `services/<svc>`, `faults/<svc>`, `down` = sshd off, `rebooting` = seconds
 * the next sshd restart waits, `os-release`, `lifecycle.log`), `lib/kill-sessions.sh` (ends the
 * current boot: the supervisor then starts a new one with a new boot id).
 */
export interface LabProvisionerFile {
  version: 1;
  knownHosts: string;
  hosts: Record<string, { hdir: string; address: string; port: number; rebootMs: number }>;
}

export function labProvisionerFile(labDir: string): string {
  return path.join(labDir, 'lifecycle', 'provisioner.json');
}

/**
 * The lab's machines: reinstall = wipe the host's service state, write the OS marker, a NEW ed25519
 * host key, then a simulated reboot; power off/on = stop/start its sshd. A fault file
 * `state/lifecycle-fault` holding `never-boots` makes a reinstalled host stay off; `wrong-key`
 * makes hostKey() vouch for a key the host does not have.
 */
export class LabMachines implements ProvisionerPlugin {
  readonly labDir: string;

  constructor(labDir: string) {
    this.labDir = path.resolve(labDir);
  }

  async close(): Promise<void> {
    // nothing held open
  }

  #file(): LabProvisionerFile {
    const f = labProvisionerFile(this.labDir);
    try {
      return JSON.parse(fs.readFileSync(f, 'utf8')) as LabProvisionerFile;
    } catch (err) {
      throw new ProvisionerError(`no lab provisioner data at ${f}: ${(err as Error).message}`, {
        hint: 'is the lab up (`galley-lab up`) and provisioner.labDir its directory?',
        cause: err,
      });
    }
  }

  #host(host: string): LabProvisionerFile['hosts'][string] & { state: string } {
    const h = this.#file().hosts[host];
    if (!h)
      throw new ProvisionerError(`the lab has no machine ${host}`, {
        hint: `machines: ${Object.keys(this.#file().hosts).slice(0, 6).join(', ')}…`,
      });
    return { ...h, state: path.join(h.hdir, 'state') };
  }

  #fault(state: string): string {
    try {
      return fs.readFileSync(path.join(state, 'lifecycle-fault'), 'utf8').trim();
    } catch {
      return '';
    }
  }

  #logEvent(state: string, line: string): void {
    fs.appendFileSync(path.join(state, 'lifecycle.log'), `${(Date.now() / 1000).toFixed(3)} ${line}\n`);
  }

  async #endBoot(h: { hdir: string; state: string; rebootMs: number }): Promise<void> {
    fs.writeFileSync(path.join(h.state, 'rebooting'), `${(h.rebootMs / 1000).toFixed(3)}\n`);
    await run('/bin/sh', [path.join(h.hdir, 'lib', 'kill-sessions.sh'), '0']);
  }

  async reinstall(host: string, os: string): Promise<void> {
    const h = this.#host(host);
    const servicesDir = path.join(h.state, 'services');
    for (const svc of fs.readdirSync(servicesDir)) {
      fs.writeFileSync(path.join(servicesDir, svc), 'inactive\n');
      // A fresh OS has the packages but not their config: the services stay down (across the
      // reboot) until config management (the post-install command) starts them.
      const fault = path.join(h.state, 'faults', svc);
      if (!fs.existsSync(fault)) fs.writeFileSync(fault, 'wiped\n');
    }
    fs.writeFileSync(path.join(h.state, 'os-release'), `ID=debian\nVERSION_CODENAME=${os}\n`);
    const key = path.join(h.hdir, 'ssh_host_ed25519_key');
    // What the site's records still say until the new install publishes its key (fault key-late).
    if (fs.existsSync(`${key}.pub`)) fs.copyFileSync(`${key}.pub`, path.join(h.state, 'previous-host-key.pub'));
    fs.rmSync(key, { force: true });
    fs.rmSync(`${key}.pub`, { force: true });
    await run('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `root@${host}`, '-f', key]);
    const pub = parsePublicKey(fs.readFileSync(`${key}.pub`, 'utf8'))!;
    this.#publishKnownHost(host, h, pub);
    this.#logEvent(h.state, `reinstall ${os}`);
    if (this.#fault(h.state) === 'never-boots') {
      fs.writeFileSync(path.join(h.state, 'down'), '');
      await run('/bin/sh', [path.join(h.hdir, 'lib', 'kill-sessions.sh'), '0']);
      return;
    }
    await this.#endBoot(h);
  }

  /**
   * The site's published known_hosts (the lab's DIR/known_hosts) gets the new key, as config
   * management would publish it; a running galley process still trusts only what it loaded, plus
   * what it was explicitly told by hostKey().
   */
  #publishKnownHost(host: string, h: { address: string; port: number }, pub: string): void {
    const file = this.#file().knownHosts;
    const lines = fs.existsSync(file)
      ? fs
          .readFileSync(file, 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '')
      : [];
    const where = h.port === 22 ? h.address : `[${h.address}]:${h.port}`;
    const kept = lines.filter((l) => !(l.split(/\s+/)[0] ?? '').split(',').includes(host));
    kept.push(`${host},${where} ${pub}`);
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, kept.join('\n') + '\n');
    fs.renameSync(tmp, file);
  }

  async powerOff(host: string): Promise<void> {
    const h = this.#host(host);
    for (const f of fs.readdirSync(path.join(h.state, 'services'))) fs.writeFileSync(path.join(h.state, 'services', f), 'inactive\n');
    fs.writeFileSync(path.join(h.state, 'down'), '');
    this.#logEvent(h.state, 'power-off');
    await run('/bin/sh', [path.join(h.hdir, 'lib', 'kill-sessions.sh'), '0']);
  }

  async powerOn(host: string): Promise<void> {
    const h = this.#host(host);
    this.#logEvent(h.state, 'power-on');
    fs.rmSync(path.join(h.state, 'down'), { force: true });
  }

  async powerCycle(host: string): Promise<void> {
    const h = this.#host(host);
    this.#logEvent(h.state, 'power-cycle');
    fs.rmSync(path.join(h.state, 'down'), { force: true });
    await this.#endBoot(h);
  }

  async powerStatus(host: string): Promise<PowerState> {
    const h = this.#host(host);
    return fs.existsSync(path.join(h.state, 'down')) ? 'off' : 'on';
  }

  async hostKey(host: string): Promise<string> {
    const h = this.#host(host);
    if (this.#fault(h.state) === 'wrong-key') {
      // The site's records are wrong: vouch for a key the host does not have (tests that it is refused).
      const blob = Buffer.concat([
        Buffer.from([0, 0, 0, 11]),
        Buffer.from('ssh-ed25519'),
        Buffer.from([0, 0, 0, 32]),
        crypto.createHash('sha256').update(host).digest(),
      ]);
      return `ssh-ed25519 ${blob.toString('base64')}`;
    }
    if (this.#fault(h.state) === 'key-late' && fs.existsSync(path.join(h.state, 'rebooting'))) {
      // A real provisioner's reinstall returns once the install has started; until the host has
      // booted the new OS, the site's records still hold the previous key (or none).
      const prev = fs.existsSync(path.join(h.state, 'previous-host-key.pub'))
        ? parsePublicKey(fs.readFileSync(path.join(h.state, 'previous-host-key.pub'), 'utf8'))
        : undefined;
      if (!prev) throw new ProvisionerError(`no host key of ${host} published yet (the install is running)`);
      return prev;
    }
    const key = parsePublicKey(fs.readFileSync(path.join(h.hdir, 'ssh_host_ed25519_key.pub'), 'utf8'));
    if (!key) throw new ProvisionerError(`the lab machine ${host} has no host key`);
    return key;
  }
}

/** The plugin's factory: `options.labDir` is the lab directory (`galley-lab up --dir`). */
const labProvisioner: PluginFactory<ProvisionerPlugin> = (options) => {
  const labDir = options.labDir;
  if (typeof labDir !== 'string' || labDir === '') throw new Error('the lab provisioner needs options.labDir, the lab directory');
  return new LabMachines(labDir);
};
export default labProvisioner;
