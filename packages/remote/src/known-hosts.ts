import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
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
  | { ok: true; /** accept-new wrote the key to this file */ recorded?: string }
  | { ok: false; reason: 'unknown' | 'changed' | 'revoked' | 'cert-authority' | 'revocation-list'; fingerprint: string; message: string };

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
  const re = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
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

/**
 * Host keys from OpenSSH known_hosts files: plain, hashed (`|1|salt|hash`), `[host]:port`,
 * wildcards, negation, `@revoked` (for the hosts its patterns match, as OpenSSH applies it),
 * `@cert-authority` (recognised; ssh2 cannot check host certificates).
 */
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
      const text = readKnownHostsFile(f);
      if (text !== null) all.push(text);
    }
    return KnownHosts.parse(all.join('\n'));
  }

  /** Several sets as one (the files of one host, in order). */
  static merge(sets: readonly KnownHosts[]): KnownHosts {
    return new KnownHosts(sets.flatMap((s) => s.#entries));
  }

  /**
   * Trust exactly this key for the host from now on (a reinstalled host's key, vouched for by the
   * provisioner): every plain or hashed entry matching one of its names is dropped first, so the
   * old key is no longer accepted.
   */
  replace(names: readonly string[], publicKey: string): void {
    const { keyType, key } = parsePublicKey(publicKey);
    const kept = this.#entries.filter((e) => e.marker !== '' || !names.some((n) => this.#matches(e, n)));
    this.#entries.length = 0;
    this.#entries.push(...kept, { marker: '', matchers: names.map(compilePattern), hashed: null, keyType, key });
  }

  /** Accept this key for this name from now on (a key just recorded by accept-new). */
  add(name: string, keyType: string, key: Buffer): void {
    this.#entries.push({ marker: '', matchers: [compilePattern(name)], hashed: null, keyType, key });
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
    const lower = name.toLowerCase();
    for (const m of e.matchers) {
      if (m.test(lower)) {
        if (m.negated) return false;
        hit = true;
      }
    }
    return hit;
  }

  #keysOf(name: string, marker: Entry['marker'] = ''): Entry[] {
    return this.#entries.filter((e) => e.marker === marker && this.#matches(e, name));
  }

  /** A `@cert-authority` line covers one of these names (the host is meant to present a host certificate). */
  hasCertAuthorityFor(names: readonly string[]): boolean {
    return this.#entries.some((e) => e.marker === '@cert-authority' && names.some((n) => this.#matches(e, n)));
  }

  /**
   * Keys recorded for a host, given its lookup names in OpenSSH's order (resolver's
   * knownHostsNames): those of the first name that has any.
   */
  keysFor(names: readonly string[]): { keyType: string; key: Buffer }[] {
    for (const n of names) {
      const found = this.#keysOf(n);
      if (found.length > 0) return found.map((e) => ({ keyType: e.keyType, key: e.key }));
    }
    return [];
  }

  /** OpenSSH's verdict for one name: a revoked key (for this name), the key, another key, or nothing. */
  #status(name: string, key: Buffer): 'revoked' | 'ok' | 'changed' | 'new' {
    if (this.#keysOf(name, '@revoked').some((e) => e.key.equals(key))) return 'revoked';
    const known = this.#keysOf(name);
    if (known.some((e) => e.key.equals(key))) return 'ok';
    return known.length > 0 ? 'changed' : 'new';
  }

  /**
   * Fail closed, as OpenSSH checks a host key: `names[0]` (HostKeyAlias, or `[HostName]:port`,
   * or HostName) decides; when nothing is recorded for it, a later name (HostName without the
   * port) can only accept a matching key. `alias`, when given, is only used to explain a refusal
   * (a key recorded for the name typed rather than the one OpenSSH looks up).
   */
  verify(host: string, names: readonly string[], key: Buffer, opts: { alias?: string | undefined } = {}): HostKeyVerdict {
    const fp = fingerprint(key);
    const type = keyTypeOf(key);
    const [primary, ...fallbacks] = names;
    if (primary === undefined) throw new Error('verify: no name to look the host key up under');
    const s = this.#status(primary, key);
    if (s === 'ok') return { ok: true };
    if (s === 'revoked' || (s === 'new' && fallbacks.some((n) => this.#status(n, key) === 'revoked'))) {
      return {
        ok: false,
        reason: 'revoked',
        fingerprint: fp,
        message: `host key for ${host} (${type} ${fp}) is marked @revoked in known_hosts`,
      };
    }
    if (s === 'changed') {
      return {
        ok: false,
        reason: 'changed',
        fingerprint: fp,
        message: `HOST KEY FOR ${host} HAS CHANGED: server offered ${type} ${fp}, known_hosts has ${this.#keysOf(primary)
          .map((k) => `${k.keyType} ${fingerprint(k.key)}`)
          .join(', ')} for ${primary}`,
      };
    }
    if (fallbacks.some((n) => this.#status(n, key) === 'ok')) return { ok: true };
    if (this.#keysOf(primary, '@cert-authority').length > 0) {
      return {
        ok: false,
        reason: 'cert-authority',
        fingerprint: fp,
        message: `host key for ${host} (${type} ${fp}) can only be checked against a host certificate: known_hosts has only @cert-authority for ${primary}, and the ssh2 transport does not do host certificates (use ssh.transport: openssh)`,
      };
    }
    let message = `host key for ${host} is unknown (${type} ${fp}): no entry for ${names.join(' or ')} in known_hosts`;
    const alias = opts.alias;
    if (alias !== undefined && !names.includes(alias) && this.#keysOf(alias).length > 0) {
      message += `; known_hosts has a key for ${alias}, the name given, but OpenSSH (and galley) look the key up as ${primary} (HostName and port): record it under that name, or set HostKeyAlias ${alias} in ssh_config`;
    }
    return { ok: false, reason: 'unknown', fingerprint: fp, message };
  }
}

/** `ssh-ed25519 AAAA…` → type and blob. */
export function parsePublicKey(publicKey: string): { keyType: string; key: Buffer } {
  const [keyType, keyB64] = publicKey.trim().split(/\s+/);
  const key = Buffer.from(keyB64 ?? '', 'base64');
  if (keyType === undefined || key.length === 0) throw new Error(`not an SSH public key: ${publicKey.slice(0, 40)}`);
  return { keyType, key };
}

function readKnownHostsFile(f: string): string | null {
  try {
    return fs.readFileSync(f, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw new SshSetupError(
      'ERR_REMOTE_KNOWN_HOSTS',
      `cannot read known_hosts file ${f}: ${(err as Error).message}`,
      'fix the ssh.knownHosts entry in the config, or UserKnownHostsFile/GlobalKnownHostsFile in ssh_config',
      err,
    );
  }
}

/** What a transport needs of a host to check its key (a resolver HostTarget has all of it). */
export interface HostKeyTarget {
  alias: string;
  hostname: string;
  knownHostsNames: string[];
  knownHostsFiles: { user: string[]; global: string[] };
  strictHostKeyChecking: 'yes' | 'accept-new';
  hashKnownHosts: boolean;
  /** ssh_config's RevokedHostKeys file. */
  revokedHostKeys?: string | undefined;
}

/** A RevokedHostKeys file as sshkey_check_revoked reads it: a KRL (magic `SSHKRL\n\0`), else a flat list of public keys. */
export type RevocationList = { kind: 'keys'; keys: Buffer[] } | { kind: 'krl' } | { kind: 'error'; message: string };

export function readRevocationList(file: string): RevocationList {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (err) {
    // ssh fails the connection when it cannot check the file ("Error checking host key … in revoked keys file").
    return { kind: 'error', message: `cannot read RevokedHostKeys file ${file}: ${(err as Error).message}` };
  }
  if (data.subarray(0, 8).equals(Buffer.from('SSHKRL\n\0', 'latin1'))) return { kind: 'krl' };
  const keys: Buffer[] = [];
  for (const raw of data.toString('utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    // `type base64 [comment]`, as sshkey_in_file reads a line.
    const [, b64] = line.split(/\s+/);
    const key = Buffer.from(b64 ?? '', 'base64');
    if (key.length > 0) keys.push(key);
  }
  return { kind: 'keys', keys };
}

/** Characters OpenSSH never writes into a known_hosts host name (sshconnect.c). */
const UNRECORDABLE = /[@?*#[\]|'"\\]/;

/**
 * The one host-key check (every transport and every caller): the known_hosts files each host's
 * ssh_config names (user files, then global ones; each file read once), keys trusted in this
 * process (trust()), and StrictHostKeyChecking accept-new, which records an unknown host's key in
 * the first user file as OpenSSH does (hashed when HashKnownHosts is set) and accepts it; a
 * changed or revoked key is refused whatever the setting.
 */
export class HostKeyStore {
  readonly #files = new Map<string, KnownHosts>();
  readonly #trusted: { names: string[]; publicKey: string }[] = [];
  readonly #revocations = new Map<string, RevocationList>();
  readonly #log: ((line: string) => void) | undefined;

  constructor(opts: { log?: (line: string) => void } = {}) {
    this.#log = opts.log;
  }

  #file(f: string): KnownHosts {
    let kh = this.#files.get(f);
    if (!kh) {
      kh = KnownHosts.parse(readKnownHostsFile(f) ?? '');
      for (const t of this.#trusted) kh.replace(t.names, t.publicKey);
      this.#files.set(f, kh);
    }
    return kh;
  }

  /** The known_hosts of one host, user files first. */
  for(t: HostKeyTarget): KnownHosts {
    return KnownHosts.merge([...t.knownHostsFiles.user, ...t.knownHostsFiles.global].map((f) => this.#file(f)));
  }

  keysFor(t: HostKeyTarget): { keyType: string; key: Buffer }[] {
    return this.for(t).keysFor(t.knownHostsNames);
  }

  /** Trust exactly this key for these names in this process (files are not written). */
  trust(names: readonly string[], publicKey: string): void {
    parsePublicKey(publicKey);
    this.#trusted.push({ names: [...names], publicKey });
    for (const kh of this.#files.values()) kh.replace(names, publicKey);
  }

  /** The host's RevokedHostKeys file, read once per process. */
  revocationList(t: HostKeyTarget): RevocationList | null {
    const f = t.revokedHostKeys;
    if (f === undefined) return null;
    let r = this.#revocations.get(f);
    if (!r) {
      r = readRevocationList(f);
      this.#revocations.set(f, r);
    }
    return r;
  }

  check(t: HostKeyTarget, key: Buffer): HostKeyVerdict {
    // RevokedHostKeys first, as ssh checks it before known_hosts (verify_host_key).
    const rl = this.revocationList(t);
    if (rl !== null && rl.kind !== 'keys') {
      const why =
        rl.kind === 'krl'
          ? `RevokedHostKeys ${t.revokedHostKeys ?? ''} is a KRL, which the ssh2 transport cannot read (use ssh.transport: openssh)`
          : rl.message;
      return {
        ok: false,
        reason: 'revocation-list',
        fingerprint: fingerprint(key),
        message: `host key for ${t.alias} cannot be checked: ${why}`,
      };
    }
    if (rl !== null && rl.keys.some((k) => k.equals(key))) {
      return {
        ok: false,
        reason: 'revoked',
        fingerprint: fingerprint(key),
        message: `host key for ${t.alias} (${keyTypeOf(key)} ${fingerprint(key)}) is revoked by RevokedHostKeys ${t.revokedHostKeys ?? ''}`,
      };
    }
    const v = this.for(t).verify(t.alias, t.knownHostsNames, key, { alias: t.alias });
    if (v.ok || v.reason !== 'unknown' || t.strictHostKeyChecking !== 'accept-new') return v;
    const file = t.knownHostsFiles.user[0];
    const name = t.knownHostsNames[0] as string;
    if (file === undefined || UNRECORDABLE.test(t.hostname)) {
      return {
        ...v,
        message: `${v.message} (StrictHostKeyChecking accept-new, but ${file === undefined ? 'there is no UserKnownHostsFile to record it in' : `${t.hostname} cannot be written to known_hosts`})`,
      };
    }
    const type = keyTypeOf(key);
    try {
      recordHostKey(file, name, type, key, t.hashKnownHosts);
    } catch (err) {
      return {
        ...v,
        message: `${v.message} (StrictHostKeyChecking accept-new, but recording it in ${file} failed: ${(err as Error).message})`,
      };
    }
    // The file is cached already (it was read for this check): the new key joins it in memory.
    this.#file(file).add(name, type, key);
    this.#log?.(
      `Warning: Permanently added '${name}' (${type} ${v.fingerprint}) to the list of known hosts (${file}, StrictHostKeyChecking accept-new).`,
    );
    return { ok: true, recorded: file };
  }
}

/** Append `name type key` (or its `|1|salt|hash` form) to a known_hosts file, as ssh does for accept-new. */
function recordHostKey(file: string, name: string, keyType: string, key: Buffer, hash: boolean): void {
  let hostField = name;
  if (hash) {
    const salt = crypto.randomBytes(20);
    hostField = `|1|${salt.toString('base64')}|${crypto.createHmac('sha1', salt).update(name).digest('base64')}`;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let lead = '';
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const last = Buffer.alloc(1);
      // A last line without its newline would be glued to ours.
      if (size > 0 && fs.readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a) lead = '\n';
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.appendFileSync(file, `${lead}${hostField} ${keyType} ${key.toString('base64')}\n`, { mode: 0o600 });
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
