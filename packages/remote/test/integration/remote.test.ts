import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '@galley/config';
import type { SshConfig } from '@galley/remote';
import { privateLab } from '@galley/lab/testing';
import { fingerprint, KnownHosts, NodeSet, Remote, SshConfigResolver, type SshPool } from '@galley/remote';

// A lab of our own: these tests stop hosts, reboot them and break host keys.
const env = privateLab({ hosts: 8, lbs: 0, pybal: false, bastion: true, rebootMs: 1500 }, 90_000);

let ssh: SshConfig;
let remote: Remote;
let tmp: string;
const names = () => env.lab.info.hosts.map((h) => h.name);

async function pollUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  ssh = (await loadConfig({ file: env.lab.info.config, require: ['ssh'] })).config.ssh as SshConfig;
  remote = new Remote(ssh);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-remote-it-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(tmp, 'other')]);
});
afterAll(async () => {
  await remote.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('Remote against the lab', () => {
  it('each host answers its own hostname -f over one pooled connection', async () => {
    const rep = await remote.run(names(), [{ argv: ['hostname', '-f'] }, { argv: ['true'] }]);
    expect(rep.status).toBe('succeeded');
    for (const r of rep.results) expect(r.stdout.trim()).toBe(r.host);
    expect(rep.groups).toHaveLength(names().length);
    const pool = remote.transport as SshPool;
    expect(pool.stats.connects).toBe(names().length);
  });

  it('quoting: awkward arguments arrive byte for byte', async () => {
    const args = [
      "it's",
      'a;b',
      '$(touch /tmp/galley-pwned)',
      '`id`',
      'two  spaces',
      'line1\nline2',
      '',
      '"dq"',
      '\\',
      '*',
      'ünï',
      '--',
      '-n',
    ];
    const host = names()[0] as string;
    const rep = await remote.run([host], [{ argv: ['printf', '%s\\0', ...args] }]);
    expect(rep.status).toBe('succeeded');
    expect(rep.results[0]?.stdout.split('\0').slice(0, -1)).toEqual(args);
    const check = await remote.run([host], [{ argv: ['test', '-e', '/tmp/galley-pwned'], okCodes: [] }]);
    expect(check.results[0]?.exitCode).toBe(1);
  });

  it('a wrong host key and an unknown host are refused, naming host and fingerprint; the others run', async () => {
    const [changed, unknown, ...rest] = names();
    if (!changed || !unknown) throw new Error('need 2 hosts');
    const resolver = SshConfigResolver.fromSsh(ssh);
    const real = KnownHosts.load(ssh.knownHosts);
    const realKey = real.keysFor(resolver.resolve(changed).knownHostsNames)[0];
    if (!realKey) throw new Error(`lab known_hosts has no key for ${changed}`);
    const otherKey = fs.readFileSync(path.join(tmp, 'other.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
    const patterns = (h: string) => new Set(resolver.resolve(h).knownHostsNames);
    const lines = fs
      .readFileSync(ssh.knownHosts[0] as string, 'utf8')
      .split('\n')
      .flatMap((line) => {
        const hostsField = line.split(' ')[0] ?? '';
        const pats = hostsField.split(',');
        if (pats.some((p) => patterns(unknown).has(p))) return [];
        if (pats.some((p) => patterns(changed).has(p))) return [`${hostsField} ${otherKey}`];
        return [line];
      });
    const kh = path.join(tmp, 'known_hosts');
    fs.writeFileSync(kh, lines.join('\n'));
    const r = new Remote({ ...ssh, knownHosts: [kh] });
    try {
      const rep = await r.run(names(), [{ argv: ['hostname', '-f'] }], { successThreshold: 0 });
      const by = new Map(rep.results.map((x) => [x.host, x]));
      expect(by.get(changed)).toMatchObject({ ok: false, failure: 'hostkey' });
      expect(by.get(changed)?.message).toContain(changed);
      expect(by.get(changed)?.message).toContain(fingerprint(realKey.key));
      expect(by.get(changed)?.message).toMatch(/CHANGED/);
      expect(by.get(unknown)).toMatchObject({ ok: false, failure: 'hostkey' });
      expect(by.get(unknown)?.message).toContain(unknown);
      expect(by.get(unknown)?.message).toMatch(/unknown \(ssh-ed25519 SHA256:/);
      for (const h of rest) expect(by.get(h)).toMatchObject({ ok: true, stdout: `${h}\n` });
      expect(rep.status).toBe('completed-with-failures');
    } finally {
      await r.close();
    }
  });

  it('a key the host does not accept fails with auth', async () => {
    const h = env.lab.info.hosts[0];
    if (!h) throw new Error('no host');
    // Only the wrong key is offered: our own ssh_config without the lab's IdentityFile.
    const key = KnownHosts.load(ssh.knownHosts).keysFor(
      SshConfigResolver.fromSsh({ ...ssh, identityFiles: [] }).resolve(h.name).knownHostsNames,
    )[0];
    if (!key) throw new Error('no key');
    const kh = path.join(tmp, 'kh-direct');
    fs.writeFileSync(kh, `[${h.address}]:${h.port} ${key.keyType} ${key.key.toString('base64')}\n`);
    fs.writeFileSync(path.join(tmp, 'ssh_config'), `Host direct\n  HostName ${h.address}\n  Port ${h.port}\n`);
    const r = new Remote({
      ...ssh,
      identityFiles: [path.join(tmp, 'other')],
      agent: false,
      knownHosts: [kh],
      sshConfig: path.join(tmp, 'ssh_config'),
    });
    try {
      const rep = await r.run(['direct'], [{ argv: ['true'] }]);
      expect(rep.results[0]).toMatchObject({ ok: false, failure: 'auth' });
      expect(rep.results[0]?.message).toMatch(/direct: authentication as root failed/);
    } finally {
      await r.close();
    }
  });

  it('authenticates with a key held only by ssh-agent (SSH_AUTH_SOCK), and fails without the agent', async () => {
    const h = env.lab.info.hosts[1];
    if (!h) throw new Error('no host');
    const key = KnownHosts.load(ssh.knownHosts).keysFor(
      SshConfigResolver.fromSsh({ ...ssh, identityFiles: [] }).resolve(h.name).knownHostsNames,
    )[0];
    if (!key) throw new Error('no key');
    const kh = path.join(tmp, 'kh-agent');
    fs.writeFileSync(kh, `[${h.address}]:${h.port} ${key.keyType} ${key.key.toString('base64')}\n`);
    // no IdentityFile anywhere: the only key is the one in the agent
    const cfgFile = path.join(tmp, 'ssh_config_agent');
    fs.writeFileSync(cfgFile, `Host viaagent\n  HostName ${h.address}\n  Port ${h.port}\n`);
    const sock = path.join(tmp, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    const savedSock = process.env.SSH_AUTH_SOCK;
    try {
      for (let i = 0; i < 50 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
      execFileSync('ssh-add', ['-q', env.lab.info.identityFile], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      process.env.SSH_AUTH_SOCK = sock;
      const base = { ...ssh, identityFiles: [], knownHosts: [kh], sshConfig: cfgFile };
      const withAgent = new Remote({ ...base, agent: true });
      try {
        const rep = await withAgent.run(['viaagent'], [{ argv: ['hostname', '-f'] }]);
        expect(rep.results[0]).toMatchObject({ ok: true, stdout: `${h.name}\n` });
      } finally {
        await withAgent.close();
      }
      const without = new Remote({ ...base, agent: false });
      try {
        const rep = await without.run(['viaagent'], [{ argv: ['true'] }]);
        expect(rep.results[0]).toMatchObject({ ok: false, failure: 'auth' });
      } finally {
        await without.close();
      }
    } finally {
      if (savedSock === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = savedSock;
      agent.kill();
    }
  });

  it('a stopped host fails fast as unreachable and the run goes on within the threshold; below it scheduling stops', async () => {
    const all = NodeSet.fromHosts(names()).hosts();
    const down = all.slice(0, 2);
    for (const h of down) await env.lab.stopHost(h);
    const r = new Remote(ssh);
    try {
      const t0 = Date.now();
      const rep = await r.run(all, [{ argv: ['true'] }], { successThreshold: 0.7 });
      expect(Date.now() - t0).toBeLessThan(5000);
      for (const h of down) {
        const res = rep.results.find((x) => x.host === h);
        expect(res).toMatchObject({ ok: false, failure: 'unreachable' });
        expect(res?.message).toContain(h);
        expect(res?.durationMs).toBeLessThan(3000);
      }
      expect(rep.results.filter((x) => x.ok)).toHaveLength(all.length - 2);
      expect(rep.status).toBe('completed-with-failures');
      expect(rep.exitCode).toBe(1);

      const strict = await r.run(all, [{ argv: ['true'] }], { batchSize: 1, successThreshold: 0.9 });
      expect(strict.status).toBe('failed');
      expect(strict.exitCode).toBe(2);
      // 8 hosts, 90%: the first failure already breaks the threshold, nothing more is scheduled
      expect(strict.notRun).toEqual(all.slice(1));
    } finally {
      await r.close();
      for (const h of down) await env.lab.startHost(h);
    }
  }, 60_000);

  it('a hanging command is ended at its timeout and the remote process is gone', async () => {
    const host = names()[2] as string;
    const t0 = Date.now();
    const rep = await remote.run([host], [{ shell: 'sleep 987.65 & sleep 987.65; echo never', timeoutMs: 1000 }]);
    const took = Date.now() - t0;
    expect(rep.results[0]).toMatchObject({ ok: false, failure: 'timeout' });
    expect(rep.results[0]?.message).toMatch(/timed out after 1.0s/);
    expect(took).toBeLessThan(4000);
    // the bracket keeps pgrep from matching its own command line
    const check = await remote.run([host], [{ argv: ['pgrep', '-f', 'sleep 987[.]65'], okCodes: [] }]);
    expect(check.results[0]?.exitCode).toBe(1);
  });

  it('the global deadline ends the remote process too (not left to its 300 s command timeout)', async () => {
    const host = names()[2] as string;
    const t0 = Date.now();
    const rep = await remote.run([host], [{ shell: 'sleep 987.63; echo never' }], { globalTimeoutMs: 1000 });
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(rep).toMatchObject({ status: 'timeout', exitCode: 4 });
    expect(rep.results[0]).toMatchObject({ ok: false, failure: 'timeout' });
    await pollUntil(
      'the remote sleep to end',
      async () => {
        const check = await remote.run([host], [{ argv: ['pgrep', '-f', 'sleep 987[.]63'], okCodes: [] }]);
        return check.results[0]?.exitCode === 1;
      },
      3000,
    );
  });

  it('a host whose key type is no longer the recorded one fails as hostkey, naming the host', async () => {
    const [target, ...rest] = names().slice(0, 3);
    if (!target) throw new Error('no host');
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', path.join(tmp, 'rsa')]);
    const rsa = fs.readFileSync(path.join(tmp, 'rsa.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
    const resolver = SshConfigResolver.fromSsh(ssh);
    const patterns = new Set(resolver.resolve(target).knownHostsNames);
    const lines = fs
      .readFileSync(ssh.knownHosts[0] as string, 'utf8')
      .split('\n')
      .map((line) => {
        const hostsField = line.split(' ')[0] ?? '';
        return hostsField.split(',').some((p) => patterns.has(p)) ? `${hostsField} ${rsa}` : line;
      });
    const kh = path.join(tmp, 'known_hosts_rsa');
    fs.writeFileSync(kh, lines.join('\n'));
    const r = new Remote({ ...ssh, knownHosts: [kh] });
    try {
      const rep = await r.run([target, ...rest], [{ argv: ['true'] }], { successThreshold: 0 });
      const res = rep.results.find((x) => x.host === target);
      expect(res).toMatchObject({ ok: false, failure: 'hostkey' });
      expect(res?.message).toContain(`known_hosts has only ssh-rsa for ${target}`);
      for (const h of rest) expect(rep.results.find((x) => x.host === h)).toMatchObject({ ok: true });
    } finally {
      await r.close();
    }
  });

  it('idle connections are closed after idleTimeoutMs and the next run reconnects', async () => {
    const host = names()[0] as string;
    const r = new Remote({ ...ssh, idleTimeoutMs: 300 });
    try {
      expect((await r.run([host], [{ argv: ['true'] }])).status).toBe('succeeded');
      const pool = r.transport as SshPool;
      expect(pool.size).toBe(1);
      await pollUntil('the idle connection to close', () => Promise.resolve(pool.size === 0), 5000);
      expect((await r.run([host], [{ argv: ['true'] }])).status).toBe('succeeded');
      expect(pool.stats.connects).toBe(2);
    } finally {
      await r.close();
    }
  });

  it('a failed handshake through the bastion releases the bastion connection (it idles out)', async () => {
    const b = env.lab.info.bastion;
    if (!b) throw new Error('lab has no bastion');
    const behind = b.behind[0] as string;
    // known_hosts without the target behind the bastion: its handshake fails (unknown host key)
    const resolver = SshConfigResolver.fromSsh(ssh);
    const patterns = new Set(resolver.resolve(behind).knownHostsNames);
    const lines = fs
      .readFileSync(ssh.knownHosts[0] as string, 'utf8')
      .split('\n')
      .filter((line) => !(line.split(' ')[0] ?? '').split(',').some((p) => patterns.has(p)));
    const kh = path.join(tmp, 'known_hosts_nobehind');
    fs.writeFileSync(kh, lines.join('\n'));
    const r = new Remote({ ...ssh, knownHosts: [kh], idleTimeoutMs: 300 });
    try {
      const rep = await r.run([behind], [{ argv: ['true'] }]);
      expect(rep.results[0]).toMatchObject({ ok: false, failure: 'hostkey' });
      const pool = r.transport as SshPool;
      // the bastion connection stays only while something rides on it
      await pollUntil('the bastion connection to idle out', () => Promise.resolve(pool.size === 0), 5000);
    } finally {
      await r.close();
    }
  });

  it('keepalive: a host that stops answering mid-command fails as unreachable within about a second', async () => {
    const host = names()[5] as string;
    const r = new Remote({ ...ssh, keepaliveIntervalMs: 200 });
    const listener = execFileSync('pgrep', ['-f', `${env.lab.info.dir}/hosts/${host}/sshd_config \\[listener\\]`], {
      encoding: 'utf8',
    }).trim();
    const sessions = () => {
      try {
        return execFileSync('pgrep', ['-P', listener], { encoding: 'utf8' })
          .split('\n')
          .filter((p) => p !== '')
          .map(Number);
      } catch {
        return [];
      }
    };
    const frozen: number[] = [];
    try {
      const run = r.run([host], [{ shell: 'sleep 30' }]);
      await pollUntil('the command to start', () => Promise.resolve(sessions().length > 0 && (r.transport as SshPool).size === 1), 10_000);
      await new Promise((res) => setTimeout(res, 300));
      // a silent partition: sshd (every connection to this host) stops answering, the TCP connection stays up
      for (const pid of sessions()) {
        process.kill(pid, 'SIGSTOP');
        frozen.push(pid);
      }
      const t0 = Date.now();
      const rep = await run;
      expect(rep.results[0]).toMatchObject({ ok: false, failure: 'unreachable' });
      expect(rep.results[0]?.message).toMatch(/lost while running/);
      // 3 missed keepalives at 200 ms (+ load): far below the 30 s the command would run
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
      await r.close();
    }
  });

  it('a service restart that hangs (lab fault) is ended at its timeout', async () => {
    const host = env.lab.info.hosts[3];
    if (!host) throw new Error('no host');
    const svc = host.services[0] as string;
    await env.lab.failService(host.name, svc, 'hang');
    try {
      const rep = await remote.run([host.name], [{ argv: ['systemctl', 'restart', svc], timeoutMs: 1500 }]);
      expect(rep.results[0]).toMatchObject({ ok: false, failure: 'timeout' });
      expect(rep.results[0]?.durationMs).toBeLessThan(5000);
    } finally {
      await env.lab.heal(host.name);
    }
  });

  it('60 simultaneous commands to one host all succeed (one connection, at most 8 channels)', async () => {
    const host = names()[4] as string;
    const r = new Remote(ssh);
    try {
      const reps = await Promise.all(Array.from({ length: 60 }, (_, i) => r.run([host], [{ argv: ['echo', `n${i}`] }])));
      expect(reps.map((x) => x.results[0]?.stdout)).toEqual(Array.from({ length: 60 }, (_, i) => `n${i}\n`));
      const stats = (r.transport as SshPool).stats;
      expect(stats.connects).toBe(1);
      expect(stats.maxChannelsInUse).toBe(8);
    } finally {
      await r.close();
    }
  });

  it('60 separate clients connecting to one host at once all succeed (handshakes dropped by MaxStartups are retried)', async () => {
    const host = names()[5] as string;
    const clients = Array.from({ length: 60 }, () => new Remote(ssh));
    try {
      const reps = await Promise.all(clients.map((c, i) => c.run([host], [{ argv: ['echo', `c${i}`] }])));
      const failed = reps.filter((x) => x.status !== 'succeeded').map((x) => x.results[0]?.message);
      expect(failed).toEqual([]);
      // 60 handshakes against MaxStartups 10:30:100: sshd dropped some, and they were retried
      expect(clients.reduce((n, c) => n + (c.transport as SshPool).stats.handshakeRetries, 0)).toBeGreaterThan(0);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  }, 60_000);

  it('reaches hosts behind the bastion through ProxyJump, and they are not reachable directly', async () => {
    const b = env.lab.info.bastion;
    if (!b) throw new Error('lab has no bastion');
    const rep = await remote.run(b.behind, [{ argv: ['hostname', '-f'] }]);
    expect(rep.results.filter((r) => !r.ok).map((r) => `${r.host}: ${r.failure} ${r.message}`)).toEqual([]);
    expect(rep.status).toBe('succeeded');
    for (const r of rep.results) expect(r.stdout.trim()).toBe(r.host);
    const target = env.lab.info.extraHosts.find((h) => h.name === b.behind[0]);
    if (!target) throw new Error('no extra host');
    const direct = await new Promise<string>((resolve) => {
      const s = net.connect({ host: target.address, port: target.port, timeout: 1000 });
      s.on('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (e) => resolve(e.message));
      s.on('timeout', () => {
        s.destroy();
        resolve('timeout');
      });
    });
    expect(direct).not.toBe('connected');
  });

  it('reboot + waitRebootSince (boot id and uptime)', async () => {
    const hosts = names().slice(6, 8);
    const before = await remote.bootIds(hosts);
    expect(before.size).toBe(2);
    const since = new Date();
    const rep = await remote.reboot(hosts, { batchSize: 1, sleepMs: 500 });
    expect(rep.status).toBe('succeeded');
    await remote.waitRebootSince(hosts, before, { pollMs: 500, timeoutMs: 30_000 });
    const after = await remote.bootIds(hosts);
    for (const h of hosts) expect(after.get(h)).not.toBe(before.get(h));
    await remote.waitRebootSince(hosts, since, { pollMs: 500, timeoutMs: 10_000 });
    const up = await remote.uptime(hosts);
    for (const h of hosts) expect(up.get(h)).toBeLessThan((Date.now() - since.getTime()) / 1000);
  }, 60_000);

  it('reboot of a host that cannot be reached is a failed reboot, and waitRebootSince refuses it without a boot id', async () => {
    const host = names()[1] as string;
    await env.lab.stopHost(host);
    try {
      const rep = await remote.reboot([host]);
      expect(rep.status).toBe('failed');
      expect(rep.results[0]).toMatchObject({ ok: false, failure: 'unreachable' });
      // recorded while the host was down: no boot id for it
      const during = await remote.bootIds([host, names()[0] as string]);
      expect(during.has(host)).toBe(false);
      await expect(remote.waitRebootSince([host, names()[0] as string], during, { pollMs: 100, timeoutMs: 1000 })).rejects.toMatchObject({
        code: 'ERR_REMOTE_REBOOT_NO_BOOT_ID',
        hosts: [host],
      });
    } finally {
      await env.lab.startHost(host);
    }
  }, 60_000);

  it('dry-run skips unsafe commands and runs safe ones', async () => {
    const host = names()[1] as string;
    const marker = `/tmp/galley-dry-run-${process.pid}`;
    const lines: string[] = [];
    const dry = remote.with({ dryRun: true, log: (l) => lines.push(l) });
    const rep = await dry.run([host], [{ argv: ['touch', marker] }]);
    expect(rep.results[0]?.failure).toBe('skipped-dry-run');
    expect(lines).toContain(`DRY-RUN: would run 'touch ${marker}' on 1 hosts: ${host}`);
    const safe = await dry.run([host], [{ argv: ['test', '-e', marker], okCodes: [] }, { argv: ['hostname', '-f'] }], { isSafe: true });
    expect(safe.results[0]?.commands.map((c) => c.exitCode)).toEqual([1, 0]);
    expect(safe.results[0]?.commands[1]?.stdout.trim()).toBe(host);
  });
});
