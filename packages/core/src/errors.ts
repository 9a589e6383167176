import { GalleyError, UsageError, isGalleyError } from '@galley/errors';

/** The codes of the lock errors: one place, for the classes and for `isLockFailure`. */
const LockCode = {
  TIMEOUT: 'ERR_LOCK_TIMEOUT',
  LOST: 'ERR_LOCK_LOST',
  EXPIRED: 'ERR_LOCK_EXPIRED',
  UNCONFIRMED: 'ERR_LOCK_UNCONFIRMED',
} as const;
const LOCK_FAILURE_CODES: ReadonlySet<string> = new Set(Object.values(LockCode));
const CONFIRM_NO_TTY = 'ERR_CONFIRM_NO_TTY';

export interface LockHolderInfo {
  key: string;
  owner: string;
  runId: string;
  created: string;
}

function holderLines(holders: readonly LockHolderInfo[]): string {
  return holders.map((h) => `  ${h.owner} since ${h.created} (run ${h.runId})`).join('\n');
}

/** Waited `locks.waitTimeoutSeconds` for a slot: exit 1 with the holders. */
export class LockTimeoutError extends GalleyError {
  readonly holders: readonly LockHolderInfo[];
  constructor(lock: string, concurrency: number, waitedSeconds: number, holders: readonly LockHolderInfo[]) {
    super(
      LockCode.TIMEOUT,
      `lock ${lock} is busy: ${holders.length} holder(s), concurrency ${concurrency}; gave up after ${waitedSeconds}s. Holders:\n${holderLines(holders)}`,
      {
        hint: 'wait for those runs to end, or check them with `cookbook --locks`; `cookbook --break-lock KEY` removes a stale one',
        details: { lock, holders },
      },
    );
    this.holders = holders;
  }
}

/** The run's lease expired or was revoked, or one of its lock keys was removed: no new step may start. */
export class LockLostError extends GalleyError {
  constructor(what: string, hint?: string) {
    super(LockCode.LOST, `the run's lock was lost (${what}); stopping before the next step`, {
      hint: hint ?? 'check etcd health; nothing further was written by this run after the loss (writes are fenced)',
    });
  }
}

/** A held lock exceeded its hard max-hold TTL. */
export class LockExpiredError extends GalleyError {
  constructor(lock: string, ttlSeconds: number) {
    super(LockCode.EXPIRED, `lock ${lock} reached its max hold time of ${ttlSeconds}s`, {
      hint: "raise the cookbook's lock ttlSeconds if runs legitimately take this long",
    });
  }
}

/**
 * etcd did not answer a write to a lock key (taking the slot, or `--break-lock`) and a re-read could
 * not settle whether it was applied. Fail closed: the run does not go on as if it held the lock.
 */
export class LockUnconfirmedError extends GalleyError {
  constructor(key: string, what: 'acquire' | 'release', cause: unknown) {
    super(
      LockCode.UNCONFIRMED,
      what === 'acquire'
        ? `could not confirm that lock key ${key} is ours: etcd did not answer while we took the slot (${(cause as Error)?.message ?? String(cause)})`
        : `could not confirm that lock key ${key} was removed: etcd did not answer (${(cause as Error)?.message ?? String(cause)})`,
      {
        hint:
          what === 'acquire'
            ? "check etcd health and run again; the key is bound to this run's lease, which ends with it, so it vanishes within the lease TTL (see `cookbook --locks`)"
            : 'check etcd health, then see whether the key is still listed by `cookbook --locks` and break it again if it is',
        cause,
        details: { key },
      },
    );
  }
}

/**
 * A lock the run needs could not be had or is no longer held: a wait that timed out, the lease
 * lost or a key removed, a max hold passed, a lock write etcd did not confirm. Nothing further was
 * written by the run (writes are fenced). Compared by code, as isGalleyError is: errors cross jest
 * realms and package copies.
 */
export function isLockFailure(err: unknown): err is LockTimeoutError | LockLostError | LockExpiredError | LockUnconfirmedError {
  return isGalleyError(err) && LOCK_FAILURE_CODES.has(err.code);
}

export class CookbookNotFoundError extends GalleyError {
  constructor(name: string, suggestions: readonly string[]) {
    super('ERR_COOKBOOK_NOT_FOUND', `cookbook ${name} not found`, {
      hint: suggestions.length > 0 ? `did you mean: ${suggestions.join(', ')}?` : 'list them with `cookbook -l`',
      details: { suggestions },
    });
  }
}

/** What is wrong with one argument (or with the argv as a whole when `arg` is unset). */
export interface ArgProblem {
  arg?: string | undefined;
  kind: 'unknown' | 'missing' | 'repeated' | 'type' | 'choice' | 'invalid' | 'positional' | 'requires';
  message: string;
}

/** Bad cookbook arguments → exit 96. Every problem found is listed, not only the first. */
export class ArgsError extends UsageError {
  readonly problems: readonly ArgProblem[];
  constructor(cookbook: string, problems: string | readonly ArgProblem[], hint?: string) {
    const list: readonly ArgProblem[] = typeof problems === 'string' ? [{ kind: 'invalid', message: problems }] : problems;
    const message =
      list.length === 1
        ? `${cookbook}: ${list[0]!.message}`
        : `${cookbook}: ${list.length} problems with the arguments:\n${list.map((p) => `  - ${p.message}`).join('\n')}`;
    super('ERR_COOKBOOK_ARGS', message, {
      hint: hint ?? `see \`cookbook ${cookbook} --help\``,
      details: { problems: list.map((p) => ({ ...p })) },
    });
    this.problems = list;
  }
}

/**
 * The cookbook's own argument declaration is broken (a bug in the cookbook, not the user's input)
 * → exit 95, naming the cookbook and every broken option.
 */
export class ArgSpecError extends GalleyError {
  readonly problems: readonly string[];
  constructor(cookbook: string, problems: readonly string[]) {
    super('ERR_COOKBOOK_ARG_SPEC', `cookbook ${cookbook} declares its arguments wrongly:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
      hint: `a bug in the cookbook ${cookbook}: fix its \`args\` (its owner team is shown by \`cookbook -l\`); nothing was run`,
      details: { problems: [...problems] },
    });
    this.problems = problems;
  }
}

export class ResumeRefusedError extends GalleyError {
  constructor(runId: string, cookbook: string, actual: string | undefined) {
    super(
      'ERR_RESUME_REFUSED',
      actual === undefined
        ? `run ${runId} has no journal in etcd; cannot resume it as ${cookbook}`
        : `run ${runId} was a run of ${actual}, not ${cookbook}; refusing to resume it`,
      { hint: 'the run id is printed at the start and end of every run and is in the audit log' },
    );
  }
}

export class ConfirmationError extends GalleyError {
  constructor(message: string) {
    super(CONFIRM_NO_TTY, `cannot ask for confirmation without a TTY: ${message}`, {
      hint: 'run it in a terminal, or pass --yes to answer yes',
    });
  }
}

/** `ctx.confirm` without a TTY and without `--yes`. */
export function isConfirmationError(err: unknown): err is ConfirmationError {
  return isGalleyError(err) && err.code === CONFIRM_NO_TTY;
}

/** prepare() tried to act (write, non-safe command, lock, nested run) before the lock and START → exit 94. */
export class WriteInPrepareError extends GalleyError {
  constructor(cookbook: string, what: string) {
    super(
      'ERR_WRITE_IN_PREPARE',
      `${cookbook}: prepare() attempted ${what}; prepare may only read (it runs before the cookbook lock and START)`,
      {
        hint: 'move the change into run(); nothing was written or run',
      },
    );
  }
}

/**
 * `cookbook --pause RUN_ID` / `--continue RUN_ID` of a run that holds no lock: unknown, finished,
 * a dry-run, or run with --no-locks (which cannot be paused). Nothing was written.
 */
export class RunNotRunningError extends GalleyError {
  constructor(runId: string, what: 'pause' | 'continue', finished: boolean) {
    super(
      'ERR_RUN_NOT_RUNNING',
      finished
        ? `cannot ${what} run ${runId}: it has finished (it holds no lock any more)`
        : `cannot ${what} run ${runId}: no such run is running (no lock is held by it)`,
      {
        hint: 'the run id is printed at the start of every run; `cookbook --locks` lists the running ones (dry-runs and --no-locks runs cannot be paused)',
        details: { runId, finished },
      },
    );
  }
}

export function isRunNotRunningError(err: unknown): err is RunNotRunningError {
  return isGalleyError(err) && err.code === 'ERR_RUN_NOT_RUNNING';
}
