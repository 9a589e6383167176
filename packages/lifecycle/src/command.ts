import { execFile } from 'node:child_process';
import type { RecorderShared } from './base.js';
import { NotConfiguredError, ProvisionerError } from './errors.js';
import { parsePublicKey } from './keys.js';
import { ProvisionerClient, type ProvisionerTransport } from './provisioner.js';
import type { LifecycleHooks, PowerState } from './types.js';

export interface CommandProvisionerConfig {
  reinstall: string[];
  powerOn?: string[] | undefined;
  powerOff?: string[] | undefined;
  powerCycle?: string[] | undefined;
  powerStatus?: string[] | undefined;
  hostKey?: string[] | undefined;
  /** Run the commands over SSH on this management host (through `SshRunner`) instead of locally. */
  via?: string | undefined;
  /** Per command (default 10 minutes). */
  timeoutMs?: number | undefined;
}

/**
 * What the SSH mode needs from @galley/remote: `Remote` satisfies it (this package does not depend
 * on @galley/remote; whoever builds the clients hands one in, see fromConfig). argv elements are
 * quoted for the remote shell by the runner, never joined as shell text here.
 */
export interface SshRunner {
  run(
    hosts: string[],
    commands: { argv: string[]; timeoutMs?: number }[],
    opts?: { isSafe?: boolean },
  ): Promise<{
    results: readonly {
      host: string;
      ok: boolean;
      exitCode: number | null;
      stdout: string;
      stderr: string;
      failure?: string;
      message?: string;
    }[];
  }>;
}

/**
 * Substitute `{host}`/`{os}` inside each template element. A value never becomes more than the one
 * element it sits in (no shell, no word splitting), so a host name cannot inject arguments.
 */
export function expandArgv(template: readonly string[], vars: Record<string, string>): string[] {
  return template.map((el) =>
    el.replace(/\{(\w+)\}/g, (whole, name: string) => {
      const v = vars[name];
      if (v === undefined)
        throw new ProvisionerError(`unknown placeholder ${whole} in command template ${JSON.stringify(template)}`, {
          hint: `placeholders: ${Object.keys(vars)
            .map((k) => `{${k}}`)
            .join(', ')}`,
        });
      return v;
    }),
  );
}

const SAFE_VALUE = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

type Op = 'reinstall' | 'powerOn' | 'powerOff' | 'powerCycle' | 'powerStatus' | 'hostKey';

/**
 * Runs the site's own tools (PXE, IPMI, Redfish wrappers…) as local commands via execFile, or with
 * `via:` on a management host over SSH (the `ssh` runner, e.g. a @galley/remote `Remote`).
 */
export class CommandTransport implements ProvisionerTransport {
  readonly kind = 'command';
  readonly #cfg: CommandProvisionerConfig;
  readonly #ssh: SshRunner | undefined;

  constructor(cfg: CommandProvisionerConfig, ssh?: SshRunner) {
    this.#cfg = cfg;
    this.#ssh = ssh;
  }

  /** The SSH mode without a runner cannot run anything: refused up front (cookbooks check this in prepare). */
  async ready(): Promise<void> {
    if (this.#cfg.via !== undefined) this.#runner();
  }

  async close(): Promise<void> {
    // nothing held open
  }

  #runner(): SshRunner {
    if (!this.#ssh) {
      throw new ProvisionerError(
        `the command provisioner runs its commands on ${this.#cfg.via ?? '?'} over SSH (via:), but no SSH runner was given to it`,
        {
          hint: 'build the clients with fromConfig(cfg, hooks, { ssh: remote }) (a @galley/remote Remote); the cookbook CLI does',
        },
      );
    }
    return this.#ssh;
  }

  get callTimeoutMs(): number {
    return this.#cfg.timeoutMs ?? 600_000;
  }

  #template(op: Op): string[] {
    const t = this.#cfg[op];
    if (!t || t.length === 0) throw new NotConfiguredError('provisioner', op);
    return t;
  }

  async #exec(op: Op, vars: Record<string, string>): Promise<string> {
    for (const [k, v] of Object.entries(vars)) {
      // Leading dashes or spaces in a host/os would still be one argv element, but an option to most tools.
      if (!SAFE_VALUE.test(v))
        throw new ProvisionerError(`refusing ${op}: ${k}=${JSON.stringify(v)} is not a plain name`, {
          hint: 'host and os must be names like mw1001.eqiad.wmnet / bookworm',
        });
    }
    const argv = expandArgv(this.#template(op), vars);
    const timeout = this.callTimeoutMs;
    if (this.#cfg.via !== undefined) return this.#execVia(this.#cfg.via, op, argv, vars.host ?? '?', timeout);
    const [file, ...args] = argv;
    return new Promise((resolve, reject) => {
      execFile(file!, args, { timeout, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) {
          const what = (err as { killed?: boolean }).killed
            ? `timed out after ${timeout} ms`
            : `failed: ${err.message.split('\n')[0] ?? ''}`;
          reject(
            new ProvisionerError(
              `provisioner ${op} for ${vars.host ?? '?'} (${[file, ...args].join(' ')}) ${what}${stderr.trim() ? `\n${stderr.trim()}` : ''}`,
              { cause: err },
            ),
          );
        } else resolve(stdout);
      });
    });
  }

  async #execVia(via: string, op: Op, argv: string[], host: string, timeoutMs: number): Promise<string> {
    // isSafe: this client already keeps writes out of dry-run (Recorder.write) and the runner
    // checks them against the target host's lock (onAction); the management host is not a host
    // the run locks, so the runner's remote hooks must not treat it as one.
    const report = await this.#runner().run([via], [{ argv, timeoutMs }], { isSafe: true });
    const r = report.results.find((x) => x.host === via) ?? report.results[0];
    if (r?.ok) return r.stdout;
    const what = !r
      ? 'did not run'
      : r.failure === 'timeout'
        ? `timed out after ${timeoutMs} ms`
        : r.failure !== undefined && r.failure !== 'exit-code'
          ? `failed (${r.failure}${r.message ? `: ${r.message}` : ''})`
          : `failed: exit code ${r.exitCode ?? '?'}`;
    const stderr = r?.stderr.trim() ?? '';
    throw new ProvisionerError(`provisioner ${op} for ${host} (on ${via}: ${argv.join(' ')}) ${what}${stderr ? `\n${stderr}` : ''}`, {
      hint: `check the command on ${via} and that galley can reach it over SSH (ssh: section)`,
    });
  }

  async reinstall(host: string, os: string): Promise<void> {
    await this.#exec('reinstall', { host, os });
  }

  async powerOff(host: string): Promise<void> {
    await this.#exec('powerOff', { host });
  }

  async powerOn(host: string): Promise<void> {
    await this.#exec('powerOn', { host });
  }

  async powerCycle(host: string): Promise<void> {
    await this.#exec('powerCycle', { host });
  }

  async powerStatus(host: string): Promise<PowerState> {
    const out = (await this.#exec('powerStatus', { host })).trim().toLowerCase();
    if (/\boff\b/.test(out)) return 'off';
    if (/\bon\b/.test(out)) return 'on';
    return 'unknown';
  }

  async hostKey(host: string): Promise<string> {
    const out = await this.#exec('hostKey', { host });
    const key = parsePublicKey(out);
    if (!key)
      throw new ProvisionerError(`provisioner hostKey for ${host} printed no SSH public key`, {
        hint: 'the hostKey command must print a line like "ssh-ed25519 AAAA…"',
      });
    return key;
  }
}

/** `provisioner: {type: command}`: the generic provisioner over a CommandTransport. */
export class CommandProvisioner extends ProvisionerClient {
  constructor(cfg: CommandProvisionerConfig, hooks: LifecycleHooks = {}, shared?: RecorderShared, ssh?: SshRunner) {
    super(new CommandTransport(cfg, ssh), hooks, shared);
  }
}
