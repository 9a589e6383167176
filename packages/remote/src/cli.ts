import fs from 'node:fs';
import { formatError, isGalleyError, UsageError } from '@galley/errors';
import yargs from 'yargs';
import { dumpConfig } from './dump-config.js';
import { RunOptionsError } from './errors.js';
import type { SshConfig } from './config.js';
import { Groups, needLoader, type RemoteConfigLoader } from './groups.js';
import { NodeSet } from './nodeset.js';
import { resolveHostQuery } from './query.js';
import { Remote } from './remote.js';
import { MAX_DURATION_MS, resolveBatchSize } from './scheduler.js';
import type { HostEvent, RunOptions, RunReport, Transport } from './types.js';

export interface ExecIo {
  isTTY: boolean;
  /** Ask a question on the terminal; returns the answer line (rejects when the signal aborts). */
  ask(question: string, signal?: AbortSignal): Promise<string>;
  /** Live progress (stderr, TTY only). */
  progress(line: string): void;
}

export interface ExecResult {
  exitCode: number;
  stdout: string[];
  stderr: string[];
}

export interface ExecDeps {
  /** Tests inject a transport or a config; normal runs read the config file. */
  transport?: Transport;
  ssh?: SshConfig;
  /** Host groups and aliases (default: the config's groups section, conftool through its etcd). */
  groups?: Groups;
  /** Aborted on Ctrl+C / SIGTERM (@galley/cli's galley-exec-bin.ts): scheduling stops, running commands are ended, the partial report is printed. */
  signal?: AbortSignal;
  /** Read the config file (-c, else the search); needed unless `ssh` is given. The binary passes @galley/config's loader. */
  loadConfig?: RemoteConfigLoader;
}

/** Cumin's code for an interrupted run and for "no" at the confirmation prompt. */
export const EXIT_INTERRUPTED = 98;

const USAGE =
  'galley-exec [options] HOSTS COMMAND...\n\nRun COMMANDs (each a shell command line, as in Cumin) on HOSTS: a ClusterShell NodeSet expression\n' +
  "('mw[1001-1010].eqiad.wmnet!mw1005.eqiad.wmnet', '@group', '@conftool:dc=eqiad,cluster=jobrunner') or a Cumin query\n" +
  "over them ('D{mw[1301-1304].eqiad.wmnet} and not D{mw1302.eqiad.wmnet}', 'A:alias', and, or, and not, xor, parentheses).\n" +
  'Options may come anywhere (as in Cumin); a COMMAND that starts with "-" must follow "--".';

/** `galley-exec --version` (Cumin has one): this package's version, read when asked. */
function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function parseArgs(argv: string[]) {
  return (
    yargs(argv)
      .scriptName('galley-exec')
      .usage(USAGE)
      // Options are parsed anywhere, as Cumin's argparse does: with halt-at-non-option a flag typed
      // after HOSTS (`H --dry-run 'rm x'`) was sent to the hosts as a command and the rm really ran.
      // Positionals stay strings ('0755' is not 755); everything after `--` is positional.
      .parserConfiguration({ 'halt-at-non-option': false, 'unknown-options-as-args': false, 'parse-positional-numbers': false })
      .option('config', { alias: 'c', type: 'string', describe: 'config file (default: cosmiconfig search, then /etc/galley/config.yaml)' })
      .option('batch-size', { alias: 'b', type: 'string', describe: 'hosts in flight: N or N%' })
      .option('batch-sleep', { alias: 's', type: 'number', describe: 'seconds between one host finishing and the next starting' })
      .option('success-percentage', {
        alias: 'p',
        type: 'number',
        default: 100,
        describe: 'stop scheduling below this success percentage (0-100)',
      })
      .option('timeout', { alias: 't', type: 'number', describe: 'per-command timeout in seconds (the remote process is killed)' })
      .option('global-timeout', { type: 'number', describe: 'seconds for the whole run (exit 4 when reached)' })
      .option('mode', {
        alias: 'm',
        choices: ['sync', 'async'] as const,
        describe: 'sync: command by command across hosts; async: per-host pipelines',
      })
      .option('window', {
        choices: ['moving', 'lockstep'] as const,
        default: 'moving' as const,
        describe: 'moving window (Cumin) or slice by slice',
      })
      .option('output', { alias: 'o', choices: ['txt', 'json'] as const, default: 'txt' as const })
      .option('ignore-exit-codes', { alias: 'x', type: 'boolean', default: false, describe: 'any exit code counts as success' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'resolve hosts and show what would run, run nothing' })
      .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'do not ask for confirmation (required without a TTY)' })
      .option('progress', { type: 'boolean', default: true, describe: 'live progress line on a TTY (--no-progress to disable)' })
      .demandCommand(2, 'need HOSTS and at least one COMMAND')
      .strict()
      .exitProcess(false)
      .help()
      .version(packageVersion())
      .fail((msg, err) => {
        throw (
          err ??
          new UsageError('ERR_REMOTE_EXEC_USAGE', msg, {
            hint: "see galley-exec --help; quote each COMMAND as one argument (galley-exec H 'ls -l'), and put one that starts with '-' after --",
          })
        );
      })
      .parseSync()
  );
}

/** `galley-exec`: Cumin's CLI on @galley/remote. Returns what to print and the Cumin exit code. */
export async function runExec(argv: string[], io: ExecIo, deps: ExecDeps = {}): Promise<ExecResult> {
  // `-G` (before any `--`): print the ssh_config settings for a host, as ssh -G; nothing runs.
  const dd = argv.indexOf('--');
  if ((dd === -1 ? argv : argv.slice(0, dd)).includes('-G')) return dumpConfig(argv, deps.loadConfig);
  const res: ExecResult = { exitCode: 0, stdout: [], stderr: [] };
  let remote: Remote | undefined;
  let groups: Groups | undefined;
  try {
    let help = false;
    const capture: string[] = [];
    const origLog = console.log;
    let args: ReturnType<typeof parseArgs>;
    try {
      console.log = (...a: unknown[]) => {
        help = true;
        capture.push(a.map(String).join(' '));
      };
      args = parseArgs(argv);
    } finally {
      console.log = origLog;
    }
    if (help) return { exitCode: 0, stdout: capture, stderr: [] };
    const [hostsArg, ...commands] = args._.map(String);
    checkCommands(argv, commands);
    const config = deps.ssh ? undefined : await needLoader(deps.loadConfig, 'galley-exec')({ file: args.config, require: ['ssh'] });
    groups = deps.groups ?? (config ? Groups.fromConfig(config) : new Groups(undefined));
    const hosts = await resolveHostQuery(hostsArg ?? '', { groups, aliases: groups.aliases });
    if (hosts.size === 0)
      throw new UsageError('ERR_REMOTE_EXEC_USAGE', `no hosts in '${hostsArg ?? ''}'`, {
        hint: 'e.g. galley-exec "mw[1001-1004].eqiad.wmnet" "uptime"',
      });
    const ssh = deps.ssh ?? config?.ssh;
    const cfg: SshConfig | undefined = ssh;
    const log = (l: string) => res.stderr.push(l);
    remote = new Remote(cfg, { dryRun: args['dry-run'], log, ...(deps.transport ? { transport: deps.transport } : {}) });
    const json = args.output === 'json';
    // Bad values are refused before the prompt, not after the user confirmed.
    const typed = args['batch-size'];
    if (typed !== undefined && !/^\s*(\d+|\d+(\.\d+)?%)\s*$/.test(typed)) {
      // Said as typed: Number('notanumber') would be reported as "got NaN".
      throw new RunOptionsError(`-b ${typed}: batch size must be a positive integer or N%`, 'use e.g. -b 5 or -b 10%');
    }
    const batchSize = typed === undefined ? undefined : /%\s*$/.test(typed) ? (typed.trim() as `${number}%`) : Number(typed);
    resolveBatchSize(batchSize, hosts.size);
    if (!(args['success-percentage'] >= 0 && args['success-percentage'] <= 100)) {
      throw new RunOptionsError(`success percentage must be between 0 and 100, got ${args['success-percentage']}`, 'use e.g. -p 95');
    }
    // 0 is not "no timeout" (a hung command would hold its host forever); more than a day is a typo.
    for (const [flag, v, min] of [
      ['-t', args.timeout, 'gt'],
      ['-s', args['batch-sleep'], 'ge'],
      ['--global-timeout', args['global-timeout'], 'gt'],
    ] as const) {
      if (v !== undefined && !(Number.isFinite(v) && (min === 'gt' ? v > 0 : v >= 0) && v * 1000 <= MAX_DURATION_MS)) {
        throw new RunOptionsError(
          `${flag} must be a number of seconds ${min === 'gt' ? 'above 0' : 'from 0'} and at most ${MAX_DURATION_MS / 1000} (24h), got ${v}`,
          `e.g. ${flag} 30`,
        );
      }
    }

    if (!args['dry-run'] && !args.yes) {
      if (!io.isTTY) {
        throw new UsageError('ERR_REMOTE_EXEC_UNCONFIRMED', `refusing to run on ${hosts.size} hosts without confirmation`, {
          hint: 'not a TTY: pass --yes (or --dry-run)',
        });
      }
      const question = `${hosts.size} hosts will be targeted:\n${hosts.toString()}\nOK to proceed on ${hosts.size} hosts? Enter the number of affected hosts to confirm or "q" to quit: `;
      let answer: string;
      try {
        answer = (await io.ask(question, deps.signal)).trim();
      } catch (err) {
        if (!deps.signal?.aborted) throw err;
        answer = 'q';
      }
      if (answer !== String(hosts.size)) {
        res.stderr.push(answer === 'q' ? 'Aborted by the user.' : `Got '${answer}', expected ${hosts.size}: aborting.`);
        res.exitCode = EXIT_INTERRUPTED;
        return res;
      }
    }

    const total = hosts.size;
    let ok = 0;
    let failed = 0;
    const t0 = Date.now();
    const showProgress = io.isTTY && args.progress && !json;
    const onEvent = (e: HostEvent) => {
      if (e.phase === 'done') ok++;
      else if (e.phase === 'failed') failed++;
      else return;
      if (showProgress) {
        const s = (Date.now() - t0) / 1000;
        io.progress(
          `PASS ${ok}/${total}  FAIL ${failed}/${total}  ${((ok + failed) / Math.max(s, 0.001)).toFixed(1)} hosts/s  ${s.toFixed(1)}s`,
        );
      }
    };
    const okCodes = args['ignore-exit-codes'] ? [] : undefined;
    const timeoutMs = args.timeout !== undefined ? Math.round(args.timeout * 1000) : undefined;
    const opts: RunOptions = {
      successThreshold: args['success-percentage'] / 100,
      mode: args.mode ?? (commands.length > 1 ? 'async' : 'sync'),
      window: args.window,
      onEvent,
      ...(deps.signal ? { signal: deps.signal } : {}),
    };
    if (batchSize !== undefined) opts.batchSize = batchSize;
    if (args['batch-sleep'] !== undefined) opts.batchSleepMs = Math.round(args['batch-sleep'] * 1000);
    if (args['global-timeout'] !== undefined) opts.globalTimeoutMs = Math.round(args['global-timeout'] * 1000);
    const specs = commands.map((shell) => ({
      shell,
      ...(okCodes ? { okCodes } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    }));
    const report = await remote.run(hosts, specs, opts);
    if (showProgress) io.progress('');
    if (json) res.stdout.push(JSON.stringify(toJson(report, args['dry-run']), null, 2));
    else renderText(report, commands, opts.successThreshold ?? 1, res);
    res.exitCode = report.exitCode;
    if (deps.signal?.aborted) {
      // Cumin's Ctrl+C: the partial report above, this line, exit 98.
      res.stderr.push('Execution interrupted by Ctrl+c/SIGINT/Aborted: running commands were ended, the rest not started.');
      res.exitCode = EXIT_INTERRUPTED;
    }
  } catch (err) {
    res.stderr.push(formatError(err));
    res.exitCode = isGalleyError(err) ? 2 : 99;
  } finally {
    await remote?.close();
    if (!deps.groups) await groups?.close();
  }
  return res;
}

/**
 * A COMMAND that starts with '-' is taken as a command only after `--`: without it, it is almost
 * always a mistyped option (yargs' strict mode already refuses unknown ones; negative numbers
 * slip through as positionals).
 */
function checkCommands(argv: readonly string[], commands: readonly string[]): void {
  const dd = argv.indexOf('--');
  const afterDd = new Set(dd === -1 ? [] : argv.slice(dd + 1));
  for (const c of commands) {
    if (c.startsWith('-') && !afterDd.has(c)) {
      throw new UsageError('ERR_REMOTE_EXEC_USAGE', `'${c}' looks like an option, not a COMMAND`, {
        hint: `options go before COMMAND; to run a command that starts with '-', put it after --: galley-exec [options] HOSTS -- '${c}'`,
      });
    }
  }
}

function toJson(r: RunReport, dryRun: boolean) {
  return {
    status: r.status,
    exitCode: r.exitCode,
    dryRun,
    groups: r.groups.map((g) => ({ hosts: g.hosts.toString(), count: g.hosts.size, output: g.output })),
    hosts: Object.fromEntries(r.results.map((h) => [h.host, h])),
    notRun: r.notRun,
  };
}

const pct = (a: number, n: number) => `${((100 * a) / Math.max(n, 1)).toFixed(1)}%`;

/** Cumin's text report: node groups on stdout, failures and the success ratio on stderr. */
function renderText(r: RunReport, commands: string[], threshold: number, res: ExecResult): void {
  const n = r.results.length;
  for (const g of r.groups) {
    res.stdout.push('===== NODE GROUP =====', `(${g.hosts.size}) ${g.hosts.toString()}`);
    const label = commands.length === 1 ? `command '${commands[0]}'` : `commands ${commands.map((c) => `'${c}'`).join(', ')}`;
    if (g.output === '') res.stdout.push(`----- NO OUTPUT for ${label} -----`);
    else res.stdout.push(`----- OUTPUT of ${label} -----`, g.output);
  }
  if (r.groups.length > 0) res.stdout.push('================');
  const byFailure = new Map<string, string[]>();
  for (const h of r.results) {
    if (h.ok || h.failure === undefined || h.failure === 'skipped-dry-run') continue;
    const list = byFailure.get(h.failure) ?? [];
    list.push(h.host);
    byFailure.set(h.failure, list);
  }
  for (const [failure, hosts] of byFailure) {
    res.stderr.push(`${pct(hosts.length, n)} (${hosts.length}/${n}) of nodes failed (${failure}): ${NodeSet.fromHosts(hosts).toString()}`);
    for (const h of r.results.filter((x) => hosts.includes(x.host)).slice(0, 5)) res.stderr.push(`  ${h.host}: ${h.message ?? failure}`);
  }
  const okCount = r.results.filter((h) => h.ok).length;
  const cmp = okCount / Math.max(n, 1) >= threshold ? '>=' : '<';
  res.stderr.push(
    `${pct(okCount, n)} (${okCount}/${n}) success ratio (${cmp} ${(threshold * 100).toFixed(1)}% threshold) of nodes successfully executed all commands.${r.status === 'timeout' ? ' Global timeout reached.' : ''}`,
  );
}
