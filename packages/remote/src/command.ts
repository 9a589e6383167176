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
export function renderCommand(spec: CommandSpec, opts: { timeoutMs?: number | undefined; cutToken?: string | undefined } = {}): string {
  if ('argv' in spec && spec.argv.length === 0) throw new Error('CommandSpec.argv is empty');
  const words: string[] = [];
  if (spec.sudo) words.push('sudo', '-n', '--');
  // Every process of the command inherits it: what `cutScript` finds them by when the runner has
  // to stop the command and sshd cannot signal the session (OpenSSH < 7.9, sshd not root).
  if (opts.cutToken !== undefined) words.push('env', `${CUT_VAR}=${opts.cutToken}`);
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

const CUT_VAR = 'GALLEY_CUT';

/**
 * A POSIX sh script that stops every process carrying this cut token in its environment (TERM,
 * then KILL a second later for what is left): the second half of stopping a remote command, run
 * on a new channel of the same connection, for sshds that ignore the SSH signal request.
 */
export function cutScript(token: string, sudo: boolean): string {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw new Error(`cutScript: bad token ${token}`);
  const pass = (sig: string): string =>
    `for e in /proc/[0-9]*/environ; do { tr '\\0' '\\n' <"$e"; } 2>/dev/null | grep -qxF ${CUT_VAR}=${token} || continue; p=\${e#/proc/}; kill -${sig} "\${p%/environ}" 2>/dev/null; done`;
  const body = `${pass('TERM')}; sleep 1; ${pass('KILL')}; true`;
  return sudo ? `sudo -n -- sh -c ${shellQuote(body)}` : `sh -c ${shellQuote(body)}`;
}

/** coreutils `timeout` exits 124 when it had to signal the command (137 after -k). */
export const TIMEOUT_EXIT_CODES = [124, 137] as const;
