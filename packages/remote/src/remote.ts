import { randomUUID } from 'node:crypto';
import { cutScript, displayCommand, renderCommand } from './command.js';
import type { SshConfig } from './config.js';
import { defaultSshConfig } from './ssh-defaults.js';
import { NoHostsError, RebootBaselineError, RebootTimeoutError, RunOptionsError } from './errors.js';
import { HostKeyStore } from './known-hosts.js';
import { NodeSet } from './nodeset.js';
import { OpenSshTransport } from './openssh.js';
import { SshPool } from './pool.js';
import { checkRunInput, schedule, type PreparedCommand } from './scheduler.js';
import { SshConfigResolver } from './ssh-config.js';
import type { CommandSpec, HostResult, RunOptions, RunReport, Transport } from './types.js';

export interface RemoteHooks {
  dryRun?: boolean;
  log?: (line: string) => void;
  /** Awaited before non-safe commands run (never in dry-run): the runner takes host locks here. */
  beforeRun?: (hosts: string[], commands: CommandSpec[]) => Promise<void>;
  /**
   * Every command about to run or be skipped (audit log, dry-run plan). `safe`: a read-only command
   * (`isSafe`), which runs in dry-run too and changes nothing.
   */
  onCommand?: (e: { hosts: string[]; cmd: string; dryRun: boolean; safe: boolean }) => void;
  /**
   * Give each non-safe command a cut token (`env GALLEY_CUT=…`) so that abortAll() can stop its
   * processes even where sshd ignores the SSH signal request. The runner sets it; off by default
   * (the command sent is then exactly the one rendered).
   */
  cuttable?: boolean;
}

export interface RemoteOptions extends RemoteHooks {
  /** Replace SSH (unit tests: `FakeTransport` from @galley/remote/testing). */
  transport?: Transport;
}

interface Shared {
  cfg: SshConfig;
  transport: Transport | null;
  /** A transport given by the caller (tests): hosts are not resolved through ssh_config up front. */
  injected: boolean;
  factory: () => Transport;
  /** ssh_config, read once per Remote (and its views). */
  resolver?: SshConfigResolver;
  /** The host-key check, once per Remote; trustHostKey() changes it for this process only. */
  hostKeys?: HostKeyStore;
  /** Every run in flight (all views): what abortAll() stops, with the cut token of its commands. */
  inFlight: Map<AbortController, { hosts: string[]; token: string | undefined; sudo: boolean }>;
}

/** Set by `with()` for the constructor it calls: views share the pool without a public parameter. */
let adopt: Shared | null = null;

/** Spicerack's reboot batch_sleep. */
export const DEFAULT_REBOOT_SLEEP_MS = 180_000;

const BOOT_ID_CMD: CommandSpec = { argv: ['cat', '/proc/sys/kernel/random/boot_id'], timeoutMs: 10_000 };
const UPTIME_CMD: CommandSpec = { argv: ['cat', '/proc/uptime'], timeoutMs: 10_000 };

/**
 * Batched command execution over SSH with Cumin's semantics. Construction opens nothing;
 * connections are made on first use, pooled per host and closed by `close()`.
 */
export class Remote {
  readonly #shared: Shared;
  readonly #hooks: RemoteHooks;

  constructor(cfg: SshConfig | undefined, opts: RemoteOptions = {}) {
    const { transport, ...hooks } = opts;
    this.#hooks = hooks;
    if (adopt !== null) {
      this.#shared = adopt;
      adopt = null;
      return;
    }
    const full = cfg ?? defaultSshConfig();
    this.#shared = {
      cfg: full,
      transport: transport ?? null,
      injected: transport !== undefined,
      inFlight: new Map(),
      factory: () =>
        full.transport === 'openssh'
          ? new OpenSshTransport({ cfg: full, resolver: this.resolver, log: (l) => this.#log(l) })
          : new SshPool({ cfg: full, resolver: this.resolver, knownHosts: this.hostKeys, log: (l) => this.#log(l) }),
    };
  }

  /** The one ssh_config resolver of this Remote (ssh.sshConfig is `ssh -F`; OpenSSH's files without it). */
  get resolver(): SshConfigResolver {
    return (this.#shared.resolver ??= SshConfigResolver.fromSsh(this.#shared.cfg));
  }

  /** The one host-key check of this Remote (known_hosts files per host, accept-new, trusted keys). */
  get hostKeys(): HostKeyStore {
    return (this.#shared.hostKeys ??= new HostKeyStore({ log: (l) => this.#log(l) }));
  }

  get dryRun(): boolean {
    return this.#hooks.dryRun ?? false;
  }

  /** A view sharing this one's connection pool, with other hooks (the runner binds dry-run this way). */
  with(opts: Partial<RemoteHooks>): Remote {
    adopt = this.#shared;
    try {
      return new Remote(this.#shared.cfg, { ...this.#hooks, ...opts });
    } finally {
      adopt = null;
    }
  }

  get transport(): Transport {
    this.#shared.transport ??= this.#shared.factory();
    return this.#shared.transport;
  }

  #log(line: string): void {
    this.#hooks.log?.(line);
  }

  async run(hosts: string[] | NodeSet, commands: CommandSpec[], opts: RunOptions = {}): Promise<RunReport> {
    return this.#run(hosts, commands, opts, false);
  }

  async #run(hosts: string[] | NodeSet, commands: CommandSpec[], opts: RunOptions, disconnectIsSuccess: boolean): Promise<RunReport> {
    const list = hosts instanceof NodeSet ? hosts.hosts() : [...new Set(hosts)];
    if (list.length === 0) throw new NoHostsError();
    if (commands.length === 0) throw new RunOptionsError('no commands to run', 'pass at least one command');
    const set = NodeSet.fromHosts(list);
    const displays = commands.map((c) => (c.sudo ? `sudo ${displayCommand(c)}` : displayCommand(c)));
    // Bad options are refused before any hook (a dry-run fails as the real run would; no host lock is taken).
    checkRunInput(commands, opts, (c) => displays[commands.indexOf(c)] ?? displayCommand(c));
    const skip = this.dryRun && opts.isSafe !== true;
    for (const cmd of displays) this.#hooks.onCommand?.({ hosts: list, cmd, dryRun: skip, safe: opts.isSafe === true });
    if (skip) {
      for (const cmd of displays) {
        this.#log(`DRY-RUN: would run '${cmd}' on ${list.length} hosts: ${set.toString()}`);
      }
      const results: HostResult[] = list.map((host) => ({
        host,
        ok: true,
        exitCode: null,
        stdout: '',
        stderr: '',
        durationMs: 0,
        failure: 'skipped-dry-run',
        message: 'not run: dry-run',
        commands: [],
      }));
      return { status: 'succeeded', exitCode: 0, results, groups: [], notRun: [] };
    }
    // Before any lock or command: hosts the transport can never verify (ssh2 and host certificates).
    this.transport.preflight?.(list);
    // ssh_config problems (a syntax error, Match exec, StrictHostKeyChecking no; ProxyCommand on
    // ssh2, in its preflight) are refused before any lock is taken or command runs, not host by host mid-run.
    if (!this.#shared.injected) for (const h of list) this.resolver.resolve(h);
    if (opts.isSafe !== true) await this.#hooks.beforeRun?.(list, commands);
    const cfg = this.#shared.cfg;
    // A read-only run is never cut: only changes carry the token abortAll() finds them by.
    const cutToken = opts.isSafe === true || this.#hooks.cuttable !== true ? undefined : randomUUID().replace(/-/g, '').slice(0, 16);
    const prepared: PreparedCommand[] = commands.map((c, i) => {
      const timeoutMs = c.timeoutMs ?? cfg.commandTimeoutMs;
      return {
        display: displays[i] ?? '',
        rendered: renderCommand(c, { timeoutMs, cutToken }),
        timeoutMs,
        okCodes: c.okCodes ?? [0],
        render: (ms: number) => renderCommand(c, { timeoutMs: ms, cutToken }),
      };
    });
    this.#log(`Executing commands [${displays.map((d) => `'${d}'`).join(', ')}] on ${list.length} hosts: ${set.toString()}`);
    // One controller per run, in the shared set: abortAll() reaches runs whose caller passed no signal.
    const ac = new AbortController();
    const follow = (): void => ac.abort(opts.signal?.reason);
    if (opts.signal?.aborted) follow();
    opts.signal?.addEventListener('abort', follow, { once: true });
    this.#shared.inFlight.set(ac, { hosts: list, token: cutToken, sudo: commands.some((c) => c.sudo === true) });
    try {
      return await schedule({
        hosts: list,
        commands: prepared,
        transport: this.transport,
        options: { ...opts, signal: ac.signal },
        fanout: cfg.concurrency,
        disconnectIsSuccess,
      });
    } finally {
      this.#shared.inFlight.delete(ac);
      opts.signal?.removeEventListener('abort', follow);
    }
  }

  /**
   * Stop every command running through this Remote (all views), now: each exec channel gets the
   * SSH TERM signal (sshd kills the remote process group; `timeout` groups are killed with it),
   * and the runs end with `why` as each host's message. Resolves when they have all ended, or
   * after `waitMs`. For the runner's hard stop (a second Ctrl+C): nothing is left running remotely.
   */
  async abortAll(why: string, waitMs = 3000): Promise<number> {
    const runs = [...this.#shared.inFlight];
    for (const [ac] of runs) ac.abort(new Error(why));
    const end = Date.now() + waitMs;
    while (this.#shared.inFlight.size && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    // sshd signals the session's process group only when it can (OpenSSH ≥ 7.9 running as root):
    // the processes carrying each run's token are stopped from a new channel too, on every host.
    const cuts = runs.flatMap(([, r]) =>
      r.token === undefined ? [] : r.hosts.map((host) => ({ host, command: cutScript(r.token!, r.sudo) })),
    );
    await Promise.all(
      cuts.map(async (c) => {
        const out = await this.transport
          .exec({ ...c, timeoutMs: 5000 })
          .catch((e: unknown) => ({ failure: 'unreachable', message: String(e) }));
        if (out.failure !== undefined) this.#log(`${c.host}: stopping the cut command's processes failed: ${out.message ?? out.failure}`);
      }),
    );
    return runs.length;
  }

  /**
   * From now on, accept exactly this public key (`ssh-ed25519 AAAA…`) for the host in this process
   * (e.g. after a reinstall, the key the provisioner vouches for); the old key is no longer
   * accepted and a pooled connection to the host is dropped. known_hosts files are not written.
   */
  trustHostKey(host: string, publicKey: string): void {
    if (this.dryRun) {
      this.#log(`DRY-RUN: would trust the host key ${publicKey.split(/\s+/).slice(0, 2).join(' ').slice(0, 40)}… for ${host}`);
      return;
    }
    const t = this.resolver.resolve(host);
    this.hostKeys.trust(t.knownHostsNames, publicKey);
    // OpenSSH reads known_hosts files itself: it is given a file of its own for this host.
    if (this.#shared.cfg.transport === 'openssh' && this.transport instanceof OpenSshTransport)
      this.transport.trustHostKey(host, publicKey);
    this.#shared.transport?.evict?.(host);
    this.#log(`Trusting a new host key for ${host} (${publicKey.split(/\s+/)[0] ?? ''})`);
  }

  /**
   * Reboot in batches (sync, one command); a connection dropped while `reboot` runs counts as
   * success, a host never reached does not. Between batches it sleeps `sleepMs` (default 180 s,
   * Spicerack's default: the rebooted hosts come back before the next ones go down).
   */
  async reboot(hosts: string[] | NodeSet, opts: { batchSize?: number; sleepMs?: number } = {}): Promise<RunReport> {
    const list = hosts instanceof NodeSet ? hosts.hosts() : [...new Set(hosts)];
    const batch = opts.batchSize ?? 1;
    const sleepMs = list.length === 1 ? 0 : (opts.sleepMs ?? DEFAULT_REBOOT_SLEEP_MS);
    this.#log(
      `Rebooting ${list.length} hosts in batches of ${batch} with ${(sleepMs / 1000).toFixed(1)}s of sleep in between: ${NodeSet.fromHosts(list).toString()}`,
    );
    const report = await this.#run(
      list,
      [{ argv: ['reboot'], timeoutMs: 30_000 }],
      { batchSize: batch, batchSleepMs: sleepMs, mode: 'sync' },
      true,
    );
    if (!this.dryRun) for (const h of list) this.transport.evict?.(h);
    return report;
  }

  /** Seconds since boot per reachable host. */
  async uptime(hosts: string[] | NodeSet): Promise<Map<string, number>> {
    const r = await this.run(hosts, [UPTIME_CMD], { isSafe: true, successThreshold: 0 });
    const out = new Map<string, number>();
    for (const h of r.results) {
      const v = Number.parseFloat(h.stdout.trim().split(/\s+/)[0] ?? '');
      if (h.ok && Number.isFinite(v)) out.set(h.host, v);
    }
    return out;
  }

  /** Kernel boot id per reachable host (changes on every boot). */
  async bootIds(hosts: string[] | NodeSet): Promise<Map<string, string>> {
    const r = await this.run(hosts, [BOOT_ID_CMD], { isSafe: true, successThreshold: 0 });
    const out = new Map<string, string>();
    for (const h of r.results) if (h.ok && h.stdout.trim() !== '') out.set(h.host, h.stdout.trim());
    return out;
  }

  /**
   * Poll until every host has booted since `since` (uptime shorter than the time elapsed since
   * then) or reports a boot id different from the one recorded before the reboot. Unreachable
   * hosts are expected while they reboot and are simply polled again.
   */
  async waitRebootSince(
    hosts: string[] | NodeSet,
    since: Date | Map<string, string>,
    opts: { timeoutMs?: number; pollMs?: number } = {},
  ): Promise<void> {
    const list = hosts instanceof NodeSet ? hosts.hosts() : [...new Set(hosts)];
    if (this.dryRun) {
      this.#log(`DRY-RUN: would wait for the reboot of ${list.length} hosts: ${NodeSet.fromHosts(list).toString()}`);
      return;
    }
    // A host without a recorded boot id could never be told apart from one that did not reboot
    // (it used to count as rebooted on the first poll): refuse before polling.
    if (since instanceof Map) {
      const missing = list.filter((h) => since.get(h) === undefined);
      if (missing.length > 0) throw new RebootBaselineError(missing, NodeSet.fromHosts(missing).toString());
    }
    const timeoutMs = opts.timeoutMs ?? 40 * 60_000;
    const pollMs = opts.pollMs ?? 10_000;
    const end = Date.now() + timeoutMs;
    let pending = list;
    for (;;) {
      for (const h of pending) this.transport.evict?.(h);
      if (since instanceof Map) {
        const ids = await this.bootIds(pending);
        pending = pending.filter((h) => {
          const now = ids.get(h);
          return now === undefined || now === since.get(h);
        });
      } else {
        const up = await this.uptime(pending);
        const elapsedS = (Date.now() - since.getTime()) / 1000;
        pending = pending.filter((h) => {
          const u = up.get(h);
          return u === undefined || u >= elapsedS;
        });
      }
      if (pending.length === 0) {
        this.#log(`Found reboot since ${since instanceof Map ? 'the recorded boot ids' : since.toISOString()} for ${list.length} hosts`);
        return;
      }
      if (Date.now() + pollMs > end) throw new RebootTimeoutError(pending, NodeSet.fromHosts(pending).toString(), timeoutMs);
      this.#log(`Reboot for ${NodeSet.fromHosts(pending).toString()} not found yet, keep polling for it`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** Close every pooled connection (shared by all views). */
  async close(): Promise<void> {
    const t = this.#shared.transport;
    this.#shared.transport = null;
    if (t) await t.close();
  }
}
