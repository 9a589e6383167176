import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { defaultSshConfig, type SshConfig } from './config.js';
import { opensshConfigText, OpenSshTransport, type OpenSshConfigParts } from './openssh.js';

// OpenSSH itself is the oracle: `ssh -G` prints what it would use with galley's generated config.
let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-openssh-test-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** `ssh -G` with the generated config: option → values (options like IdentityFile repeat). */
function effective(cfg: SshConfig, host: string, parts: OpenSshConfigParts = {}): Map<string, string[]> {
  const file = path.join(tmp, `cfg-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(
    file,
    opensshConfigText(cfg, { local: { home: path.join(tmp, 'nohome'), systemConfig: path.join(tmp, 'nosys') }, ...parts }),
  );
  const out = execFileSync('ssh', ['-G', '-F', file, '--', host], { encoding: 'utf8' });
  const m = new Map<string, string[]>();
  for (const line of out.split('\n')) {
    const i = line.indexOf(' ');
    if (i <= 0) continue;
    const k = line.slice(0, i);
    m.set(k, [...(m.get(k) ?? []), line.slice(i + 1)]);
  }
  return m;
}

describe("the OpenSSH transport's ssh_config, as `ssh -G` reads it", () => {
  const hostile = () => {
    const f = path.join(tmp, 'user_ssh_config');
    // A user's ssh_config that tries to loosen every safety setting, and sets per-host values.
    fs.writeFileSync(
      f,
      `Host mw*
  HostName %h.example.org
  Port 2222
  User deploy
  IdentityFile ~/.ssh/%h.key
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  GlobalKnownHostsFile /etc/ssh/ssh_known_hosts
  BatchMode no
  UpdateHostKeys yes
  VerifyHostKeyDNS yes
  KnownHostsCommand /bin/echo
  ControlMaster auto
Host db*
  ProxyJump ops@bast:2200
`,
    );
    return f;
  };

  it("the resolver's host-key policy and the safety settings win over the user's ssh_config; its host values win over galley's defaults", () => {
    const cfg: SshConfig = {
      ...defaultSshConfig(),
      transport: 'openssh',
      user: 'root',
      sshConfig: hostile(),
      agent: false,
      knownHosts: ['/etc/galley/known_hosts', '/srv/fleet known_hosts'],
      identityFiles: ['/keys/galley'],
    };
    const policies = new Map([
      ['mw1001', { strict: 'accept-new' as const, user: ['/etc/galley/known_hosts', '/srv/fleet known_hosts'], global: [] }],
    ]);
    const g = effective(cfg, 'mw1001', { policies });
    const one = (k: string) => g.get(k)?.join(' | ');
    const summary = Object.fromEntries(
      [
        'stricthostkeychecking',
        'batchmode',
        'userknownhostsfile',
        'globalknownhostsfile',
        'updatehostkeys',
        'verifyhostkeydns',
        'knownhostscommand',
        'controlmaster',
        'identityagent',
        'hostname',
        'port',
        'user',
        'identityfile',
      ].map((k) => [k, one(k)]),
    );
    expect(summary).toEqual({
      stricthostkeychecking: 'accept-new',
      batchmode: 'yes',
      userknownhostsfile: '/etc/galley/known_hosts /srv/fleet known_hosts',
      globalknownhostsfile: 'none',
      updatehostkeys: 'false',
      verifyhostkeydns: 'false',
      knownhostscommand: undefined,
      controlmaster: 'false',
      identityagent: 'none',
      hostname: 'mw1001.example.org',
      port: '2222',
      user: 'deploy',
      // galley's identity files first (as ssh -i, and as the resolver orders them); ssh -G prints
      // IdentityFile before ~ and %-token expansion (done when the key is loaded).
      identityfile: '/keys/galley | ~/.ssh/%h.key',
    });
    // A host galley did not resolve is strict whatever the user's config says; hosts the user's
    // config says nothing about get galley's user.
    expect(effective(cfg, 'mw1002').get('stricthostkeychecking')).toEqual(['true']);
    expect(effective(cfg, 'other1').get('user')).toEqual(['root']);
    expect(effective(cfg, 'db1').get('proxyjump')).toEqual(['ops@bast:2200']);
  });

  it('without ssh.sshConfig it reads ~/.ssh/config then /etc/ssh/ssh_config, as ssh does without -F', () => {
    const home = path.join(tmp, 'home1');
    fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
    fs.writeFileSync(path.join(home, '.ssh', 'config'), 'Host u1\n  Port 2201\n');
    const sys = path.join(tmp, 'sys_config');
    fs.writeFileSync(sys, 'Host u1 s1\n  Port 2202\n  User sysuser\n');
    const local = { home, systemConfig: sys };
    const cfg = { ...defaultSshConfig(), sshConfig: undefined };
    expect([
      effective(cfg, 'u1', { local }).get('port'),
      effective(cfg, 'u1', { local }).get('user'),
      effective(cfg, 's1', { local }).get('port'),
    ]).toEqual([['2201'], ['sysuser'], ['2202']]);
    // `none`: no file at all.
    expect(effective({ ...cfg, sshConfig: 'none' }, 'u1', { local }).get('port')).toEqual(['22']);
  });

  it("%-tokens in galley's paths stay literal; a trusted host reads only its own file", () => {
    const cfg: SshConfig = { ...defaultSshConfig(), knownHosts: ['/kh/100%h'], identityFiles: ['/keys/%r'] };
    const policies = new Map([
      ['h1', { strict: 'yes' as const, user: ['/kh/100%h'], global: ['/g/50%'] }],
      ['h2', { strict: 'yes' as const, user: ['/kh/100%h'], global: [] }],
    ]);
    const g = effective(cfg, 'h1', { policies, trusted: new Map([['h2', '/tmp/trusted0']]) });
    expect(g.get('userknownhostsfile')).toEqual(['/kh/100%h']);
    expect(g.get('globalknownhostsfile')).toEqual(['/g/50%']);
    // Printed unexpanded (see above): `%%` is what ssh turns into a literal `%` when it loads the key.
    expect(g.get('identityfile')).toEqual(['/keys/%%r']);
    expect(effective(cfg, 'h2', { policies, trusted: new Map([['h2', '/tmp/trusted0']]) }).get('userknownhostsfile')).toEqual([
      '/tmp/trusted0',
    ]);
  });

  it('refuses a path it cannot write into ssh_config, naming it', () => {
    expect(() => opensshConfigText({ ...defaultSshConfig(), identityFiles: ['/a"b'] })).toThrow(/cannot pass "\/a\\"b" to OpenSSH/);
  });
});

describe('OpenSshTransport without a server', () => {
  it('keeps its ssh_config and sockets in a private 0700 dir and removes it on close', async () => {
    const t = new OpenSshTransport({ cfg: { ...defaultSshConfig(), transport: 'openssh' } });
    const dir = t.dir;
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, 'ssh_config')).mode & 0o777).toBe(0o600);
    await t.close();
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('a refused connection is "unreachable", naming the host and saying what ssh said', async () => {
    // A port nothing listens on (loopback only: the unit project allows nothing else).
    const srv = await import('node:net').then((net) => net.createServer());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const cfgFile = path.join(tmp, 'refused_config');
    fs.writeFileSync(cfgFile, `Host gone1\n  HostName 127.0.0.1\n  Port ${port}\n`);
    const t = new OpenSshTransport({ cfg: { ...defaultSshConfig(), transport: 'openssh', sshConfig: cfgFile } });
    try {
      const o = await t.exec({ host: 'gone1', command: 'true' });
      expect(o).toMatchObject({ failure: 'unreachable', exitCode: null });
      expect(o.message).toMatch(/^gone1: cannot connect: .*Connection refused/);
    } finally {
      await t.close();
    }
  });
});
