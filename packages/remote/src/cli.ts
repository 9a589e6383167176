import { loadConfig, type SshConfig } from '@galley/config';
import { formatError, isGalleyError, UsageError } from '@galley/errors';
import yargs from 'yargs';
import { NodeSet } from './nodeset.js';
import { Remote } from './remote.js';
import type { HostEvent, RunOptions, RunReport, Transport } from './types.js';

export interface ExecIo {
  isTTY: boolean;
  /** Ask a question on the terminal; returns the answer line. */
  ask(question: string): Promise<string>;
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
}

const USAGE = 'galley-exec [options] HOSTS COMMAND...\n\nRun COMMANDs (each a shell command line, as in Cumin) on HOSTS (ClusterShell NodeSet syntax).';

function parseArgs(argv: string[]) {
  return yargs(argv)
    .scriptName('galley-exec')
    .usage(USAGE)
    .parserConfiguration({ 'halt-at-non-option': true, 'unknown-options-as-args': false })
    .option('config', { alias: 'c', type: 'string', describe: 'config file (default: cosmiconfig search, then /etc/galley/config.yaml)' })
    .option('batch-size', { alias: 'b', type: 'string', describe: 'hosts in flight: N or N%' })
    .option('batch-sleep', { alias: 's', type: 'number', describe: 'seconds between one host finishing and the next starting' })
    .option('success-percentage', { alias: 'p', type: 'number', default: 100, describe: 'stop scheduling below this success percentage (0-100)' })
    .option('timeout', { alias: 't', type: 'number', describe: 'per-command timeout in seconds (the remote process is killed)' })
    .option('global-timeout', { type: 'number', describe: 'seconds for the whole run (exit 4 when reached)' })
    .option('mode', { alias: 'm', choices: ['sync', 'async'] as const, describe: 'sync: command by command across hosts; async: per-host pipelines' })
    .option('window', { choices: ['moving', 'lockstep'] as const, default: 'moving' as const, describe: 'moving window (Cumin) or slice by slice' })
    .option('output', { alias: 'o', choices: ['txt', 'json'] as const, default: 'txt' as const })
    .option('ignore-exit-codes', { alias: 'x', type: 'boolean', default: false, describe: 'any exit code counts as success' })
    .option('dry-run', { type: 'boolean', default: false, describe: 'resolve hosts and show what would run, run nothing' })
    .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'do not ask for confirmation (required without a TTY)' })
    .option('progress', { type: 'boolean', default: true, describe: 'live progress line on a TTY (--no-progress to disable)' })
    .demandCommand(2, 'need HOSTS and at least one COMMAND')
    .strict()
    .exitProcess(false)
    .help()
    .version(false)
    .fail((msg, err) => {
      throw err ?? new UsageError('ERR_REMOTE_EXEC_USAGE', msg, { hint: 'see galley-exec --help' });
    })
    .parseSync();
}

/** `galley-exec`: Cumin's CLI on @galley/remote. Returns what to print and the Cumin exit code. */
export async function runExec(argv: string[], io: ExecIo, deps: ExecDeps = {}): Promise<ExecResult> {
  const res: ExecResult = { exitCode: 0, stdout: [], stderr: [] };
  let remote: Remote | undefined;
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
    const hosts = NodeSet.parse(hostsArg ?? '');
    if (hosts.size === 0) throw new UsageError('ERR_REMOTE_EXEC_USAGE', `no hosts in '${hostsArg ?? ''}'`, { hint: 'e.g. galley-exec "mw[1001-1004].eqiad.wmnet" "uptime"' });
    const ssh = deps.ssh ?? (await loadConfig({ file: args.config, require: ['ssh'] })).config.ssh;
    const cfg: SshConfig | undefined = ssh;
    const log = (l: string) => res.stderr.push(l);
    remote = new Remote(cfg, { dryRun: args['dry-run'], log, ...(deps.transport ? { transport: deps.transport } : {}) });
    const json = args.output === 'json';

    if (!args['dry-run'] && !args.yes) {
      if (!io.isTTY) {
        throw new UsageError('ERR_REMOTE_EXEC_UNCONFIRMED', `refusing to run on ${hosts.size} hosts without confirmation`, {
          hint: 'not a TTY: pass --yes (or --dry-run)',
        });
      }
      const answer = (await io.ask(`${hosts.size} hosts will be targeted:\n${hosts.toString()}\nOK to proceed on ${hosts.size} hosts? Enter the number of affected hosts to confirm or "q" to quit: `)).trim();
      if (answer !== String(hosts.size)) {
        res.stderr.push(answer === 'q' ? 'Aborted by the user.' : `Got '${answer}', expected ${hosts.size}: aborting.`);
        res.exitCode = 98;
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
        io.progress(`PASS ${ok}/${total}  FAIL ${failed}/${total}  ${((ok + failed) / Math.max(s, 0.001)).toFixed(1)} hosts/s  ${s.toFixed(1)}s`);
      }
    };
    const okCodes = args['ignore-exit-codes'] ? [] : undefined;
    const timeoutMs = args.timeout !== undefined ? Math.round(args.timeout * 1000) : undefined;
    const opts: RunOptions = {
      successThreshold: args['success-percentage'] / 100,
      mode: args.mode ?? (commands.length > 1 ? 'async' : 'sync'),
      window: args.window,
      onEvent,
    };
    if (args['batch-size'] !== undefined) opts.batchSize = /%$/.test(args['batch-size']) ? (args['batch-size'] as `${number}%`) : Number(args['batch-size']);
    if (args['batch-sleep'] !== undefined) opts.batchSleepMs = Math.round(args['batch-sleep'] * 1000);
    if (args['global-timeout'] !== undefined) opts.globalTimeoutMs = Math.round(args['global-timeout'] * 1000);
    const specs = commands.map((shell) => ({
      shell, ...(okCodes ? { okCodes } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    }));
    const report = await remote.run(hosts, specs, opts);
    if (showProgress) io.progress('');
    if (json) res.stdout.push(JSON.stringify(toJson(report, args['dry-run']), null, 2));
    else renderText(report, commands, opts.successThreshold ?? 1, res);
    res.exitCode = report.exitCode;
  } catch (err) {
    res.stderr.push(formatError(err));
    res.exitCode = isGalleyError(err) ? 2 : 99;
  } finally {
    await remote?.close();
  }
  return res;
}

function toJson(r: RunReport, dryRun: boolean) {
  return {
    status: r.status, exitCode: r.exitCode, dryRun,
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
  res.stderr.push(`${pct(okCount, n)} (${okCount}/${n}) success ratio (${cmp} ${(threshold * 100).toFixed(1)}% threshold) of nodes successfully executed all commands.${r.status === 'timeout' ? ' Global timeout reached.' : ''}`);
}
