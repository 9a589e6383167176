/**
 * Drain (issue 14 item 2): give a host's established connections time to finish before it is acted
 * on. `drain=DURATION` waits that long once every LB has the host out; with `drain-check=CMD` the wait
 * ends as soon as CMD, run on the host, prints 0 (established connections to the service port), and
 * `drain=` is its bound. `drain=weight[:DURATION]` first sets weight 0 while the host stays pooled
 * (conftool's `drain`: the LBs send it no new connections, the open ones go on), waits (or polls
 * CMD) there, and only then depools; the put-back restores the weight (engine.ts).
 *
 * When the bound runs out and drain-check still reports connections, the host is failed closed:
 * nothing is run on it, it is put back (verified in on every LB) and counts as a failed host, like
 * a host whose depool could not be verified.
 */
import { parseDuration } from './batches.js';
import { displayCommand } from '@galley/remote/command';
import type { CommandSpec } from './ports.js';
import type { HostState, Run } from './run.js';

export interface DrainSpec {
  /** The wait (or, with `check`, its bound). 0: no drain. */
  ms: number;
  /** weight 0 first, while still pooled; the wait is then before the depool. */
  weight: boolean;
  /** Run on each host until it prints 0; a non-zero exit or no number means "not drained yet". */
  check?: CommandSpec;
  /** Pause between drain-check rounds (default 1 s). */
  checkIntervalMs?: number;
}

/**
 * `30s`, `weight`, `weight:30s` (a number is seconds). `weight` alone waits the configured default.
 * Throws LbArgumentError naming the value.
 */
export function parseDrain(v: string | number, defaultMs: number): Pick<DrainSpec, 'ms' | 'weight'> {
  if (typeof v === 'number') return { ms: parseDuration(v, 'drain'), weight: false };
  const t = v.trim();
  const m = /^weight(?::(.*))?$/.exec(t);
  if (!m) return { ms: parseDuration(t, 'drain'), weight: false };
  return { ms: m[1] === undefined ? defaultMs : parseDuration(m[1], 'drain'), weight: true };
}

export function drainText(d: DrainSpec): string {
  const bound = d.check
    ? `until \`${displayCommand(d.check)}\` prints 0 on the host, at most ${d.ms} ms (then not acted on, put back, failed)`
    : `${d.ms} ms`;
  return d.weight
    ? `weight=0 while still pooled, wait ${bound}, then depool (the weight is restored on put-back)`
    : `once every LB has the host out, wait ${bound} before acting`;
}

/** How many established connections drain-check reported: its whole stdout a whole number. */
export function connectionsOf(out: { ok: boolean; outputs: { stdout: string }[] }): number | null {
  if (!out.ok) return null;
  const text = (out.outputs.at(-1)?.stdout ?? '').trim();
  return /^\d+$/.test(text) ? Number(text) : null;
}

/**
 * The drain wait of a batch's hosts (verified out, or at weight 0): sleep `ms`, or poll the check
 * until each host says 0. Returns the hosts that did not drain within the bound, with why (the
 * caller puts them back unacted). A signal ends the wait early (the caller stops between phases).
 */
export async function drainHosts(
  run: Run,
  hosts: readonly HostState[],
  batch: number,
  d: DrainSpec,
): Promise<{ st: HostState; why: string }[]> {
  if (!hosts.length || (d.ms <= 0 && !d.check)) return [];
  const { clock, executor } = run.ports;
  const names = hosts.map((s) => s.plan.host);
  run.emit({
    type: 'drain',
    batch,
    hosts: names,
    ms: d.ms,
    ...(d.weight ? { weight: true } : {}),
    ...(d.check ? { check: displayCommand(d.check) } : {}),
  });
  if (!d.check) {
    await clock.sleep(d.ms, run.opts.signal);
    return [];
  }
  const until = clock.now() + d.ms;
  const last = new Map<string, string>();
  let waiting = [...hosts];
  for (;;) {
    let results;
    try {
      results = await executor.run(
        waiting.map((s) => s.plan.host),
        [d.check],
      );
    } catch (err) {
      // The check could not run at all: not drained as far as anyone knows.
      return waiting.map((st) => ({
        st,
        why: `drain-check \`${displayCommand(d.check!)}\` could not run (${err instanceof Error ? err.message : String(err)}); not acted on, put back`,
      }));
    }
    const answers = results.map((r) => ({
      host: r.host,
      connections: connectionsOf(r),
      output: (r.outputs.at(-1)?.stdout ?? r.message ?? '').trim().slice(0, 200),
    }));
    run.emit({ type: 'drain-check', batch, answers, leftMs: Math.max(0, until - clock.now()) });
    const zero = new Set(answers.filter((a) => a.connections === 0).map((a) => a.host));
    for (const a of answers)
      last.set(a.host, a.connections === null ? `no number (${a.output || 'no output'})` : `${a.connections} established connection(s)`);
    waiting = waiting.filter((s) => !zero.has(s.plan.host));
    if (!waiting.length || run.aborted) return [];
    if (clock.now() >= until) {
      return waiting.map((st) => ({
        st,
        why: `drain-check \`${displayCommand(d.check!)}\` still reported ${last.get(st.plan.host) ?? 'nothing'} after drain=${d.ms} ms; not acted on, put back`,
      }));
    }
    await clock.sleep(Math.min(d.checkIntervalMs ?? 1000, Math.max(0, until - clock.now())), run.opts.signal);
  }
}
