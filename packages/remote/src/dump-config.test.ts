import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { loadSections } from '@galley/config';
import { runExec } from './cli.js';
import { SUPPORTED_KEYS } from './ssh-config.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-execg-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const io = { isTTY: false, ask: () => Promise.reject(new Error('no tty')), progress: () => undefined };
const keys = new RegExp(`^(${SUPPORTED_KEYS.join('|')}) `);

describe('galley-exec -G', () => {
  const cfg = path.join(dir, 'ssh_config');
  fs.writeFileSync(cfg, 'Host mw*\n  HostName %h.eqiad.wmnet\n  User deploy\n  ProxyJump %r@bast1003:2222\n  UserKnownHostsFile ~/kh/%h\n');

  it('prints what ssh -G prints for the keys galley uses, without a galley config', async () => {
    const r = await runExec(['-G', '-F', cfg, 'mw1001'], io);
    expect(r).toMatchObject({ exitCode: 0, stderr: [] });
    const ssh = spawnSync('ssh', ['-G', '-F', cfg, 'mw1001'], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter((l) => keys.test(l));
    expect(r.stdout).toEqual(ssh);
    expect(r.stdout).toContain('proxyjump %r@bast1003:2222');
  });

  it('-l and -p as ssh; with -c the galley ssh section applies (knownHosts as UserKnownHostsFile)', async () => {
    const gcfg = path.join(dir, 'galley.json');
    fs.writeFileSync(gcfg, JSON.stringify({ ssh: { sshConfig: cfg, knownHosts: [path.join(dir, 'fleet_kh')] } }));
    const r = await runExec(['-G', '-c', gcfg, '-l', 'me', '-p', '2200', 'mw1'], io, {
      loadConfig: async (o) => ({ ...(await loadSections(o)), conftoolLookup: undefined }),
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toEqual(
      expect.arrayContaining(['user me', 'port 2200', 'hostname mw1.eqiad.wmnet', `userknownhostsfile ${path.join(dir, 'fleet_kh')}`]),
    );
  });

  it('a config ssh refuses is refused (exit 2, naming file and line); so is a bad -p', async () => {
    const bad = path.join(dir, 'bad');
    fs.writeFileSync(bad, 'Host *\n  Port 0\n');
    const r = await runExec(['-G', '-F', bad, 'x'], io);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.join('\n')).toMatch(/bad line 2: Bad port '0'/);
    expect((await runExec(['-G', '-p', '0', 'x'], io)).exitCode).toBe(2);
    expect((await runExec(['-G', 'x', 'y'], io)).exitCode).toBe(2);
  });

  it('a destination user@host or ssh://user@host:port is read as ssh reads it; a bad one is refused', async () => {
    const r = await runExec(['-G', '-F', cfg, 'ssh://ops@mw1001:2201'], io);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toEqual(expect.arrayContaining(['host mw1001', 'user ops', 'port 2201', 'hostname mw1001.eqiad.wmnet']));
    expect((await runExec(['-G', '-F', cfg, '-l', 'me', 'ops@mw1001'], io)).stdout).toContain('user me');
    const bad = await runExec(['-G', '-F', cfg, 'ssh://[::1]'], io);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.join('\n')).toMatch(/invalid destination 'ssh:\/\/\[::1\]'/);
  });
});
