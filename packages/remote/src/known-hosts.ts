import crypto from 'node:crypto';
import fs from 'node:fs';
import { SshSetupError } from './errors.js';

interface Entry {
  marker: '' | '@revoked' | '@cert-authority';
  /** The host patterns compiled once (a lookup per host per connection must not recompile them). */
  matchers: PatternMatcher[];
  hashed: { salt: Buffer; hash: Buffer } | null;
  keyType: string;
  key: Buffer;
}

export type HostKeyVerdict =
  | { ok: true }
  | { ok: false; reason: 'unknown' | 'changed' | 'revoked'; fingerprint: string; message: string };

/** `SHA256:…` as printed by ssh-keygen -l / ssh. */
export function fingerprint(key: Buffer): string {
  return 'SHA256:' + crypto.createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
}

/** The key's algorithm name from inside the blob (first SSH string). */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const len = key.readUInt32BE(0);
  return key.subarray(4, 4 + len).toString('latin1');
}

/** known_hosts lookup name: `host`, or `[host]:port` when the port is not 22. */
export function lookupName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globToRegExp(glob: string): RegExp {
  const re = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i');
}

interface PatternMatcher {
  negated: boolean;
  test(name: string): boolean;
}

/** Host names compare case-insensitively (as OpenSSH does); only wildcard patterns need a regex. */
function compilePattern(pattern: string): PatternMatcher {
  const negated = pattern.startsWith('!');
  const glob = negated ? pattern.slice(1) : pattern;
  if (!/[*?]/.test(glob)) {
    const lower = glob.toLowerCase();
    return { negated, test: (name) => name.toLowerCase() === lower };
  }
  const re = globToRegExp(glob);
  return { negated, test: (name) => re.test(name) };
}

/** Host keys from OpenSSH known_hosts files: plain, hashed (`|1|salt|hash`), `[host]:port`, wildcards, negation, @revoked. */
export class KnownHosts {
  readonly #entries: Entry[];

  constructor(entries: Entry[]) {
    this.#entries = entries;
  }

  static parse(text: string): KnownHosts {
    const entries: Entry[] = [];
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const fields = line.split(/\s+/);
      let marker: Entry['marker'] = '';
      if (fields[0] === '@revoked' || fields[0] === '@cert-authority') marker = fields.shift() as Entry['marker'];
      const [hostsField, keyType, keyB64] = fields;
      if (hostsField === undefined || keyType === undefined || keyB64 === undefined) continue;
      const key = Buffer.from(keyB64, 'base64');
      if (key.length === 0) continue;
      let hashed: Entry['hashed'] = null;
      let patterns: string[] = [];
      if (hostsField.startsWith('|1|')) {
        const [, , salt, hash] = hostsField.split('|');
        if (salt === undefined || hash === undefined) continue;
        hashed = { salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
      } else {
        patterns = hostsField.split(',');
      }
      entries.push({ marker, matchers: patterns.map(compilePattern), hashed, keyType, key });
    }
    return new KnownHosts(entries);
  }

  static load(files: readonly string[]): KnownHosts {
    const all: string[] = [];
    for (const f of files) {
      try {
        all.push(fs.readFileSync(f, 'utf8'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new SshSetupError('ERR_REMOTE_KNOWN_HOSTS', `cannot read known_hosts file ${f}: ${(err as Error).message}`,
          'fix the ssh.knownHosts entry in the config', err);
      }
    }
    return KnownHosts.parse(all.join('\n'));
  }

  /**
   * Trust exactly this key for the host from now on (a reinstalled host's key, vouched for by the
   * provisioner): every plain or hashed entry matching one of its names is dropped first, so the
   * old key is no longer accepted.
   */
  replace(names: readonly string[], publicKey: string): void {
    const [keyType, keyB64] = publicKey.trim().split(/\s+/);
    const key = Buffer.from(keyB64 ?? '', 'base64');
    if (keyType === undefined || key.length === 0) throw new Error(`not an SSH public key: ${publicKey.slice(0, 40)}`);
    const kept = this.#entries.filter((e) => e.marker !== '' || !names.some((n) => this.#matches(e, n)));
    this.#entries.length = 0;
    this.#entries.push(...kept, { marker: '', matchers: names.map(compilePattern), hashed: null, keyType, key });
  }

  get size(): number {
    return this.#entries.length;
  }

  #matches(e: Entry, name: string): boolean {
    if (e.hashed) {
      const h = crypto.createHmac('sha1', e.hashed.salt).update(name).digest();
      return h.length === e.hashed.hash.length && crypto.timingSafeEqual(h, e.hashed.hash);
    }
    let hit = false;
    for (const m of e.matchers) {
      if (m.test(name)) {
        if (m.negated) return false;
        hit = true;
      }
    }
    return hit;
  }

  /** Keys recorded for any of these names (e.g. the alias and `[hostname]:port`). */
  keysFor(names: readonly string[]): { keyType: string; key: Buffer }[] {
    return this.#entries
      .filter((e) => e.marker === '' && names.some((n) => this.#matches(e, n)))
      .map((e) => ({ keyType: e.keyType, key: e.key }));
  }

  /** A `@cert-authority` line covers one of these names (the host is meant to present a host certificate). */
  hasCertAuthorityFor(names: readonly string[]): boolean {
    return this.#entries.some((e) => e.marker === '@cert-authority' && names.some((n) => this.#matches(e, n)));
  }

  /** Fail closed: only a key recorded for this host (and not revoked) is accepted. */
  verify(host: string, names: readonly string[], key: Buffer): HostKeyVerdict {
    const fp = fingerprint(key);
    const type = keyTypeOf(key);
    if (this.#entries.some((e) => e.marker === '@revoked' && e.key.equals(key))) {
      return { ok: false, reason: 'revoked', fingerprint: fp, message: `host key for ${host} (${type} ${fp}) is marked @revoked in known_hosts` };
    }
    const known = this.keysFor(names);
    if (known.some((k) => k.key.equals(key))) return { ok: true };
    if (known.length === 0) {
      return {
        ok: false, reason: 'unknown', fingerprint: fp,
        message: `host key for ${host} is unknown (${type} ${fp}): no entry for ${names.join(' or ')} in known_hosts`,
      };
    }
    return {
      ok: false, reason: 'changed', fingerprint: fp,
      message: `HOST KEY FOR ${host} HAS CHANGED: server offered ${type} ${fp}, known_hosts has ${known
        .map((k) => `${k.keyType} ${fingerprint(k.key)}`)
        .join(', ')}`,
    };
  }
}

/** ssh2 host-key algorithm names for the key types recorded in known_hosts, so the server offers one we can check. */
export function hostKeyAlgorithms(keyTypes: readonly string[]): string[] {
  const out: string[] = [];
  for (const t of keyTypes) {
    const algs = t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t];
    for (const a of algs) if (!out.includes(a)) out.push(a);
  }
  return out;
}
