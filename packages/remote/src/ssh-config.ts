import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SSHConfigFile from 'ssh-config';
import { SshSetupError } from './errors.js';

/** Where and how to reach one host, after ssh_config is applied. */
export interface HostTarget {
  /** The name the caller used (and the key of the pool). */
  alias: string;
  hostname: string;
  port: number;
  user: string;
  identityFiles: string[];
  /** Jump hosts in order (first hop first); each is itself resolved through ssh_config. */
  proxyJump: JumpHop[];
  /** Names to look up in known_hosts. */
  knownHostsNames: string[];
}

export interface JumpHop {
  host: string;
  user?: string;
  port?: number;
}

/** `[user@]host[:port]` */
export function parseJump(spec: string): JumpHop {
  let rest = spec.trim();
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
  }
  let port: number | undefined;
  const m = /^(.*):(\d+)$/.exec(rest);
  if (m && !rest.startsWith('[')) {
    rest = m[1] ?? rest;
    port = Number(m[2]);
  }
  const hop: JumpHop = { host: rest };
  if (user !== undefined) hop.user = user;
  if (port !== undefined) hop.port = port;
  return hop;
}

function expandHome(p: string): string {
  return p.startsWith('~/') ? path.join(os.homedir(), p.slice(2)) : p;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The OpenSSH client-config subset SREs rely on: Host patterns, HostName, Port, User,
 * IdentityFile, ProxyJump, HostKeyAlias. First value wins, as in OpenSSH. `Match exec` is never
 * evaluated (no shell from a config file).
 */
export class SshConfigResolver {
  readonly #cfg: SSHConfigFile | null;
  readonly #defaultUser: string;
  readonly #identityFiles: string[];

  constructor(opts: { text?: string | undefined; defaultUser: string; identityFiles: string[] }) {
    this.#cfg = opts.text === undefined ? null : SSHConfigFile.parse(opts.text);
    this.#defaultUser = opts.defaultUser;
    this.#identityFiles = opts.identityFiles;
  }

  static fromFile(file: string | undefined, defaultUser: string, identityFiles: string[]): SshConfigResolver {
    if (file === undefined) return new SshConfigResolver({ defaultUser, identityFiles });
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new SshSetupError('ERR_REMOTE_SSH_CONFIG', `cannot read ssh_config ${file}: ${(err as Error).message}`,
        'fix ssh.sshConfig in the config, or remove it to connect without an ssh_config', err);
    }
    return new SshConfigResolver({ text, defaultUser, identityFiles });
  }

  resolve(alias: string, override: { user?: string | undefined; port?: number | undefined } = {}): HostTarget {
    const c: Record<string, string | string[]> = this.#cfg ? this.#cfg.compute(alias, { ignoreCase: true, matchExec: false }) : {};
    const hostname = (first(c.hostname) ?? alias).replaceAll('%h', alias);
    const portStr = first(c.port);
    const port = override.port ?? (portStr !== undefined ? Number(portStr) : 22);
    const user = override.user ?? first(c.user) ?? this.#defaultUser;
    const idf = c.identityfile;
    const fromCfg = (Array.isArray(idf) ? idf : idf === undefined ? [] : [idf]).map(expandHome);
    const identityFiles = [...new Set([...fromCfg, ...this.#identityFiles])];
    const pj = first(c.proxyjump);
    const proxyJump = pj === undefined || pj.toLowerCase() === 'none' ? [] : pj.split(',').map(parseJump);
    const hka = first(c.hostkeyalias);
    const names = hka !== undefined ? [hka] : [...new Set([lookupNameLocal(hostname, port), lookupNameLocal(alias, port)])];
    return { alias, hostname, port, user, identityFiles, proxyJump, knownHostsNames: names };
  }
}

function lookupNameLocal(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}
