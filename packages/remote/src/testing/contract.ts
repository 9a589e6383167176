import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { renderCommand } from '../command.js';
import type { CommandSpec, ExecOutcome, Transport } from '../types.js';

/** What a Transport under test provides: two reachable hosts and one that is not. */
export interface TransportEnv {
  transport: Transport;
  hosts: [string, string];
  unreachable: string;
  close(): Promise<void>;
}

/**
 * The behaviour every Transport must have (the ssh2 pool on the lab, FakeTransport in unit
 * tests): output, exit codes, stderr, timeouts, aborts, unreachable hosts, concurrent commands.
 */
export function transportContract(name: string, setup: () => Promise<TransportEnv>): void {
  describe(`Transport contract: ${name}`, () => {
    let env: TransportEnv;
    beforeAll(async () => {
      env = await setup();
    }, 60_000);
    afterAll(async () => {
      await env.close();
    });
    const run = (host: string, spec: CommandSpec, signal?: AbortSignal): Promise<ExecOutcome> =>
      env.transport.exec({ host, command: renderCommand(spec, { timeoutMs: spec.timeoutMs }), timeoutMs: spec.timeoutMs, signal });

    it('returns stdout and exit code 0', async () => {
      const o = await run(env.hosts[0], { argv: ['echo', 'hello world'] });
      expect(o).toMatchObject({ exitCode: 0, stdout: 'hello world\n', stderr: '' });
      expect(o.failure).toBeUndefined();
    });

    it('reports a non-zero exit code without a transport failure', async () => {
      const o = await run(env.hosts[0], { shell: 'exit 3' });
      expect(o.exitCode).toBe(3);
      expect(o.failure).toBeUndefined();
    });

    it('keeps stderr apart', async () => {
      const o = await run(env.hosts[1], { shell: 'echo oops >&2' });
      expect(o).toMatchObject({ exitCode: 0, stdout: '', stderr: 'oops\n' });
    });

    it('ends a command at its timeout', async () => {
      const t0 = Date.now();
      const o = await run(env.hosts[0], { shell: 'sleep 30', timeoutMs: 500 });
      expect(o.failure).toBe('timeout');
      expect(Date.now() - t0).toBeLessThan(5000);
    });

    it('ends a command when the signal aborts', async () => {
      const ac = new AbortController();
      setTimeout(() => ac.abort(new Error('stop')), 300);
      const t0 = Date.now();
      const o = await run(env.hosts[1], { shell: 'sleep 30' }, ac.signal);
      expect(o.failure).toBeDefined();
      expect(Date.now() - t0).toBeLessThan(5000);
    });

    it('fails an unreachable host with "unreachable" and a message naming it', async () => {
      const o = await run(env.unreachable, { argv: ['true'] });
      expect(o.failure).toBe('unreachable');
      expect(o.message).toContain(env.unreachable);
    });

    it('runs 20 commands on one host at once', async () => {
      const outs = await Promise.all(Array.from({ length: 20 }, (_, i) => run(env.hosts[0], { argv: ['echo', `n${i}`] })));
      expect(outs.map((o) => o.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `n${i}\n`));
    });
  });
}
