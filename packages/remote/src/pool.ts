import fs from 'node:fs';
import type { Duplex } from 'node:stream';
import type Ssh2Module from 'ssh2';
import type { Client as ClientType, ClientChannel, ConnectConfig, ParsedKey } from 'ssh2';
import type { SshConfig } from './config.js';
import { TIMEOUT_EXIT_CODES } from './command.js';
import { HostCertificateUnsupportedError } from './errors.js';
import { hostKeyAlgorithms, type HostKeyStore } from './known-hosts.js';
import { Semaphore } from './semaphore.js';
import { sleep, untilAborted } from './sleep.js';
import { SshConfigError, type HostTarget, type SshConfigResolver } from './ssh-config.js';
import type { ExecOutcome, ExecRequest, HostFailure, Transport } from './types.js';

// ssh2 (and its crypto) loads at the first connection, not with the package: a plan, `--help` or
// an argument error of anything built on Remote never pays for it.
type Ssh2 = typeof Ssh2Module;
let ssh2Module: Promise<Ssh2> | undefined;
const loadSsh2 = (): Promise<Ssh2> => (ssh2Module ??= import('ssh2').then((m) => m.default));

/**
 * The strongest algorithms ssh2 1.17 implements, strongest first. ssh2 has no post-quantum key
 * exchange (OpenSSH 9.x prefers sntrup761x25519-sha512 / mlkem768x25519-sha256): see README.
 */
export const ALGORITHMS = {
  kex: [
    'curve25519-sha256',
    'curve25519-sha256@libssh.org',
    'ecdh-sha2-nistp521',
    'ecdh-sha2-nistp384',
    'ecdh-sha2-nistp256',
    'diffie-hellman-group18-sha512',
    'diffie-hellman-group16-sha512',
    'diffie-hellman-group-exchange-sha256',
  ],
  cipher: ['aes256-gcm@openssh.com', 'chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com', 'aes256-ctr', 'aes128-ctr'],
  hmac: ['hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512', 'hmac-sha2-256'],
  compress: ['none'],
} as const;

class ConnectFailure extends Error {
  constructor(
    readonly failure: Exclude<HostFailure, 'exit-code' | 'skipped-dry-run' | 'not-run'>,
    message: string,
  ) {
    super(message);
  }
}

interface Conn {
  key: string;
  target: HostTarget;
  ready: Promise<ClientType>;
  client: ClientType | null;
  channels: Semaphore;
  active: number;
  /** Connections tunnelled through this one (it must stay open while they live). */
  dependents: number;
  idle: NodeJS.Timeout | null;
  closed: boolean;
  /** In-flight execs to fail when the connection drops. */
  onLost: Set<(why: string) => void>;
  via: Conn | null;
  /** Requests waiting for the handshake; when the last one gives up (abort), the handshake is ended. */
  waiters: number;
  /** Ends an unfinished handshake (every waiter aborted, or the pool closed). */
  connectAbort: AbortController;
}

export interface PoolOptions {
  cfg: SshConfig;
  resolver: SshConfigResolver;
  /** The one host-key check (Remote.hostKeys). */
  knownHosts: HostKeyStore;
  log?: ((line: string) => void) | undefined;
}

const RETRYABLE_HANDSHAKE = /Connection lost before handshake|ECONNRESET|read ECONNRESET|EPIPE/;

/**
 * Send the SSH "signal" channel request (RFC 4254 6.9; OpenSSH sshd killpg()s the session).
 * ClientChannel.signal() refuses once stdin is closed (it checks `writable`, and we end stdin at
 * once), so this goes to the protocol object directly (ssh2 is pinned to 1.17.0).
 */
function signalTerm(stream: ClientChannel): void {
  const ch = stream as unknown as {
    outgoing?: { id?: number; state?: string };
    _client?: { _protocol?: { signal?: (id: number, sig: string) => void } };
  };
  const id = ch.outgoing?.id;
  // 'eof': our stdin is closed (we end it at once), the channel is still open.
  if ((ch.outgoing?.state !== 'open' && ch.outgoing?.state !== 'eof') || id === undefined) return;
  try {
    ch._client?._protocol?.signal?.(id, 'TERM');
  } catch {
    // A connection going away at the same moment: the close below is all we can do.
  }
}

/** ssh2 cannot run a ProxyCommand: the host (or a jump host) is refused, pointing at the transport that can. */
function proxyCommandRefused(t: HostTarget): SshConfigError {
  return new SshConfigError(
    'ERR_REMOTE_SSH_CONFIG_UNSUPPORTED',
    `ssh_config sets ProxyCommand for ${t.alias} (${t.proxyCommand ?? ''}), which galley's ssh2 transport does not run`,
    'use ProxyJump for jump hosts, or ssh.transport: openssh, which runs the system ssh (and so the ProxyCommand)',
  );
}

/** One pooled ssh2 connection per host, bounded handshakes and channels, host keys always verified. */
export class SshPool implements Transport {
  readonly #o: PoolOptions;
  readonly #conns = new Map<string, Conn>();
  readonly #handshakes: Semaphore;
  readonly #perHostHandshakes = new Map<string, Semaphore>();
  readonly #keys = new Map<string, ParsedKey | null>();
  readonly #hostKeys: HostKeyStore;
  #closed = false;
  /** Handshakes retried after sshd dropped them (MaxStartups); for tests and the bench. */
  stats = { connects: 0, handshakeRetries: 0, channelRetries: 0, maxChannelsInUse: 0 };

  constructor(o: PoolOptions) {
    this.#o = o;
    this.#hostKeys = o.knownHosts;
    this.#handshakes = new Semaphore(o.cfg.maxHandshakes);
  }

  get size(): number {
    return this.#conns.size;
  }

  async exec(req: ExecRequest): Promise<ExecOutcome> {
    const t0 = Date.now();
    const fail = (failure: ExecOutcome['failure'], message: string): ExecOutcome => {
      const o: ExecOutcome = { exitCode: null, stdout: '', stderr: '', durationMs: Date.now() - t0, message };
      if (failure !== undefined) o.failure = failure;
      return o;
    };
    if (this.#closed) return fail('unreachable', 'connection pool is closed');
    for (let attempt = 0; ; attempt++) {
      let conn: Conn;
      try {
        conn = this.#get(req.host, req.onConnecting);
        await this.#ready(conn, req.signal);
      } catch (err) {
        if (err instanceof ConnectFailure) return fail(err.failure, err.message);
        return fail('unreachable', `${req.host}: ${(err as Error).message}`);
      }
      try {
        return await this.#execOn(conn, req, t0);
      } catch (err) {
        // The pooled connection died between checkout and exec: reconnect once.
        if (attempt === 0 && (conn.closed || /Not connected|No response/.test((err as Error).message))) {
          this.#drop(conn);
          continue;
        }
        return fail('unreachable', `${req.host}: ${(err as Error).message}`);
      }
    }
  }

  /** Hosts that known_hosts vouches for only with a @cert-authority: ssh2 has no host certificates. */
  #certOnly(t: HostTarget): boolean {
    const kh = this.#hostKeys.for(t);
    return kh.keysFor(t.knownHostsNames).length === 0 && kh.hasCertAuthorityFor(t.knownHostsNames);
  }

  preflight(hosts: readonly string[]): void {
    const targets = hosts.map((h) => this.#o.resolver.resolve(h));
    const proxied = targets.find((t) => t.proxyCommand !== undefined);
    if (proxied) throw proxyCommandRefused(proxied);
    // A KRL (or an unreadable file) would refuse every host key: say so before anything runs.
    for (const t of targets) {
      const rl = this.#hostKeys.revocationList(t);
      if (rl !== null && rl.kind !== 'keys') {
        throw new SshConfigError(
          'ERR_REMOTE_SSH_CONFIG_UNSUPPORTED',
          rl.kind === 'krl'
            ? `ssh_config sets RevokedHostKeys ${t.revokedHostKeys ?? ''} for ${t.alias}: a KRL, which galley's ssh2 transport cannot read`
            : `${t.alias}: ${rl.message}`,
          rl.kind === 'krl'
            ? 'use ssh.transport: openssh (OpenSSH reads KRLs), or list the revoked public keys one per line in that file'
            : 'fix RevokedHostKeys in ssh_config (ssh refuses the host too)',
        );
      }
    }
    const bad = hosts.filter((_h, i) => this.#certOnly(targets[i] as HostTarget));
    if (bad.length > 0)
      throw new HostCertificateUnsupportedError(
        bad,
        bad.length > 3 ? `${bad.slice(0, 3).join(', ')} and ${bad.length - 3} more hosts` : bad.join(', '),
      );
  }

  evict(host: string): void {
    const c = this.#conns.get(host);
    if (c) this.#drop(c);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#conns.values()];
    this.#conns.clear();
    // Unfinished handshakes are ended, not waited for (a silent host would hold close() for connectTimeoutMs).
    for (const c of all) if (c.client === null) c.connectAbort.abort(new Error('connection pool is closed'));
    // Tunnelled connections first, then the jump hosts they ride on.
    all.sort((a, b) => Number(a.via === null) - Number(b.via === null));
    await Promise.all(all.map((c) => this.#end(c)));
  }

  #get(key: string, onConnecting?: () => void, target?: HostTarget): Conn {
    const existing = this.#conns.get(key);
    if (existing && !existing.closed) return existing;
    const t = target ?? this.#o.resolver.resolve(key);
    if (t.proxyCommand !== undefined) throw new ConnectFailure('unreachable', proxyCommandRefused(t).message);
    const conn: Conn = {
      key,
      target: t,
      client: null,
      channels: new Semaphore(this.#o.cfg.maxChannelsPerConnection),
      active: 0,
      dependents: 0,
      idle: null,
      closed: false,
      onLost: new Set(),
      via: null,
      ready: Promise.resolve(null as unknown as ClientType),
      waiters: 0,
      connectAbort: new AbortController(),
    };
    onConnecting?.();
    conn.ready = this.#connectWithRetry(conn);
    conn.ready.catch(() => {
      conn.closed = true;
      if (this.#conns.get(key) === conn) this.#conns.delete(key);
    });
    this.#conns.set(key, conn);
    return conn;
  }

  /**
   * Wait for the connection's handshake. A request that gives up (global deadline, Ctrl+C) stops
   * waiting at once; when no other request waits for that handshake any more, it is ended (socket
   * destroyed, handshake slots freed) instead of running on for connectTimeoutMs.
   */
  async #ready(conn: Conn, signal?: AbortSignal): Promise<ClientType> {
    if (conn.client !== null) return conn.ready;
    // Every waiter counts, with a signal or not: one giving up must not end a handshake another needs.
    conn.waiters++;
    try {
      return await untilAborted(
        conn.ready,
        signal,
        () =>
          new ConnectFailure(
            'unreachable',
            `${conn.target.alias}: connection attempt aborted (${(signal?.reason as Error | undefined)?.message ?? 'aborted'})`,
          ),
      );
    } finally {
      conn.waiters--;
      if (signal?.aborted === true && conn.waiters === 0 && conn.client === null) conn.connectAbort.abort(signal.reason);
    }
  }

  async #connectWithRetry(conn: Conn): Promise<ClientType> {
    const t = conn.target;
    const signal = conn.connectAbort.signal;
    const hostKey = `${t.hostname}:${t.port}`;
    let per = this.#perHostHandshakes.get(hostKey);
    if (!per) {
      per = new Semaphore(this.#o.cfg.maxHandshakesPerHost);
      this.#perHostHandshakes.set(hostKey, per);
    }
    const perHost = per;
    for (let attempt = 1; ; attempt++) {
      try {
        // ProxyJump: a fresh tunnel per attempt (a dropped handshake takes its forwarded stream with it).
        const sock = t.proxyJump.length > 0 ? await this.#tunnel(conn) : undefined;
        return await perHost.with(() => this.#handshakes.with(() => this.#connectOnce(conn, sock), signal), signal);
      } catch (err) {
        // This attempt's tunnel is gone: the jump host no longer has to stay open for it.
        this.#releaseVia(conn);
        if (signal.aborted) {
          throw new ConnectFailure(
            'unreachable',
            `${t.alias}: connection attempt to ${t.hostname}:${t.port} aborted (${(signal.reason as Error | undefined)?.message ?? 'aborted'})`,
          );
        }
        const msg = (err as Error).message;
        // sshd's MaxStartups drops unauthenticated connections at random: back off and retry.
        if (!(err instanceof ConnectFailure) && RETRYABLE_HANDSHAKE.test(msg) && attempt < 6 && !this.#closed) {
          this.stats.handshakeRetries++;
          await sleep(50 * 2 ** attempt * (0.5 + Math.random()), signal);
          continue;
        }
        throw err instanceof ConnectFailure
          ? err
          : new ConnectFailure('unreachable', `${t.alias}: cannot connect to ${t.hostname}:${t.port}: ${msg}`);
      }
    }
  }

  /** The connection no longer rides on its jump host (tunnelled handshake failed, or it closed). */
  #releaseVia(conn: Conn): void {
    const via = conn.via;
    if (!via) return;
    conn.via = null;
    via.dependents--;
    this.#touch(via);
  }

  /** ProxyJump: a pooled connection to the last hop (itself reached through the earlier ones), then direct-tcpip to the target. */
  async #tunnel(conn: Conn): Promise<Duplex> {
    const t = conn.target;
    const hops = t.proxyJump;
    const lastHop = hops[hops.length - 1];
    if (!lastHop) throw new Error('no jump host');
    const hopTarget = this.#o.resolver.resolve(lastHop.host, { user: lastHop.user, port: lastHop.port });
    hopTarget.proxyJump = hops.slice(0, -1).length > 0 ? hops.slice(0, -1) : hopTarget.proxyJump;
    const hopKey = `${hopTarget.alias}${
      hops.length > 1
        ? ` via ${hops
            .slice(0, -1)
            .map((h) => h.host)
            .join(',')}`
        : ''
    }`;
    const via = this.#get(hopKey, undefined, hopTarget);
    let jumpClient: ClientType;
    try {
      jumpClient = await this.#ready(via, conn.connectAbort.signal);
    } catch (err) {
      const f = err instanceof ConnectFailure ? err.failure : 'unreachable';
      throw new ConnectFailure(
        f === 'hostkey' || f === 'auth' ? f : 'unreachable',
        `${t.alias}: jump host ${lastHop.host} failed: ${(err as Error).message}`,
      );
    }
    conn.via = via;
    via.dependents++;
    this.#touch(via);
    return new Promise((resolve, reject) => {
      jumpClient.forwardOut('127.0.0.1', 0, t.hostname, t.port, (err, stream) => {
        if (err) {
          this.#releaseVia(conn);
          reject(
            new ConnectFailure('unreachable', `${t.alias}: jump host ${lastHop.host} cannot reach ${t.hostname}:${t.port}: ${err.message}`),
          );
        } else resolve(stream);
      });
    });
  }

  #loadKey(utils: Ssh2['utils'], file: string): ParsedKey | null {
    if (this.#keys.has(file)) return this.#keys.get(file) ?? null;
    let parsed: ParsedKey | null = null;
    try {
      const k = utils.parseKey(fs.readFileSync(file));
      if (k instanceof Error) this.#o.log?.(`identity file ${file} skipped: ${k.message}`);
      else parsed = k;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#o.log?.(`identity file ${file} unreadable: ${(err as Error).message}`);
    }
    this.#keys.set(file, parsed);
    return parsed;
  }

  /** ssh-agent socket: none with IdentitiesOnly (ssh2 cannot restrict the agent to the identity files) or `IdentityAgent none`. */
  #agentFor(t: HostTarget): string | undefined {
    if (!this.#o.cfg.agent || t.identitiesOnly || t.identityAgent === 'none') return undefined;
    if (t.identityAgent !== undefined && t.identityAgent !== 'SSH_AUTH_SOCK') return t.identityAgent;
    return process.env.SSH_AUTH_SOCK;
  }

  async #connectOnce(conn: Conn, sock: Duplex | undefined): Promise<ClientType> {
    const { Client, utils } = await loadSsh2();
    const t = conn.target;
    const cfg = this.#o.cfg;
    const keys = t.identityFiles.map((f) => this.#loadKey(utils, f)).filter((k): k is ParsedKey => k !== null);
    const agent = this.#agentFor(t);
    const auth: unknown[] = keys.map((key) => ({ type: 'publickey', username: t.user, key }));
    if (agent) auth.push({ type: 'agent', username: t.user, agent });
    const cert = t.certificateFiles.find((f) => fs.existsSync(f));
    const known = this.#hostKeys.keysFor(t);
    let hostKeyProblem: string | null = null;
    this.stats.connects++;
    const signal = conn.connectAbort.signal;
    return new Promise((resolve, reject) => {
      const client = new Client();
      let settled = false;
      const onAbort = () => settle(new Error('handshake aborted'));
      const settle = (err: Error | null) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (err) {
          client.destroy();
          reject(err);
        } else resolve(client);
      };
      client.on('ready', () => {
        conn.client = client;
        this.#touch(conn);
        settle(null);
      });
      client.on('error', (err: Error & { level?: string }) => {
        if (!settled) {
          if (hostKeyProblem !== null) settle(new ConnectFailure('hostkey', hostKeyProblem));
          else if (known.length > 0 && /no matching host key format/i.test(err.message)) {
            // Only the recorded key types are offered: a server without any of them has changed its
            // host key (type) — a host-key problem to look at, not a network one.
            const types = [...new Set(known.map((k) => k.keyType))].join(', ');
            settle(
              new ConnectFailure(
                'hostkey',
                `${t.alias}: HOST KEY TYPE CHANGED? known_hosts has only ${types} for ${t.alias} (${t.hostname}:${t.port}) and the server offers none of these types; if the host was reinstalled, verify its new key and update known_hosts`,
              ),
            );
          } else if (err.level === 'client-authentication') {
            settle(
              new ConnectFailure(
                'auth',
                `${t.alias}: authentication as ${t.user} failed (${keys.length} identity file(s)${agent ? ' + ssh-agent' : ''} tried)`,
              ),
            );
          } else if (err.level === 'client-timeout') {
            settle(
              new ConnectFailure(
                'unreachable',
                `${t.alias}: no SSH handshake from ${t.hostname}:${t.port} within ${cfg.connectTimeoutMs} ms`,
              ),
            );
          } else settle(err);
        } else this.#o.log?.(`${t.alias}: connection error: ${err.message}`);
      });
      client.on('close', () => {
        if (!settled) {
          settle(hostKeyProblem !== null ? new ConnectFailure('hostkey', hostKeyProblem) : new Error('Connection lost before handshake'));
          return;
        }
        // A failed attempt's client closing must not mark the (retried) connection closed.
        if (conn.client !== client) return;
        conn.closed = true;
        if (this.#conns.get(conn.key) === conn) this.#conns.delete(conn.key);
        if (conn.idle) clearTimeout(conn.idle);
        this.#releaseVia(conn);
        for (const f of [...conn.onLost]) f(`connection to ${t.alias} lost while running`);
      });
      const config: ConnectConfig = {
        host: t.hostname,
        port: t.port,
        username: t.user,
        readyTimeout: t.connectTimeoutS !== undefined ? t.connectTimeoutS * 1000 : cfg.connectTimeoutMs,
        keepaliveInterval: cfg.keepaliveIntervalMs,
        keepaliveCountMax: 3,
        algorithms: {
          kex: [...ALGORITHMS.kex],
          cipher: [...ALGORITHMS.cipher],
          hmac: [...ALGORITHMS.hmac],
          compress: [...ALGORITHMS.compress],
          ...(known.length > 0 ? { serverHostKey: hostKeyAlgorithms(known.map((k) => k.keyType)) } : {}),
        } as ConnectConfig['algorithms'],
        hostVerifier: (key: Buffer) => {
          const v = this.#hostKeys.check(t, key);
          if (!v.ok) hostKeyProblem = v.message;
          return v.ok;
        },
        authHandler: auth as ConnectConfig['authHandler'],
      };
      if (sock) config.sock = sock;

      if (this.#certOnly(t)) {
        const e = new HostCertificateUnsupportedError([t.alias], t.alias);
        settle(new ConnectFailure('hostkey', `${t.alias}: ${e.message}; ${e.hint ?? ''}`));
        return;
      }
      if (cert !== undefined) {
        // Offering the plain key instead would be a different login than OpenSSH makes: say so.
        settle(
          new ConnectFailure(
            'auth',
            `${t.alias}: ssh_config gives CertificateFile ${cert}, and the ssh2 transport cannot authenticate with certificates; use ssh.transport: openssh for this host`,
          ),
        );
        return;
      }
      if (auth.length === 0) {
        settle(new ConnectFailure('auth', `${t.alias}: no usable identity (no readable IdentityFile, no ssh-agent)`));
        return;
      }
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      client.connect(config);
    });
  }

  /** Arm the idle timer when nothing uses the connection. */
  #touch(conn: Conn): void {
    if (conn.idle) {
      clearTimeout(conn.idle);
      conn.idle = null;
    }
    const idleMs = this.#o.cfg.idleTimeoutMs;
    if (conn.active === 0 && conn.dependents === 0 && idleMs > 0 && !conn.closed) {
      conn.idle = setTimeout(() => this.#drop(conn), idleMs);
      conn.idle.unref();
    }
  }

  #drop(conn: Conn): void {
    if (this.#conns.get(conn.key) === conn) this.#conns.delete(conn.key);
    void this.#end(conn);
  }

  async #end(conn: Conn): Promise<void> {
    conn.closed = true;
    if (conn.idle) clearTimeout(conn.idle);
    const c = conn.client ?? (await conn.ready.catch(() => null));
    if (!c) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        c.destroy();
        resolve();
      }, 1000);
      c.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      c.end();
    });
  }

  async #execOn(conn: Conn, req: ExecRequest, t0: number): Promise<ExecOutcome> {
    await conn.channels.acquire(req.signal);
    conn.active++;
    this.stats.maxChannelsInUse = Math.max(this.stats.maxChannelsInUse, conn.channels.inUse);
    this.#touch(conn);
    try {
      return await this.#collect(conn, req, t0);
    } finally {
      conn.active--;
      conn.channels.release();
      this.#touch(conn);
    }
  }

  async #openExec(conn: Conn, command: string, attach: (stream: ClientChannel) => void): Promise<void> {
    const client = conn.client;
    if (!client || conn.closed) throw new Error('Not connected');
    for (let attempt = 1; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          client.exec(command, (err, stream) => {
            if (err) return reject(err);
            // Attach now, synchronously: exit-status, EOF and CLOSE can arrive in the same
            // packet batch as CHANNEL_SUCCESS and are emitted before any awaiting code runs.
            attach(stream);
            resolve();
          });
        });
        return;
      } catch (err) {
        // The server refused a session (MaxSessions shared with another client): wait and retry.
        if (/Channel open failure/.test((err as Error).message) && attempt < 5 && !conn.closed) {
          this.stats.channelRetries++;
          await new Promise((r) => setTimeout(r, 100 * attempt));
          continue;
        }
        throw err;
      }
    }
  }

  async #collect(conn: Conn, req: ExecRequest, t0: number): Promise<ExecOutcome> {
    let resolveOut: (o: ExecOutcome) => void = () => undefined;
    const result = new Promise<ExecOutcome>((r) => {
      resolveOut = r;
    });
    await this.#openExec(conn, req.command, (stream) => {
      req.onRunning?.();
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let exitCode: number | null = null;
      let exitSignal: string | null = null;
      let done = false;
      const grace = 2000;
      const finish = (failure?: ExecOutcome['failure'], message?: string, lost = false) => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        conn.onLost.delete(onLost);
        req.signal?.removeEventListener('abort', onAbort);
        const o: ExecOutcome = {
          exitCode,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          durationMs: Date.now() - t0,
        };
        if (failure !== undefined) o.failure = failure;
        if (message !== undefined) o.message = message;
        if (lost) o.lostWhileRunning = true;
        resolveOut(o);
      };
      const timeoutMsg = () =>
        `${conn.target.alias}: command timed out after ${((req.timeoutMs ?? 0) / 1000).toFixed(1)}s (remote process group killed)`;
      const timer =
        req.timeoutMs !== undefined && req.timeoutMs > 0
          ? setTimeout(() => {
              stream.close();
              finish('timeout', timeoutMsg());
            }, req.timeoutMs + grace)
          : null;
      const onLost = (why: string) => finish('unreachable', why, true);
      const onAbort = () => {
        // Closing the channel alone leaves the remote command running (sshd does not HUP non-pty
        // sessions): ask sshd to SIGTERM the session's process group first (`timeout` passes it on).
        signalTerm(stream);
        stream.close();
        finish('timeout', `${conn.target.alias}: aborted`);
      };
      conn.onLost.add(onLost);
      req.signal?.addEventListener('abort', onAbort, { once: true });
      stream.on('data', (d: Buffer) => out.push(d));
      stream.stderr.on('data', (d: Buffer) => err.push(d));
      stream.on('exit', (code: number | null, signal?: string) => {
        exitCode = code;
        exitSignal = signal ?? null;
      });
      stream.on('close', () => {
        const elapsed = Date.now() - t0;
        if (
          req.timeoutMs !== undefined &&
          exitCode !== null &&
          (TIMEOUT_EXIT_CODES as readonly number[]).includes(exitCode) &&
          elapsed >= req.timeoutMs - 50
        ) {
          finish('timeout', timeoutMsg());
        } else if (exitCode === null && exitSignal !== null) {
          finish(undefined, `killed by signal ${exitSignal}`);
        } else if (exitCode === null) {
          finish(undefined, 'channel closed without an exit status');
        } else finish();
      });
      stream.end();
    });
    return result;
  }
}
