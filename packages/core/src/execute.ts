/**
 * Executes one cookbook: args → prepare → lock → START → run → rollback → END, with Spicerack's exit
 * codes. Everything observable goes out as RunEvents; the caller (CLI or test harness) supplies the
 * clients, the lock session, the journal store and the argument parser.
 */
import crypto from 'node:crypto';
import { ExitCode, addSecrets, formatError, isGalleyError, redact, redactObject } from '@galley/errors';
import type { ChangeLike, ClientHooks, Clients, NodeTags } from './clients.js';
import { cookbookArgSpec, type ParsedCookbookArgs, redactArgs, redactArgv, secretArgValues, secretArgvValues } from './args.js';
import {
  type AnyCookbook,
  type JournalEntry,
  type Leftover,
  type Logger,
  type PlannedChange,
  type Progress,
  type RunContext,
  type TaskHandle,
  isInitSuccess,
  resolveLockSpec,
} from './cookbook.js';
import { ArgsError, ConfirmationError, CookbookNotFoundError, ResumeRefusedError, WriteInPrepareError } from './errors.js';
import type { ErrorEvent, LogLevel, RunEventBody, RunSink, RunSummary } from './events.js';
import { namedLockProblem, type LockSession } from './locks/types.js';

export type { ParsedCookbookArgs };

export interface StoredJournal {
  cookbook: string;
  entries: JournalEntry[];
}
export interface JournalStore {
  append(runId: string, cookbook: string, entry: JournalEntry): Promise<void>;
  read(runId: string): Promise<StoredJournal | undefined>;
}

export interface Notifier {
  /** Never throws: failures are reported through `onError`. */
  send(line: string): Promise<void>;
}

export interface RunnerDeps {
  sink: RunSink;
  /** Builds the run's clients bound to these hooks (the CLI's factories; fakes in tests). */
  makeClients(hooks: ClientHooks): Clients;
  locks: LockSession;
  journal: JournalStore;
  /** For nested cookbooks. */
  resolve(name: string): Promise<AnyCookbook | undefined>;
  /** Throws ArgsError for bad user input (exit 96); any other error means the parser failed (95). */
  parseArgs(name: string, cookbook: AnyCookbook, argv: readonly string[]): Promise<ParsedCookbookArgs>;
  confirm(message: string): Promise<boolean>;
  /** A question with named answers on the TTY; throws ConfirmationError without one (the default). */
  choose?<C extends string>(message: string, choices: readonly C[]): Promise<C>;
  /**
   * Where `cookbook --pause RUN_ID` is read (the CLI: the pause key in etcd, @galley/core/locks'
   * EtcdPauses). Without it a run cannot be paused from another terminal.
   */
  pauses?: PauseReader | undefined;
  /** Interrupt (first SIGINT/SIGTERM). */
  signal: AbortSignal;
  /** `user@host`. */
  user: string;
  notifier?: Notifier | undefined;
  /** Called with a result of the cookbook's `ctx.output`, for callers that want it directly. */
}

/** Who paused a run from another terminal (`cookbook --pause RUN_ID`) and since when. */
export interface PauseInfo {
  runId: string;
  /** `user@host` of the operator who paused it. */
  by: string;
  /** ISO time of the pause. */
  since: string;
}

export interface PauseReader {
  /** The run's pause, or undefined when it is not paused. */
  read(runId: string): Promise<PauseInfo | undefined>;
}

/** How often a paused run looks whether it was continued. */
export const PAUSE_POLL_MS = 500;

export interface RunRequest {
  name: string;
  cookbook: AnyCookbook;
  argv: readonly string[];
  /** Already-parsed args (tests); skips `parseArgs`. */
  parsed?: ParsedCookbookArgs;
  dryRun: boolean;
  runId?: string;
  resumeRunId?: string | undefined;
  depth?: number;
  /** The top-level run's id (nested runs are paused with it): the pause key is the top run's. */
  rootRunId?: string;
}

export interface RunResult {
  runId: string;
  cookbook: string;
  exitCode: number;
  durationMs: number;
  summary: RunSummary;
}

export function newRunId(): string {
  const ts = new Date().toISOString().replace(/[-:]/g, '').slice(0, 15);
  return `${ts}-${crypto.randomBytes(3).toString('hex')}`;
}

const RESERVED = (n: number) => n >= 90 && n <= 99;

export async function executeCookbook(req: RunRequest, deps: RunnerDeps): Promise<RunResult> {
  const started = Date.now();
  const runId = req.runId ?? newRunId();
  const depth = req.depth ?? 0;
  const { name, cookbook, dryRun } = req;
  const plan: PlannedChange[] = [];
  const leftovers: Leftover[] = [];
  let rolledBack = false;
  let nestedCount = 0;

  // Every event is redacted here, once, before any sink sees it (text, TTY, NDJSON, audit): the
  // values of secret arguments and of the config's secrets, and credentials in free text.
  const send = (body: RunEventBody | { type: string; [k: string]: unknown }) => {
    deps.sink.event(redactObject({ ...body, ts: new Date().toISOString(), runId, cookbook: name }));
  };
  const errorEvent = (phase: ErrorEvent['phase'], err: unknown) => {
    send({ type: 'error', phase, code: isGalleyError(err) ? err.code : undefined, message: formatError(err) });
  };
  const mkLog = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => send({ type: 'log', level, msg, fields });
  const log: Logger = { debug: mkLog('debug'), info: mkLog('info'), warn: mkLog('warn'), error: mkLog('error') };

  const finish = (exitCode: number, status: RunSummary['status']): RunResult => {
    const summary: RunSummary = {
      status,
      changes: plan.length,
      plan: [...plan],
      leftovers: [...leftovers],
      rolledBack,
      interrupted: deps.signal.aborted,
    };
    const durationMs = Date.now() - started;
    send({ type: 'run-finished', cookbook: name, exitCode, durationMs, dryRun, depth, summary });
    return { runId, cookbook: name, exitCode, durationMs, summary };
  };

  // 1. Arguments. What is shown and stored (events, audit, START/END) has secret values redacted.
  const argSpec = cookbookArgSpec(cookbook);
  // Secret values as typed are masked wherever they appear from now on (a cookbook that logs or
  // throws one, a parse error quoting it).
  addSecrets(secretArgvValues(req.argv, argSpec));
  const shownArgv = redactArgv(req.argv, argSpec);
  let parsed: ParsedCookbookArgs;
  try {
    parsed = req.parsed ?? (await deps.parseArgs(name, cookbook, req.argv));
  } catch (err) {
    // Refused before anything: no START (not even locally), no lock, no client. The audit still
    // records who tried what (argv redacted) and every problem.
    const invalid = err instanceof ArgsError || (isGalleyError(err) && err.code === 'ERR_COOKBOOK_ARGS');
    const problems = invalid ? (err as ArgsError).problems : undefined;
    send({
      type: 'args-refused',
      cookbook: name,
      argv: shownArgv,
      dryRun,
      user: deps.user,
      depth,
      ...(problems ? { problems: [...problems] } : {}),
    });
    errorEvent('args', err);
    return finish(invalid ? ExitCode.ARGS_INVALID : ExitCode.ARG_PARSER_FAILED, 'ERROR');
  }
  addSecrets(secretArgValues(parsed.args, argSpec));
  send({
    type: 'run-started',
    cookbook: name,
    args: redactArgs(parsed.args, argSpec),
    argv: shownArgv,
    reason: parsed.reason,
    taskId: parsed.taskId,
    dryRun,
    user: deps.user,
    depth,
    resumeOf: req.resumeRunId,
  });

  // 2. Resume: the journal of an earlier run of this same cookbook.
  let resume: RunContext['resume'];
  if (req.resumeRunId !== undefined) {
    const stored = await deps.journal.read(req.resumeRunId);
    if (stored?.cookbook !== name) {
      errorEvent('args', new ResumeRefusedError(req.resumeRunId, name, stored?.cookbook));
      return finish(ExitCode.ARGS_INVALID, 'ERROR');
    }
    resume = { runId: req.resumeRunId, entries: stored.entries };
    log.info(`resuming run ${req.resumeRunId} (${stored.entries.length} journal entries)`);
  }

  // 3. The context.
  const ttlForHosts = (() => {
    try {
      return resolveLockSpec(cookbook, parsed.args).ttlSeconds;
    } catch {
      return 1800;
    }
  })();
  // prepare() runs before the cookbook lock and START: it may read, never write. The hooks refuse
  // a write, a non-safe command, a host lock or a nested run until the lock is held.
  let phase: 'prepare' | 'run' = 'prepare';
  const refuseInPrepare = (what: string) => {
    if (phase === 'prepare') throw new WriteInPrepareError(name, what);
  };
  /**
   * Host locks and named locks, one way: all of them at once (one etcd txn, all or none, so two
   * runs never deadlock on a batch), a wait reported per name with that name's holders, a busy one
   * reported in dry-run (which does not wait), held until the run ends.
   */
  const takeLocks = async (kind: string, names: readonly string[], concurrency: number, busyText: (name: string) => string) => {
    deps.locks.check();
    const results = await deps.locks.acquireMany(kind, names, {
      concurrency,
      ttlSeconds: ttlForHosts,
      onWait: (n, holders) => send({ type: 'lock', status: 'waiting', key: `${kind}/${n}`, holders }),
      // A first SIGINT stops a host-lock wait too, as it stops the cookbook-lock wait.
      signal: deps.signal,
    });
    for (const r of results) {
      if (r.busy) send({ type: 'lock', status: 'busy', key: r.key, holders: r.holders, message: busyText(r.name) });
      else if (!r.reentrant && deps.locks.enabled && !dryRun) send({ type: 'lock', status: 'acquired', key: r.key });
    }
  };
  const lockHosts = async (hosts: readonly string[]) => {
    refuseInPrepare(`locking hosts ${hosts.join(', ')}`);
    await takeLocks('hosts', hosts, 1, (host) => `host ${host} is locked by another run`);
  };
  const lock: RunContext['lock'] = async (kind, lockName, opts) => {
    // A malformed call is the cookbook's bug (plain Error, exit 99), never a lock in the wrong place.
    const problem = namedLockProblem(kind, lockName, opts.concurrency);
    if (problem !== undefined) throw new Error(`${name}: ctx.lock: ${problem} (a bug in the cookbook)`);
    refuseInPrepare(`taking the lock ${kind}/${lockName}`);
    await takeLocks(kind, [lockName], opts.concurrency, () =>
      opts.concurrency === 1
        ? `lock ${kind}/${lockName} is held by another run`
        : `lock ${kind}/${lockName} is full (concurrency ${opts.concurrency})`,
    );
  };
  const recordChange = (c: PlannedChange) => {
    plan.push(c);
    send({ type: 'change', ...c, dryRun });
  };
  const hooks: ClientHooks = {
    dryRun,
    fence: (tags: NodeTags) => deps.locks.fence([tags.name]),
    beforeWrite: async (nodes, info) => {
      refuseInPrepare(`a conftool write to ${[...new Set(nodes.map((n) => n.tags.name))].join(', ')}`);
      await deps.locks.verify();
      // Taking out never waits (ARCHITECTURE §4a): a write that only takes objects out of traffic
      // (or only records an owner) is fenced by the run's lock but not queued behind host locks
      // another run holds; putting back, and any other write, takes the host locks first.
      if (info?.takeOutOnly === true) return;
      await lockHosts(nodes.map((n) => n.tags.name));
    },
    beforeRun: async (hosts, commands) => {
      refuseInPrepare(`a non-safe command on ${hosts.join(', ')}${commands?.length ? ` (${commands.length} command(s))` : ''}`);
      await deps.locks.verify();
      await lockHosts(hosts);
    },
    // Dry-run never reaches beforeWrite/beforeRun: an intended change in prepare is refused here,
    // so a dry-run fails exactly where the real run would.
    onChange: (c: ChangeLike) => {
      refuseInPrepare(`a conftool write to ${c.tags.name} (${c.field})`);
      recordChange({ kind: 'conftool', host: c.tags.name, object: `${c.key} ${c.field}`, from: c.from, to: c.to });
    },
    onAction: (a) => {
      const what = `a ${a.client} ${a.action}${a.host !== undefined ? ` on ${a.host}` : ''}`;
      refuseInPrepare(what);
      if (dryRun || !deps.locks.enabled) return;
      deps.locks.check();
      // The hook is synchronous (it cannot take a lock): acting on a host needs its host lock
      // already held, so a cookbook that forgot ctx.lockHosts fails closed instead of acting unlocked.
      if (a.host !== undefined && !deps.locks.holds('hosts', a.host)) {
        throw new Error(
          `${name}: refusing ${what}: the run does not hold the host lock hosts/${a.host}; the cookbook must call ctx.lockHosts([host]) first (a bug in the cookbook)`,
        );
      }
    },
    onCommand: (e) => {
      // A safe (read-only) command is a read: the connection warm-up `true`, a boot id. Not a
      // change, not in the plan or summary.changes; shown at debug level (and in the audit).
      if (e.safe === true) {
        log.debug(`read: ${e.cmd} on ${e.hosts.join(',')}`);
        return;
      }
      if (e.dryRun) refuseInPrepare(`a non-safe command on ${e.hosts.join(', ')}: ${e.cmd}`);
      recordChange({ kind: 'command', host: e.hosts.join(','), object: e.cmd });
    },
    log: (line) => log.debug(line),
  };

  let taskSeq = 0;
  const mkTask = (title: string, parent?: string): TaskHandle => {
    const id = `${parent ?? 't'}.${++taskSeq}`;
    let current = title;
    let done = false;
    send({ type: 'step', id, parent, title, status: 'started' });
    const end = (status: 'succeeded' | 'failed' | 'skipped', message?: string) => {
      if (done) return;
      done = true;
      send({ type: 'step', id, parent, title: current, status, message });
    };
    return {
      id,
      subtask: (t) => mkTask(t, id),
      update: (t) => {
        current = t;
        send({ type: 'step', id, parent, title: t, status: 'updated' });
      },
      output: (line) => send({ type: 'step', id, parent, title: current, status: 'output', message: line }),
      succeed: (m) => end('succeeded', m),
      fail: (m) => end('failed', m),
      skip: (m) => end('skipped', m),
    };
  };
  const progress: Progress = { task: (title) => mkTask(title) };

  const signal = AbortSignal.any([deps.signal, deps.locks.lost]);
  let journalSeq = 0;
  const pauseId = req.rootRunId ?? runId;
  // A pause key is bound to the run's lock lease (it vanishes with the run): no locks, no pause.
  const pauses = !dryRun && deps.locks.enabled ? deps.pauses : undefined;
  let pauseReadFailed = false;
  const readPause = async (): Promise<PauseInfo | undefined> => {
    try {
      return await pauses?.read(pauseId);
    } catch (err) {
      // etcd unreadable: the lock checks before the next write stop the run if it really is gone;
      // a pause that cannot be read is said once, not waited on forever.
      if (!pauseReadFailed) log.warn(`cannot read whether run ${pauseId} was paused (${formatError(err)}); going on`);
      pauseReadFailed = true;
      return undefined;
    }
  };
  const safePoint = async (where: string): Promise<void> => {
    if (!pauses || signal.aborted) return;
    const p = await readPause();
    if (!p) return;
    const t0 = Date.now();
    log.warn(
      `PAUSED by ${p.by} since ${p.since}, ${where}: nothing new is started; the run keeps its locks. \`cookbook --continue ${pauseId}\` resumes it`,
    );
    send({ type: 'paused', by: p.by, since: p.since, at: where });
    await ctx.journal.append({ type: 'paused', by: p.by, since: p.since, where });
    while (!signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          signal.removeEventListener('abort', done);
          resolve();
        };
        const t = setTimeout(done, PAUSE_POLL_MS);
        signal.addEventListener('abort', done, { once: true });
      });
      if (signal.aborted) break;
      if ((await readPause()) === undefined) break;
    }
    if (signal.aborted) return;
    const s = Math.round((Date.now() - t0) / 1000);
    log.info(`continued (paused by ${p.by} for ${s}s)`);
    send({ type: 'continued', by: p.by, since: p.since, pausedMs: Date.now() - t0 });
    await ctx.journal.append({ type: 'continued', by: p.by, since: p.since, pausedMs: Date.now() - t0 });
  };
  const ctx: RunContext<Record<string, unknown>> = {
    args: parsed.args,
    dryRun,
    reason: parsed.reason,
    taskId: parsed.taskId,
    runId,
    cookbook: name,
    clients: deps.makeClients(hooks),
    log,
    progress,
    emit: (event) => send({ ...event }),
    output: (data, text) => send({ type: 'output', data, text }),
    signal,
    confirm: async (message) => {
      send({ type: 'log', level: 'info', msg: `confirm: ${message}` });
      const ok = await deps.confirm(message);
      send({ type: 'log', level: 'info', msg: `confirm answer: ${ok ? 'yes' : 'no'}` });
      return ok;
    },
    choose: async (message, choices) => {
      send({ type: 'log', level: 'info', msg: `question: ${message} (${choices.join('/')})` });
      if (!deps.choose) throw new ConfirmationError(message);
      const a = await deps.choose(message, choices);
      send({ type: 'log', level: 'info', msg: `answer: ${a}` });
      return a;
    },
    safePoint: (where) => safePoint(where),
    runCookbook: async (childName, childArgv = []) => {
      refuseInPrepare(`running the cookbook ${childName}`);
      const child = await deps.resolve(childName);
      if (child === undefined) {
        errorEvent('run', new CookbookNotFoundError(childName, []));
        return ExitCode.NOT_FOUND;
      }
      const r = await executeCookbook(
        {
          name: childName,
          cookbook: child,
          argv: childArgv,
          dryRun,
          runId: `${runId}-n${++nestedCount}`,
          depth: depth + 1,
          rootRunId: pauseId,
        },
        deps,
      );
      return r.exitCode;
    },
    lockHosts,
    lock,
    journal: {
      append: async (entry) => {
        const full = { ...entry, seq: ++journalSeq, at: new Date().toISOString() };
        send({ type: 'journal', entry: full });
        if (!dryRun) await deps.journal.append(runId, name, full);
      },
    },
    resume,
    plan,
    change: recordChange,
    leftover: (item) => {
      leftovers.push(item);
      send({ type: 'leftover', ...item });
    },
  };

  // 4. prepare: validation and reads only. InitSuccess ends the run with 0, without lock or START.
  let state: unknown;
  try {
    state = cookbook.prepare ? await cookbook.prepare(ctx) : undefined;
  } catch (err) {
    if (isInitSuccess(err)) {
      if (err.message) log.info(err.message);
      return finish(ExitCode.OK, 'PASS');
    }
    errorEvent('prepare', err);
    if (deps.signal.aborted) {
      log.warn('interrupted while preparing: nothing was done');
      return finish(ExitCode.INTERRUPTED, 'ERROR');
    }
    log.error(`exception raised while preparing the cookbook ${name}`);
    return finish(ExitCode.INIT_FAILED, 'ERROR');
  }

  // 5. The cookbook's lock.
  try {
    const spec = resolveLockSpec(cookbook, parsed.args);
    const lockName = spec.suffix ? `${name}:${spec.suffix}` : name;
    if (!deps.locks.enabled && depth === 0) {
      send({
        type: 'lock',
        status: 'bypassed',
        key: `cookbooks/${lockName}`,
        message: `LOCKS BYPASSED (${deps.locks.bypassReason ?? '--no-locks'}): nothing stops a concurrent run`,
      });
    }
    const r = await deps.locks.acquire('cookbooks', lockName, {
      concurrency: spec.concurrency,
      ttlSeconds: spec.ttlSeconds,
      onWait: (holders) => send({ type: 'lock', status: 'waiting', key: `cookbooks/${lockName}`, holders }),
      signal: deps.signal,
    });
    if (r.busy) {
      send({
        type: 'lock',
        status: 'busy',
        key: r.key,
        holders: r.holders,
        message: `would wait: lock ${lockName} is full (dry-run does not wait)`,
      });
    } else if (deps.locks.enabled) {
      send({ type: 'lock', status: 'acquired', key: r.key });
    }
  } catch (err) {
    if (deps.signal.aborted) {
      log.warn('interrupted while waiting for the lock: nothing was done');
      return finish(ExitCode.INTERRUPTED, 'ERROR');
    }
    errorEvent('lock', err);
    // Spicerack: a lock failure (busy, or etcd unreachable) is exit 1, no START, no rollback.
    return finish(ExitCode.FAILURE, 'ERROR');
  }

  if (deps.signal.aborted) {
    log.warn('interrupted before the run started: nothing was done');
    return finish(ExitCode.INTERRUPTED, 'ERROR');
  }

  // 6. START, run, rollback, END.
  phase = 'run';
  const description = redact([name, ...shownArgv].join(' '));
  const reasonText = parsed.reason !== undefined ? ` (${redact(parsed.reason)})` : '';
  if (!dryRun && deps.notifier) await deps.notifier.send(`START - Cookbook ${description}${reasonText}`);
  let exitCode: number;
  let status: RunSummary['status'];
  let cause: unknown;
  try {
    const ret = await cookbook.run(ctx, state);
    exitCode = typeof ret === 'number' ? ret : 0;
    if (!Number.isInteger(exitCode) || exitCode < 0 || exitCode > 127) {
      log.error(`cookbook returned an invalid exit code ${String(ret)}`);
      exitCode = ExitCode.EXCEPTION;
    } else if (RESERVED(exitCode)) {
      log.warn(`cookbook returned ${exitCode}, which is reserved for the runner (90–99)`);
    }
    status = exitCode === 0 ? 'PASS' : 'FAIL';
    cause = exitCode === 0 ? undefined : new Error(`run returned ${exitCode}`);
  } catch (err) {
    cause = err;
    errorEvent('run', err);
    // A lost lock aborts ctx.signal, so what the cookbook throws then is usually that abort: the
    // cause is the lock (exit 1, logged below), not a bug. A GalleyError (the lock errors included:
    // stable code, message naming the object, hint: etcd unreachable, a refused selection, ...) is
    // an operational failure the user can act on: exit 1. Only a plain Error is a bug: 99.
    exitCode = isGalleyError(err) || deps.locks.lost.aborted ? ExitCode.FAILURE : ExitCode.EXCEPTION;
    status = 'FAIL';
  }
  if (deps.signal.aborted) {
    log.warn('interrupted: stopped at a safe point');
    exitCode = ExitCode.INTERRUPTED;
    status = 'ERROR';
    cause ??= new Error('interrupted');
  } else if (deps.locks.lost.aborted && exitCode !== 0) {
    log.error(`the run's lock was lost: ${String(deps.locks.lost.reason)}`);
  }
  if (exitCode !== 0 && cookbook.rollback) {
    if (deps.locks.lost.aborted) {
      log.error('not rolling back: the lock is lost, so the rollback could not write anyway');
    } else {
      try {
        log.info('rolling back');
        await cookbook.rollback(ctx, state, cause);
        rolledBack = true;
      } catch (err) {
        errorEvent('rollback', err);
        log.error(`exception raised while executing the rollback of ${name} (exit_code=${exitCode})`);
        exitCode = ExitCode.ROLLBACK_FAILED;
        status = 'ERROR';
      }
    }
  }
  if (!dryRun && deps.notifier) {
    await deps.notifier.send(`END (${exitCode === 0 ? 'PASS' : 'FAIL'}) - Cookbook ${description}${reasonText} (exit_code=${exitCode})`);
  }
  return finish(exitCode, status);
}

/** Answers for `confirm()` without a TTY. */
export function nonInteractiveConfirm(yes: boolean): (message: string) => Promise<boolean> {
  return async (message) => {
    if (yes) return true;
    throw new ConfirmationError(message);
  };
}
