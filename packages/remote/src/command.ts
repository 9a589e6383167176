import type { CommandSpec } from './types.js';

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quote one argument for a POSIX shell (the remote login shell runs the exec string).
 * Single quotes keep everything literal, including newlines, `$(..)` and `;`; an embedded `'`
 * becomes `'\''`.
 */
export function shellQuote(arg: string): string {
  if (arg !== '' && SAFE_WORD.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

export function quoteArgv(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** The command as the user wrote it (for logs, dry-run lines and grouping headers). */
export function displayCommand(spec: CommandSpec): string {
  return 'argv' in spec ? quoteArgv(spec.argv) : spec.shell;
}

/**
 * The exact string sent in the exec request. A timeout runs the command under coreutils
 * `timeout`, which puts it in its own process group and signals the whole group: closing an ssh
 * channel alone leaves the remote process running (sshd does not HUP non-pty sessions).
 */
export function renderCommand(spec: CommandSpec, opts: { timeoutMs?: number | undefined } = {}): string {
  if ('argv' in spec && spec.argv.length === 0) throw new Error('CommandSpec.argv is empty');
  const words: string[] = [];
  if (spec.sudo) words.push('sudo', '-n', '--');
  if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) {
    words.push('timeout', '-k', '2', `${(opts.timeoutMs / 1000).toFixed(3).replace(/\.?0+$/, '')}s`);
  }
  const prefix = words.join(' ');
  let body: string;
  if ('argv' in spec) body = quoteArgv(spec.argv);
  // `--`: a command line starting with '-' would otherwise be read as an option of sh.
  else body = words.length > 0 ? `sh -c ${spec.shell.startsWith('-') ? '-- ' : ''}${shellQuote(spec.shell)}` : spec.shell;
  return prefix === '' ? body : `${prefix} ${body}`;
}

/** coreutils `timeout` exits 124 when it had to signal the command (137 after -k). */
export const TIMEOUT_EXIT_CODES = [124, 137] as const;
