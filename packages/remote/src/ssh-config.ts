/**
 * OpenSSH client configuration, resolved as `ssh -G` resolves it (OpenSSH 9.2: readconf.c, ssh.c,
 * match.c, misc.c read for behaviour; nothing copied). One resolver for every place galley opens
 * SSH: the pool, trustHostKey, `galley-exec -G`, and the OpenSSH transport.
 *
 * What is modelled exactly: the line syntax (keyword case, `=`, quotes, comments), `Include`
 * (globs; relative to ~/.ssh for user files, /etc/ssh for system ones; parse-only inside an
 * inactive block), `Host` (patterns, `!negation`; case-sensitive like ssh), `Match` (`all`,
 * `canonical`, `final`, `host`, `originalhost`, `user`, `localuser`, `!negation`; `exec` is
 * refused), first value wins, the second ("final") pass, `HostName` `%h`, `%` tokens and `${ENV}`
 * where ssh expands them, and the values of the keywords galley uses (SUPPORTED_KEYS), which are
 * validated like ssh validates them (a bad `Port` anywhere is an error, as with ssh). Other
 * keywords are recognised (an unknown keyword is an error, as with ssh, unless `IgnoreUnknown`)
 * but their values are not checked.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GalleyError } from '@galley/errors';
import { normalizeHostName } from './address.js';

/** The ssh_config problem codes (each also the stable error code). */
export type SshConfigErrorCode =
  | 'ERR_REMOTE_SSH_CONFIG'
  | 'ERR_REMOTE_SSH_CONFIG_EXEC'
  | 'ERR_REMOTE_SSH_CONFIG_UNSUPPORTED'
  | 'ERR_REMOTE_HOSTKEY_POLICY'
  | 'ERR_REMOTE_SSH_DESTINATION';

/** A config that ssh itself refuses, or a setting galley will not honour (Match exec, StrictHostKeyChecking no). */
export class SshConfigError extends GalleyError {
  constructor(code: SshConfigErrorCode, message: string, hint: string) {
    super(code, message, { hint });
  }
}

/** The local side, as ssh sees it (overridable for tests). */
export interface LocalInfo {
  /** Login name (`%u`, `Match localuser`). */
  user: string;
  uid: number;
  /** The passwd home directory: `%d`, `~` in file names, ~/.ssh/config (ssh uses getpwuid, not $HOME). */
  home: string;
  /** `$HOME` (glob(3)'s `~` in Include; falls back to `home`). */
  globHome: string;
  /** gethostname(): `%l`; `%L` is its first label. */
  hostname: string;
  /** The system-wide file read after the user one when no -F is given. */
  systemConfig: string;
  /** Where relative Include paths of system files live. */
  systemDir: string;
  env: Record<string, string | undefined>;
}

export function localInfo(over: Partial<LocalInfo> = {}): LocalInfo {
  const ui = os.userInfo();
  return {
    user: ui.username,
    uid: ui.uid,
    home: ui.homedir,
    globHome: process.env.HOME ?? ui.homedir,
    hostname: os.hostname(),
    systemConfig: '/etc/ssh/ssh_config',
    systemDir: '/etc/ssh',
    env: process.env,
    ...over,
  };
}

export interface SshResolverOptions {
  /** `ssh -F`: this file only (`none`: no file at all); undefined: ~/.ssh/config, then /etc/ssh/ssh_config. */
  configFile?: string | undefined;
  /** galley's `ssh.user`: the login name when ssh_config sets no `User` (OpenSSH uses the local user). */
  defaultUser?: string | undefined;
  /** galley's `ssh.identityFiles`: like `ssh -i`, tried first (OpenSSH's default id_* files only when there is no identity file at all). */
  identityFiles?: readonly string[] | undefined;
  /** galley's `ssh.knownHosts`: like `-o UserKnownHostsFile=…` (wins over ssh_config) when not empty. */
  knownHosts?: readonly string[] | undefined;
  local?: Partial<LocalInfo> | undefined;
}

/** `StrictHostKeyChecking` as `ssh -G` spells it. */
export type StrictHostKeyChecking = 'true' | 'false' | 'ask' | 'accept-new';

/** The settings `ssh -G` prints, for the keywords galley uses, with ssh's value spelling. */
export interface SshHostConfig {
  /** The name given on the command line (`%n`). */
  host: string;
  user: string;
  hostname: string;
  port: number;
  canonicalizeHostname: 'false' | 'true' | 'always';
  hashKnownHosts: boolean;
  identitiesOnly: boolean;
  strictHostKeyChecking: StrictHostKeyChecking;
  /** Seconds; null = `none`. */
  connectTimeout: number | null;
  hostKeyAlias: string | undefined;
  /** As ssh -G prints them: not expanded (ssh expands tokens only when it loads them). */
  identityFiles: string[];
  certificateFiles: string[];
  globalKnownHostsFiles: string[];
  /** Expanded (`~`, tokens, `${ENV}`), as ssh -G prints them; `['none']` for none (globalKnownHostsFiles too). */
  userKnownHostsFiles: string[];
  proxyCommand: string | undefined;
  /** ssh -G's `proxyjump` line value (not expanded), undefined when none. */
  proxyJump: string | undefined;
  identityAgent: string | undefined;
  /** `RevokedHostKeys`, as written (ssh opens it without expanding anything); undefined: none. */
  revokedHostKeys: string | undefined;
}

/** The keys `galley-exec -G` prints (ssh -G's names, in ssh -G's order) and the differential test compares. */
export const SUPPORTED_KEYS = [
  'host',
  'user',
  'hostname',
  'port',
  'canonicalizehostname',
  'hashknownhosts',
  'identitiesonly',
  'stricthostkeychecking',
  'hostkeyalias',
  'identityagent',
  'revokedhostkeys',
  'identityfile',
  'certificatefile',
  'globalknownhostsfile',
  'userknownhostsfile',
  'connecttimeout',
  'proxycommand',
  'proxyjump',
] as const;

/** One ProxyJump hop: `[user@]host[:port]` (IPv6 in brackets), or `ssh://[user@]host[:port]`. */
export interface JumpHop {
  host: string;
  user?: string;
  port?: number;
}

/** Where and how to reach one host, after ssh_config is applied: what the transports use. */
export interface HostTarget {
  /** The name the caller used (and the key of the pool). */
  alias: string;
  hostname: string;
  port: number;
  user: string;
  /** Expanded, in the order they are tried (galley's identityFiles first, as `ssh -i`). */
  identityFiles: string[];
  identitiesOnly: boolean;
  /** Expanded CertificateFile paths (ssh2 cannot use them: the pool refuses such a host when one exists). */
  certificateFiles: string[];
  /** Jump hosts in order (first hop first), tokens expanded; each is itself resolved through ssh_config. */
  proxyJump: JumpHop[];
  /** ssh_config's `ProxyCommand` (unexpanded; only the openssh transport runs it, the ssh2 pool refuses the host). */
  proxyCommand?: string | undefined;
  /** `RevokedHostKeys`: a file of revoked keys (a flat list or a KRL), opened as written. */
  revokedHostKeys?: string | undefined;
  /**
   * Names to look host keys up under, as OpenSSH does: HostKeyAlias, else `HostName` (as
   * `[HostName]:port` when the port is not 22, then — only to accept a key recorded without the
   * port — `HostName`). Never the alias alone.
   */
  knownHostsNames: string[];
  /** Where keys are looked up: the user files first (accept-new records in the first one), then the global ones. */
  knownHostsFiles: { user: string[]; global: string[] };
  /** `yes` (ssh's `ask` too: galley never prompts) or `accept-new`; `no`/`off` are refused. */
  strictHostKeyChecking: 'yes' | 'accept-new';
  hashKnownHosts: boolean;
  /** ssh_config's `ConnectTimeout`, seconds (undefined: galley's own connectTimeoutMs). */
  connectTimeoutS?: number | undefined;
  /** `IdentityAgent`: a socket path, `none`, or `SSH_AUTH_SOCK` (undefined: $SSH_AUTH_SOCK). */
  identityAgent?: string | undefined;
  /** The whole resolved config (what `ssh -G` prints for the supported keys). */
  config: SshHostConfig;
}

// ---- the keyword table (readconf.c's names; what they do is modelled below for the supported ones) ----

const KEYWORDS = new Set(
  (
    'protocol cipher fallbacktorsh globalknownhostsfile2 rhostsauthentication userknownhostsfile2 useroaming usersh ' +
    'useprivilegedport afstokenpassing kerberosauthentication kerberostgtpassing rsaauthentication rhostsrsaauthentication ' +
    'compressionlevel gssapiauthentication gssapidelegatecredentials pkcs11provider smartcarddevice forwardagent forwardx11 ' +
    'forwardx11trusted forwardx11timeout exitonforwardfailure xauthlocation gatewayports passwordauthentication ' +
    'kbdinteractiveauthentication kbdinteractivedevices challengeresponseauthentication skeyauthentication tisauthentication ' +
    'pubkeyauthentication dsaauthentication hostbasedauthentication identityfile identityfile2 identitiesonly certificatefile ' +
    'addkeystoagent identityagent hostname hostkeyalias proxycommand port ciphers macs remoteforward localforward ' +
    'permitremoteopen user host match escapechar globalknownhostsfile userknownhostsfile connectionattempts batchmode ' +
    'checkhostip stricthostkeychecking compression tcpkeepalive keepalive numberofpasswordprompts syslogfacility loglevel ' +
    'logverbose dynamicforward preferredauthentications hostkeyalgorithms casignaturealgorithms bindaddress bindinterface ' +
    'clearallforwardings enablesshkeysign verifyhostkeydns nohostauthenticationforlocalhost rekeylimit connecttimeout ' +
    'addressfamily serveraliveinterval serveralivecountmax sendenv setenv controlpath controlmaster controlpersist ' +
    'hashknownhosts include tunnel tunneldevice localcommand permitlocalcommand remotecommand visualhostkey kexalgorithms ' +
    'ipqos requesttty sessiontype stdinnull forkafterauthentication proxyusefdpass canonicaldomains canonicalizefallbacklocal ' +
    'canonicalizehostname canonicalizemaxdots canonicalizepermittedcnames streamlocalbindmask streamlocalbindunlink ' +
    'revokedhostkeys fingerprinthash updatehostkeys hostbasedacceptedalgorithms hostbasedkeytypes pubkeyacceptedalgorithms ' +
    'pubkeyacceptedkeytypes ignoreunknown proxyjump securitykeyprovider knownhostscommand requiredrsasize ' +
    'enableescapecommandline ' +
    // Debian's GSSAPI key-exchange patch (openssh-client on Debian/Ubuntu knows these).
    'gssapikeyexchange gssapiclientidentity gssapiserveridentity gssapirenewalforcesrekey gssapitrustdns gssapikexalgorithms'
  ).split(' '),
);

/** Keyword spellings that are another keyword's alias. */
const ALIASES: Record<string, string> = { identityfile2: 'identityfile', keepalive: 'tcpkeepalive' };

const MAX_HOSTS_FILES = 32;
const MAX_IDENTITY_FILES = 100;
const MAX_INCLUDE_DEPTH = 16;
const DEFAULT_IDENTITIES = ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_xmss', 'id_dsa'].map(
  (f) => `~/.ssh/${f}`,
);

// ---- lexing, as readconf.c/misc.c split a line ----

const WS = ' \t\r\n';
function skipWs(s: string, i: number): number {
  while (i < s.length && WS.includes(s[i] as string)) i++;
  return i;
}

/** strdelim(): the next token, split on whitespace or one `=`, a leading `"` quoting it; rest null at the end. */
function strdelim(s: string | null): { tok: string | null; rest: string | null } {
  if (s === null) return { tok: null, rest: null };
  let i = 0;
  while (i < s.length && !(WS + '"=').includes(s[i] as string)) i++;
  if (i === s.length) return { tok: s, rest: null };
  if (s[i] === '"') {
    const t = s.slice(0, i) + s.slice(i + 1);
    const j = t.indexOf('"', i);
    if (j === -1) return { tok: null, rest: null };
    return { tok: t.slice(0, j), rest: t.slice(skipWs(t, j + 1)) };
  }
  const wasEq = s[i] === '=';
  let k = skipWs(s, i + 1);
  if (s[k] === '=' && !wasEq) k = skipWs(s, k + 1);
  return { tok: s.slice(0, i), rest: s.slice(k) };
}

/** argv_split(): words with "…"/'…' quoting and \-escapes, stopping at a `#` that starts a word. Null: unbalanced quotes. */
function argvSplit(s: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '#') break;
    let quote = '';
    let arg = '';
    for (; i < s.length; i++) {
      const ch = s[i] as string;
      const next = s[i + 1];
      if (ch === '\\') {
        if (next === "'" || next === '"' || next === '\\' || (quote === '' && next === ' ')) {
          i++;
          arg += next;
        } else arg += ch;
      } else if (quote === '' && (ch === ' ' || ch === '\t')) break;
      else if (quote === '' && (ch === '"' || ch === "'")) quote = ch;
      else if (quote !== '' && ch === quote) quote = '';
      else arg += ch;
    }
    if (i >= s.length && quote !== '') return null;
    out.push(arg);
  }
  return out;
}

// ---- matching (match.c) ----

/** `*` and `?` wildcards, exact otherwise (case as given). */
export function matchPattern(s: string, pattern: string): boolean {
  let re = '';
  for (const ch of pattern) re += ch === '*' ? '[\\s\\S]*' : ch === '?' ? '[\\s\\S]' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${re}$`).test(s);
}

/** A comma-separated pattern list with `!negation`: -1 a negated pattern matched, 1 a positive one, 0 none. */
export function matchPatternList(s: string, list: string, lowerPatterns: boolean): -1 | 0 | 1 {
  let positive = false;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    const sub = negated ? raw.slice(1) : raw;
    if (matchPattern(s, lowerPatterns ? sub.toLowerCase() : sub)) {
      if (negated) return -1;
      positive = true;
    }
  }
  return positive ? 1 : 0;
}

/** Host names compare without case (both sides lower-cased). */
export function matchHostname(host: string, list: string): -1 | 0 | 1 {
  return matchPatternList(host.toLowerCase(), list, true);
}

// ---- values ----

let services: Map<string, number> | null = null;
/** getservbyname(name, "tcp") from /etc/services (ssh accepts `Port ssh`). */
function serviceByName(name: string): number | undefined {
  if (services === null) {
    services = new Map();
    try {
      for (const line of fs.readFileSync('/etc/services', 'utf8').split('\n')) {
        const [entry] = line.split('#');
        const f = (entry ?? '').trim().split(/\s+/);
        const m = /^(\d+)\/tcp$/.exec(f[1] ?? '');
        if (!m || f[0] === undefined) continue;
        for (const n of [f[0], ...f.slice(2)]) if (!services.has(n)) services.set(n, Number(m[1]));
      }
    } catch {
      // No services database: only numeric ports.
    }
  }
  return services.get(name);
}

/** a2port(): 0..65535 in decimal, or a tcp service name; -1 when neither. */
function a2port(s: string): number {
  if (/^[+-]?\d+$/.test(s)) {
    const n = Number(s);
    return n >= 0 && n <= 65535 ? n : -1;
  }
  return serviceByName(s) ?? -1;
}

/** convtime(): `90`, `1m30s`, `2h` … in seconds; -1 when invalid. */
function convtime(s: string): number {
  if (s === '') return -1;
  const mult: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  let total = 0;
  let rest = s;
  while (rest !== '') {
    const m = /^(\d+)([smhdwSMHDW]?)/.exec(rest);
    if (!m) return -1;
    const v = Number(m[1]) * (mult[(m[2] ?? '').toLowerCase()] ?? 1);
    total += v;
    if (!Number.isFinite(total) || total > 2147483647) return -1;
    rest = rest.slice(m[0].length);
    if (m[2] === '' && rest !== '') return -1;
  }
  return total;
}

const FLAG: Record<string, boolean> = { true: true, false: false, yes: true, no: false };
const STRICT: Record<string, StrictHostKeyChecking> = {
  true: 'true',
  yes: 'true',
  false: 'false',
  no: 'false',
  off: 'false',
  ask: 'ask',
  'accept-new': 'accept-new',
};
const CANON: Record<string, SshHostConfig['canonicalizeHostname']> = {
  true: 'true',
  yes: 'true',
  false: 'false',
  no: 'false',
  always: 'always',
};

/** `%x` tokens (and `${VAR}` when `dollar`); an unknown token or unset variable is an error, as in ssh. */
function expandTokens(s: string, tokens: Record<string, string>, dollar: boolean, env: LocalInfo['env'], what: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (dollar && c === '$' && s[i + 1] === '{') {
      const end = s.indexOf('}', i + 2);
      if (end === -1) throw configError(`${what}: environment variable '${s.slice(i + 2)}' is missing its closing '}'`);
      const name = s.slice(i + 2, end);
      if (name === '') throw configError(`${what}: zero-length environment variable in '${s}'`);
      const v = env[name];
      if (v === undefined) throw configError(`${what}: environment variable \${${name}} has no value`);
      out += v;
      i = end;
      continue;
    }
    if (c !== '%') {
      out += c;
      continue;
    }
    const k = s[++i];
    if (k === '%') out += '%';
    else if (k === undefined) throw configError(`${what}: '${s}' ends with a lone '%'`);
    else if (tokens[k] !== undefined) out += tokens[k];
    else
      throw configError(
        `${what}: unknown token %${k} in '${s}'`,
        `see TOKENS in ssh_config(5) for the tokens ${what.split(' ')[0] ?? 'it'} accepts`,
      );
  }
  return out;
}

/** `~` and `~user` as ssh's tilde_expand_filename (the passwd home, not $HOME). */
function tildeExpand(p: string, local: LocalInfo): string {
  if (!p.startsWith('~')) return p;
  const slash = p.indexOf('/');
  const who = p.slice(1, slash === -1 ? undefined : slash);
  let home = local.home;
  if (who !== '' && who !== local.user) {
    const entry = passwdHome(who);
    if (entry === undefined) throw configError(`no such user ${who} (in '${p}')`);
    home = entry;
  }
  const rest = slash === -1 ? '' : p.slice(slash).replace(/^\/+/, '');
  return `${home.endsWith('/') ? home : `${home}/`}${rest}`;
}

function passwdHome(user: string): string | undefined {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === user) return f[5];
    }
  } catch {
    // no passwd database
  }
  return undefined;
}

function configError(
  message: string,
  hint = 'fix the ssh_config file (ssh -G -F FILE HOST shows what OpenSSH makes of it)',
): SshConfigError {
  return new SshConfigError('ERR_REMOTE_SSH_CONFIG', message, hint);
}

// ---- ProxyJump ----

/** parse_user_host_port(): `[user@]host[:port]`, `[v6]:port`; null when invalid. */
function parseUserHostPort(s: string): JumpHop | null {
  let rest = s;
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    user = rest.slice(0, at);
    if (user === '') return null;
    rest = rest.slice(at + 1);
  }
  let host: string;
  let portStr: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close === -1) return null;
    const after = rest.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) return null;
    host = rest.slice(0, close + 1);
    portStr = after === '' ? undefined : after.slice(1);
  } else {
    const m = /[:/]/.exec(rest);
    if (m && rest[m.index] === '/') return null;
    host = m ? rest.slice(0, m.index) : rest;
    portStr = m ? rest.slice(m.index + 1) : undefined;
  }
  if (host === '') return null;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const hop: JumpHop = { host };
  if (user !== undefined) hop.user = user;
  if (portStr !== undefined && portStr !== '') {
    const p = a2port(portStr);
    if (p <= 0) return null;
    hop.port = p;
  }
  return hop;
}

/** `ssh://[user@]host[:port]` (no path); undefined: not such a URI. */
function parseSshUri(s: string): JumpHop | null | undefined {
  if (!s.startsWith('ssh://')) return undefined;
  const m = /^([^@/]*@)?(\[[^\]]*\]|[^:/]*)(?::([^/]*))?(\/.*)?$/.exec(s.slice(6));
  // A path is not allowed (`ssh://host/` is fine).
  if (!m || (m[4] !== undefined && m[4].length > 1)) return null;
  let user = m[1]?.slice(0, -1);
  if (user !== undefined) {
    user = user.split(';')[0] ?? '';
    if (user === '') return null;
    try {
      user = decodeURIComponent(user.replace(/\+/g, ' '));
    } catch {
      return null;
    }
  }
  let host = m[2] ?? '';
  if (host === '') return null;
  if (host.startsWith('[')) host = host.slice(1, -1);
  if (!validDomain(host)) return null;
  // valid_domain() drops one trailing dot.
  if (host.endsWith('.')) host = host.slice(0, -1);
  const hop: JumpHop = { host };
  if (user !== undefined) hop.user = user;
  if (m[3] !== undefined && m[3] !== '') {
    const p = a2port(m[3]);
    if (p <= 0) return null;
    hop.port = p;
  }
  return hop;
}

/** misc.c valid_domain(): what an ssh:// URI may name (so no IPv6 address, even in brackets). */
function validDomain(h: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(h) && !h.includes('..');
}

function parseHop(s: string): JumpHop | null {
  const uri = parseSshUri(s);
  return uri === undefined ? parseUserHostPort(s) : uri;
}

/**
 * The destination argument of `ssh` (and `galley-exec -G`): `ssh://[user@]host[:port]`, or
 * `[user@]host` (the last `@` splits; no port). The user and port act as `-l`/`-p` unless those
 * are given.
 */
export function parseDestination(dest: string): JumpHop {
  const uri = parseSshUri(dest);
  if (uri === null || dest.lastIndexOf('@') === 0 || dest === '') {
    throw new SshConfigError(
      'ERR_REMOTE_SSH_DESTINATION',
      `invalid destination '${dest}'`,
      'give [user@]host or ssh://[user@]host[:port] (a host name, not an IPv6 address, in an ssh:// URI), as for ssh',
    );
  }
  if (uri !== undefined) return uri;
  const at = dest.lastIndexOf('@');
  return at === -1 ? { host: dest } : { host: dest.slice(at + 1), user: dest.slice(0, at) };
}

/** `[user@]host[:port]` (IPv6 as `[addr]:port`) or `ssh://…`; throws a config error when invalid. */
export function parseJump(spec: string): JumpHop {
  const hop = parseHop(spec.trim());
  if (hop === null)
    throw configError(`invalid ProxyJump hop '${spec}'`, 'use [user@]host[:port], with IPv6 addresses in brackets: [::1]:2222');
  return hop;
}

// ---- the resolver ----

interface Opts {
  user?: string;
  hostname?: string;
  port?: number;
  hostKeyAlias?: string;
  identityAgent?: string;
  revokedHostKeys?: string;
  identityFiles: { path: string; user: boolean }[];
  certificateFiles: { path: string; user: boolean }[];
  identitiesOnly?: boolean;
  hashKnownHosts?: boolean;
  strict?: StrictHostKeyChecking;
  canonicalize?: SshHostConfig['canonicalizeHostname'];
  canonicalDomains?: string[];
  canonicalizeMaxDots?: number;
  canonicalizeFallbackLocal?: boolean;
  connectTimeout?: number;
  userKnownHosts: string[];
  globalKnownHosts: string[];
  proxyCommand?: string;
  jump?: { host: string; user?: string; port?: number; extra?: string };
  ignoreUnknown?: string;
}

interface PassCtx {
  opts: Opts;
  /** `Host` patterns are matched against this (the name given; on the final pass, the final host name). */
  host: string;
  originalHost: string;
  final: boolean;
  wantFinal: boolean;
  defaultUser: string;
}

/** A file's lines, read once per resolver (a fleet resolves the same files thousands of times). */
type Lines = { text: string; n: number }[];

export class SshConfigResolver {
  readonly #o: SshResolverOptions;
  readonly #local: LocalInfo;
  readonly #files = new Map<string, Lines | null>();
  readonly #cache = new Map<string, SshHostConfig>();

  constructor(opts: SshResolverOptions = {}) {
    this.#o = opts;
    this.#local = localInfo(opts.local);
  }

  /** From galley's `ssh` config section: `sshConfig` is `-F`, `user` the fallback login, `identityFiles` `-i`, `knownHosts` the user known_hosts files. */
  static fromSsh(
    ssh: { sshConfig?: string | undefined; user?: string | undefined; identityFiles?: readonly string[]; knownHosts?: readonly string[] },
    local?: Partial<LocalInfo>,
  ): SshConfigResolver {
    return new SshConfigResolver({
      configFile: ssh.sshConfig,
      defaultUser: ssh.user,
      identityFiles: ssh.identityFiles,
      knownHosts: ssh.knownHosts,
      local,
    });
  }

  get local(): LocalInfo {
    return this.#local;
  }

  /** The configuration `ssh -G [-l user] [-p port] host` prints (for the supported keys). Throws SshConfigError where ssh exits 255. */
  config(hostArg: string, override: { user?: string | undefined; port?: number | undefined } = {}): SshHostConfig {
    const key = `${hostArg}\0${override.user ?? ''}\0${override.port ?? ''}`;
    const hit = this.#cache.get(key);
    if (hit) return hit;
    const c = this.#compute(hostArg, override);
    this.#cache.set(key, c);
    return c;
  }

  /** `ssh -G`'s output lines for the supported keys, in ssh's order and spelling. */
  dump(hostArg: string, override: { user?: string | undefined; port?: number | undefined } = {}): string[] {
    return formatConfig(this.config(hostArg, override));
  }

  /** `ssh -G [-l user] [-p port] DESTINATION`: the destination's own user and port apply unless -l/-p are given. */
  dumpDestination(dest: string, override: { user?: string | undefined; port?: number | undefined } = {}): string[] {
    const d = parseDestination(dest);
    return this.dump(d.host, { user: override.user ?? d.user, port: override.port ?? d.port });
  }

  /** The connection target for a host: expanded files, jump hops, host-key names and policy. */
  resolve(alias: string, override: { user?: string | undefined; port?: number | undefined } = {}): HostTarget {
    const c = this.config(alias, override);
    if (c.strictHostKeyChecking === 'false') {
      throw new SshConfigError(
        'ERR_REMOTE_HOSTKEY_POLICY',
        `ssh_config sets StrictHostKeyChecking no for ${alias}: galley never connects without verifying the host key`,
        'an unverified key lets anyone on the path impersonate the host and see the commands; use StrictHostKeyChecking accept-new to record unknown keys on first use (changed keys are still refused), or add the key to known_hosts (ssh-keyscan, then check its fingerprint)',
      );
    }
    const tokens = this.#tokens(c);
    const what = (k: string) => `${k} for ${alias}`;
    const expandFile = (p: string, k: string) => expandTokens(tildeExpand(p, this.#local), tokens, true, this.#local.env, what(k));
    const identityFiles = [...new Set(c.identityFiles.map((p) => expandFile(p, 'IdentityFile')))];
    const certificateFiles = c.certificateFiles.map((p) => expandFile(p, 'CertificateFile'));
    const hopTokens: Record<string, string> = { h: c.hostname, n: c.host, p: String(c.port), r: c.user, k: c.hostKeyAlias ?? c.host };
    const proxyJump =
      c.proxyJump === undefined
        ? []
        : splitJumps(c.proxyJump).map((h) => {
            return parseJump(expandTokens(h, hopTokens, false, this.#local.env, what('ProxyJump')));
          });
    const names =
      c.hostKeyAlias !== undefined ? [c.hostKeyAlias] : c.port === 22 ? [c.hostname] : [`[${c.hostname}]:${c.port}`, c.hostname];
    const noneless = (l: string[]) => (l[0]?.toLowerCase() === 'none' ? [] : l);
    // ssh opens GlobalKnownHostsFile paths as written (no `~`, no tokens), unlike UserKnownHostsFile.
    const global = noneless(c.globalKnownHostsFiles);
    const t: HostTarget = {
      alias,
      hostname: c.hostname,
      port: c.port,
      user: c.user,
      identityFiles,
      identitiesOnly: c.identitiesOnly,
      certificateFiles,
      proxyJump,
      knownHostsNames: names,
      knownHostsFiles: { user: noneless(c.userKnownHostsFiles), global },
      strictHostKeyChecking: c.strictHostKeyChecking === 'accept-new' ? 'accept-new' : 'yes',
      hashKnownHosts: c.hashKnownHosts,
      config: c,
    };
    if (c.proxyCommand !== undefined) t.proxyCommand = c.proxyCommand;
    if (c.revokedHostKeys !== undefined) t.revokedHostKeys = c.revokedHostKeys;
    if (c.connectTimeout !== null) t.connectTimeoutS = c.connectTimeout;
    if (c.identityAgent !== undefined) t.identityAgent = c.identityAgent;
    return t;
  }

  #tokens(c: SshHostConfig): Record<string, string> {
    const l = this.#local;
    const port = String(c.port);
    return {
      C: crypto
        .createHash('sha1')
        .update(l.hostname + c.hostname + port + c.user)
        .digest('hex'),
      L: l.hostname.split('.')[0] ?? l.hostname,
      i: String(l.uid),
      k: c.hostKeyAlias ?? c.host,
      l: l.hostname,
      n: c.host,
      p: port,
      d: l.home,
      h: c.hostname,
      r: c.user,
      u: l.user,
    };
  }

  #compute(hostArg: string, override: { user?: string | undefined; port?: number | undefined }): SshHostConfig {
    const opts: Opts = { identityFiles: [], certificateFiles: [], userKnownHosts: [], globalKnownHosts: [] };
    // Command-line values come first, so they win (ssh -l / -p / -o UserKnownHostsFile).
    if (override.user !== undefined) opts.user = override.user;
    if (override.port !== undefined) opts.port = override.port;
    if (this.#o.knownHosts && this.#o.knownHosts.length > 0) opts.userKnownHosts = [...this.#o.knownHosts];
    const defaultUser = this.#o.defaultUser ?? this.#local.user;
    const ctx: PassCtx = { opts, host: hostArg, originalHost: hostArg, final: false, wantFinal: false, defaultUser };
    this.#readAll(ctx);
    let host = hostArg;
    if (opts.hostname !== undefined) {
      host = expandTokens(opts.hostname, { h: hostArg }, false, {}, `HostName for ${hostArg}`);
      opts.hostname = host;
    }
    // A name is lower-cased; an address keeps its case unless its numeric form differs (ssh.c).
    const norm = normalizeHostName(host);
    host = norm.host;
    const wasAddr = norm.isAddress;
    const canon = opts.canonicalize ?? 'false';
    if (canon !== 'false' && !wasAddr) host = this.#canonicalize(host, opts, canon);
    if (canon !== 'false') ctx.wantFinal = true;
    if (ctx.wantFinal) {
      opts.hostname = host;
      this.#readAll({ ...ctx, host, final: true });
    }
    const port = opts.port !== undefined && opts.port > 0 ? opts.port : 22;
    const user = opts.user ?? defaultUser;
    const c: SshHostConfig = {
      host: hostArg,
      user,
      hostname: host,
      port,
      canonicalizeHostname: canon,
      hashKnownHosts: opts.hashKnownHosts ?? false,
      identitiesOnly: opts.identitiesOnly ?? false,
      strictHostKeyChecking: opts.strict ?? 'ask',
      connectTimeout: opts.connectTimeout === undefined || opts.connectTimeout === -1 ? null : opts.connectTimeout,
      hostKeyAlias: opts.hostKeyAlias?.toLowerCase(),
      identityFiles: [...new Set([...(this.#o.identityFiles ?? []), ...opts.identityFiles.map((f) => f.path)])],
      certificateFiles: opts.certificateFiles.map((f) => f.path),
      globalKnownHostsFiles:
        opts.globalKnownHosts.length > 0 ? opts.globalKnownHosts : ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
      userKnownHostsFiles: [],
      proxyCommand: opts.proxyCommand === undefined || opts.proxyCommand.toLowerCase() === 'none' ? undefined : opts.proxyCommand,
      proxyJump: undefined,
      identityAgent: opts.identityAgent,
      // `none` clears it (CLEAR_ON_NONE).
      revokedHostKeys:
        opts.revokedHostKeys === undefined || opts.revokedHostKeys.toLowerCase() === 'none' ? undefined : opts.revokedHostKeys,
    };
    if (c.identityFiles.length === 0) c.identityFiles = [...DEFAULT_IDENTITIES];
    if (opts.jump && !(opts.jump.host === 'none' && opts.jump.port === undefined && opts.jump.user === undefined)) {
      const j = opts.jump;
      const numeric = j.host.includes(':') || /^[0-9.]*$/.test(j.host);
      // ssh refuses a last hop that is the target itself (same name, port and user), -G included.
      if (j.host === host && (j.port ?? 22) === port && (j.user ?? user) === user) {
        throw configError(
          `jumphost loop via ${j.host} (ProxyJump of ${hostArg})`,
          'a host cannot be its own ProxyJump: fix the Host/Match block that sets it',
        );
      }
      c.proxyJump = `${j.extra !== undefined ? `${j.extra},` : ''}${j.user !== undefined ? `${j.user}@` : ''}${numeric ? `[${j.host}]` : j.host}${j.port !== undefined ? `:${j.port}` : ''}`;
    }
    if (c.identityAgent !== undefined && c.identityAgent !== 'none' && c.identityAgent !== 'SSH_AUTH_SOCK') {
      c.identityAgent = expandTokens(
        tildeExpand(c.identityAgent, this.#local),
        this.#tokens(c),
        true,
        this.#local.env,
        `IdentityAgent for ${hostArg}`,
      );
    }
    const userFiles = opts.userKnownHosts.length > 0 ? opts.userKnownHosts : ['~/.ssh/known_hosts', '~/.ssh/known_hosts2'];
    if (userFiles[0]?.toLowerCase() === 'none') c.userKnownHostsFiles = ['none'];
    else {
      const tokens = this.#tokens(c);
      c.userKnownHostsFiles = userFiles.map((f) =>
        expandTokens(tildeExpand(f, this.#local), tokens, true, this.#local.env, `UserKnownHostsFile for ${hostArg}`),
      );
    }
    return c;
  }

  /** CanonicalizeHostname: galley makes no DNS lookups, so a name that ssh would look up is refused rather than guessed. */
  #canonicalize(host: string, opts: Opts, mode: 'true' | 'always'): string {
    const direct = opts.proxyCommand === undefined && opts.jump === undefined;
    if (!direct && mode !== 'always') return host;
    const domains = (opts.canonicalDomains ?? []).filter((d) => d.toLowerCase() !== 'none');
    const dots = [...host].filter((ch) => ch === '.').length;
    const needsDns = host.endsWith('.') || (dots <= (opts.canonicalizeMaxDots ?? 1) && domains.length > 0);
    if (needsDns) {
      throw new SshConfigError(
        'ERR_REMOTE_SSH_CONFIG_UNSUPPORTED',
        `ssh_config asks to canonicalize ${host} through DNS (CanonicalizeHostname with CanonicalDomains ${domains.join(' ')}), which galley does not do`,
        'give the full name (HostName) in ssh_config, or set CanonicalizeHostname no for the hosts galley reaches',
      );
    }
    if (opts.canonicalizeFallbackLocal === false) throw configError(`Could not resolve host "${host}" (CanonicalizeFallbackLocal no)`);
    return host;
  }

  #readAll(ctx: PassCtx): void {
    const f = this.#o.configFile;
    if (f !== undefined) {
      if (f.toLowerCase() === 'none') return;
      if (!this.#readFile(f, ctx, { user: true, checkPerm: false, neverMatch: false }, { active: true }, 0)) {
        throw new SshConfigError(
          'ERR_REMOTE_SSH_CONFIG',
          `cannot open ssh_config ${f}: ${this.#openError(f)}`,
          'fix ssh.sshConfig (or -F) to name a readable file, or remove it to use ~/.ssh/config and /etc/ssh/ssh_config as ssh does',
        );
      }
      return;
    }
    this.#readFile(
      path.join(this.#local.home, '.ssh', 'config'),
      ctx,
      { user: true, checkPerm: true, neverMatch: false },
      { active: true },
      0,
    );
    this.#readFile(this.#local.systemConfig, ctx, { user: false, checkPerm: false, neverMatch: false }, { active: true }, 0);
  }

  #openError(f: string): string {
    try {
      fs.accessSync(f, fs.constants.R_OK);
      return 'unreadable';
    } catch (err) {
      return (err as Error).message;
    }
  }

  #lines(file: string): Lines | null {
    if (this.#files.has(file)) return this.#files.get(file) ?? null;
    let lines: Lines | null = null;
    try {
      lines = fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .map((text, i) => ({ text, n: i + 1 }));
      if (lines.length > 0 && lines[lines.length - 1]?.text === '') lines.pop();
    } catch (err) {
      // ssh opens a directory fine and reads no line from it.
      lines = (err as NodeJS.ErrnoException).code === 'EISDIR' ? [] : null;
    }
    this.#files.set(file, lines);
    return lines;
  }

  /** false when the file cannot be opened (ssh: a missing ~/.ssh/config or Include target is fine; a missing -F file is not). */
  #readFile(
    file: string,
    ctx: PassCtx,
    flags: { user: boolean; checkPerm: boolean; neverMatch: boolean },
    state: { active: boolean },
    depth: number,
  ): boolean {
    if (depth > MAX_INCLUDE_DEPTH) throw configError(`too many recursive configuration includes (at ${file})`);
    const lines = this.#lines(file);
    if (lines === null) return false;
    if (flags.checkPerm) {
      const st = fs.statSync(file);
      if ((st.uid !== 0 && st.uid !== this.#local.uid) || (st.mode & 0o022) !== 0) {
        throw configError(`Bad owner or permissions on ${file}`, `ssh refuses it too: chmod go-w ${file} (and own it yourself)`);
      }
    }
    const errors: string[] = [];
    for (const { text, n } of lines) {
      try {
        this.#line(text, `${file} line ${n}`, ctx, flags, state, depth);
      } catch (err) {
        if (!(err instanceof SshConfigError) || err.code !== 'ERR_REMOTE_SSH_CONFIG') throw err;
        errors.push(err.message);
      }
    }
    if (errors.length > 0) {
      throw configError(`${file}: ${errors.length} bad configuration option${errors.length === 1 ? '' : 's'}: ${errors.join('; ')}`);
    }
    return true;
  }

  #line(
    raw: string,
    where: string,
    ctx: PassCtx,
    flags: { user: boolean; checkPerm: boolean; neverMatch: boolean },
    state: { active: boolean },
    depth: number,
  ): void {
    const line = raw.replace(/[ \t\r\n\f]+$/, '');
    if (line === '') return;
    let { tok: keyword, rest: str } = strdelim(line);
    if (keyword === null) return;
    if (keyword === '') ({ tok: keyword, rest: str } = strdelim(str));
    if (keyword === null || keyword === '' || keyword.startsWith('#')) return;
    keyword = keyword.toLowerCase();
    if (str !== null) str = str.slice(skipWs(str, 0));
    if (str === null || str === '') throw configError(`${where}: no argument after keyword "${keyword}"`);
    const o = ctx.opts;
    if (!KEYWORDS.has(keyword)) {
      if (o.ignoreUnknown !== undefined && matchPatternList(keyword, o.ignoreUnknown, true) === 1) return;
      throw configError(`${where}: Bad configuration option: ${keyword}`);
    }
    const kw = ALIASES[keyword] ?? keyword;
    const args = argvSplit(str);
    if (args === null) throw configError(`${where}: invalid quotes`);
    const active = state.active;
    let used = 1;
    const need = (): string => {
      const a = args[0];
      if (a === undefined || a === '') throw configError(`${where}: missing argument for ${keyword}`);
      return a;
    };
    // A keyword whose argument is one of a fixed set of words (ssh's multistate tables), any case.
    const oneOf = <T>(table: Readonly<Record<string, T>>): T => {
      const a = need();
      const v = table[a.toLowerCase()];
      if (v === undefined) throw configError(`${where}: unsupported option "${a}".`);
      return v;
    };
    const setFirst = <K extends keyof Opts>(k: K, v: Opts[K]) => {
      if (active && o[k] === undefined) o[k] = v;
    };
    switch (kw) {
      case 'host': {
        state.active = false;
        used = args.length;
        let matched = false;
        for (const a of args) {
          if (a === '') throw configError(`${where}: keyword host empty argument`);
          if (flags.neverMatch) break;
          const negated = a.startsWith('!');
          if (matchPattern(ctx.host, negated ? a.slice(1) : a)) {
            if (negated) {
              matched = false;
              break;
            }
            matched = true;
          }
        }
        state.active = matched;
        break;
      }
      case 'match': {
        const { result, rest } = this.#match(str, where, ctx);
        state.active = flags.neverMatch ? false : result;
        used = rest === null || rest === '' ? args.length : 0;
        break;
      }
      case 'include': {
        used = args.length;
        for (const a of args) {
          if (a === '') throw configError(`${where}: keyword include empty argument`);
          if (a.startsWith('~') && !flags.user) throw configError(`${where}: bad include path ${a} (a system file cannot include from ~)`);
          const pattern = path.isAbsolute(a) || a.startsWith('~') ? a : flags.user ? `~/.ssh/${a}` : `${this.#local.systemDir}/${a}`;
          const expanded = pattern.startsWith('~') ? globTilde(pattern, this.#local) : pattern;
          const was = state.active;
          for (const f of glob(expanded)) {
            const ok = this.#readFile(
              f,
              ctx,
              { user: flags.user, checkPerm: true, neverMatch: flags.neverMatch || !was },
              state,
              depth + 1,
            );
            // A Match in an included file does not change the including file's state.
            state.active = was;
            if (!ok && fs.existsSync(f)) throw configError(`${where}: can't open included file ${f}`);
          }
        }
        break;
      }
      case 'user':
        setFirst('user', need());
        break;
      case 'hostname':
        setFirst('hostname', need());
        break;
      case 'hostkeyalias':
        setFirst('hostKeyAlias', need());
        break;
      case 'identityagent':
        setFirst('identityAgent', need());
        break;
      case 'revokedhostkeys':
        setFirst('revokedHostKeys', need());
        break;
      case 'ignoreunknown':
        setFirst('ignoreUnknown', need());
        break;
      case 'port': {
        const a = need();
        const p = a2port(a);
        if (p <= 0)
          throw configError(`${where}: Bad port '${a}'.`, 'a port is a number from 1 to 65535 (or a service name from /etc/services)');
        setFirst('port', p);
        break;
      }
      case 'connecttimeout': {
        const a = need();
        const v = a === 'none' ? -1 : convtime(a);
        if (v === -1 && a !== 'none') throw configError(`${where}: invalid time value.`);
        // `none` is ssh's "unset" (-1): a later ConnectTimeout still applies.
        if (v !== -1) setFirst('connectTimeout', v);
        break;
      }
      case 'identitiesonly':
      case 'hashknownhosts': {
        const v = oneOf(FLAG);
        setFirst(kw === 'identitiesonly' ? 'identitiesOnly' : 'hashKnownHosts', v);
        break;
      }
      case 'stricthostkeychecking': {
        const v = oneOf(STRICT);
        setFirst('strict', v);
        break;
      }
      case 'canonicalizehostname': {
        const v = oneOf(CANON);
        setFirst('canonicalize', v);
        break;
      }
      case 'canonicalizefallbacklocal': {
        const v = oneOf(FLAG);
        setFirst('canonicalizeFallbackLocal', v);
        break;
      }
      case 'canonicalizemaxdots': {
        const a = need();
        if (!/^-?\d+$/.test(a)) throw configError(`${where}: integer value invalid.`);
        setFirst('canonicalizeMaxDots', Number(a));
        break;
      }
      case 'canonicaldomains':
        used = args.length;
        if (active && o.canonicalDomains === undefined) o.canonicalDomains = [...args];
        break;
      case 'identityfile':
      case 'certificatefile': {
        const a = need();
        const list = kw === 'identityfile' ? o.identityFiles : o.certificateFiles;
        if (active) {
          if (list.length >= MAX_IDENTITY_FILES) throw configError(`${where}: too many ${keyword} entries (max ${MAX_IDENTITY_FILES})`);
          if (!list.some((x) => x.path === a && x.user === flags.user)) list.push({ path: a, user: flags.user });
        }
        break;
      }
      case 'userknownhostsfile':
      case 'globalknownhostsfile': {
        const list = kw === 'userknownhostsfile' ? o.userKnownHosts : o.globalKnownHosts;
        const wasEmpty = list.length === 0;
        used = args.length;
        args.forEach((a, i) => {
          if (a === '') throw configError(`${where}: keyword ${keyword} empty argument`);
          if (a.toLowerCase() === 'none' && (i > 0 || args.length > 1))
            throw configError(`${where}: keyword ${keyword} "none" argument must appear alone.`);
          if (active && wasEmpty) {
            if (list.length >= MAX_HOSTS_FILES) throw configError(`${where}: too many ${keyword} entries.`);
            list.push(a);
          }
        });
        break;
      }
      case 'proxycommand': {
        used = args.length;
        const v = str.slice(str.match(/^[ \t\r\n=]*/)?.[0].length ?? 0);
        // ProxyJump already given: ProxyCommand is ignored (the jump wins).
        if (active && o.proxyCommand === undefined && o.jump === undefined) o.proxyCommand = v;
        break;
      }
      case 'proxyjump': {
        used = args.length;
        const v = str.slice(str.match(/^[ \t\r\n=]*/)?.[0].length ?? 0);
        this.#proxyJump(v, where, o, active);
        break;
      }
      default:
        // A keyword galley does not use: recognised, its value not checked.
        used = args.length;
    }
    if (args.length > used) throw configError(`${where}: keyword ${keyword} extra arguments at end of line`);
  }

  #proxyJump(s: string, where: string, o: Opts, activeIn: boolean): void {
    const active = activeIn && o.proxyCommand === undefined && o.jump === undefined;
    // The comment goes, then everything from the first blank on (Debian's 9.2p1-2+deb12u10 takes
    // one word: `ProxyJump a b` jumps through `a`, `ProxyJump j1, j2` is invalid).
    const bare = (s.split('#')[0] ?? '').replace(/[ \t\r\n]+$/, '').split(/[ \t\r\n]/)[0] ?? '';
    if (s.toLowerCase() === 'none') {
      if (active) {
        o.jump = { host: 'none' };
        o.proxyCommand = 'none';
      }
      return;
    }
    const hops = bare.split(',');
    const hopsParsed = hops.map((h) => parseHop(h));
    if (hopsParsed.some((h) => h === null))
      throw configError(
        `${where}: Invalid ProxyJump "${s}"`,
        'use [user@]host[:port] hops separated by commas; IPv6 addresses in brackets: [::1]:2222',
      );
    if (!active) return;
    const last = hopsParsed[hopsParsed.length - 1] as JumpHop;
    o.jump = { host: last.host };
    if (last.user !== undefined) o.jump.user = last.user;
    if (last.port !== undefined) o.jump.port = last.port;
    const comma = bare.lastIndexOf(',');
    if (comma > 0) o.jump.extra = bare.slice(0, comma);
    o.proxyCommand = 'none';
  }

  /** match_cfg_line(): the criteria of one Match line; `rest` is what it did not consume. */
  #match(line: string, where: string, ctx: PassCtx): { result: boolean; rest: string | null } {
    const o = ctx.opts;
    const host = ctx.final
      ? (o.hostname ?? ctx.host)
      : o.hostname !== undefined
        ? expandTokens(o.hostname, { h: ctx.host }, false, {}, `HostName for ${ctx.host}`)
        : ctx.host;
    const ruser = o.user ?? ctx.defaultUser;
    let cp: string | null = line;
    let result = true;
    let attributes = 0;
    for (;;) {
      const { tok, rest } = strdelim(cp);
      cp = rest;
      if (tok === null || tok === '') break;
      if (tok.startsWith('#')) {
        cp = null;
        break;
      }
      const negate = tok.startsWith('!');
      const attrib = (negate ? tok.slice(1) : tok).toLowerCase();
      if (attrib === 'all') {
        const next = strdelim(cp);
        if (attributes > 1 || (next.tok !== null && next.tok !== '' && !next.tok.startsWith('#'))) {
          throw configError(`${where}: '${tok}' cannot be combined with other Match attributes`);
        }
        if (result) result = !negate;
        return { result, rest: null };
      }
      attributes++;
      if (attrib === 'canonical' || attrib === 'final') {
        if (attrib === 'final') ctx.wantFinal = true;
        if (ctx.final === negate) result = false;
        continue;
      }
      const a = strdelim(cp);
      cp = a.rest;
      const arg = a.tok;
      if (arg === null || arg === '' || arg.startsWith('#')) throw configError(`${where}: Missing Match criteria for ${attrib}`);
      let r: boolean;
      switch (attrib) {
        case 'host':
          r = matchHostname(host, arg) === 1;
          break;
        case 'originalhost':
          r = matchHostname(ctx.originalHost, arg) === 1;
          break;
        case 'user':
          r = matchPatternList(ruser, arg, false) === 1;
          break;
        case 'localuser':
          r = matchPatternList(this.#local.user, arg, false) === 1;
          break;
        case 'exec':
          // ssh skips the command once an earlier criterion failed; otherwise it would run it.
          if (!result) continue;
          throw new SshConfigError(
            'ERR_REMOTE_SSH_CONFIG_EXEC',
            `${where}: Match exec "${arg}" would run a command to decide the config of ${ctx.originalHost}; galley never runs commands from ssh_config`,
            'replace Match exec with Match host/originalhost/user/localuser, or put an earlier criterion on the line that excludes the hosts galley reaches',
          );
        default:
          throw configError(`${where}: Unsupported Match attribute ${attrib}`);
      }
      if (r === negate) result = false;
    }
    if (attributes === 0) throw configError(`${where}: One or more attributes required for Match`);
    return { result, rest: cp };
  }
}

/** The hops of a ProxyJump line value, first hop first. */
function splitJumps(v: string): string[] {
  return v.split(',').filter((h) => h !== '');
}

/** glob(3)'s GLOB_TILDE: `~` is $HOME, `~user` that user's home. */
function globTilde(p: string, local: LocalInfo): string {
  const slash = p.indexOf('/');
  const who = p.slice(1, slash === -1 ? undefined : slash);
  const home = who === '' ? local.globHome : (passwdHome(who) ?? `~${who}`);
  return home + (slash === -1 ? '' : p.slice(slash));
}

/** glob(3) for Include: `*`, `?`, `[…]` in any component, sorted, no dot-files for wildcards. */
function glob(pattern: string): string[] {
  const parts = pattern.split('/');
  let bases = [parts[0] === '' ? '/' : '.'];
  let first = parts[0] === '' ? 1 : 0;
  if (!/[*?[]/.test(pattern)) return fs.existsSync(pattern) ? [pattern] : [];
  for (let i = first; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part === '') continue;
    const next: string[] = [];
    for (const b of bases) {
      if (!/[*?[]/.test(part)) {
        const p = path.join(b, part);
        if (i === parts.length - 1 ? fs.existsSync(p) : isDir(p)) next.push(p);
        continue;
      }
      const re = globPart(part);
      let names: string[] = [];
      try {
        names = fs.readdirSync(b);
      } catch {
        continue;
      }
      for (const n of names.sort()) {
        if (n.startsWith('.') && !part.startsWith('.')) continue;
        if (!re.test(n)) continue;
        const p = path.join(b, n);
        if (i === parts.length - 1 || isDir(p)) next.push(p);
      }
    }
    bases = next;
    first = 0;
  }
  const rel = parts[0] !== '';
  return bases.map((b) => (rel ? b.replace(/^\.\//, '') : b)).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function globPart(part: string): RegExp {
  let re = '';
  for (let i = 0; i < part.length; i++) {
    const c = part[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = part.indexOf(']', i + 2);
      if (end === -1) re += '\\[';
      else {
        let cls = part.slice(i + 1, end);
        if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        re += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** ssh -G's lines for the supported keys (same names, value spelling and order as OpenSSH 9.2). */
export function formatConfig(c: SshHostConfig): string[] {
  const yn = (b: boolean) => (b ? 'yes' : 'no');
  const out = [
    `host ${c.host}`,
    `user ${c.user}`,
    `hostname ${c.hostname}`,
    `port ${c.port}`,
    `canonicalizehostname ${c.canonicalizeHostname}`,
    `hashknownhosts ${yn(c.hashKnownHosts)}`,
    `identitiesonly ${yn(c.identitiesOnly)}`,
    `stricthostkeychecking ${c.strictHostKeyChecking}`,
  ];
  if (c.hostKeyAlias !== undefined) out.push(`hostkeyalias ${c.hostKeyAlias}`);
  if (c.identityAgent !== undefined) out.push(`identityagent ${c.identityAgent}`);
  if (c.revokedHostKeys !== undefined) out.push(`revokedhostkeys ${c.revokedHostKeys}`);
  for (const f of c.identityFiles) out.push(`identityfile ${f}`);
  for (const f of c.certificateFiles) out.push(`certificatefile ${f}`);
  if (c.globalKnownHostsFiles.length > 0) out.push(`globalknownhostsfile ${c.globalKnownHostsFiles.join(' ')}`);
  if (c.userKnownHostsFiles.length > 0) out.push(`userknownhostsfile ${c.userKnownHostsFiles.join(' ')}`);
  out.push(`connecttimeout ${c.connectTimeout === null ? 'none' : c.connectTimeout}`);
  if (c.proxyJump === undefined && c.proxyCommand !== undefined) out.push(`proxycommand ${c.proxyCommand}`);
  if (c.proxyJump !== undefined) out.push(`proxyjump ${c.proxyJump}`);
  return out;
}
