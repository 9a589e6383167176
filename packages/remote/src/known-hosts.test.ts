import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fingerprint, HostKeyStore, hostKeyAlgorithms, KnownHosts, keyTypeOf, type HostKeyTarget } from './known-hosts.js';

let dir: string;
const keys: Record<string, { line: string; blob: Buffer; fp: string }> = {};

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-kh-'));
  for (const name of ['a', 'b', 'c']) {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, name)]);
    const line = fs.readFileSync(path.join(dir, `${name}.pub`), 'utf8').trim();
    const blob = Buffer.from(line.split(' ')[1] ?? '', 'base64');
    // ssh-keygen's own fingerprint, to check ours against
    const fp =
      execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', path.join(dir, `${name}.pub`)], { encoding: 'utf8' }).split(' ')[1] ?? '';
    keys[name] = { line, blob, fp };
  }
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const k = (n: string) => keys[n] as { line: string; blob: Buffer; fp: string };
const typeAndKey = (n: string) => k(n).line.split(' ').slice(0, 2).join(' ');

describe('KnownHosts', () => {
  it('fingerprints like ssh-keygen', () => {
    expect(fingerprint(k('a').blob)).toBe(k('a').fp);
    expect(keyTypeOf(k('a').blob)).toBe('ssh-ed25519');
  });

  it('accepts plain, [host]:port and wildcard entries, refuses unknown hosts with the fingerprint', () => {
    const kh = KnownHosts.parse(
      [
        `# comment`,
        `mw1001.eqiad.wmnet,10.0.0.1 ${typeAndKey('a')}`,
        `[127.0.0.1]:22001 ${typeAndKey('b')}`,
        `*.codfw.wmnet,!bad.codfw.wmnet ${typeAndKey('c')}`,
      ].join('\n'),
    );
    expect(kh.verify('mw1001', ['mw1001.eqiad.wmnet'], k('a').blob)).toEqual({ ok: true });
    expect(kh.verify('h1', ['[127.0.0.1]:22001'], k('b').blob)).toEqual({ ok: true });
    expect(kh.verify('x', ['mw2001.codfw.wmnet'], k('c').blob)).toEqual({ ok: true });
    const neg = kh.verify('bad', ['bad.codfw.wmnet'], k('c').blob);
    expect(neg.ok).toBe(false);
    const unknown = kh.verify('mw9999.eqiad.wmnet', ['mw9999.eqiad.wmnet'], k('a').blob);
    expect(unknown).toMatchObject({ ok: false, reason: 'unknown', fingerprint: k('a').fp });
    if (!unknown.ok) expect(unknown.message).toContain('mw9999.eqiad.wmnet');
  });

  it('detects a changed key and names both fingerprints', () => {
    const kh = KnownHosts.parse(`mw1001.eqiad.wmnet ${typeAndKey('a')}`);
    const v = kh.verify('mw1001.eqiad.wmnet', ['mw1001.eqiad.wmnet'], k('b').blob);
    expect(v).toMatchObject({ ok: false, reason: 'changed', fingerprint: k('b').fp });
    if (!v.ok) {
      expect(v.message).toContain('mw1001.eqiad.wmnet');
      expect(v.message).toContain(k('a').fp);
    }
  });

  it('matches entries hashed by ssh-keygen -H, including [host]:port', () => {
    const file = path.join(dir, 'known_hosts');
    fs.writeFileSync(file, `mw1001.eqiad.wmnet ${typeAndKey('a')}\n[127.0.0.1]:2222 ${typeAndKey('b')}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file]);
    const text = fs.readFileSync(file, 'utf8');
    expect(text).not.toContain('mw1001');
    expect(text).toContain('|1|');
    const kh = KnownHosts.load([file, path.join(dir, 'missing')]);
    expect(kh.verify('mw1001', ['mw1001.eqiad.wmnet'], k('a').blob)).toEqual({ ok: true });
    expect(kh.verify('h', ['[127.0.0.1]:2222'], k('b').blob)).toEqual({ ok: true });
    expect(kh.verify('h', ['[127.0.0.1]:2223'], k('b').blob).ok).toBe(false);
    expect(kh.verify('mw1001', ['mw1001.eqiad.wmnet'], k('b').blob)).toMatchObject({ ok: false, reason: 'changed' });
  });

  it('refuses @revoked keys even when listed for the host', () => {
    const kh = KnownHosts.parse(`@revoked * ${typeAndKey('a')}\nmw1001 ${typeAndKey('a')}`);
    expect(kh.verify('mw1001', ['mw1001'], k('a').blob)).toMatchObject({ ok: false, reason: 'revoked' });
  });

  it('applies @revoked only to the hosts its patterns match, as OpenSSH does', () => {
    const kh = KnownHosts.parse(`@revoked other.example ${typeAndKey('a')}\nmw1001 ${typeAndKey('a')}`);
    expect(kh.verify('mw1001', ['mw1001'], k('a').blob)).toEqual({ ok: true });
    expect(kh.verify('other', ['other.example'], k('a').blob)).toMatchObject({ ok: false, reason: 'revoked' });
  });

  it('refuses a key recorded only for the alias, and says which name OpenSSH looks up', () => {
    const kh = KnownHosts.parse(`mw1001.eqiad.wmnet ${typeAndKey('a')}`);
    const v = kh.verify('mw1001.eqiad.wmnet', ['[127.0.0.1]:22001', '127.0.0.1'], k('a').blob, { alias: 'mw1001.eqiad.wmnet' });
    expect(v).toMatchObject({ ok: false, reason: 'unknown' });
    if (!v.ok)
      expect(v.message).toMatch(
        /known_hosts has a key for mw1001.eqiad.wmnet, the name given, but .* look the key up as \[127.0.0.1\]:22001/,
      );
  });

  it('accepts a key recorded without the port only when nothing is recorded with it (ssh\'s "checking without port identifier")', () => {
    const names = ['[10.0.0.1]:2222', '10.0.0.1'];
    expect(KnownHosts.parse(`10.0.0.1 ${typeAndKey('a')}`).verify('h', names, k('a').blob)).toEqual({ ok: true });
    expect(KnownHosts.parse(`10.0.0.1 ${typeAndKey('a')}`).verify('h', names, k('b').blob)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(
      KnownHosts.parse(`[10.0.0.1]:2222 ${typeAndKey('b')}\n10.0.0.1 ${typeAndKey('a')}`).verify('h', names, k('a').blob),
    ).toMatchObject({ ok: false, reason: 'changed' });
  });

  it('explains that @cert-authority entries need the OpenSSH transport', () => {
    const v = KnownHosts.parse(`@cert-authority *.example ${typeAndKey('c')}`).verify('h', ['h.example'], k('a').blob);
    expect(v).toMatchObject({ ok: false, reason: 'cert-authority' });
    if (!v.ok) expect(v.message).toMatch(/ssh.transport: openssh/);
  });

  it('HostKeyStore: accept-new records an unknown key where ssh-keygen -F finds it (plain and hashed), then verifies against it', () => {
    for (const hash of [false, true]) {
      const file = path.join(dir, `kh-new-${hash}`);
      fs.writeFileSync(file, `known.example ${typeAndKey('c')}`); // no trailing newline: must not be glued
      const t: HostKeyTarget = {
        alias: 'newhost',
        hostname: '10.1.2.3',
        knownHostsNames: ['[10.1.2.3]:2200', '10.1.2.3'],
        knownHostsFiles: { user: [file], global: [] },
        strictHostKeyChecking: 'accept-new',
        hashKnownHosts: hash,
      };
      const logged: string[] = [];
      const store = new HostKeyStore({ log: (l) => logged.push(l) });
      expect(store.check(t, k('a').blob)).toEqual({ ok: true, recorded: file });
      expect(logged[0]).toMatch(/Permanently added '\[10.1.2.3\]:2200'/);
      const found = execFileSync('ssh-keygen', ['-F', '[10.1.2.3]:2200', '-f', file], { encoding: 'utf8' });
      expect(found).toContain(k('a').line.split(' ')[1]);
      expect(fs.readFileSync(file, 'utf8').includes('10.1.2.3')).toBe(!hash);
      expect(execFileSync('ssh-keygen', ['-F', 'known.example', '-f', file], { encoding: 'utf8' })).toContain(k('c').line.split(' ')[1]);
      // the same process and a new one now check against the recorded key
      expect(store.check(t, k('b').blob)).toMatchObject({ ok: false, reason: 'changed' });
      expect(new HostKeyStore().check(t, k('b').blob)).toMatchObject({ ok: false, reason: 'changed' });
      expect(new HostKeyStore().check(t, k('a').blob)).toEqual({ ok: true });
      // strict (yes): unknown stays unknown, nothing written
      const before = fs.readFileSync(file, 'utf8');
      expect(new HostKeyStore().check({ ...t, knownHostsNames: ['other'], strictHostKeyChecking: 'yes' }, k('a').blob)).toMatchObject({
        ok: false,
        reason: 'unknown',
      });
      expect(fs.readFileSync(file, 'utf8')).toBe(before);
    }
  });

  it('HostKeyStore: RevokedHostKeys as ssh reads it — a listed key is revoked even if known; a KRL or a missing file refuses every key', () => {
    const kh = path.join(dir, 'kh-rk');
    fs.writeFileSync(kh, `[10.9.9.9]:2200 ${typeAndKey('a')}\n[10.9.9.9]:2200 ${typeAndKey('b')}\n`);
    const list = path.join(dir, 'revoked-list');
    fs.writeFileSync(list, `# revoked\n${k('a').line}\n`);
    const t: HostKeyTarget = {
      alias: 'rk1',
      hostname: '10.9.9.9',
      knownHostsNames: ['[10.9.9.9]:2200', '10.9.9.9'],
      knownHostsFiles: { user: [kh], global: [] },
      strictHostKeyChecking: 'yes',
      hashKnownHosts: false,
      revokedHostKeys: list,
    };
    expect(new HostKeyStore().check(t, k('a').blob)).toMatchObject({
      ok: false,
      reason: 'revoked',
      message: expect.stringContaining(`revoked by RevokedHostKeys ${list}`),
    });
    expect(new HostKeyStore().check(t, k('b').blob)).toEqual({ ok: true });
    // A KRL made by ssh-keygen -k: ssh2 cannot read it, so nothing passes.
    const krl = path.join(dir, 'revoked.krl');
    execFileSync('ssh-keygen', ['-q', '-k', '-f', krl, path.join(dir, 'a.pub')]);
    const store = new HostKeyStore();
    expect(store.revocationList({ ...t, revokedHostKeys: krl })).toEqual({ kind: 'krl' });
    expect(store.check({ ...t, revokedHostKeys: krl }, k('b').blob)).toMatchObject({
      ok: false,
      reason: 'revocation-list',
      message: expect.stringContaining('is a KRL'),
    });
    expect(new HostKeyStore().check({ ...t, revokedHostKeys: path.join(dir, 'no-such-file') }, k('b').blob)).toMatchObject({
      ok: false,
      reason: 'revocation-list',
    });
  });

  it('maps key types to host-key algorithms', () => {
    expect(hostKeyAlgorithms(['ssh-ed25519', 'ssh-rsa'])).toEqual(['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
  });
});
