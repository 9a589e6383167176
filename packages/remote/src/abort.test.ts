import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { cutScript, renderCommand } from './command.js';
import { Remote } from './remote.js';
import { FakeTransport } from './testing/index.js';

describe('Remote.abortAll: the runner stops every command it started', () => {
  it('a cuttable view tags its commands; abortAll ends the runs with its reason and runs the cut script for the token on every host', async () => {
    const t = new FakeTransport((_h, cmd) => (cmd.includes('GALLEY_CUT=') && !cmd.startsWith('sh -c') ? { delayMs: 10_000 } : {}));
    const base = new Remote(undefined, { transport: t });
    const r = base.with({ cuttable: true });
    const run = r.run(['h1', 'h2'], [{ shell: 'sleep 10', timeoutMs: 60_000 }]);
    await new Promise((res) => setTimeout(res, 20));
    const token = /GALLEY_CUT=([0-9a-f]+)/.exec(t.calls[0]!.command)?.[1];
    expect(token).toMatch(/^[0-9a-f]{16}$/);
    expect(t.calls.map((c) => c.command)).toEqual([
      `env GALLEY_CUT=${token} timeout -k 2 60s sh -c 'sleep 10'`,
      `env GALLEY_CUT=${token} timeout -k 2 60s sh -c 'sleep 10'`,
    ]);
    expect(await r.abortAll('the runner cut the connection (SIGINT again)')).toBe(1);
    const rep = await run;
    expect(rep.results.map((x) => x.message)).toEqual([
      "the runner cut the connection (SIGINT again) while running 'sleep 10'",
      "the runner cut the connection (SIGINT again) while running 'sleep 10'",
    ]);
    // then, from a new channel on each host, the processes carrying the token
    expect(
      t.calls
        .slice(2)
        .map((c) => [c.host, c.command])
        .sort(),
    ).toEqual([
      ['h1', cutScript(token!, false)],
      ['h2', cutScript(token!, false)],
    ]);
  });

  it('read-only runs and views that are not cuttable send the command exactly as rendered', async () => {
    const t = new FakeTransport();
    const r = new Remote(undefined, { transport: t });
    await r.run(['h1'], [{ shell: 'uptime', timeoutMs: 5000 }]);
    await r.with({ cuttable: true }).run(['h1'], [{ shell: 'uptime', timeoutMs: 5000 }], { isSafe: true });
    expect(t.calls.map((c) => c.command)).toEqual([
      renderCommand({ shell: 'uptime' }, { timeoutMs: 5000 }),
      renderCommand({ shell: 'uptime' }, { timeoutMs: 5000 }),
    ]);
  });

  it('the cut script stops exactly the processes carrying the token (a real sh and /proc), and leaves others alone', async () => {
    const tagged = spawn('sh', ['-c', renderCommand({ shell: 'sleep 30; sleep 30' }, { timeoutMs: 60_000, cutToken: 'tok1' })], {
      stdio: 'ignore',
    });
    const other = spawn('sh', ['-c', renderCommand({ shell: 'sleep 30' }, { timeoutMs: 60_000, cutToken: 'tok2' })], { stdio: 'ignore' });
    await new Promise((res) => setTimeout(res, 300));
    const ended = new Promise<number | null>((res) => tagged.on('exit', (code, sig) => res(code ?? (sig ? -1 : null))));
    const out = spawnSync('sh', ['-c', cutScript('tok1', false)], { encoding: 'utf8' });
    expect(out.status).toBe(0);
    expect(out.stderr).toBe('');
    expect(await ended).not.toBe(0);
    expect(other.exitCode).toBeNull();
    other.kill('SIGKILL');
    expect(() => cutScript('x; rm -rf /', false)).toThrow(/bad token/);
  });
});
