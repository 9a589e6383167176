import { describe, expect, it } from '@jest/globals';
import { runExec, type ExecIo } from './cli.js';
import { defaultSshConfig } from './config.js';
import { FakeTransport, type FakeHandler } from './testing/index.js';

const ssh = defaultSshConfig();

/** A terminal (or not) that answers the confirmation with `answer` and records what it was asked. */
function term(isTTY: boolean, answer = '') {
  const asked: string[] = [];
  const progress: string[] = [];
  const io: ExecIo = {
    isTTY,
    ask: (q) => {
      asked.push(q);
      return Promise.resolve(answer);
    },
    progress: (l) => progress.push(l),
  };
  return { io, asked, progress };
}

async function exec(argv: string[], handler?: FakeHandler, io: ExecIo = term(false).io, signal?: AbortSignal) {
  const t = new FakeTransport(handler);
  const res = await runExec(argv, io, { ssh, transport: t, ...(signal ? { signal } : {}) });
  return { ...res, t, sent: t.calls.map((c) => `${c.host}: ${c.command}`) };
}

/** The command as the user typed it, without the `timeout -k 2 300s sh -c '…'` wrapper. */
const body = (sent: string) => sent.replace(/: timeout -k 2 \S+ sh -c (-- )?/, ': ');

describe('galley-exec: options anywhere (Cumin argparse), commands never taken for options', () => {
  it('--dry-run after HOSTS is the flag: nothing is sent', async () => {
    for (const argv of [
      ['--yes', 'h1', '--dry-run', 'rm x'],
      ['--yes', '-x', 'h1', '--dry-run', 'rm x'],
      ['--yes', 'h1', 'rm x', '--dry-run'],
    ]) {
      const r = await exec(argv);
      expect(r.sent).toEqual([]);
      expect(r.exitCode).toBe(0);
      expect(r.stderr).toContain("DRY-RUN: would run 'rm x' on 1 hosts: h1");
    }
  });

  it('-b after HOSTS is the batch size, not a command', async () => {
    const r = await exec(['--yes', 'h[1-4]', '-b', '1', 'echo hi'], () => ({ delayMs: 5 }));
    expect(r.exitCode).toBe(0);
    expect(r.t.peakInFlight).toBe(1);
    expect(r.sent.map(body)).toEqual(['h1', 'h2', 'h3', 'h4'].map((h) => `${h}: 'echo hi'`));
  });

  it('a word starting with "-" outside -- is refused as a usage error before anything runs', async () => {
    for (const argv of [
      ['--yes', 'h1', 'ls', '-l'],
      ['--yes', 'h1', '-5'],
      ['--yes', 'h1', 'true', '-rf'],
    ]) {
      const r = await exec(argv);
      expect(r.sent).toEqual([]);
      expect(r.exitCode).toBe(2);
      expect(r.stderr.join('\n')).toMatch(/ERR_REMOTE_EXEC_USAGE/);
      expect(r.stderr.join('\n')).toMatch(/after --/);
    }
  });

  it('after -- a command may start with "-"', async () => {
    const r = await exec(['--yes', 'h1', '--', '-5 is odd', '--dry-run']);
    expect(r.exitCode).toBe(0);
    // `sh -c --`: otherwise sh would read the command line as its own option
    expect(r.sent).toEqual(["h1: timeout -k 2 300s sh -c -- '-5 is odd'", 'h1: timeout -k 2 300s sh -c -- --dry-run']);
  });

  it('positionals stay strings (0755 is not 755)', async () => {
    const r = await exec(['--yes', 'h1', '0755']);
    expect(r.sent.map(body)).toEqual(['h1: 0755']);
  });
});

describe('galley-exec: confirmation', () => {
  it('without a TTY and without --yes it refuses (exit 2) and sends nothing', async () => {
    const r = await exec(['h[1-3]', 'true']);
    expect(r.exitCode).toBe(2);
    expect(r.sent).toEqual([]);
    expect(r.stderr.join('\n')).toMatch(/refusing to run on 3 hosts without confirmation \[ERR_REMOTE_EXEC_UNCONFIRMED\]/);
  });

  it('on a TTY it asks for the host count; the right count runs, anything else exits 98 with nothing sent', async () => {
    const yes = term(true, '3');
    const ok = await exec(['h[1-3]', 'true'], undefined, yes.io);
    expect(yes.asked).toHaveLength(1);
    expect(yes.asked[0]).toContain('h[1-3]');
    expect(yes.asked[0]).toContain('OK to proceed on 3 hosts? Enter the number of affected hosts to confirm or "q" to quit:');
    expect(ok.exitCode).toBe(0);
    expect(ok.sent).toHaveLength(3);

    for (const [answer, line] of [
      ['2', "Got '2', expected 3: aborting."],
      ['q', 'Aborted by the user.'],
      ['', "Got '', expected 3: aborting."],
    ] as const) {
      const no = await exec(['h[1-3]', 'true'], undefined, term(true, answer).io);
      expect(no.exitCode).toBe(98);
      expect(no.sent).toEqual([]);
      expect(no.stderr).toContain(line);
    }
  });

  it('bad -b / -p / -t values are refused before the prompt', async () => {
    for (const argv of [
      ['-b', 'abc', 'h[1-2]', 'x'],
      ['-b', '0', 'h[1-2]', 'x'],
      ['-p', '150', 'h[1-2]', 'x'],
      ['-t', '-1', 'h[1-2]', 'x'],
    ]) {
      const tty = term(true, '2');
      const r = await exec(argv, undefined, tty.io);
      expect(r.exitCode).toBe(2);
      expect(tty.asked).toEqual([]);
      expect(r.sent).toEqual([]);
      expect(r.stderr.join('\n')).toMatch(/ERR_REMOTE_RUN_OPTIONS/);
    }
  });

  it('-t / -s / --global-timeout: 0 is not "no timeout", negative and more than a day are refused, naming the flag and the range', async () => {
    const cases: [string[], string][] = [
      [['-t', '0'], '-t must be a number of seconds above 0 and at most 86400 (24h), got 0'],
      [['-t', '-5'], '-t must be a number of seconds above 0 and at most 86400 (24h), got -5'],
      [['-t', '86401'], '-t must be a number of seconds above 0 and at most 86400 (24h), got 86401'],
      [['--global-timeout', '0'], '--global-timeout must be a number of seconds above 0 and at most 86400 (24h), got 0'],
      [['--global-timeout', '1e9'], '--global-timeout must be a number of seconds above 0 and at most 86400 (24h), got 1000000000'],
      [['-s', '-1'], '-s must be a number of seconds from 0 and at most 86400 (24h), got -1'],
      [['-s', '90000'], '-s must be a number of seconds from 0 and at most 86400 (24h), got 90000'],
    ];
    for (const [flags, message] of cases) {
      const tty = term(true, '2');
      const r = await exec([...flags, 'h[1-2]', 'x'], undefined, tty.io);
      expect(r.exitCode).toBe(2);
      expect(tty.asked).toEqual([]);
      expect(r.sent).toEqual([]);
      expect(r.stderr.join('\n')).toContain(`${message} [ERR_REMOTE_RUN_OPTIONS]`);
    }
    // the bounds themselves are fine
    expect((await exec(['--yes', '-t', '86400', '-s', '0', 'h1', 'x'])).exitCode).toBe(0);
  });
});

describe('galley-exec: exit codes and output', () => {
  it('0 when every host succeeds; node groups on stdout, success ratio on stderr', async () => {
    const r = await exec(['--yes', 'h[1-4]', 'hostname'], (h) => ({ stdout: h === 'h3' ? 'odd\n' : 'same\n' }));
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toEqual([
      '===== NODE GROUP =====',
      '(3) h[1-2,4]',
      "----- OUTPUT of command 'hostname' -----",
      'same',
      '===== NODE GROUP =====',
      '(1) h3',
      "----- OUTPUT of command 'hostname' -----",
      'odd',
      '================',
    ]);
    expect(r.stderr).toContain('100.0% (4/4) success ratio (>= 100.0% threshold) of nodes successfully executed all commands.');
  });

  it('1 when failures stay within -p; the failed hosts are listed with their reason', async () => {
    const r = await exec(['--yes', '-p', '50', 'h[1-4]', 'x'], (h) => (h === 'h2' ? { exitCode: 3 } : {}));
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('25.0% (1/4) of nodes failed (exit-code): h2');
    expect(r.stderr).toContain("  h2: 'x' exited with 3");
    expect(r.stderr).toContain('75.0% (3/4) success ratio (>= 50.0% threshold) of nodes successfully executed all commands.');
  });

  it('2 when the success ratio falls below -p (default 100)', async () => {
    const r = await exec(['--yes', 'h[1-4]', 'x'], (h) => (h === 'h1' ? { exitCode: 1 } : {}));
    expect(r.exitCode).toBe(2);
    expect(r.stderr.some((l) => /\(< 100.0% threshold\)/.test(l))).toBe(true);
  });

  it('4 when the global timeout is reached', async () => {
    const t0 = Date.now();
    const r = await exec(['--yes', '--global-timeout', '0.1', 'h[1-4]', 'x'], () => ({ delayMs: 5000 }));
    expect(r.exitCode).toBe(4);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(r.stderr.some((l) => l.endsWith('Global timeout reached.'))).toBe(true);
  });

  it('-x: any exit code is a success', async () => {
    const without = await exec(['--yes', 'h[1-2]', 'x'], () => ({ exitCode: 5 }));
    expect(without.exitCode).toBe(2);
    const r = await exec(['--yes', '-x', 'h[1-2]', 'x'], () => ({ exitCode: 5 }));
    expect(r.exitCode).toBe(0);
  });

  it('-t puts the command under the remote timeout wrapper', async () => {
    const r = await exec(['--yes', '-t', '2.5', 'h1', 'echo a']);
    expect(r.sent).toEqual(["h1: timeout -k 2 2.5s sh -c 'echo a'"]);
  });

  it('-o json prints the whole report', async () => {
    const r = await exec(['--yes', '-o', 'json', '-p', '50', 'h[1-2]', 'x'], (h) =>
      h === 'h2' ? { failure: 'unreachable', message: 'h2: refused' } : { stdout: 'hi\n' },
    );
    expect(r.exitCode).toBe(1);
    const j = JSON.parse(r.stdout.join('\n')) as {
      status: string;
      exitCode: number;
      groups: { hosts: string; output: string }[];
      hosts: Record<string, { ok: boolean; stdout: string; failure?: string }>;
    };
    expect(j).toMatchObject({ status: 'completed-with-failures', exitCode: 1 });
    expect(j.hosts.h1).toMatchObject({ ok: true, stdout: 'hi\n' });
    expect(j.hosts.h2).toMatchObject({ ok: false, failure: 'unreachable' });
    expect(j.groups).toContainEqual({ hosts: 'h1', count: 1, output: 'hi' });
  });

  it('a progress line on a TTY', async () => {
    const tty = term(true);
    const r = await exec(['--yes', 'h[1-2]', 'x'], (h) => (h === 'h2' ? { exitCode: 1 } : {}), tty.io);
    expect(r.exitCode).toBe(2);
    expect(tty.progress.some((l) => /^PASS 1\/2 {2}FAIL 1\/2 {2}[\d.]+ hosts\/s {2}[\d.]+s$/.test(l))).toBe(true);
    expect(tty.progress.at(-1)).toBe('');
  });

  it('interrupted (Ctrl+C): running commands end, the rest is not started, partial report, exit 98', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(new Error('interrupted')), 100);
    const r = await exec(
      ['--yes', '-b', '1', 'h[1-3]', 'x'],
      (h) => (h === 'h1' ? { stdout: 'one\n' } : { delayMs: 10_000 }),
      undefined,
      ac.signal,
    );
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(r.exitCode).toBe(98);
    expect(r.sent.map((s) => s.split(':')[0])).toEqual(['h1', 'h2']);
    expect(r.stdout).toContain('(1) h1');
    expect(r.stderr.some((l) => l.startsWith('Execution interrupted by Ctrl+c'))).toBe(true);
    expect(r.stderr.some((l) => /of nodes failed \(not-run\): h3/.test(l))).toBe(true);
  });
});
