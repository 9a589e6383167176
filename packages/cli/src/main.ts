/**
 * `cookbook`: the composition root. Reads config, discovers cookbooks, builds the real clients,
 * the lock session and the sinks, runs the cookbook and returns its exit code (bin.ts exits).
 * Heavy modules (etcd3, ssh2, undici, listr2, yargs) are imported only on the paths that need them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline/promises';
import type { GalleyConfig } from '@galley/config';
import {
  AuditLog,
  type Catalog,
  CookbookNotFoundError,
  discover,
  type AnyCookbook,
  type JournalEntry,
  type Leftover,
  type LockSession,
  type ParsedCookbookArgs,
  type PlannedChange,
  type RunSink,
  executeCookbook,
  fanout,
  newRunId,
  NoLockSession,
  renderTree,
  ConfirmationError,
  ArgsError,
} from '@galley/core';
import { addSecrets, ExitCode, formatError, GalleyError, isConfigNotFoundError, secretValuesIn } from '@galley/errors';
import type { BaseClients } from './factories.js';
import { globalHelp, parseGlobals, type GlobalOptions } from './globals.js';
import { ndjsonSink, textSink, type Writer } from './render.js';
import type { ListrSink } from './listr.js';
import { terminalPrompt } from './prompt.js';
import { version } from './version.js';

export interface CliIo {
  stdout: Writer & { isTTY?: boolean | undefined; columns?: number | undefined };
  stderr: Writer;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean | undefined };
  env: NodeJS.ProcessEnv;
  /** Registers SIGINT/SIGTERM; returns an unregister function. */
  onSignal?(handler: (sig: string) => void): () => void;
  cwd?: string;
}

export interface CliDeps {
  loadConfig?(file: string | undefined): Promise<GalleyConfig>;
  clients?(cfg: GalleyConfig, dryRun: boolean): BaseClients;
}

/** A real run needs etcd for its locks; refused (exit 1) rather than run unlocked by accident. */
class NoEtcdForLocksError extends GalleyError {
  constructor(cookbook: string, noConfigFile: boolean) {
    super(
      'ERR_LOCKS_NO_ETCD',
      noConfigFile
        ? `refusing to run ${cookbook}: no config file was found, so there is no etcd to take the lock in (nor conftool to act on)`
        : `refusing to run ${cookbook}: the config has no etcd section, so no lock could be taken`,
      {
        hint: noConfigFile
          ? 'pass -c FILE or create one (.cookbookrc.yaml, cookbook.config.yaml, /etc/galley/config.yaml); `galley-lab up` generates one for the lab'
          : 'add the etcd section to the config; `-d` (dry-run) works without it; `--no-locks` runs unlocked (emergency only)',
      },
    );
  }
}

/**
 * The cookbook tree shipped with galley (cookbooks/dist next to packages/cli), used when no config
 * file exists: `cookbook -l` and `cookbook NAME --help` read nothing else, and a run without a
 * config still gets its arguments checked before it is told what it lacks.
 */
function builtinCookbookDirs(): string[] {
  const dir = fileURLToPath(new URL('../../../cookbooks/dist', import.meta.url));
  return fs.existsSync(dir) ? [dir] : [];
}

/** The config when no file exists (and none was named with -c): no client section at all. */
function noFileConfig(): GalleyConfig {
  return { conftool: { namespace: '/conftool' }, cookbooks: { dirs: builtinCookbookDirs() } };
}

/** `$XDG_STATE_HOME/galley/audit` (default `~/.local/state/galley/audit`). */
function defaultAuditDir(env: NodeJS.ProcessEnv): string {
  const state = env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(os.homedir(), '.local', 'state');
  return path.join(state, 'galley', 'audit');
}

const currentUser = () => {
  let name = 'unknown';
  try {
    name = os.userInfo().username;
  } catch {
    name = process.env.USER ?? name;
  }
  return `${name}@${os.hostname()}`;
};

async function defaultLoadConfig(file: string | undefined, cwd?: string): Promise<GalleyConfig> {
  const { loadConfig } = await import('@galley/config');
  const loaded = await loadConfig({ file, ...(cwd ? { cwd } : {}), require: ['cookbooks'] });
  const { rememberCookbookDirs } = await import('@galley/config/fast');
  rememberCookbookDirs(loaded.file, loaded.config.cookbooks?.dirs ?? []);
  return loaded.config;
}

/**
 * `-l` without validating the whole config: the cookbook dirs cached for an unchanged file, or the
 * built-in tree when there is surely no config file (cosmiconfig and zod are never loaded then).
 */
async function fastCookbookDirs(g: GlobalOptions, io: CliIo): Promise<string[] | undefined> {
  const { locateConfig, cachedCookbookDirs } = await import('@galley/config/fast');
  const file = locateConfig({ file: g.config, cwd: io.cwd });
  if (file === null) return builtinCookbookDirs();
  return file === undefined ? undefined : cachedCookbookDirs(file);
}

export async function main(argv: readonly string[], io: CliIo, deps: CliDeps = {}): Promise<number> {
  const err = (s: string) => io.stderr.write(s.endsWith('\n') ? s : `${s}\n`);
  let g: GlobalOptions;
  try {
    g = parseGlobals(argv);
  } catch (e) {
    err(formatError(e));
    return ExitCode.ARG_PARSER_FAILED;
  }
  if (g.version) {
    io.stdout.write(`cookbook ${version()}\n`);
    return 0;
  }
  if (g.help && g.cookbook === undefined) {
    io.stdout.write(`${globalHelp()}\n`);
    return 0;
  }

  if (g.list && !g.locks && g.breakLock === undefined && g.pause === undefined && g.continue === undefined && !deps.loadConfig) {
    const dirs = await fastCookbookDirs(g, io);
    if (dirs) {
      const catalog = await discover(dirs);
      for (const f of catalog.errors) err(`[WARN] skipped ${f.file}: ${f.error}`);
      io.stdout.write(`${renderTree(catalog, { prefix: g.cookbook ?? '', verbose: g.verbose })}\n`);
      return 0;
    }
  }

  let cfg: GalleyConfig;
  let noConfigFile = false;
  try {
    cfg = deps.loadConfig ? await deps.loadConfig(g.config) : await defaultLoadConfig(g.config, io.cwd);
  } catch (e) {
    // No file anywhere (and none named): the built-in tree. Listing and help need nothing more; a
    // run is told what it lacks when it needs it (etcd for its lock, a client's section).
    if (g.config !== undefined || !isConfigNotFoundError(e)) {
      err(formatError(e));
      return ExitCode.FAILURE;
    }
    cfg = noFileConfig();
    noConfigFile = true;
    if (
      !g.list &&
      !g.help &&
      !g.locks &&
      g.breakLock === undefined &&
      g.pause === undefined &&
      g.continue === undefined &&
      !g.args.some((a) => a === '--help' || a === '-h')
    ) {
      err(
        '[WARN] no config file found (.cookbookrc*, cookbook.config.*, /etc/galley/config.yaml; or -c FILE): the built-in cookbooks, without etcd, ssh or pybal',
      );
    }
  }
  // The config's passwords and tokens are masked by value in everything shown or stored from now on.
  addSecrets(secretValuesIn(cfg));

  if (g.report !== undefined) return report(g.report, g, cfg, io, deps);
  if (g.reportFile !== undefined) {
    err('error: --report-file needs --report RUN_ID [ERR_CLI_USAGE]\nhint: cookbook --report RUN_ID --report-file FILE');
    return ExitCode.ARG_PARSER_FAILED;
  }
  if (g.locks || g.breakLock !== undefined) return lockAdmin(g, cfg, io, deps);
  if (g.pause !== undefined || g.continue !== undefined) return pauseAdmin(g, cfg, io, deps);

  const catalog = await discover(cfg.cookbooks?.dirs ?? []);
  const reportLoadErrors = () => {
    for (const f of catalog.errors) err(`[WARN] skipped ${f.file}: ${f.error}`);
  };

  if (g.list) {
    reportLoadErrors();
    io.stdout.write(`${renderTree(catalog, { prefix: g.cookbook ?? '', verbose: g.verbose })}\n`);
    return 0;
  }

  const name = g.cookbook ?? '';
  if (!catalog.cookbooks.has(name)) {
    if (name === '' || catalog.isGroup(name)) {
      if (io.stdin.isTTY && io.stdout.isTTY) return menu(name, catalog, g, io, deps, cfg);
      io.stdout.write(`${renderTree(catalog, { prefix: name === '' ? '' : `${name}.`, verbose: true })}\n`);
      err(`${name === '' ? 'no cookbook given' : `${name} is a group`}; not a TTY, so no menu: pick a cookbook from the list`);
      return ExitCode.NOT_FOUND;
    }
    const failed = catalog.errors.filter((f) => f.file.replace(/\.(m?js|ts)$/, '').endsWith(name.replace(/\./g, '/')));
    for (const f of failed) err(`cookbook ${name} failed to load from ${f.file}: ${f.error}`);
    err(formatError(new CookbookNotFoundError(name, catalog.suggest(name))));
    return ExitCode.NOT_FOUND;
  }
  reportLoadErrors();
  return runOne(name, g.args, catalog, g, io, deps, cfg, noConfigFile);
}

async function runOne(
  name: string,
  argv: readonly string[],
  catalog: Catalog,
  g: GlobalOptions,
  io: CliIo,
  deps: CliDeps,
  cfg: GalleyConfig,
  noConfigFile = false,
): Promise<number> {
  const err = (s: string) => io.stderr.write(s.endsWith('\n') ? s : `${s}\n`);
  let cookbook: AnyCookbook;
  try {
    cookbook = await catalog.load(name);
  } catch (e) {
    err(`cookbook ${name} failed to load: ${formatError(e)}`);
    return ExitCode.NOT_FOUND;
  }
  const owner = catalog.cookbooks.get(name)?.owner ?? 'unowned';
  let args = argv;
  const { parseCookbookArgs, cookbookHelp } = await import('./args.js');
  if (args.includes('--help') || args.includes('-h')) {
    try {
      io.stdout.write(`${await cookbookHelp(name, cookbook, owner)}\n`);
      return 0;
    } catch (e) {
      err(formatError(e));
      return ExitCode.ARG_PARSER_FAILED;
    }
  }

  // The arguments, completely, before anything else: a refused run builds no client, takes no
  // lock and announces nothing (etcd is not even connected).
  let parsed: ParsedCookbookArgs | undefined;
  let argsError: unknown;
  try {
    parsed = await parseCookbookArgs(name, cookbook, args, owner);
  } catch (e) {
    argsError = e;
    const reason = io.stdin.isTTY ? await askReason(name, e, io) : undefined;
    if (reason !== undefined) {
      try {
        args = [...args, `--reason=${reason}`];
        parsed = await parseCookbookArgs(name, cookbook, args, owner);
        argsError = undefined;
      } catch (e2) {
        argsError = e2;
      }
    }
  }

  const runId = newRunId();
  const json = g.output === 'json';
  const human: Writer = json ? io.stderr : io.stdout;
  const useListr = !json && io.stdout.isTTY === true && io.env.CI !== 'true' && argsError === undefined;
  let listr: ListrSink | undefined;
  if (useListr) {
    const { listrSink } = await import('./listr.js');
    listr = listrSink({ noColor: io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== '', out: human });
  }
  const sinks: RunSink[] = [];
  if (json) sinks.push(ndjsonSink(io.stdout));
  const q = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  const reportCommand = (id: string) => ['cookbook', ...(g.config !== undefined ? ['-c', q(g.config)] : []), '--report', id].join(' ');
  // on a TTY the text lines go through the renderer, into the block of the step they happen in
  sinks.push(textSink({ out: listr?.out ?? human, verbose: g.verbose, skipSteps: useListr, reportCommand }));
  if (listr) sinks.push(listr);
  // Every run is audited: without logs.dir, under the user's state directory (said loudly).
  const logsDir = cfg.logs?.dir ?? defaultAuditDir(io.env);
  if (!cfg.logs) err(`[WARN] no logs.dir in the config: auditing this run under ${logsDir}`);
  try {
    sinks.push(
      new AuditLog(logsDir, name, {
        onError: (e, file) => err(`[ERROR] audit log write to ${file} failed: ${e.message}; this run's audit trail is incomplete`),
      }),
    );
  } catch (e) {
    err(`[ERROR] audit log unavailable, this run is not audited: ${formatError(e)}`);
  }
  const sink = fanout(...sinks);
  const user = currentUser();

  if (argsError !== undefined) {
    // The runner reports the refusal (exit 96, or 95 for a broken declaration) before it would
    // build clients, so none is given.
    const r = await executeCookbook(
      { name, cookbook, argv: args, dryRun: g.dryRun, runId },
      {
        sink,
        makeClients: () => {
          throw new Error('no clients for a run refused at its arguments');
        },
        locks: new NoLockSession(g.dryRun),
        journal: { append: async () => undefined, read: async () => undefined },
        resolve: async () => undefined,
        parseArgs: async () => {
          throw argsError as Error;
        },
        confirm: async () => false,
        signal: new AbortController().signal,
        user,
      },
    );
    return r.exitCode;
  }

  const clients = (deps.clients ?? (await import('./factories.js')).realClients)(cfg, g.dryRun);
  let locks: LockSession;
  let journal;
  const { webhookNotifier, nonInteractiveConfirm } = await import('@galley/core');
  const { EtcdJournal, EtcdLocks, EtcdPauses } = await import('@galley/core/locks');
  let pauses: InstanceType<typeof EtcdPauses> | undefined;
  try {
    await clients.prepare();
    const etcd = cfg.etcd ? await clients.etcd() : undefined;
    if (g.noLocks) {
      locks = new NoLockSession(g.dryRun);
    } else if (!etcd) {
      // Fail closed: without etcd nothing would stop a concurrent run on the same hosts. Only an
      // explicit --no-locks runs unlocked; a dry-run writes nothing, so it may go on (loudly).
      if (!g.dryRun) throw new NoEtcdForLocksError(name, noConfigFile);
      locks = new NoLockSession(true, 'no etcd section in the config; dry-run');
    } else {
      const table = new EtcdLocks(etcd, cfg.locks ?? {});
      locks = table.session(runId, { dryRun: g.dryRun });
      pauses = new EtcdPauses(etcd, table);
    }
    journal = etcd ? new EtcdJournal(etcd) : { append: async () => undefined, read: async () => undefined };
  } catch (e) {
    err(formatError(e));
    await clients.close();
    return ExitCode.FAILURE;
  }

  const ac = new AbortController();
  let hardStop: ((code: number) => void) | undefined;
  const hardStopped = new Promise<number>((resolve) => {
    hardStop = resolve;
  });
  // What this invocation did so far, for the report of a hard stop (second signal), which cannot
  // wait for the runner's own summary.
  const startedAt = Date.now();
  const done: { plan: PlannedChange[]; leftovers: Leftover[] } = { plan: [], leftovers: [] };
  let hardStopping = false;
  let runPromise: Promise<number> | undefined;
  const unregister = io.onSignal?.((sig) => {
    if (!ac.signal.aborted) {
      err(`\n${sig}: stopping at the next safe point (run ${runId}); send it again to stop now`);
      ac.abort(new Error(sig));
    } else if (!hardStopping) {
      hardStopping = true;
      err(`\n${sig} again: stopping now (run ${runId}): stopping the remote commands, then reading conftool back`);
      void (async () => {
        // Nothing is left running remotely, and the leftovers are conftool read back (objects out
        // under this run's marker, or the marker of the run it resumes), not the cookbook's last word.
        const why = `the runner cut the connection (${sig} again)`;
        const stopped = (await clients.abortRemote?.(why).catch(() => 0)) ?? 0;
        // The cookbook sees its commands end with `why` and records it (journal, audit): a moment
        // for that, bounded, before conftool is read back.
        if (runPromise) await Promise.race([runPromise.catch(() => 0), new Promise((r) => setTimeout(r, 2500))]);
        const read = (await clients
          .outUnder?.([runId, ...(g.resume ? [g.resume] : [])])
          .catch((e: unknown) => ({ leftovers: [], error: formatError(e) }))) ?? { leftovers: [] };
        const cut = { stopped, ...read };
        const leftovers = [...cut.leftovers];
        for (const l of done.leftovers) if (!leftovers.some((x) => x.object === l.object)) leftovers.push(l);
        await journal
          .append(runId, name, {
            type: 'hard-stop',
            signal: sig,
            at: new Date().toISOString(),
            reason: `${why}: ${cut.stopped} remote run(s) stopped, connections closed by the runner`,
            leftovers,
          })
          .catch(() => undefined);
        err(`Left in a non-final state (conftool read back${cut.error ? `, which failed: ${cut.error}` : ''}):`);
        for (const l of leftovers) err(`  - ${String(l.object)}: ${String(l.state)}`);
        if (leftovers.length === 0)
          err(
            cut.error
              ? '  (unknown: check conftool, the audit log and `cookbook --locks`)'
              : "  (nothing: no object is out under this run's marker)",
          );
        sink.event({
          type: 'run-finished',
          cookbook: name,
          exitCode: ExitCode.INTERRUPTED,
          durationMs: Date.now() - startedAt,
          dryRun: g.dryRun,
          depth: 0,
          ts: new Date().toISOString(),
          runId,
          summary: {
            status: 'ERROR',
            changes: done.plan.length,
            plan: [...done.plan],
            leftovers,
            rolledBack: false,
            interrupted: true,
            hardStop: { signal: sig, remoteRunsStopped: cut.stopped },
          },
        });
        hardStop?.(ExitCode.INTERRUPTED);
      })();
    }
  });
  const tracking: RunSink = {
    event(e) {
      if (e.type === 'leftover') {
        const { object, state, why } = e as unknown as Leftover;
        done.leftovers.push({ object, state, ...(why !== undefined ? { why } : {}) });
      } else if (e.type === 'change') {
        const { kind, host, object, from, to } = e as unknown as PlannedChange;
        done.plan.push({ kind, host, object, from, to });
      }
    },
  };
  // Questions are asked between drawn steps, once the renderer has let go of the terminal.
  const prompt = terminalPrompt(io.stdin, io.stderr);
  const confirm = async (message: string): Promise<boolean> => {
    if (g.yes) return true;
    if (!io.stdin.isTTY) return nonInteractiveConfirm(false)(message);
    await listr?.idle();
    // the input closed, or the run is being interrupted: not a yes
    const a = await prompt.ask(
      `==> ${message}\nType "go" to proceed or "abort" to interrupt the execution\n> `,
      (x) => (x === 'go' ? true : x === 'abort' ? false : undefined),
      ac.signal,
    );
    return a === true;
  };
  const choose = async <C extends string>(message: string, choices: readonly C[]): Promise<C> => {
    // --yes answers yes/no questions only: without a terminal there is nobody to pick an answer.
    if (!io.stdin.isTTY) throw new ConfirmationError(message);
    await listr?.idle();
    const names = choices.map((c) => `"${c}"`);
    const a = await prompt.ask(
      `==> ${message}\nType ${names.slice(0, -1).join(', ')} or ${names.at(-1)!}\n> `,
      (x) => choices.find((c) => c === x),
      ac.signal,
    );
    if (a === undefined) throw new ConfirmationError(`${message} (no answer: the terminal's input ended, or the run is stopping)`);
    return a;
  };
  // Spicerack's ensure_shell_is_durable: a real run from a bare terminal dies with it.
  if (!g.dryRun && io.stdin.isTTY && !io.env.TMUX && !io.env.STY) {
    sink.event({
      type: 'log',
      level: 'warn',
      msg: 'not inside tmux or screen ($TMUX and $STY unset): if this terminal goes away, the run is interrupted mid-way and may leave hosts out of traffic; run long operations inside tmux or screen',
      ts: new Date().toISOString(),
      runId,
      cookbook: name,
    });
  }
  const notifier =
    cfg.notifier && !g.dryRun
      ? webhookNotifier({
          url: cfg.notifier.webhook,
          timeoutMs: cfg.notifier.timeoutMs,
          user,
          onError: (m) => sink.event({ type: 'log', level: 'warn', msg: m, ts: new Date().toISOString(), runId }),
        })
      : undefined;

  const run = (runPromise = executeCookbook(
    { name, cookbook, argv: args, parsed, dryRun: g.dryRun, runId, resumeRunId: g.resume },
    {
      sink: fanout(sink, tracking),
      makeClients: (hooks) => clients.bind(hooks),
      locks,
      journal,
      resolve: async (n) => (catalog.cookbooks.has(n) ? catalog.load(n) : undefined),
      parseArgs: (n, c, a) => parseCookbookArgs(n, c, a, catalog.cookbooks.get(n)?.owner),
      confirm,
      choose,
      pauses,
      signal: ac.signal,
      user,
      notifier,
    },
  ).then((r) => r.exitCode));
  let code: number;
  try {
    code = await Promise.race([run, hardStopped]);
    // A hard stop under way finishes first (remote processes stopped, conftool read back), even
    // when the cookbook returned meanwhile: its exit code and report are the hard stop's.
    if (hardStopping) code = await hardStopped;
  } catch (e) {
    err(`[ERROR] runner: ${formatError(e)}`);
    code = ExitCode.EXCEPTION;
  }
  unregister?.();
  await listr?.finish();
  await locks.close().catch(() => undefined);
  await clients.close();
  return code;
}

/** `--report RUN_ID`: the picture of a run, from its audit log (and its journal in etcd when there is one). */
async function report(runId: string, g: GlobalOptions, cfg: GalleyConfig, io: CliIo, deps: CliDeps): Promise<number> {
  const err = (s: string) => io.stderr.write(`${s}\n`);
  const { writeReport } = await import('./report/index.js');
  let journal: { cookbook: string; entries: JournalEntry[] } | undefined;
  if (cfg.etcd) {
    const clients = (deps.clients ?? (await import('./factories.js')).realClients)(cfg, true);
    try {
      const { EtcdJournal } = await import('@galley/core/locks');
      journal = await new EtcdJournal(await clients.etcd()).read(runId);
    } catch (e) {
      // The audit alone still draws the run.
      err(`[WARN] the journal of run ${runId} could not be read from etcd: ${formatError(e)}`);
    } finally {
      await clients.close();
    }
  }
  try {
    const r = writeReport({
      runId,
      logsDir: cfg.logs?.dir ?? defaultAuditDir(io.env),
      file: g.reportFile,
      cwd: io.cwd ?? process.cwd(),
      pools: cfg.pybal?.pools ?? [],
      journal,
    });
    io.stdout.write(`wrote ${r.file} (run ${runId}: ${r.hosts} host(s), ${r.events} events); open it in a browser, it needs no network\n`);
    return 0;
  } catch (e) {
    err(formatError(e));
    return ExitCode.FAILURE;
  }
}

/**
 * A person at a terminal who left out a required `reason=` is asked for it (the only problem:
 * with others the run is refused listing them all). Undefined: not asked.
 */
async function askReason(name: string, err: unknown, io: CliIo): Promise<string | undefined> {
  if (!(err instanceof ArgsError) || err.problems.length !== 1 || err.problems[0]!.kind !== 'missing' || err.problems[0]!.arg !== 'reason')
    return undefined;
  const rl = readline.createInterface({ input: io.stdin, output: io.stderr as unknown as NodeJS.WritableStream });
  try {
    return (await rl.question(`${name} needs a reason (logged and announced, e.g. "rolling restart for T12345"): `)).trim();
  } catch {
    return undefined;
  } finally {
    rl.close();
  }
}

async function lockAdmin(g: GlobalOptions, cfg: GalleyConfig, io: CliIo, deps: CliDeps): Promise<number> {
  const err = (s: string) => io.stderr.write(`${s}\n`);
  if (!cfg.etcd) {
    err('error: no etcd section in the config: there are no locks to show');
    return ExitCode.FAILURE;
  }
  const clients = (deps.clients ?? (await import('./factories.js')).realClients)(cfg, false);
  try {
    const { EtcdLocks } = await import('@galley/core/locks');
    const locks = new EtcdLocks(await clients.etcd(), cfg.locks ?? {});
    if (g.breakLock !== undefined) {
      const key = g.breakLock;
      const all = await locks.list();
      const entry = all.find((e) => e.key === key || e.key === `${locks.prefix}/${key}`);
      if (!entry) {
        err(`error: no lock holder with key ${key} [ERR_LOCK_NOT_FOUND]\nhint: list them with \`cookbook --locks\``);
        return ExitCode.FAILURE;
      }
      const msg = `Remove ${entry.key} held by ${entry.owner} since ${entry.created} (run ${entry.runId})? That run loses its slot and its fenced writes will fail.`;
      let ok = g.yes;
      if (!ok) {
        if (!io.stdin.isTTY) throw new ConfirmationError(msg);
        const rl = readline.createInterface({ input: io.stdin, output: io.stderr as unknown as NodeJS.WritableStream });
        ok = (await rl.question(`==> ${msg}\nType "go" to proceed or "abort"\n> `)).trim() === 'go';
        rl.close();
      }
      if (!ok) {
        err('aborted: nothing removed');
        return ExitCode.FAILURE;
      }
      const removed = await locks.breakLock(entry.key);
      io.stdout.write(`${removed ? 'removed' : 'already gone'}: ${entry.key}\n`);
      return 0;
    }
    const list = await locks.list(g.cookbook ?? '');
    if (g.output === 'json') {
      for (const e of list) io.stdout.write(`${JSON.stringify(e)}\n`);
    } else if (list.length === 0) {
      io.stdout.write('no locks held\n');
    } else {
      for (const e of list)
        io.stdout.write(
          `${e.lock}  ${e.owner}  since ${e.created}  run ${e.runId}  (concurrency ${e.concurrency}, ttl ${e.ttl}s)  key ${e.key}\n`,
        );
    }
    return 0;
  } catch (e) {
    err(formatError(e));
    return ExitCode.FAILURE;
  } finally {
    await clients.close();
  }
}

/**
 * `--pause RUN_ID` / `--continue RUN_ID`: the pause key of a running run (core's EtcdPauses), from
 * any terminal. The operator is recorded as who paused it; the run shows it at its next safe point.
 */
async function pauseAdmin(g: GlobalOptions, cfg: GalleyConfig, io: CliIo, deps: CliDeps): Promise<number> {
  const err = (s: string) => io.stderr.write(`${s}\n`);
  const runId = (g.pause ?? g.continue)!;
  if (g.pause !== undefined && g.continue !== undefined) {
    err('error: --pause and --continue together [ERR_CLI_USAGE]\nhint: one of them, with the run id');
    return ExitCode.ARG_PARSER_FAILED;
  }
  if (!cfg.etcd) {
    err('error: no etcd section in the config: there is no run to pause or continue [ERR_LOCKS_NO_ETCD]');
    return ExitCode.FAILURE;
  }
  const clients = (deps.clients ?? (await import('./factories.js')).realClients)(cfg, false);
  try {
    const { EtcdJournal, EtcdLocks, EtcdPauses } = await import('@galley/core/locks');
    const etcd = await clients.etcd();
    const journal = new EtcdJournal(etcd);
    const pauses = new EtcdPauses(etcd, new EtcdLocks(etcd, cfg.locks ?? {}), (id) => journal.read(id));
    const print = (data: Record<string, unknown>, text: string) =>
      io.stdout.write(g.output === 'json' ? `${JSON.stringify(data)}\n` : `${text}\n`);
    if (g.pause !== undefined) {
      const r = await pauses.pause(runId, currentUser());
      print(
        { runId, ...r },
        r.status === 'paused'
          ? `run ${runId}: paused by ${r.info.by}; it stops at its next safe point (between batches, before taking a host out) and keeps its locks. \`cookbook --continue ${runId}\` lets it go on`
          : `run ${runId}: already paused by ${r.info.by} since ${r.info.since}; nothing changed`,
      );
      return 0;
    }
    const r = await pauses.continue(runId);
    print(
      { runId, ...r },
      r.status === 'continued'
        ? `run ${runId}: continued (it was paused by ${r.info!.by} since ${r.info!.since})`
        : `run ${runId}: not paused; nothing changed`,
    );
    return 0;
  } catch (e) {
    err(formatError(e));
    return ExitCode.FAILURE;
  } finally {
    await clients.close();
  }
}

/** `cookbook GROUP` on a TTY: list the group, read `name [args...]`, run it; `q` quits. A menu returns 0. */
async function menu(group: string, catalog: Catalog, g: GlobalOptions, io: CliIo, deps: CliDeps, cfg: GalleyConfig): Promise<number> {
  const rl = readline.createInterface({ input: io.stdin, output: io.stdout as unknown as NodeJS.WritableStream });
  const status = new Map<string, string>();
  try {
    for (;;) {
      const prefix = group === '' ? '' : `${group}.`;
      const items = catalog.list(prefix);
      io.stdout.write(`#--- ${catalog.groups.get(group)?.title ?? (group || 'cookbooks')} ---#\n`);
      for (const c of items)
        io.stdout.write(`[${status.get(c.name) ?? 'NOTRUN'}] ${c.name.slice(prefix.length)}: ${c.title} [${c.owner}]\n`);
      io.stdout.write('q - Quit\n');
      const line = (await rl.question('>>> ')).trim();
      if (line === 'q' || line === '') return 0;
      const [pick, ...rest] = line.split(/\s+/);
      const full = catalog.cookbooks.has(`${prefix}${pick}`) ? `${prefix}${pick}` : pick!;
      if (!catalog.cookbooks.has(full)) {
        io.stdout.write('==> Invalid input <==\n');
        continue;
      }
      rl.pause();
      const code = await runOne(full, rest, catalog, g, io, deps, cfg);
      rl.resume();
      status.set(full, code === 0 ? 'PASS' : 'FAIL');
    }
  } finally {
    rl.close();
  }
}
