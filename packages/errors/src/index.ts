/**
 * The bottom of the dependency graph: a user-actionable error base with a stable code, and the
 * exit codes every galley binary uses. Bugs stay plain `Error`; anything a user can act on is a
 * `GalleyError` with a code that is never reused.
 */
import { redact } from './redact.js';

export interface GalleyErrorOptions {
  /** What the user can do about it, printed as "hint: …". */
  hint?: string;
  cause?: unknown;
  /** Structured details for --output json and the audit log (no secrets). */
  details?: Record<string, unknown>;
}

export class GalleyError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, opts: GalleyErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = opts.hint;
    this.details = opts.details;
  }
}

/** A verification failed (e.g. PyBal still reports a host pooled). Expected, and reported, in dry-run. */
export class CheckError extends GalleyError {}

/** Bad arguments or bad input: printed without a stack. */
export class UsageError extends GalleyError {}

/** The configuration file is invalid: every problem is listed, each with its path. */
export class ConfigError extends GalleyError {
  readonly problems: readonly string[];
  constructor(file: string, problems: readonly string[], opts: GalleyErrorOptions = {}) {
    super('ERR_CONFIG_INVALID', `invalid configuration in ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
      hint: opts.hint ?? 'fix the listed entries; `cookbook --help` documents the config sections',
      ...opts,
    });
    this.problems = problems;
  }
}

/** No config file: the one named with -c does not exist, or the search found none. */
export class ConfigNotFoundError extends GalleyError {
  constructor(message: string, hint: string) {
    super('ERR_CONFIG_NOT_FOUND', message, { hint });
  }
}

/** The config file exists but cannot be read or parsed as YAML/JSON/JS. */
export class ConfigUnreadableError extends GalleyError {
  constructor(cause: unknown) {
    super('ERR_CONFIG_UNREADABLE', `cannot read config file: ${(cause as Error).message}`, {
      hint: 'check the file is valid YAML/JSON/JS',
      cause,
    });
  }
}

// The config file's errors live here, not in @galley/config, so that the binaries of client
// packages (confctl, galley-exec) match them without depending on the loader.
const CONFIG_CODES: ReadonlySet<string> = new Set(['ERR_CONFIG_NOT_FOUND', 'ERR_CONFIG_UNREADABLE', 'ERR_CONFIG_INVALID']);

export function isConfigNotFoundError(err: unknown): err is ConfigNotFoundError {
  return isGalleyError(err) && err.code === 'ERR_CONFIG_NOT_FOUND';
}

/** Any problem with the config file: missing, unreadable, or invalid (every problem listed). */
export function isConfigError(err: unknown): err is GalleyError {
  return isGalleyError(err) && CONFIG_CODES.has(err.code);
}

/**
 * Exit codes. 0 success, 1 generic failure (a cookbook's own failures use 1–89), Spicerack's
 * reserved codes 93–99 for runner outcomes. Never reuse a code for another meaning.
 */
export const ExitCode = {
  OK: 0,
  FAILURE: 1,
  /** Cumin-compatible codes for galley-exec */
  EXEC_COMPLETED_WITH_FAILURES: 1,
  EXEC_FAILED: 2,
  EXEC_TIMEOUT: 4,
  ROLLBACK_FAILED: 93,
  INIT_FAILED: 94,
  ARG_PARSER_FAILED: 95,
  ARGS_INVALID: 96,
  INTERRUPTED: 97,
  NOT_FOUND: 98,
  EXCEPTION: 99,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Errors cross jest VM realms and package copies: compare by shape, not instanceof. */
export function isGalleyError(err: unknown): err is GalleyError {
  return (
    typeof err === 'object' &&
    err !== null &&
    err instanceof Error &&
    typeof (err as { code?: unknown }).code === 'string' &&
    (err as unknown as { code: string }).code.startsWith('ERR_')
  );
}

/** One-line-per-cause rendering used by every binary: message, cause chain, hint. */
export function formatError(err: unknown): string {
  const lines: string[] = [];
  let cur: unknown = err;
  let depth = 0;
  while (cur != null && depth < 5) {
    if (cur instanceof Error) {
      const code = isGalleyError(cur) ? ` [${cur.code}]` : '';
      lines.push(`${depth === 0 ? 'error' : 'caused by'}: ${redact(cur.message)}${code}`);
      cur = (cur as { cause?: unknown }).cause;
    } else {
      lines.push(`${depth === 0 ? 'error' : 'caused by'}: ${redact(typeof cur === 'string' ? cur : JSON.stringify(cur))}`);
      cur = undefined;
    }
    depth++;
  }
  if (isGalleyError(err) && err.hint) lines.push(`hint: ${err.hint}`);
  return lines.join('\n');
}

export { addSecrets, redact, redactObject, SecretValues, secretValues, secretValuesIn, REDACTED } from './redact.js';
