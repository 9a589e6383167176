/**
 * The cookbook contract: a cookbook module default-exports `defineCookbook({...})`. The name comes
 * from the file path (`sre/lb/rolling-restart.ts` → `sre.lb.rolling-restart`), never from the object.
 */
import type { InferredOptionTypes, Options } from 'yargs';
import type { Clients } from './clients.js';

/**
 * A value check declared next to an option (`check: durationArg`): run on every value given, before
 * any lock, client or announcement; `accepts` is shown in `cookbook NAME --help`.
 */
export interface ArgCheck {
  /** What the option accepts, for `--help`: e.g. "a duration: 30s, 2m, 500ms, or seconds". */
  readonly accepts: string;
  /**
   * What is wrong with one value (a whole sentence naming the argument as typed, e.g.
   * `sleep=-1: must not be negative`), or undefined when it is fine. Never throws for bad input.
   */
  check(value: unknown, name: string): string | undefined;
}

/**
 * Declarative yargs options (types only: yargs itself stays in the CLI), plus `secret: true`: the
 * value never reaches the audit log, the output or the START/END announcement (names like `token`,
 * `password`, `api-key` are treated as secret without it), and `check`: the option's validation.
 */
export type ArgOption = Options & {
  secret?: boolean;
  check?: ArgCheck;
  /**
   * The option has no effect without this other one (`health-timeout` without `health-check`):
   * given alone it is a bad argument (exit 96), never silently ignored. Shown in `--help`.
   */
  requires?: string;
};
export type ArgSpec = Record<string, ArgOption>;
export type ArgsOf<S extends ArgSpec> = InferredOptionTypes<S>;

export interface LockSpec {
  /** Appended to the lock name: `sre.lb.rolling-restart:eqiad-jobrunner`. */
  suffix?: string;
  /** Parallel runs allowed with the same key (default 20). */
  concurrency?: number;
  /** Hard max-hold time; must exceed the expected run time (default 1800). */
  ttlSeconds?: number;
}
export const DEFAULT_LOCK = { concurrency: 20, ttlSeconds: 1800 } as const;

/** Options of `ctx.lock`; the max-hold time is the cookbook lock's, as for host locks. */
export interface NamedLockOptions {
  /** Runs that may hold it at once (1: one at a time). */
  concurrency: number;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** A progress task; rendered by listr2 in the CLI (cookbooks never import listr2). */
export interface TaskHandle {
  readonly id: string;
  subtask(title: string): TaskHandle;
  /** Change the title (e.g. the host's phase: `mw1001: depooling`). */
  update(title: string): void;
  /** A line of output under the task. */
  output(line: string): void;
  succeed(message?: string): void;
  fail(message?: string): void;
  skip(message?: string): void;
}
export interface Progress {
  task(title: string): TaskHandle;
}

export interface CookbookEvent {
  type: string;
  [k: string]: unknown;
}

export interface JournalEntry {
  type: string;
  [k: string]: unknown;
}
export interface Journal {
  /** Durable (etcd under the run id + audit log) before it resolves; not written in dry-run. */
  append(entry: JournalEntry): Promise<void>;
}

/** One intended (dry-run) or performed change: host, object, old → new. */
export interface PlannedChange {
  /** `conftool`, `command`, or a cookbook-defined kind. */
  kind: string;
  host?: string;
  object: string;
  from?: unknown;
  to?: unknown;
}

/** Something the run leaves in a non-final state (reported at the end, e.g. a host left depooled). */
export interface Leftover {
  object: string;
  state: string;
  why?: string;
}

export interface RunContext<A = Record<string, unknown>> {
  readonly args: A;
  readonly dryRun: boolean;
  readonly reason?: string | undefined;
  readonly taskId?: string | undefined;
  readonly runId: string;
  /** Dotted name of the running cookbook. */
  readonly cookbook: string;
  /** Already bound to dry-run, fencing by the run's lock and host locking. */
  readonly clients: Clients;
  /** Human output + audit log; `DRY-RUN: ` prefix in dry-run. */
  readonly log: Logger;
  readonly progress: Progress;
  /** An NDJSON event for `--output json` and the audit log. */
  emit(event: CookbookEvent): void;
  /** The cookbook's result: JSON with `--output json`, `text` (or a JSON dump) otherwise. */
  output(data: unknown, text?: string): void;
  /** Aborted by the first SIGINT/SIGTERM or when the run's lock lease is lost: stop at the next safe point. */
  readonly signal: AbortSignal;
  /** TTY prompt; without a TTY it needs `--yes` (then true) or it throws. */
  confirm(message: string): Promise<boolean>;
  /**
   * TTY question with named answers (`retry`, `skip`, `abort`): resolves with one of `choices`.
   * Without a TTY it throws ConfirmationError, whatever `--yes` says (there is no "yes" among the
   * answers): the caller then does what it does when nobody is there to ask.
   */
  choose<C extends string>(message: string, choices: readonly C[]): Promise<C>;
  /**
   * A safe point of the run (between batches, before taking a new host out): resolves at once,
   * unless `cookbook --pause RUN_ID` paused the run from another terminal; then it says who paused
   * it and since when (log, event, journal), keeps the locks, and resolves on `--continue` or when
   * the run is interrupted (check `signal` after it). A no-op in dry-run and without locks.
   */
  safePoint(where: string): Promise<void>;
  /** Run another cookbook with the same dry-run and re-entrant locks; returns its exit code. */
  runCookbook(name: string, args?: string[]): Promise<number>;
  /** Per-host locks (concurrency 1) held until the run ends; idempotent. */
  lockHosts(hosts: readonly string[]): Promise<void>;
  /**
   * A named lock `<kind>/<name>` (e.g. `lb-cluster/eqiad-jobrunner`) for something that is neither
   * a cookbook nor a host, held until the run ends and released with the run's other locks. Taken
   * as host locks are: refused in prepare, a wait shown with its holders, a busy lock reported in
   * dry-run (which does not wait), a first SIGINT stops the wait. Once held it fences every write of
   * the run, as the cookbook lock does. Idempotent, and re-entrant in nested runs. `kind` is
   * lowercase letters, digits and `-`, neither `cookbooks` nor `hosts`; `name` has no `/`.
   */
  lock(kind: string, name: string, opts: NamedLockOptions): Promise<void>;
  readonly journal: Journal;
  /** Set by `--resume RUN_ID`: the journal of that earlier run of this cookbook. */
  readonly resume?: { runId: string; entries: JournalEntry[] } | undefined;
  /** Every intended (dry-run) or performed change so far, in order. */
  readonly plan: readonly PlannedChange[];
  /** Record a change the clients did not see (e.g. a cookbook-level action). */
  change(change: PlannedChange): void;
  /** Report something left in a non-final state; listed in the end report. */
  leftover(item: Leftover): void;
}

export interface Cookbook<S extends ArgSpec = ArgSpec, State = void> {
  /** One line; shown by `-l -v` and in the progress output. */
  readonly title: string;
  /** Inherited from the group's index module when omitted. */
  readonly owner?: string;
  readonly args?: S;
  /** The runner adds `--reason/-r` (non-empty, no `"`). */
  readonly reason?: 'required' | 'optional';
  /** The runner adds `--task-id/-t` (`T` + digits). */
  readonly task?: 'required' | 'optional';
  /** Static or derived from the args (Spicerack's lock_args). */
  readonly lock?: LockSpec | ((args: ArgsOf<S>) => LockSpec);
  /** Validate and read state; no side effects. May throw `InitSuccess` to end with exit 0. */
  prepare?(ctx: RunContext<ArgsOf<S>>): Promise<State>;
  run(ctx: RunContext<ArgsOf<S>>, state: State): Promise<void | number>;
  /** Runs when `run` throws, returns non-zero or is interrupted. Throwing here → exit 93. */
  rollback?(ctx: RunContext<ArgsOf<S>>, state: State, cause: unknown): Promise<void>;
}

/* eslint-disable-next-line @typescript-eslint/no-explicit-any -- the registry holds cookbooks of every arg/state type */
export type AnyCookbook = Cookbook<any, any>;

const BRAND = Symbol.for('galley.cookbook');

export function defineCookbook<S extends ArgSpec, State = void>(c: Cookbook<S, State>): Cookbook<S, State> {
  // A global symbol, so discovery recognises cookbooks across package copies and jest realms.
  Object.defineProperty(c, BRAND, { value: true, enumerable: false });
  return c;
}

export function isCookbook(value: unknown): value is AnyCookbook {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { title?: unknown; run?: unknown } & Record<symbol, unknown>;
  return v[BRAND] === true || (typeof v.title === 'string' && typeof v.run === 'function');
}

/** Thrown from `prepare` to end the run successfully without running it (Spicerack's CookbookInitSuccess). */
export class InitSuccess extends Error {
  constructor(message = '') {
    super(message);
    this.name = 'InitSuccess';
  }
}

export function isInitSuccess(err: unknown): err is InitSuccess {
  return err instanceof Error && err.name === 'InitSuccess';
}

/** A group's index module: `export const group = { title, owner }` (or the default export). */
export interface GroupMeta {
  title?: string;
  owner?: string;
}

export function resolveLockSpec(c: AnyCookbook, args: Record<string, unknown>): Required<Omit<LockSpec, 'suffix'>> & { suffix?: string } {
  const raw = typeof c.lock === 'function' ? c.lock(args) : (c.lock ?? {});
  const out: Required<Omit<LockSpec, 'suffix'>> & { suffix?: string } = {
    concurrency: raw.concurrency ?? DEFAULT_LOCK.concurrency,
    ttlSeconds: raw.ttlSeconds ?? DEFAULT_LOCK.ttlSeconds,
  };
  if (raw.suffix !== undefined && raw.suffix !== '') out.suffix = raw.suffix;
  return out;
}
