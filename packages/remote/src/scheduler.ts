import { setMaxListeners } from 'node:events';
import { RunOptionsError } from './errors.js';
import { NodeSet } from './nodeset.js';
import { sleep } from './sleep.js';
import type { CommandResult, CommandSpec, ExecOutcome, HostEvent, HostResult, RunOptions, RunReport, Transport } from './types.js';

/** A command ready to send: what to exec, what to show, and what counts as success. */
export interface PreparedCommand {
  display: string;
  rendered: string;
  timeoutMs?: number | undefined;
  okCodes: number[];
  /** Render again with a shorter remote timeout (the global deadline is nearer than timeoutMs). */
  render?: (timeoutMs: number) => string;
}

export interface ScheduleInput {
  hosts: string[];
  commands: PreparedCommand[];
  transport: Transport;
  options: RunOptions;
  /** Upper bound on hosts in flight regardless of batch size (Cumin/ClusterShell fanout). */
  fanout: number;
  /** Treat a connection lost while the command runs as success (reboot). */
  disconnectIsSuccess?: boolean;
}

/**
 * Hosts in flight: an int (capped at n) or `N%`, rounded DOWN and at least 1 — the same count as
 * the rolling cookbooks' batch=N% (and Kubernetes' maxUnavailable). Cumin rounds half to even;
 * galley does not, so a percentage means one thing everywhere.
 */
export function resolveBatchSize(batch: RunOptions['batchSize'], n: number): number {
  if (batch === undefined) return Math.max(n, 1);
  if (typeof batch === 'number') {
    if (!Number.isInteger(batch) || batch < 1) {
      throw new RunOptionsError(`batch size must be a positive integer or N%, got ${batch}`, 'use e.g. -b 5 or -b 10%');
    }
    return Math.min(batch, Math.max(n, 1));
  }
  const m = /^(\d+(?:\.\d+)?)%$/.exec(batch);
  const pct = m ? Number(m[1]) : NaN;
  if (!(pct > 0 && pct <= 100)) {
    throw new RunOptionsError(`batch size percentage must be in (0, 100], got '${batch}'`, 'use e.g. -b 10%');
  }
  return Math.min(Math.max(1, Math.floor((n * pct) / 100 + 1e-9)), Math.max(n, 1));
}

/**
 * The longest a command, the pause between batches or a whole run may take: a day. Longer is a
 * typo (seconds given as milliseconds times a thousand), never a plan.
 */
export const MAX_DURATION_MS = 24 * 3600 * 1000;

function validate(opts: RunOptions): void {
  const t = opts.successThreshold;
  if (t !== undefined && !(t >= 0 && t <= 1)) {
    throw new RunOptionsError(`success threshold must be between 0 and 1, got ${t}`, 'use e.g. -p 95 (percent) or successThreshold: 0.95');
  }
  if (opts.batchSleepMs !== undefined && !(opts.batchSleepMs >= 0 && opts.batchSleepMs <= MAX_DURATION_MS)) {
    throw new RunOptionsError(
      `batch sleep must be from 0 to ${MAX_DURATION_MS} ms (24h), got ${opts.batchSleepMs}`,
      'use e.g. -s 2 (seconds)',
    );
  }
  if (opts.globalTimeoutMs !== undefined && !(opts.globalTimeoutMs > 0 && opts.globalTimeoutMs <= MAX_DURATION_MS)) {
    throw new RunOptionsError(
      `global timeout must be above 0 and at most ${MAX_DURATION_MS} ms (24h), got ${opts.globalTimeoutMs}`,
      'use e.g. --global-timeout 600 (seconds)',
    );
  }
}

/**
 * Every option and every command's timeout, before anything is run, locked or announced. A
 * command timeout of 0 is refused, never taken as "no timeout": a hung command would hold its
 * host (out of traffic, locked) forever. Unset is the config's `ssh.commandTimeoutMs`.
 */
export function checkRunInput(commands: readonly CommandSpec[], opts: RunOptions, display: (c: CommandSpec) => string): void {
  validate(opts);
  for (const c of commands) {
    const ms = c.timeoutMs;
    if (ms !== undefined && !(ms > 0 && ms <= MAX_DURATION_MS)) {
      throw new RunOptionsError(
        `timeout of '${display(c)}' must be above 0 and at most ${MAX_DURATION_MS} ms (24h), got ${ms} ms`,
        'give the longest the command may run (0 is not "no timeout"), e.g. timeoutMs: 120000, or leave it unset for ssh.commandTimeoutMs',
      );
    }
  }
}

type State = 'pending' | 'running' | 'success' | 'failed';

interface HostState {
  host: string;
  state: State;
  commands: CommandResult[];
  failure?: HostResult['failure'];
  message?: string;
  startedAt: number;
  durationMs: number;
  started: boolean;
}

/** Run commands over hosts with Cumin's semantics (spicerack-model.md §5.3). */
export async function schedule(input: ScheduleInput): Promise<RunReport> {
  const { hosts, commands, transport, options: o } = input;
  validate(o);
  const n = hosts.length;
  const batch = resolveBatchSize(o.batchSize, n);
  const threshold = o.successThreshold ?? 1;
  const sleepMs = o.batchSleepMs ?? 0;
  const mode = o.mode ?? 'async';
  const windowKind = o.window ?? 'moving';
  const emit = (e: HostEvent) => {
    try {
      o.onEvent?.(e);
    } catch {
      // A broken progress renderer must not break the run.
    }
  };

  const abort = new AbortController();
  // Every in-flight exec listens on it: a 64-wide fan-out is not a leak.
  setMaxListeners(0, abort.signal);
  let timedOut = false;
  // The caller's reason, when it gave one (the runner cutting the run on a second Ctrl+C), is what
  // each host's message says: the audit then tells a cut from a lost connection.
  const abortWhy = (): string => (o.signal?.reason instanceof Error && o.signal.reason.message ? o.signal.reason.message : 'run aborted');
  const onUserAbort = () => abort.abort(new Error(abortWhy()));
  if (o.signal?.aborted) onUserAbort();
  o.signal?.addEventListener('abort', onUserAbort, { once: true });
  const deadlineAt = o.globalTimeoutMs !== undefined ? Date.now() + o.globalTimeoutMs : undefined;
  const deadline = o.globalTimeoutMs !== undefined ? setTimeout(() => reachDeadline(), o.globalTimeoutMs) : undefined;
  function reachDeadline(): void {
    timedOut = true;
    if (!abort.signal.aborted) abort.abort(new Error('global timeout'));
  }

  const st = new Map<string, HostState>();
  for (const h of hosts) {
    st.set(h, { host: h, state: 'pending', commands: [], startedAt: 0, durationMs: 0, started: false });
    emit({ host: h, phase: 'queued' });
  }
  let failed = 0;
  const aboveThreshold = () => n === 0 || 1 - failed / n >= threshold;

  const finishHost = (s: HostState) => {
    s.durationMs = s.started ? Date.now() - s.startedAt : 0;
    const r = toResult(s);
    emit({ host: s.host, phase: r.ok ? 'done' : 'failed', result: r });
  };

  /** Run one command on one host; true when it succeeded. */
  const runOne = async (s: HostState, cmd: PreparedCommand): Promise<boolean> => {
    if (!s.started) {
      s.started = true;
      s.startedAt = Date.now();
    }
    s.state = 'running';
    // The remote `timeout` ends the command at the global deadline too: a run that gives up must
    // not leave commands running on the hosts for their own (default 300 s) timeout.
    let rendered = cmd.rendered;
    let timeoutMs = cmd.timeoutMs;
    let cutByDeadline = false;
    if (deadlineAt !== undefined && cmd.render) {
      const left = Math.max(deadlineAt - Date.now(), 1);
      if (timeoutMs === undefined || timeoutMs <= 0 || left < timeoutMs) {
        timeoutMs = left;
        rendered = cmd.render(left);
        cutByDeadline = true;
      }
    }
    let out: ExecOutcome;
    try {
      out = await transport.exec({
        host: s.host,
        command: rendered,
        timeoutMs,
        signal: abort.signal,
        onConnecting: () => emit({ host: s.host, phase: 'connecting', command: cmd.display }),
        onRunning: () => emit({ host: s.host, phase: 'running', command: cmd.display }),
      });
    } catch (err) {
      out = { exitCode: null, stdout: '', stderr: '', durationMs: 0, failure: 'unreachable', message: (err as Error).message };
    }
    s.commands.push({ cmd: cmd.display, exitCode: out.exitCode, stdout: out.stdout, stderr: out.stderr, durationMs: out.durationMs });
    // A remote `timeout` cut to the deadline has ended: the deadline is reached, whether or not its
    // timer has fired yet on a busy event loop (else the run ended as 'failed' instead of 'timeout').
    if (cutByDeadline && out.failure === 'timeout') reachDeadline();
    if (out.failure !== undefined && abort.signal.aborted) {
      s.failure = 'timeout';
      s.message = timedOut ? `global timeout reached while running '${cmd.display}'` : `${abortWhy()} while running '${cmd.display}'`;
      return false;
    }
    // Only a connection lost while `reboot` ran: matching messages also took hosts that were never
    // reached (reset during the handshake, pool closed) as rebooted.
    if (out.failure === 'unreachable' && input.disconnectIsSuccess && out.lostWhileRunning === true) return true;
    if (out.failure !== undefined) {
      s.failure = out.failure;
      s.message = out.message ?? out.failure;
      return false;
    }
    const ok = cmd.okCodes.length === 0 || (out.exitCode !== null && cmd.okCodes.includes(out.exitCode));
    if (!ok) {
      s.failure = 'exit-code';
      s.message = `'${cmd.display}' exited with ${out.exitCode}`;
    }
    return ok;
  };

  const markFailed = (s: HostState) => {
    s.state = 'failed';
    failed++;
  };

  /**
   * Moving window: at most `batch` (and `fanout`) in flight; each completion arms the batch
   * sleep, after which one more item starts if the success ratio is still above the threshold.
   */
  const moving = (items: HostState[], work: (s: HostState) => Promise<void>): Promise<HostState[]> =>
    new Promise((resolve) => {
      const width = Math.min(batch, input.fanout);
      let next = 0;
      let active = 0;
      let timers = 0;
      const maybeDone = () => {
        if (active === 0 && timers === 0) resolve(items.slice(next));
      };
      const startOne = () => {
        const s = items[next++];
        if (!s) return;
        active++;
        void work(s).finally(() => {
          active--;
          // No sleep when nothing more will start (below the threshold): report at once.
          if (sleepMs > 0 && next < items.length && !abort.signal.aborted && aboveThreshold()) {
            timers++;
            void sleep(sleepMs, abort.signal).then(() => {
              timers--;
              refill();
              maybeDone();
            });
          } else {
            refill();
            maybeDone();
          }
        });
      };
      const refill = () => {
        while (active < width && next < items.length && !abort.signal.aborted && aboveThreshold()) {
          startOne();
          if (sleepMs > 0) break; // with a sleep, one host per completion (Cumin's timer)
        }
      };
      while (active < width && next < items.length && aboveThreshold() && !abort.signal.aborted) startOne();
      maybeDone();
    });

  /** Lockstep: slices of `batch`; a slice must finish before the next starts. */
  const lockstep = async (items: HostState[], work: (s: HostState) => Promise<void>): Promise<HostState[]> => {
    const slices = sliceInOrder(items, Math.ceil(items.length / batch));
    for (let i = 0; i < slices.length; i++) {
      const slice = slices[i] ?? [];
      if (abort.signal.aborted || !aboveThreshold()) return slices.slice(i).flat();
      await runLimited(slice, Math.min(input.fanout, batch), work);
      if (i < slices.length - 1 && sleepMs > 0 && aboveThreshold()) await sleep(sleepMs, abort.signal);
    }
    return [];
  };
  const windowed = windowKind === 'lockstep' ? lockstep : moving;

  const all = hosts.map((h) => st.get(h) as HostState);
  if (mode === 'async') {
    const skipped = await windowed(all, async (s) => {
      for (const cmd of commands) {
        if (!(await runOne(s, cmd))) {
          markFailed(s);
          finishHost(s);
          return;
        }
      }
      s.state = 'success';
      finishHost(s);
    });
    for (const s of skipped) notRun(s, timedOut, abort.signal.aborted);
  } else {
    let eligible = all;
    for (let ci = 0; ci < commands.length; ci++) {
      const cmd = commands[ci] as PreparedCommand;
      const last = ci === commands.length - 1;
      const skipped = await windowed(eligible, async (s) => {
        if (await runOne(s, cmd)) {
          s.state = last ? 'success' : 'pending';
          if (last) finishHost(s);
        } else {
          markFailed(s);
          finishHost(s);
        }
      });
      for (const s of skipped) notRun(s, timedOut, abort.signal.aborted, cmd.display);
      eligible = eligible.filter((s) => s.state === 'pending' && s.failure === undefined);
      if (!aboveThreshold() || abort.signal.aborted) {
        for (const s of eligible) notRun(s, timedOut, abort.signal.aborted, commands[ci + 1]?.display);
        break;
      }
    }
  }
  function notRun(s: HostState, isTimeout: boolean, aborted: boolean, cmd?: string) {
    if (s.failure !== undefined) return;
    s.state = 'failed';
    s.failure = 'not-run';
    const what = cmd === undefined ? 'commands' : `'${cmd}'`;
    s.message = isTimeout
      ? `${what} not run: global timeout`
      : aborted
        ? `${what} not run: ${abortWhy()}`
        : `${what} not run: success ratio fell below the threshold`;
    finishHost(s);
  }

  if (deadline) clearTimeout(deadline);
  o.signal?.removeEventListener('abort', onUserAbort);

  const results = hosts.map((h) => toResult(st.get(h) as HostState));
  const okCount = results.filter((r) => r.ok).length;
  let status: RunReport['status'];
  if (timedOut) status = 'timeout';
  else if (okCount === n) status = 'succeeded';
  else if (n > 0 && okCount / n < threshold) status = 'failed';
  else status = 'completed-with-failures';
  const exitCode = ({ succeeded: 0, 'completed-with-failures': 1, failed: 2, timeout: 4 } as const)[status];
  return {
    status,
    exitCode,
    results,
    groups: groupOutputs(results),
    notRun: results.filter((r) => r.failure === 'not-run').map((r) => r.host),
  };
}

function toResult(s: HostState): HostResult {
  const last = s.commands[s.commands.length - 1];
  const r: HostResult = {
    host: s.host,
    ok: s.state === 'success',
    exitCode: last?.exitCode ?? null,
    stdout: s.commands.map((c) => c.stdout).join(''),
    stderr: s.commands.map((c) => c.stderr).join(''),
    durationMs: s.durationMs,
    commands: s.commands,
  };
  if (s.failure !== undefined) r.failure = s.failure;
  if (s.message !== undefined) r.message = s.message;
  return r;
}

function sliceInOrder<T>(items: T[], slices: number): T[][] {
  const out: T[][] = [];
  const n = items.length;
  const k = Math.min(Math.max(slices, 1), Math.max(n, 1));
  const base = Math.floor(n / k);
  const extra = n - base * k;
  let i = 0;
  for (let s = 0; s < k && i < n; s++) {
    const len = base + (s < extra ? 1 : 0);
    out.push(items.slice(i, i + len));
    i += len;
  }
  return out;
}

async function runLimited<T>(items: T[], limit: number, work: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const t = items[next++] as T;
      await work(t);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/**
 * Cumin's node groups: hosts whose combined output is identical, in host order. Hosts where no
 * command completed and nothing was printed (unreachable, host key, auth, a silent timeout) are
 * left out: they are failures, not a "NO OUTPUT" group next to hosts that ran the command.
 */
export function groupOutputs(results: readonly HostResult[]): { hosts: NodeSet; output: string }[] {
  const byOut = new Map<string, string[]>();
  for (const r of results) {
    if (r.commands.every((c) => c.exitCode === null && c.stdout === '' && c.stderr === '')) continue;
    const text = r.commands
      .map((c) => c.stdout + c.stderr)
      .join('')
      .replace(/\s+$/, '');
    const list = byOut.get(text);
    if (list) list.push(r.host);
    else byOut.set(text, [r.host]);
  }
  return [...byOut].map(([output, hs]) => ({ hosts: NodeSet.fromHosts(hs), output }));
}
