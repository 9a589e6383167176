import type { ExecOutcome, ExecRequest, Transport } from '../types.js';

/** What a fake host does with one command. */
export interface FakeReply {
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  /** How long the "remote" command runs. */
  delayMs?: number;
  failure?: ExecOutcome['failure'];
  message?: string;
  /** With failure 'unreachable': the connection dropped while the command ran (a reboot). */
  lostWhileRunning?: boolean;
}

export type FakeHandler = (host: string, command: string) => FakeReply | undefined;

/**
 * An in-memory Transport for unit tests of scheduling logic. It honours timeouts (a reply slower
 * than the command's timeout fails with 'timeout'), abort signals and close(), and records every
 * call and the peak concurrency, so tests can check windows and batch sizes.
 */
export class FakeTransport implements Transport {
  readonly calls: { host: string; command: string; at: number }[] = [];
  readonly evicted: string[] = [];
  inFlight = 0;
  peakInFlight = 0;
  closed = false;
  readonly #handler: FakeHandler;
  readonly #connected = new Set<string>();

  constructor(handler: FakeHandler = () => ({})) {
    this.#handler = handler;
  }

  exec(req: ExecRequest): Promise<ExecOutcome> {
    const t0 = Date.now();
    if (this.closed)
      return Promise.resolve({ exitCode: null, stdout: '', stderr: '', durationMs: 0, failure: 'unreachable', message: 'closed' });
    if (!this.#connected.has(req.host)) {
      this.#connected.add(req.host);
      req.onConnecting?.();
    }
    this.calls.push({ host: req.host, command: req.command, at: t0 });
    req.onRunning?.();
    const reply = this.#handler(req.host, req.command) ?? {};
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    return new Promise<ExecOutcome>((resolve) => {
      const state: { timer?: NodeJS.Timeout } = {};
      const finish = (o: Partial<ExecOutcome>) => {
        if (state.timer) clearTimeout(state.timer);
        req.signal?.removeEventListener('abort', onAbort);
        this.inFlight--;
        const out: ExecOutcome = {
          exitCode: o.exitCode ?? null,
          stdout: o.stdout ?? '',
          stderr: o.stderr ?? '',
          durationMs: Date.now() - t0,
        };
        if (o.failure !== undefined) out.failure = o.failure;
        if (o.message !== undefined) out.message = o.message;
        if (o.lostWhileRunning === true) out.lostWhileRunning = true;
        resolve(out);
      };
      const onAbort = () => finish({ failure: 'timeout', message: `${req.host}: aborted` });
      if (req.signal?.aborted) return onAbort();
      req.signal?.addEventListener('abort', onAbort, { once: true });
      const delay = reply.delayMs ?? 0;
      const timedOut = req.timeoutMs !== undefined && delay > req.timeoutMs;
      state.timer = setTimeout(
        () => {
          if (timedOut) finish({ exitCode: 124, failure: 'timeout', message: `${req.host}: command timed out` });
          else if (reply.failure !== undefined) {
            finish({
              failure: reply.failure,
              message: reply.message ?? reply.failure,
              ...(reply.lostWhileRunning === true ? { lostWhileRunning: true } : {}),
            });
          } else finish({ exitCode: reply.exitCode ?? 0, stdout: reply.stdout ?? '', stderr: reply.stderr ?? '' });
        },
        timedOut ? req.timeoutMs : delay,
      );
    });
  }

  evict(host: string): void {
    this.evicted.push(host);
    this.#connected.delete(host);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/**
 * A tiny stand-in for a host's shell, enough for the Transport contract: strips the `timeout`
 * and `sh -c` wrappers renderCommand adds, then knows echo (also `>&2`), exit N, sleep N, true,
 * false and hostname.
 */
export function fakeShell(host: string, command: string): FakeReply {
  let cmd = command.replace(/^timeout -k \d+ [\d.]+s /, '');
  const sh = /^sh -c '(.*)'$/s.exec(cmd);
  if (sh) cmd = (sh[1] ?? '').replaceAll(`'\\''`, "'");
  const words = [...cmd.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)].map((m) =>
    m[1] !== undefined ? m[1].replaceAll(`'\\''`, "'") : (m[2] ?? ''),
  );
  const [head, ...rest] = words;
  switch (head) {
    case 'echo':
      return rest[rest.length - 1] === '>&2' ? { stderr: `${rest.slice(0, -1).join(' ')}\n` } : { stdout: `${rest.join(' ')}\n` };
    case 'exit':
      return { exitCode: Number(rest[0] ?? 0) };
    case 'sleep':
      return { delayMs: Number(rest[0] ?? 0) * 1000 };
    case 'true':
      return {};
    case 'false':
      return { exitCode: 1 };
    case 'hostname':
      return { stdout: `${host}\n` };
    default:
      return { exitCode: 127, stderr: `${head ?? ''}: command not found\n` };
  }
}

/** FakeTransport running `fakeShell`, with some hosts unreachable. */
export function fakeFleet(unreachable: string[] = []): FakeTransport {
  return new FakeTransport((host, command) =>
    unreachable.includes(host) ? { failure: 'unreachable', message: `${host}: connection refused` } : fakeShell(host, command),
  );
}

export { transportContract, type TransportEnv } from './contract.js';
