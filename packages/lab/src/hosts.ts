import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { LabPrerequisiteError } from './errors.js';
import { killSessionsScript, sshdConfig, superviseScript, systemctlScript } from './host-scripts.js';
import { mountNs, spawnDetached, tcpOpen, waitFor } from './procs.js';
import { generateEd25519, signHostCertificate, type Ed25519Key } from './sshkeys.js';
import { trackProcess } from './state.js';

const run = promisify(execFile);

/** One sshd host of the lab: where it listens (as seen from its network namespace) and its files. */
export interface HostSpec {
  name: string;
  short: string;
  address: string;
  port: number;
  dc: string;
  cluster: string;
  services: string[];
  /** Host dir: sshd_config, host key, bin/, state/. */
  hdir: string;
  /** Reachable only through a jump (ProxyJump chain, by host name). */
  proxyJump?: string;
  /** Lives in the bastion's network namespace (started after it, via nsenter). */
  inBastionNet?: boolean;
  role: 'fleet' | 'bastion' | 'restricted';
  /** A lab started with ssh: false: service state only. */
  noSshd?: boolean;
  /** Its restart time as started (state/restart_ms holds the current one); absent in older labs. */
  restartMs?: number;
}

export function checkHostPrerequisites(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new LabPrerequisiteError(
      "the lab's ssh hosts need root (namespaces, sshd logging in as root)",
      'run as root (CI does), or start the lab with ssh: false / --no-ssh',
    );
  }
  for (const bin of ['/usr/sbin/sshd', '/usr/bin/unshare', '/usr/bin/nsenter']) {
    if (!fs.existsSync(bin)) {
      throw new LabPrerequisiteError(
        `${bin} is missing`,
        'apt-get install -y --no-install-recommends openssh-server openssh-client util-linux',
      );
    }
  }
}

async function keygen(file: string, comment: string): Promise<string> {
  const k = generateEd25519(comment);
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, k.privateKey, { mode: 0o600 });
  fs.writeFileSync(`${file}.pub`, `${k.publicKey}\n`);
  return k.publicKey;
}

function writeExec(file: string, text: string): void {
  fs.writeFileSync(file, text, { mode: 0o755 });
}

/**
 * Write one host's directory: host key, sshd_config, fake systemctl/reboot, state. Returns its
 * public key line. With a host CA (`up --host-ca`), the host key is also certified by it
 * (principals: the FQDN, the short name and the address OpenSSH connects to, which is the name
 * it checks a certificate against without HostKeyAlias) and sshd presents the certificate.
 */
export async function prepareHost(
  dir: string,
  h: HostSpec,
  o: { restartMs: number; rebootMs: number; hostCa?: Ed25519Key | undefined },
): Promise<string> {
  for (const d of ['bin', 'lib', 'etc', 'state/services', 'state/faults']) fs.mkdirSync(path.join(h.hdir, d), { recursive: true });
  const keyFile = path.join(h.hdir, 'ssh_host_ed25519_key');
  const pub = await keygen(keyFile, `root@${h.name}`);
  let extra = '';
  if (o.hostCa) {
    const cert = signHostCertificate(o.hostCa, pub, { keyId: h.name, principals: [h.name, h.short, h.address] });
    fs.writeFileSync(`${keyFile}-cert.pub`, `${cert}\n`);
    extra = `HostCertificate ${keyFile}-cert.pub`;
  }
  fs.writeFileSync(
    path.join(h.hdir, 'sshd_config'),
    sshdConfig({ listen: `${h.address}:${h.port}`, hdir: h.hdir, dir, name: h.name, extra }),
  );
  fs.writeFileSync(path.join(h.hdir, 'etc/hosts'), `127.0.0.1\tlocalhost\n127.0.1.1\t${h.name} ${h.short}\n`);
  fs.writeFileSync(path.join(h.hdir, 'etc/hostname'), `${h.short}\n`);
  fs.writeFileSync(path.join(h.hdir, 'empty'), '');
  writeExec(path.join(h.hdir, 'supervise.sh'), superviseScript({ hdir: h.hdir, short: h.short, waitNet: h.role === 'bastion' }));
  writeExec(path.join(h.hdir, 'lib/kill-sessions.sh'), killSessionsScript({ hdir: h.hdir }));
  writeExec(path.join(h.hdir, 'bin/systemctl'), systemctlScript({ hdir: h.hdir, name: h.name }));
  for (const alias of ['reboot', 'shutdown']) {
    fs.rmSync(path.join(h.hdir, 'bin', alias), { force: true });
    fs.symlinkSync('systemctl', path.join(h.hdir, 'bin', alias));
  }
  prepareHostState(h, o);
  // OpenSSH writes port 22 as a bare address, any other port as [address]:port.
  const where = h.port === 22 ? h.address : `[${h.address}]:${h.port}`;
  return `${h.name},${where} ${pub.split(' ').slice(0, 2).join(' ')}`;
}

/** The host's state dir: boot id, timings, one file per service (all active), no faults. */
export function prepareHostState(h: HostSpec, o: { restartMs: number; rebootMs: number }): void {
  const st = path.join(h.hdir, 'state');
  for (const d of ['services', 'faults']) fs.mkdirSync(path.join(st, d), { recursive: true });
  fs.writeFileSync(path.join(st, 'boot_id'), `${crypto.randomUUID()}\n`);
  fs.writeFileSync(path.join(st, 'restart_ms'), `${o.restartMs}\n`);
  fs.writeFileSync(path.join(st, 'reboot_ms'), `${o.rebootMs}\n`);
  for (const svc of h.services) fs.writeFileSync(path.join(st, 'services', svc), 'active\n');
}

/** Start the host's supervisor (and so its sshd) in fresh UTS + mount namespaces. */
export function startHostProcess(dir: string, h: HostSpec, bastionPid?: number): number {
  const args = ['--uts', '--mount', '--propagation', 'private'];
  if (h.role === 'bastion') args.push('--net');
  const logFile = path.join(h.hdir, 'sshd.log');
  const pid = h.inBastionNet
    ? spawnDetached(
        '/usr/bin/nsenter',
        [`--net=/proc/${bastionPid}/ns/net`, '/usr/bin/unshare', ...args, '/bin/sh', path.join(h.hdir, 'supervise.sh')],
        { logFile },
      )
    : spawnDetached('/usr/bin/unshare', [...args, '/bin/sh', path.join(h.hdir, 'supervise.sh')], { logFile });
  trackProcess(dir, { kind: 'host', name: h.name, pid });
  return pid;
}

/** Once unshare has exec'd the supervisor, its mount namespace is the host's: record it for `down`. */
export async function recordHostNamespace(dir: string, h: HostSpec, pid: number): Promise<void> {
  const own = mountNs('self');
  const ns = await waitFor(
    `${h.name}'s namespace`,
    async () => {
      const n = mountNs(pid);
      return n !== undefined && n !== own ? n : undefined;
    },
    { timeoutMs: 5000, intervalMs: 10 },
  );
  trackProcess(dir, { kind: 'host', name: h.name, pid, mntns: ns });
}

export async function waitHostUp(h: HostSpec, bastionPid: number | undefined, timeoutMs = 20000): Promise<void> {
  await waitFor(
    `sshd of ${h.name} on ${h.address}:${h.port}`,
    async () => {
      if (h.inBastionNet) {
        const { stdout } = await run('/usr/bin/nsenter', [`--net=/proc/${bastionPid}/ns/net`, 'ss', '-Hltn', `sport = :${h.port}`]);
        return stdout.trim() !== '' ? true : undefined;
      }
      return (await tcpOpen(h.address, h.port)) ? true : undefined;
    },
    { timeoutMs, intervalMs: 50 },
  );
}

/**
 * Give the bastion's network namespace a veth link to ours: we are 10.251.X.Y+1, the bastion
 * Y+2 (a /30 picked at random per lab). The link disappears with the namespace's last process.
 */
export function pickBastionSubnet(): { ours: string; theirs: string } {
  const block = crypto.randomInt(0, 16384);
  const prefix = `10.251.${block >> 6}`;
  const d = (block & 63) * 4;
  return { ours: `${prefix}.${d + 1}`, theirs: `${prefix}.${d + 2}` };
}

export async function wireBastion(bastionPid: number, token: string, net: { ours: string; theirs: string }): Promise<string> {
  const { ours, theirs } = net;
  const veth = `glab${token.slice(0, 6)}`;
  const peer = `${veth}b`;
  await run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', peer]);
  await run('ip', ['link', 'set', peer, 'netns', String(bastionPid)]);
  await run('ip', ['addr', 'add', `${ours}/30`, 'dev', veth]);
  await run('ip', ['link', 'set', veth, 'up']);
  const ns = ['--net=' + `/proc/${bastionPid}/ns/net`];
  await run('nsenter', [...ns, 'ip', 'link', 'set', 'lo', 'up']);
  await run('nsenter', [...ns, 'ip', 'addr', 'add', `${theirs}/30`, 'dev', peer]);
  await run('nsenter', [...ns, 'ip', 'link', 'set', peer, 'up']);
  return veth;
}

export function sshConfigText(dir: string, hosts: HostSpec[]): string {
  const blocks = hosts.map((h) =>
    [`Host ${h.name}`, `  HostName ${h.address}`, `  Port ${h.port}`, ...(h.proxyJump ? [`  ProxyJump ${h.proxyJump}`] : [])].join('\n'),
  );
  return `# Generated by galley-lab. Use: ssh -F ${path.join(dir, 'ssh_config')} mw1001.eqiad.wmnet hostname -f
${blocks.join('\n')}

Host *
  User root
  IdentityFile ${path.join(dir, 'id_ed25519')}
  IdentitiesOnly yes
  UserKnownHostsFile ${path.join(dir, 'known_hosts')}
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
`;
}

/**
 * `up --host-ca`: the lab's host CA (DIR/host_ca, DIR/host_ca.pub) and DIR/known_hosts.ca, a
 * known_hosts file with only its `@cert-authority` line: hosts are known through their
 * certificates alone (OpenSSH checks them; galley's ssh2 transport refuses such hosts).
 */
export function prepareHostCa(dir: string): Ed25519Key {
  const ca = generateEd25519('galley-lab host CA');
  fs.writeFileSync(path.join(dir, 'host_ca'), ca.privateKey, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'host_ca.pub'), `${ca.publicKey}\n`);
  fs.writeFileSync(path.join(dir, 'known_hosts.ca'), `@cert-authority * ${ca.publicKey.split(' ').slice(0, 2).join(' ')}\n`);
  return ca;
}

export async function prepareClientKey(dir: string): Promise<void> {
  const pub = await keygen(path.join(dir, 'id_ed25519'), 'galley-lab');
  fs.writeFileSync(path.join(dir, 'authorized_keys'), `${pub}\n`);
}

// ---- control (used by Lab methods and the CLI) ----

export function hostStateDir(hdir: string): string {
  return path.join(hdir, 'state');
}

export async function killSessions(hdir: string): Promise<void> {
  await run('/bin/sh', [path.join(hdir, 'lib/kill-sessions.sh'), '0']);
}
