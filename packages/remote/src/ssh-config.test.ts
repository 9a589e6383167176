import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { parseJump, SshConfigResolver } from './ssh-config.js';

// What ssh -G cannot show (the expanded connection target); ssh -G itself is the oracle in
// ssh-config.diff.test.ts.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-sshcfg-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const local = { user: 'me', uid: 1000, home: '/home/me', globHome: '/home/me', hostname: 'laptop.example.org', env: { KH: '/srv/kh' } };

function resolver(text: string, extra: Partial<ConstructorParameters<typeof SshConfigResolver>[0]> = {}): SshConfigResolver {
  const file = path.join(dir, `cfg-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(file, text);
  return new SshConfigResolver({ configFile: file, local, ...extra });
}

const CFG = `
Host bastion
  HostName 127.0.0.1
  Port 22100
  User ops

Host *.behind
  User deploy
  ProxyJump %r@bastion,jump2:2200

Host mw*
  HostName %h.eqiad.wmnet
  IdentityFile ~/.ssh/%h.key
  IdentityFile \${KH}/%r

Host h1
  HostName 127.0.0.1
  Port 22001
  HostKeyAlias H1.lab

Host *
  IdentityFile /keys/default
  User root
`;

describe('SshConfigResolver.resolve (the connection target)', () => {
  const r = resolver(CFG, { defaultUser: 'galley', identityFiles: ['/keys/cfg'] });

  it('applies Host patterns with first-value-wins; galley identityFiles come first, as ssh -i', () => {
    expect(r.resolve('bastion')).toMatchObject({ hostname: '127.0.0.1', port: 22100, user: 'ops', proxyJump: [] });
    expect(r.resolve('mw1001')).toMatchObject({
      hostname: 'mw1001.eqiad.wmnet',
      port: 22,
      user: 'root',
      identityFiles: ['/keys/cfg', '/home/me/.ssh/mw1001.eqiad.wmnet.key', '/srv/kh/root', '/keys/default'],
    });
  });

  it('expands %r in ProxyJump to the target user (as ssh expands its ProxyCommand)', () => {
    expect(r.resolve('x.behind').proxyJump).toEqual([
      { host: 'bastion', user: 'deploy' },
      { host: 'jump2', port: 2200 },
    ]);
    expect(parseJump('ops@b:2222')).toEqual({ host: 'b', user: 'ops', port: 2222 });
    expect(parseJump('[::1]:2222')).toEqual({ host: '::1', port: 2222 });
    expect(() => parseJump('::1')).toThrow(/invalid ProxyJump hop/);
  });

  it('looks host keys up as OpenSSH: [HostName]:port then HostName, or HostKeyAlias (lower-cased) — never the alias', () => {
    expect(r.resolve('bastion').knownHostsNames).toEqual(['[127.0.0.1]:22100', '127.0.0.1']);
    expect(r.resolve('h1').knownHostsNames).toEqual(['h1.lab']);
    expect(r.resolve('mw1001').knownHostsNames).toEqual(['mw1001.eqiad.wmnet']);
  });

  it('user and port overrides win (jump specs user@host:port)', () => {
    expect(r.resolve('bastion', { user: 'me', port: 2 })).toMatchObject({ user: 'me', port: 2 });
  });

  it('without ssh_config the defaults of OpenSSH apply: local user, id_* files, ~/.ssh/known_hosts', () => {
    const none = new SshConfigResolver({ configFile: 'none', local });
    expect(none.resolve('db1001')).toMatchObject({
      alias: 'db1001',
      hostname: 'db1001',
      port: 22,
      user: 'me',
      proxyJump: [],
      knownHostsNames: ['db1001'],
      knownHostsFiles: {
        user: ['/home/me/.ssh/known_hosts', '/home/me/.ssh/known_hosts2'],
        global: ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
      },
      strictHostKeyChecking: 'yes',
    });
    expect(none.resolve('db1001').identityFiles[0]).toBe('/home/me/.ssh/id_rsa');
    // galley's ssh.knownHosts is `-o UserKnownHostsFile=…`: it wins over ssh_config
    expect(resolver('UserKnownHostsFile /x\n', { knownHosts: ['/galley/kh'] }).resolve('a').knownHostsFiles.user).toEqual(['/galley/kh']);
  });

  it('refuses StrictHostKeyChecking no/off, saying why', () => {
    const s = resolver(
      'Host a\n  StrictHostKeyChecking no\nHost b\n  StrictHostKeyChecking accept-new\nHost c\n  StrictHostKeyChecking ask\n',
    );
    expect(() => s.resolve('a')).toThrow(
      expect.objectContaining({ code: 'ERR_REMOTE_HOSTKEY_POLICY', message: expect.stringMatching(/never connects without verifying/) }),
    );
    expect(s.resolve('b').strictHostKeyChecking).toBe('accept-new');
    // galley never prompts: ask is yes
    expect(s.resolve('c').strictHostKeyChecking).toBe('yes');
  });

  it('refuses Match exec when ssh would run it, but not when an earlier criterion already failed', () => {
    const s = resolver('Match host other exec "touch /tmp/galley-pwned"\n  User x\nMatch host a* exec "true"\n  User y\n');
    expect(s.resolve('b').user).toBe('me');
    expect(() => s.resolve('a1')).toThrow(
      expect.objectContaining({ code: 'ERR_REMOTE_SSH_CONFIG_EXEC', message: expect.stringMatching(/never runs commands/) }),
    );
    expect(fs.existsSync('/tmp/galley-pwned')).toBe(false);
  });

  it('passes ProxyCommand on (the openssh transport runs it, the ssh2 pool refuses it); refuses canonicalization through DNS', () => {
    expect(resolver('ProxyCommand nc %h %p\n').resolve('a').proxyCommand).toBe('nc %h %p');
    expect(resolver('ProxyJump j\nProxyCommand nc %h %p\n').resolve('a').proxyCommand).toBeUndefined();
    expect(() => resolver('CanonicalizeHostname yes\nCanonicalDomains example.org\n').resolve('a')).toThrow(/through DNS/);
  });

  it('names the file and line of a bad option, and a missing -F file', () => {
    expect(() => resolver('Host *\n  Port 99999\n').resolve('a')).toThrow(/cfg-\w+ line 2: Bad port '99999'/);
    expect(() => new SshConfigResolver({ configFile: path.join(dir, 'nope') }).resolve('a')).toThrow(/cannot open ssh_config/);
  });
});
