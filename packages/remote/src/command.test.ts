import { spawnSync } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { quoteArgv, renderCommand, shellQuote } from './command.js';

const NASTY = [
  "it's",
  'a;b',
  '$(touch /tmp/pwned-galley)',
  'two  spaces',
  'line1\nline2',
  '',
  '`id`',
  '"dq"',
  '\\back',
  '*',
  '~',
  '-n',
  'ünï',
];

/** What a POSIX shell makes of the quoted string: each word NUL-terminated. */
function throughShell(shell: string, cmd: string): string[] {
  const r = spawnSync(shell, ['-c', `printf '%s\\0' ${cmd}`], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  return r.stdout.split('\0').slice(0, -1);
}

describe('quoting for the remote shell', () => {
  it('keeps every byte of nasty arguments through bash and dash', () => {
    for (const sh of ['bash', 'sh']) expect(throughShell(sh, quoteArgv(NASTY))).toEqual(NASTY);
  });

  it('leaves plain words alone', () => {
    expect(shellQuote('systemctl')).toBe('systemctl');
    expect(shellQuote('/usr/bin/x-y_z.1:2,3@4')).toBe('/usr/bin/x-y_z.1:2,3@4');
    expect(shellQuote('')).toBe("''");
  });

  it('wraps with sudo and a killing timeout', () => {
    expect(renderCommand({ argv: ['systemctl', 'restart', 'nginx'], sudo: true }, { timeoutMs: 30_000 })).toBe(
      'sudo -n -- timeout -k 2 30s systemctl restart nginx',
    );
    expect(renderCommand({ shell: 'echo a; echo b' }, { timeoutMs: 1500 })).toBe("timeout -k 2 1.5s sh -c 'echo a; echo b'");
    expect(renderCommand({ shell: 'echo a | wc -l' })).toBe('echo a | wc -l');
  });

  it('a shell command under timeout still runs as a shell pipeline', () => {
    const r = spawnSync('bash', ['-c', renderCommand({ shell: 'printf \'%s\' "$((1+2))" | tr 3 x' }, { timeoutMs: 5000 })], {
      encoding: 'utf8',
    });
    expect(r.stdout).toBe('x');
  });

  it('a shell command line starting with "-" reaches the shell as the command, not as an option of sh', () => {
    // a "command" -e… would otherwise set sh's errexit option and run nothing
    const cmd = renderCommand({ shell: '-e 2>/dev/null; echo ran' }, { timeoutMs: 5000 });
    for (const sh of ['bash', 'sh']) {
      const r = spawnSync(sh, ['-c', cmd], { encoding: 'utf8' });
      expect(r.stdout).toBe('ran\n');
    }
  });

  it('timeout really ends the whole process group', () => {
    const t0 = Date.now();
    const r = spawnSync('bash', ['-c', renderCommand({ shell: 'sleep 30 & sleep 30; wait' }, { timeoutMs: 300 })], { encoding: 'utf8' });
    expect(r.status).toBe(124);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
