import crypto from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { KnownHosts } from './known-hosts.js';

// Fake ed25519-shaped blobs: replace() only compares blobs, it never parses the key material.
function key(seed: string): { line: string; blob: Buffer } {
  const name = Buffer.from('ssh-ed25519');
  const body = crypto.createHash('sha256').update(seed).digest();
  const blob = Buffer.concat([Buffer.from([0, 0, 0, name.length]), name, Buffer.from([0, 0, 0, 32]), body]);
  return { line: `ssh-ed25519 ${blob.toString('base64')}`, blob };
}

function hashed(name: string, k: { line: string }): string {
  const salt = crypto.randomBytes(20);
  const h = crypto.createHmac('sha1', salt).update(name).digest();
  return `|1|${salt.toString('base64')}|${h.toString('base64')} ${k.line}`;
}

describe("KnownHosts.replace (trusting a reinstalled host's new key)", () => {
  const names = ['mw1301.eqiad.wmnet', '[127.0.0.1]:2201'];
  const [oldKey, newKey, other] = [key('old'), key('new'), key('other')];

  it('accepts the new key and no longer the old one (plain and hashed entries), other hosts untouched', () => {
    const kh = KnownHosts.parse(
      [`mw1301.eqiad.wmnet,[127.0.0.1]:2201 ${oldKey.line}`, hashed('[127.0.0.1]:2201', oldKey), `mw1302.eqiad.wmnet ${other.line}`].join(
        '\n',
      ),
    );
    expect(kh.verify('mw1301', names, oldKey.blob).ok).toBe(true);
    expect(kh.verify('mw1301', names, newKey.blob)).toMatchObject({ ok: false, reason: 'changed' });
    kh.replace(names, newKey.line);
    expect(kh.verify('mw1301', names, newKey.blob).ok).toBe(true);
    expect(kh.verify('mw1301', names, oldKey.blob)).toMatchObject({ ok: false, reason: 'changed' });
    expect(kh.verify('mw1302', ['mw1302.eqiad.wmnet'], other.blob).ok).toBe(true);
  });

  it('keeps @revoked entries: a revoked key stays refused even if vouched for', () => {
    const kh = KnownHosts.parse(`@revoked * ${newKey.line}`);
    kh.replace(names, newKey.line);
    expect(kh.verify('mw1301', names, newKey.blob)).toMatchObject({ ok: false, reason: 'revoked' });
  });

  it('refuses text that is not a public key', () => {
    expect(() => KnownHosts.parse('').replace(names, 'garbage')).toThrow(/not an SSH public key/);
  });
});
