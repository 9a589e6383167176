/**
 * One cookbook run from the command line, in the order it happens: the arguments checked (a
 * missing reason asked for on a terminal) before anything else, the output sinks and the audit
 * log, the clients and the lock session, the signals (first: stop at a safe point; second: stop
 * now), the terminal's questions, then the runner (@galley/core executeCookbook) and the teardown.
 * main.ts dispatches here; this returns the exit code.
 */
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline/promises';
import type { GalleyConfig } from '@galley/config';
import {
  AuditLog,
  type AnyCookbook,
  type Catalog,
  type JournalStore,
  type Leftover,
  type LockSession,
  type ParsedCookbookArgs,
  type PlannedChange,
  type RunSink,
  executeCookbook,
  fanout,
  newRunId,
  NoLockSession,
  nonInteractiveConfirm,
  webhookNotifier,
  ConfirmationError,
  ArgsError,
} from '@galley/core';
import { ExitCode, formatError, GalleyError } from '@galley/errors';
import type { EtcdPauses } from '@galley/core/locks';
import type { parseCookbookArgs } from './args.js';
import type { BaseClients } from './factories.js';
import type { GlobalOptions } from './globals.js';
import type { ListrSink } from './listr.js';
import type { CliDeps, CliIo } from './main.js';
import { terminalPrompt } from './prompt.js';
import { ndjsonSink, textSink, type Writer } from './render.js';

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

/** `$XDG_STATE_HOME/galley/audit` (default `~/.local/state/galley/audit`). */
export function defaultAuditDir(env: NodeJS.ProcessEnv): string {
  const state = env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(os.homedir(), '.local', 'state');
  return path.join(state, 'galley', 'audit');
}

export const currentUser = (): string => {
  let name = 'unknown';
  try {
    name = os.userInfo().username;
  } catch {
    name = process.env.USER ?? name;
  }
  return `${name}@${os.hostname()}`;
};

export interface RunCookbookOptions {
  name: string;
  argv: readonly string[];
  catalog: Catalog;
  g: GlobalOptions;
  io: CliIo;
  deps: CliDeps;
  cfg: GalleyConfig;
  noConfigFile?: boolean;
}

type ErrLine = (s: string) => void;
type ParseCookbookArgs = typeof parseCookbookArgs;

export async function runCookbook(o: RunCookbookOptions): Promise<number> {
  const { name, catalog, g, io, deps, cfg } = o;
  const err: ErrLine = (s) => io.stderr.write(s.endsWith('\n') ? s : `${s}\n`);
  let cookbook: AnyCookbook;
  try {
    cookbook = await catalog.load(name);
  } catch (e) {
    err(`cookbook ${name} failed to load: ${formatError(e)}`);
    return ExitCode.NOT_FOUND;
  }
  const owner = catalog.cookbooks.get(name)?.owner ?? 'unowned';
  const { parseCookbookArgs, cookbookHelp } = await import('./args.js');
  if (o.argv.includes('--help') || o.argv.includes('-h')) {
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
  const { args, parsed, argsError } = await checkArgs({ name, cookbook, owner, argv: o.argv, io, parseCookbookArgs });
  const runId = newRunId();
  const { sink, listr } = await runSinks({ name, g, io, cfg, err, fancy: argsError === undefined });
  const user = currentUser();
  if (argsError !== undefined) return refusedAtArguments({ name, cookbook, args, g, runId, sink, user, argsError });

  const clients = (deps.clients ?? (await import('./factories.js')).realClients)(cfg, g.dryRun);
  const session = await openSession({ name, g, cfg, clients, runId, noConfigFile: o.noConfigFile ?? false, err });
  if (!session) return ExitCode.FAILURE;
  const { locks, journal, pauses } = session;

  const ac = new AbortController();
  const signals = new RunSignals({ name, g, runId, clients, journal, sink, err, ac });
  const unregister = io.onSignal?.((sig) => signals.onSignal(sig));
  const { confirm, choose } = terminalQuestions({ g, io, listr, signal: ac.signal });
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

  const run = executeCookbook(
    { name, cookbook, argv: args, parsed, dryRun: g.dryRun, runId, resumeRunId: g.resume },
    {
      sink: fanout(sink, signals.tracking),
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
  ).then((r) => r.exitCode);
  signals.running(run);
  let code: number;
  try {
    code = await signals.outcome(run);
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

/**
 * The cookbook's arguments parsed; a person at a terminal who left out only a required `reason=`
 * is asked for it and the arguments are parsed again with it.
 */
async function checkArgs(o: {
  name: string;
  cookbook: AnyCookbook;
  owner: string;
  argv: readonly string[];
  io: CliIo;
  parseCookbookArgs: ParseCookbookArgs;
}): Promise<{ args: readonly string[]; parsed?: ParsedCookbookArgs | undefined; argsError?: unknown }> {
  let args = o.argv;
  try {
    return { args, parsed: await o.parseCookbookArgs(o.name, o.cookbook, args, o.owner) };
  } catch (e) {
    const reason = o.io.stdin.isTTY ? await askReason(o.name, e, o.io) : undefined;
    if (reason === undefined) return { args, argsError: e };
    try {
      args = [...args, `--reason=${reason}`];
      return { args, parsed: await o.parseCookbookArgs(o.name, o.cookbook, args, o.owner) };
    } catch (e2) {
      return { args, argsError: e2 };
    }
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

/**
 * Where the run's events go: NDJSON on stdout (--output json), the text lines (through listr2's
 * renderer on a terminal, `fancy`: not for a run refused at its arguments), and the audit log —
 * every run is audited, without logs.dir under the user's state directory (said loudly).
 */
async function runSinks(o: {
  name: string;
  g: GlobalOptions;
  io: CliIo;
  cfg: GalleyConfig;
  err: ErrLine;
  fancy: boolean;
}): Promise<{ sink: RunSink; listr?: ListrSink | undefined }> {
  const { g, io, err } = o;
  const json = g.output === 'json';
  const human: Writer = json ? io.stderr : io.stdout;
  const useListr = !json && io.stdout.isTTY === true && io.env.CI !== 'true' && o.fancy;
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
  const logsDir = o.cfg.logs?.dir ?? defaultAuditDir(io.env);
  if (!o.cfg.logs) err(`[WARN] no logs.dir in the config: auditing this run under ${logsDir}`);
  try {
    sinks.push(
      new AuditLog(logsDir, o.name, {
        onError: (e, file) => err(`[ERROR] audit log write to ${file} failed: ${e.message}; this run's audit trail is incomplete`),
      }),
    );
  } catch (e) {
    err(`[ERROR] audit log unavailable, this run is not audited: ${formatError(e)}`);
  }
  return { sink: fanout(...sinks), listr };
}

/** The runner reports the refusal (exit 96, or 95 for a broken declaration) before it would build clients, so none is given. */
async function refusedAtArguments(o: {
  name: string;
  cookbook: AnyCookbook;
  args: readonly string[];
  g: GlobalOptions;
  runId: string;
  sink: RunSink;
  user: string;
  argsError: unknown;
}): Promise<number> {
  const r = await executeCookbook(
    { name: o.name, cookbook: o.cookbook, argv: o.args, dryRun: o.g.dryRun, runId: o.runId },
    {
      sink: o.sink,
      makeClients: () => {
        throw new Error('no clients for a run refused at its arguments');
      },
      locks: new NoLockSession(o.g.dryRun),
      journal: { append: async () => undefined, read: async () => undefined },
      resolve: async () => undefined,
      parseArgs: async () => {
        throw o.argsError as Error;
      },
      confirm: async () => false,
      signal: new AbortController().signal,
      user: o.user,
    },
  );
  return r.exitCode;
}

/**
 * The clients prepared, then the lock session, the journal and the pauses in etcd. Undefined (the
 * error printed, the clients closed): the run cannot start.
 */
async function openSession(o: {
  name: string;
  g: GlobalOptions;
  cfg: GalleyConfig;
  clients: BaseClients;
  runId: string;
  noConfigFile: boolean;
  err: ErrLine;
}): Promise<{ locks: LockSession; journal: JournalStore; pauses?: EtcdPauses | undefined } | undefined> {
  const { g, clients } = o;
  const { EtcdJournal, EtcdLocks, EtcdPauses } = await import('@galley/core/locks');
  try {
    await clients.prepare();
    const etcd = o.cfg.etcd ? await clients.etcd() : undefined;
    let locks: LockSession;
    let pauses: InstanceType<typeof EtcdPauses> | undefined;
    if (g.noLocks) {
      locks = new NoLockSession(g.dryRun);
    } else if (!etcd) {
      // Fail closed: without etcd nothing would stop a concurrent run on the same hosts. Only an
      // explicit --no-locks runs unlocked; a dry-run writes nothing, so it may go on (loudly).
      if (!g.dryRun) throw new NoEtcdForLocksError(o.name, o.noConfigFile);
      locks = new NoLockSession(true, 'no etcd section in the config; dry-run');
    } else {
      const table = new EtcdLocks(etcd, o.cfg.locks ?? {});
      locks = table.session(o.runId, { dryRun: g.dryRun });
      pauses = new EtcdPauses(etcd, table);
    }
    const journal: JournalStore = etcd ? new EtcdJournal(etcd) : { append: async () => undefined, read: async () => undefined };
    return { locks, journal, pauses };
  } catch (e) {
    o.err(formatError(e));
    await clients.close();
    return undefined;
  }
}

/**
 * SIGINT/SIGTERM during a run. The first asks the run to stop at its next safe point (the abort
 * signal the runner and the cookbook watch). The second stops now: the remote commands are ended,
 * conftool is read back for what is left out under this run's marker, the journal and the audit
 * get a hard-stop record, and the run's exit code is 97 even if the cookbook returned meanwhile.
 */
class RunSignals {
  /** What this invocation did so far, for the report of a hard stop, which cannot wait for the runner's own summary. */
  readonly #done: { plan: PlannedChange[]; leftovers: Leftover[] } = { plan: [], leftovers: [] };
  readonly #startedAt = Date.now();
  #hardStopping = false;
  #run: Promise<number> | undefined;
  #hardStop: ((code: number) => void) | undefined;
  readonly #hardStopped = new Promise<number>((resolve) => {
    this.#hardStop = resolve;
  });

  constructor(
    private readonly o: {
      name: string;
      g: GlobalOptions;
      runId: string;
      clients: BaseClients;
      journal: JournalStore;
      sink: RunSink;
      err: ErrLine;
      ac: AbortController;
    },
  ) {}

  /** Records the changes and leftovers the run reports, for a hard stop's report. */
  readonly tracking: RunSink = {
    event: (e) => {
      if (e.type === 'leftover') {
        const { object, state, why } = e as unknown as Leftover;
        this.#done.leftovers.push({ object, state, ...(why !== undefined ? { why } : {}) });
      } else if (e.type === 'change') {
        const { kind, host, object, from, to } = e as unknown as PlannedChange;
        this.#done.plan.push({ kind, host, object, from, to });
      }
    },
  };

  running(run: Promise<number>): void {
    this.#run = run;
  }

  /** The run's exit code, or the hard stop's. */
  async outcome(run: Promise<number>): Promise<number> {
    const code = await Promise.race([run, this.#hardStopped]);
    // A hard stop under way finishes first (remote processes stopped, conftool read back), even
    // when the cookbook returned meanwhile: its exit code and report are the hard stop's.
    return this.#hardStopping ? this.#hardStopped : code;
  }

  onSignal(sig: string): void {
    const { ac, err, runId } = this.o;
    if (!ac.signal.aborted) {
      err(`\n${sig}: stopping at the next safe point (run ${runId}); send it again to stop now`);
      ac.abort(new Error(sig));
    } else if (!this.#hardStopping) {
      this.#hardStopping = true;
      err(`\n${sig} again: stopping now (run ${runId}): stopping the remote commands, then reading conftool back`);
      void this.#stopNow(sig);
    }
  }

  async #stopNow(sig: string): Promise<void> {
    const { name, g, runId, clients, journal, sink, err } = this.o;
    // Nothing is left running remotely, and the leftovers are conftool read back (objects out
    // under this run's marker, or the marker of the run it resumes), not the cookbook's last word.
    const why = `the runner cut the connection (${sig} again)`;
    const stopped = (await clients.abortRemote?.(why).catch(() => 0)) ?? 0;
    // The cookbook sees its commands end with `why` and records it (journal, audit): a moment
    // for that, bounded, before conftool is read back.
    if (this.#run) await Promise.race([this.#run.catch(() => 0), new Promise((r) => setTimeout(r, 2500))]);
    const read = (await clients
      .outUnder?.([runId, ...(g.resume ? [g.resume] : [])])
      .catch((e: unknown) => ({ leftovers: [], error: formatError(e) }))) ?? { leftovers: [] };
    const cut = { stopped, ...read };
    const leftovers = [...cut.leftovers];
    for (const l of this.#done.leftovers) if (!leftovers.some((x) => x.object === l.object)) leftovers.push(l);
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
      durationMs: Date.now() - this.#startedAt,
      dryRun: g.dryRun,
      depth: 0,
      ts: new Date().toISOString(),
      runId,
      summary: {
        status: 'ERROR',
        changes: this.#done.plan.length,
        plan: [...this.#done.plan],
        leftovers,
        rolledBack: false,
        interrupted: true,
        hardStop: { signal: sig, remoteRunsStopped: cut.stopped },
      },
    });
    this.#hardStop?.(ExitCode.INTERRUPTED);
  }
}

/**
 * The runner's questions on the terminal: yes/no (`go` / `abort`; --yes answers them; without a
 * terminal the runner's non-interactive rule) and a pick among choices (never without a terminal).
 * Asked between drawn steps, once the renderer has let go of the terminal.
 */
function terminalQuestions(o: { g: GlobalOptions; io: CliIo; listr?: ListrSink | undefined; signal: AbortSignal }): {
  confirm: (message: string) => Promise<boolean>;
  choose: <C extends string>(message: string, choices: readonly C[]) => Promise<C>;
} {
  const { g, io, listr, signal } = o;
  const prompt = terminalPrompt(io.stdin, io.stderr);
  return {
    confirm: async (message) => {
      if (g.yes) return true;
      if (!io.stdin.isTTY) return nonInteractiveConfirm(false)(message);
      await listr?.idle();
      // the input closed, or the run is being interrupted: not a yes
      const a = await prompt.ask(
        `==> ${message}\nType "go" to proceed or "abort" to interrupt the execution\n> `,
        (x) => (x === 'go' ? true : x === 'abort' ? false : undefined),
        signal,
      );
      return a === true;
    },
    choose: async <C extends string>(message: string, choices: readonly C[]): Promise<C> => {
      // --yes answers yes/no questions only: without a terminal there is nobody to pick an answer.
      if (!io.stdin.isTTY) throw new ConfirmationError(message);
      await listr?.idle();
      const names = choices.map((c) => `"${c}"`);
      const a = await prompt.ask(
        `==> ${message}\nType ${names.slice(0, -1).join(', ')} or ${names.at(-1)!}\n> `,
        (x) => choices.find((c) => c === x),
        signal,
      );
      if (a === undefined) throw new ConfirmationError(`${message} (no answer: the terminal's input ended, or the run is stopping)`);
      return a;
    },
  };
}
