import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import ssh2 from 'ssh2';
import { defaultSshConfig } from './config.js';
import { Remote } from './remote.js';
import type { SshPool } from './pool.js';

// Loopback servers only: one that accepts TCP and never says a word, one real ssh2 server.
let dir: string;
let silent: net.Server;
let silentPort: number;
const silentSockets = new Set<net.Socket>();
let sshd: ssh2.Server;
let sshdPort: number;
/** What the ssh2 server saw: exec'd commands and signal requests. */
const seen: string[] = [];

const listen = (srv: net.Server | ssh2.Server) =>
  new Promise<number>((resolve) => {
    srv.listen(0, '127.0.0.1', () => resolve((srv.address() as net.AddressInfo).port));
  });

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-pool-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'id')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'hostkey')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', path.join(dir, 'rsa')]);
  silent = net.createServer((s) => {
    silentSockets.add(s);
    s.on('close', () => silentSockets.delete(s));
    s.on('error', () => undefined);
    s.resume(); // read (and drop) the client's banner, so its FIN is seen
  });
  silentPort = await listen(silent);
  // ssh2's server drops channel requests once exec has started, so its protocol debug log is
  // where a signal request shows. (OpenSSH acts on it only for sessions under post-auth privilege
  // separation, i.e. not for root logins: see the README.)
  const debug = (line: string) => {
    const m = /Inbound: CHANNEL_REQUEST \(r:\d+, signal: (\w+)\)/.exec(line);
    if (m) seen.push(`signal ${m[1] ?? ''}`);
  };
  sshd = new ssh2.Server({ hostKeys: [fs.readFileSync(path.join(dir, 'hostkey'))], debug }, (client) => {
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => ctx.accept());
    client.on('ready', () => {
      client.on('session', (accept) => {
        const session = accept();
        session.on('exec', (acc, _rej, info) => {
          seen.push(`exec ${info.command}`);
          acc(); // and never exits: the command "hangs"
        });
      });
    });
  });
  sshdPort = await listen(sshd);
  fs.writeFileSync(
    path.join(dir, 'ssh_config'),
    [
      `Host silent\n  HostName 127.0.0.1\n  Port ${silentPort}`,
      `Host rekeyed\n  HostName 127.0.0.1\n  Port ${sshdPort}`,
      `Host good\n  HostName 127.0.0.1\n  Port ${sshdPort}`,
    ].join('\n'),
  );
  const ed = fs.readFileSync(path.join(dir, 'hostkey.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  fs.writeFileSync(path.join(dir, 'known_hosts_good'), `[127.0.0.1]:${sshdPort} ${ed}\n`);
  // known_hosts recorded an RSA key for the ssh2 server; it now has only an ed25519 host key.
  const rsa = fs.readFileSync(path.join(dir, 'rsa.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  fs.writeFileSync(path.join(dir, 'known_hosts'), `[127.0.0.1]:${sshdPort} ${rsa}\n`);
});
afterAll(async () => {
  for (const s of silentSockets) s.destroy();
  await new Promise((r) => silent.close(r));
  await new Promise((r) => sshd.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

const cfg = (knownHosts = 'known_hosts') => ({
  ...defaultSshConfig(),
  identityFiles: [path.join(dir, 'id')],
  agent: false,
  sshConfig: path.join(dir, 'ssh_config'),
  knownHosts: [path.join(dir, knownHosts)],
  connectTimeoutMs: 8000,
});

async function pollUntil(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('SshPool: the global deadline covers handshakes', () => {
  it('a host that never sends a banner does not hold the run past its global timeout; the socket is closed', async () => {
    const r = new Remote(cfg());
    try {
      const t0 = Date.now();
      const rep = await r.run(['silent'], [{ argv: ['true'] }], { globalTimeoutMs: 500 });
      expect(Date.now() - t0).toBeLessThan(1500);
      expect(rep).toMatchObject({ status: 'timeout', exitCode: 4 });
      expect(rep.results[0]).toMatchObject({ ok: false, failure: 'timeout' });
      expect(rep.results[0]?.message).toMatch(/global timeout/);
      // the handshake was ended, not left to run on for connectTimeoutMs
      await pollUntil('the client to close its socket', () => silentSockets.size === 0);
      expect((r.transport as SshPool).size).toBe(0);
    } finally {
      await r.close();
    }
  });

  it('an abort (Ctrl+C) ends a handshake too, and close() does not wait for it', async () => {
    const r = new Remote(cfg());
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('interrupted')), 300);
    const t0 = Date.now();
    const rep = await r.run(['silent'], [{ argv: ['true'] }], { signal: ac.signal });
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(rep.results[0]).toMatchObject({ ok: false, failure: 'timeout' });
    await pollUntil('the client to close its socket', () => silentSockets.size === 0);
    // close() while a handshake is pending: ended at once
    const pending = r.run(['silent'], [{ argv: ['true'] }]);
    await pollUntil('the second connection', () => silentSockets.size === 1);
    const t1 = Date.now();
    await r.close();
    expect(Date.now() - t1).toBeLessThan(1500);
    expect((await pending).results[0]).toMatchObject({ ok: false, failure: 'unreachable' });
    await pollUntil('the client to close its socket', () => silentSockets.size === 0);
  });
});

describe('SshPool: a shared handshake', () => {
  it('is not ended by one request giving up while another still waits for it', async () => {
    const r = new Remote({ ...cfg(), connectTimeoutMs: 1500 });
    try {
      const pool = r.transport as SshPool;
      // no signal: waits for the handshake's own timeout
      const patient = pool.exec({ host: 'silent', command: 'true' });
      const rep = await r.run(['silent'], [{ argv: ['true'] }], { globalTimeoutMs: 300 });
      expect(rep.status).toBe('timeout');
      expect(silentSockets.size).toBe(1);
      const out = await patient;
      expect(out).toMatchObject({ failure: 'unreachable' });
      expect(out.message).toMatch(/no SSH handshake from 127\.0\.0\.1:\d+ within 1500 ms/);
    } finally {
      await r.close();
    }
  });
});

describe('SshPool: host key type changed', () => {
  it('a server with none of the recorded key types fails as hostkey, naming the host', async () => {
    const r = new Remote(cfg());
    try {
      const rep = await r.run(['rekeyed'], [{ argv: ['true'] }]);
      expect(rep.results[0]).toMatchObject({ ok: false, failure: 'hostkey' });
      expect(rep.results[0]?.message).toMatch(
        /^rekeyed: HOST KEY TYPE CHANGED\? known_hosts has only ssh-rsa for rekeyed \(127\.0\.0\.1:\d+\)/,
      );
    } finally {
      await r.close();
    }
  });
});

describe('SshPool: an aborted command is signalled, not only its channel closed', () => {
  it('sends the SSH signal request (TERM) for a running command when the run is aborted', async () => {
    const r = new Remote(cfg('known_hosts_good'));
    const ac = new AbortController();
    try {
      const rep = await r.run(['good'], [{ argv: ['sleep', '30'] }], {
        signal: ac.signal,
        onEvent: (e) => {
          if (e.phase === 'running') setTimeout(() => ac.abort(new Error('interrupted')), 50);
        },
      });
      expect(rep.results[0]).toMatchObject({ ok: false, failure: 'timeout' });
      await pollUntil('the server to get the signal request', () => seen.includes('signal TERM'));
      expect(seen).toEqual(['exec timeout -k 2 300s sleep 30', 'signal TERM']);
    } finally {
      await r.close();
    }
  });
});

describe('SshPool: ProxyCommand', () => {
  it('a host with a ProxyCommand is refused before anything runs (ssh2 cannot run it), pointing at the openssh transport', async () => {
    const file = path.join(dir, 'ssh_config_proxycommand');
    fs.writeFileSync(file, `Host viacmd\n  ProxyCommand /bin/false %h %p\nHost good\n  HostName 127.0.0.1\n  Port ${sshdPort}\n`);
    const r = new Remote({ ...cfg('known_hosts_good'), sshConfig: file });
    try {
      await expect(r.run(['good', 'viacmd'], [{ argv: ['true'] }])).rejects.toMatchObject({
        code: 'ERR_REMOTE_SSH_CONFIG_UNSUPPORTED',
        message: expect.stringContaining('ProxyCommand for viacmd (/bin/false %h %p)'),
        hint: expect.stringContaining('ssh.transport: openssh'),
      });
      expect(seen).not.toContain('exec true');
    } finally {
      await r.close();
    }
  });
});
