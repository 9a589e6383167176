// Host keys and ssh_config on a real lab whose host keys are certified by a CA (`up --host-ca`),
// through both transports as Remote builds them: host certificates (OpenSSH verifies them, ssh2
// refuses cert-only hosts up front), StrictHostKeyChecking accept-new, @revoked, a known_hosts
// entry recorded only for the alias, IdentityFile with tokens, and ProxyJump %r@….
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '@galley/config';
import type { SshConfig } from '@galley/remote';
import { privateLab } from '@galley/lab/testing';
import { HostCertificateUnsupportedError, KnownHosts, Remote, type HostResult } from '@galley/remote';

const env = privateLab({ hosts: 4, lbs: 0, pybal: false, hostCa: true }, 90_000);

let ssh: SshConfig;
let tmp: string;
let seq = 0;
const TRANSPORTS = ['ssh2', 'openssh'] as const;
type TransportName = (typeof TRANSPORTS)[number];

beforeAll(async () => {
  ssh = (await loadConfig({ file: env.lab.info.config, require: ['ssh'] })).config.ssh as SshConfig;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-hostkeys-it-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const host = (i: number) => {
  const h = env.lab.info.hosts[i];
  if (!h) throw new Error(`the lab has no host ${i}`);
  return h;
};
/** The lab's plain known_hosts line of a host, as `type base64`. */
const keyOf = (name: string) => {
  const line = fs
    .readFileSync(env.lab.info.knownHosts, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name},`));
  if (!line) throw new Error(`no known_hosts line for ${name}`);
  return line.split(' ').slice(1, 3).join(' ');
};
const write = (name: string, text: string) => {
  const f = path.join(tmp, `${seq++}-${name}`);
  fs.writeFileSync(f, text, { mode: 0o600 });
  return f;
};
/** `Host` blocks for lab hosts: name → its address and port. */
const hostBlocks = (...idx: number[]) =>
  idx.map((i) => `Host ${host(i).name}\n  HostName ${host(i).address}\n  Port ${host(i).port}\n`).join('');

/** A Remote on one transport with galley's ssh section pointed at this ssh_config and known_hosts (none: ssh_config's). */
async function runWith(
  transport: TransportName,
  o: { sshConfig: string; knownHosts?: string[]; identityFiles?: string[] },
  hosts: string[],
  argv = ['hostname', '-f'],
): Promise<Map<string, HostResult>> {
  const r = new Remote({
    ...ssh,
    transport,
    sshConfig: o.sshConfig,
    knownHosts: o.knownHosts ?? [],
    identityFiles: o.identityFiles ?? ssh.identityFiles,
    agent: false,
  });
  try {
    const rep = await r.run(hosts, [{ argv }], { successThreshold: 0 });
    return new Map(rep.results.map((x) => [x.host, x]));
  } finally {
    await r.close();
  }
}

describe('host certificates (lab started with --host-ca)', () => {
  it('every host presents a certificate of the lab CA for its name and address (ssh-keygen -L)', () => {
    const ca = env.lab.info.hostCa;
    expect(ca).toBeDefined();
    expect(
      fs
        .readFileSync(ca?.knownHosts ?? '', 'utf8')
        .trim()
        .split('\n'),
    ).toEqual([`@cert-authority * ${ca?.publicKey.split(' ').slice(0, 2).join(' ')}`]);
    const h = host(0);
    const cert = execFileSync('ssh-keygen', ['-L', '-f', path.join(env.lab.info.dir, 'hosts', h.name, 'ssh_host_ed25519_key-cert.pub')], {
      encoding: 'utf8',
    });
    expect(cert).toMatch(/host certificate/);
    for (const p of [h.name, h.address]) expect(cert).toContain(`                ${p}\n`);
  });

  it('openssh transport: hosts known only through @cert-authority run; a known_hosts trusting another CA refuses them as hostkey', async () => {
    const ca = env.lab.info.hostCa?.knownHosts ?? '';
    const names = [host(0).name, host(1).name];
    const ok = await runWith('openssh', { sshConfig: env.lab.info.sshConfig, knownHosts: [ca] }, names);
    for (const n of names) expect(ok.get(n)).toMatchObject({ ok: true, stdout: `${n}\n` });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(tmp, 'other_ca')]);
    const otherCa = write(
      'known_hosts.otherca',
      `@cert-authority * ${fs.readFileSync(path.join(tmp, 'other_ca.pub'), 'utf8').split(' ').slice(0, 2).join(' ')}\n`,
    );
    const bad = await runWith('openssh', { sshConfig: env.lab.info.sshConfig, knownHosts: [otherCa] }, names);
    for (const n of names) {
      expect(bad.get(n)).toMatchObject({ ok: false, failure: 'hostkey' });
      expect(bad.get(n)?.message).toContain(n);
    }
  });

  it('ssh2 transport: refuses cert-only hosts before anything runs, naming them and the transport that can', async () => {
    const ca = env.lab.info.hostCa?.knownHosts ?? '';
    const r = new Remote({ ...ssh, transport: 'ssh2', knownHosts: [ca] });
    const names = [host(0).name, host(1).name];
    const marker = path.join(tmp, 'cert-ran');
    try {
      // The lab's hosts share this file system: a command that ran would leave the marker.
      const err = await r.run(names, [{ argv: ['touch', marker] }]).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(HostCertificateUnsupportedError);
      expect((err as HostCertificateUnsupportedError).hosts).toEqual(names);
      expect((err as Error).message).toContain(names[0]);
      expect((err as HostCertificateUnsupportedError).hint).toContain('ssh.transport: openssh');
      expect(r.transport).toHaveProperty('size', 0);
    } finally {
      await r.close();
    }
    expect(fs.existsSync(marker)).toBe(false);
  });
});

describe.each(TRANSPORTS)('host keys and ssh_config through the %s transport', (transport) => {
  it('StrictHostKeyChecking accept-new records an unknown key in the first UserKnownHostsFile and runs; a changed key is still refused', async () => {
    const [a, b] = [host(0), host(1)];
    const kh1 = path.join(tmp, `${seq++}-accept-new-kh1`);
    const kh2 = write('accept-new-kh2', '');
    const cfg = write(
      'accept-new.cfg',
      `${hostBlocks(0, 1)}Host *\n  User root\n  IdentityFile ${env.lab.info.identityFile}\n  StrictHostKeyChecking accept-new\n  UserKnownHostsFile ${kh1} ${kh2}\n  GlobalKnownHostsFile none\n`,
    );
    const first = await runWith(transport, { sshConfig: cfg }, [a.name]);
    expect(first.get(a.name)).toMatchObject({ ok: true, stdout: `${a.name}\n` });
    // Recorded under the name OpenSSH looks up ([address]:port), where ssh-keygen -F finds it.
    const found = execFileSync('ssh-keygen', ['-F', `[${a.address}]:${a.port}`, '-f', kh1], { encoding: 'utf8' });
    expect(found).toContain(keyOf(a.name).split(' ')[1]);
    expect(fs.readFileSync(kh2, 'utf8')).toBe('');
    // Now known: it runs again without writing anything.
    const size = fs.statSync(kh1).size;
    expect((await runWith(transport, { sshConfig: cfg }, [a.name])).get(a.name)).toMatchObject({ ok: true });
    expect(fs.statSync(kh1).size).toBe(size);
    // b recorded with another key (a's): accept-new does not accept a changed key.
    fs.appendFileSync(kh1, `[${b.address}]:${b.port} ${keyOf(a.name)}\n`);
    const changed = await runWith(transport, { sshConfig: cfg }, [b.name]);
    expect(changed.get(b.name)).toMatchObject({ ok: false, failure: 'hostkey' });
    expect(fs.statSync(kh1).size).toBe(size + `[${b.address}]:${b.port} ${keyOf(a.name)}\n`.length);
  });

  it('@revoked refuses a key even where it is also listed as known; the other hosts run', async () => {
    const [a, b] = [host(0), host(1)];
    const kh = write('revoked-kh', `${fs.readFileSync(env.lab.info.knownHosts, 'utf8')}@revoked * ${keyOf(a.name)}\n`);
    const r = await runWith(transport, { sshConfig: env.lab.info.sshConfig, knownHosts: [kh] }, [a.name, b.name]);
    expect(r.get(a.name)).toMatchObject({ ok: false, failure: 'hostkey' });
    expect(r.get(a.name)?.message).toMatch(/revoked/i);
    expect(r.get(b.name)).toMatchObject({ ok: true, stdout: `${b.name}\n` });
  });

  it("RevokedHostKeys (a list of public keys) refuses the listed host's key; the other hosts run", async () => {
    const [a, b] = [host(0), host(1)];
    const list = write('revoked-keys', `${keyOf(a.name)} revoked-by-test\n`);
    const cfg = write('revoked.cfg', `Host *\n  RevokedHostKeys ${list}\nInclude ${env.lab.info.sshConfig}\n`);
    const r = await runWith(transport, { sshConfig: cfg, knownHosts: [env.lab.info.knownHosts] }, [a.name, b.name]);
    expect(r.get(a.name)).toMatchObject({ ok: false, failure: 'hostkey' });
    expect(r.get(a.name)?.message).toMatch(/revoked/i);
    expect(r.get(b.name)).toMatchObject({ ok: true, stdout: `${b.name}\n` });
  });

  it('a key recorded only for the alias is refused (OpenSSH looks up [HostName]:port); HostKeyAlias makes it the lookup name', async () => {
    const a = host(2);
    const kh = write('alias-kh', `${a.name} ${keyOf(a.name)}\n`);
    const base = `${hostBlocks(2)}Host *\n  User root\n  IdentityFile ${env.lab.info.identityFile}\n  UserKnownHostsFile ${kh}\n  GlobalKnownHostsFile none\n`;
    const refused = await runWith(transport, { sshConfig: write('alias.cfg', base) }, [a.name]);
    expect(refused.get(a.name)).toMatchObject({ ok: false, failure: 'hostkey' });
    expect(refused.get(a.name)?.message).toContain(
      transport === 'ssh2' ? `known_hosts has a key for ${a.name}, the name given` : `[${a.address}]:${a.port}`,
    );
    const aliased = await runWith(transport, { sshConfig: write('alias2.cfg', `Host ${a.name}\n  HostKeyAlias ${a.name}\n${base}`) }, [
      a.name,
    ]);
    expect(aliased.get(a.name)).toMatchObject({ ok: true, stdout: `${a.name}\n` });
  });

  it('IdentityFile with tokens (%n-%r) finds the key of the host it names; a host without such a file fails as auth', async () => {
    const [a, b] = [host(0), host(3)];
    const keys = path.join(tmp, `${seq++}-keys`);
    fs.mkdirSync(keys);
    fs.copyFileSync(env.lab.info.identityFile, path.join(keys, `${a.name}-root`));
    fs.chmodSync(path.join(keys, `${a.name}-root`), 0o600);
    const cfg = write(
      'tokens.cfg',
      `${hostBlocks(0, 3)}Host *\n  User root\n  IdentityFile ${keys}/%n-%r\n  IdentitiesOnly yes\n  UserKnownHostsFile ${env.lab.info.knownHosts}\n  GlobalKnownHostsFile none\n`,
    );
    const r = await runWith(transport, { sshConfig: cfg, identityFiles: [] }, [a.name, b.name]);
    expect(r.get(a.name)).toMatchObject({ ok: true, stdout: `${a.name}\n` });
    expect(r.get(b.name)).toMatchObject({ ok: false, failure: 'auth' });
  });

  it("ProxyJump %r@jump logs in to the jump host as the target's user (a plain ProxyJump uses the jump host's own User)", async () => {
    const [jump, target] = [host(0), host(1)];
    const jumpBlock = `Host jumpbox\n  HostName ${jump.address}\n  Port ${jump.port}\n  User nobody\n`;
    const common = `Host *\n  User root\n  IdentityFile ${env.lab.info.identityFile}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${env.lab.info.knownHosts}\n  GlobalKnownHostsFile none\n`;
    const viaR = write(
      'pj-r.cfg',
      `Host behind\n  HostName ${target.address}\n  Port ${target.port}\n  ProxyJump %r@jumpbox\n${jumpBlock}${common}`,
    );
    const r = await runWith(transport, { sshConfig: viaR }, ['behind']);
    expect(r.get('behind')).toMatchObject({ ok: true, stdout: `${target.name}\n` });
    // Without %r the jump host is logged in to as its own User (nobody), which the lab refuses.
    const plain = write(
      'pj-plain.cfg',
      `Host behind\n  HostName ${target.address}\n  Port ${target.port}\n  ProxyJump jumpbox\n${jumpBlock}${common}`,
    );
    const p = await runWith(transport, { sshConfig: plain }, ['behind']);
    expect(p.get('behind')).toMatchObject({ ok: false });
    // ssh2 says which login failed; OpenSSH's own ProxyJump only sees the jump connection close.
    if (transport === 'ssh2')
      expect(p.get('behind')).toMatchObject({ failure: 'auth', message: expect.stringContaining('authentication as nobody failed') });
    else expect(p.get('behind')?.failure).toMatch(/^(auth|unreachable)$/);
  });
});

describe("the lab's plain known_hosts still works against certificate-presenting hosts", () => {
  it.each(TRANSPORTS)('%s', async (transport) => {
    const names = env.lab.info.hosts.map((h) => h.name);
    const r = await runWith(transport, { sshConfig: env.lab.info.sshConfig, knownHosts: [env.lab.info.knownHosts] }, names);
    for (const n of names) expect(r.get(n)).toMatchObject({ ok: true, stdout: `${n}\n` });
    expect(KnownHosts.load([env.lab.info.knownHosts]).size).toBe(names.length);
  });
});
