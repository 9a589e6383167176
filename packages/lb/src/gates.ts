/**
 * The human in the loop of a rolling run (issue 14 items 3–4): safe points where a pause from
 * another terminal (`cookbook --pause RUN_ID`) takes effect, the gates between lockstep batches
 * (`pause-after=N`, `confirm-each-batch`: the canary pattern), and the decision on a failed host
 * (retry / skip / abort, Spicerack's confirm_on_failure). Every question is asked at a point where
 * nothing is half-way: between batches, or with the failed host still out of traffic (verified out,
 * its lock held) and the batch's other hosts already back. Nobody to ask (no TTY) is never a yes:
 * a gate stops the run there, a failed host stays depooled exactly as without this module.
 */
import { isConfirmationError } from '@galley/core';
import type { Batch } from './batch.js';
import type { HostState, Run } from './run.js';

export type Decision = 'retry' | 'skip' | 'abort';
export const DECISIONS: readonly Decision[] = ['retry', 'skip', 'abort'];

/** How the run reaches the operator (the runner's ctx.confirm / ctx.choose / ctx.safePoint). */
export interface Operator {
  /** Go on? Throws ConfirmationError when nobody can be asked (no TTY and no --yes). */
  confirm(message: string): Promise<boolean>;
  /** One of the answers; throws ConfirmationError without a TTY (then the run fails closed). */
  choose(message: string, choices: readonly Decision[]): Promise<Decision>;
  /** Resolves at once unless the run is paused from another terminal; then when it is continued (or interrupted). */
  safePoint(where: string): Promise<void>;
}

/** Where the run may be paused: before a new batch, or before a new host of a moving window is taken out. */
export async function safePoint(run: Run, where: string): Promise<void> {
  await run.ports.operator?.safePoint(where);
}

/**
 * Before lockstep batch `next.no`: a pause from another terminal first, then the gate of
 * `pause-after=N` (after batch N) or `confirm-each-batch` (after every batch). False when the run
 * stops here: answered no, no terminal to ask, or interrupted while waiting.
 */
export async function beforeBatch(run: Run, next: { no: number; of: number; hosts: readonly string[] }): Promise<boolean> {
  const op = run.ports.operator;
  if (!op) return true;
  await op.safePoint(`before batch ${next.no}/${next.of}`);
  if (run.aborted) return false;
  const done = next.no - 1;
  const { pauseAfter, confirmEachBatch } = run.opts;
  if (done < 1 || !(confirmEachBatch === true || pauseAfter === done)) return true;
  const why = pauseAfter === done ? `pause-after=${done}` : 'confirm-each-batch';
  const hosts = next.hosts.length > 3 ? `${next.hosts.slice(0, 3).join(', ')} and ${next.hosts.length - 3} more` : next.hosts.join(', ');
  run.emit({ type: 'gate', batch: done, next: next.no, of: next.of, why });
  let yes: boolean;
  try {
    yes = await op.confirm(`${why}: batch ${done} is done and back in traffic. Go on with batch ${next.no}/${next.of} (${hosts})?`);
  } catch (err) {
    if (!isConfirmationError(err)) throw err;
    run.stopByOperator(
      `${why}: no terminal to ask whether to go on after batch ${done} (and no --yes), so the run stops here; nothing more was taken out`,
    );
    return false;
  }
  if (run.aborted) return false;
  if (!yes) {
    run.stopByOperator(`stopped by the operator after batch ${done} (${why}: not confirmed); nothing more was taken out`);
    return false;
  }
  return true;
}

/**
 * A lockstep batch's hosts whose action or health check failed, once the others are back: on a
 * terminal the operator picks, per host, retry (take it out again as verified, act, health check,
 * put back: it is still out and locked), skip (it stays depooled and reported, as without a
 * terminal) or abort (the run stops at this point, the host stays depooled). Returns the hosts a
 * retry brought back. Without a terminal nothing is asked and nothing changes.
 */
export async function decideFailures(run: Run, batch: Batch, retryable: Set<HostState>): Promise<HostState[]> {
  const op = run.ports.operator;
  if (!op || run.opts.window === 'moving') return [];
  const back: HostState[] = [];
  for (;;) {
    const failed = batch.hosts.filter((s) => s.phase === 'failed' && retryable.has(s));
    if (!failed.length || run.aborted || run.stopReason !== undefined) return back;
    const retry: HostState[] = [];
    const answered: { host: string; reason: string; answer: Decision }[] = [];
    // Announced once every question is answered: a retry is drawn as a new step, and a question
    // is only ever asked between drawn steps.
    const announce = (): void => {
      for (const a of answered.splice(0)) run.emit({ type: 'decision', batch: batch.no, ...a });
    };
    for (const s of failed) {
      retryable.delete(s);
      const host = s.plan.host;
      const error = s.reason ?? 'failed';
      run.emit({ type: 'decision', batch: batch.no, host, reason: error });
      let d: Decision;
      try {
        d = await op.choose(
          `${host} failed: ${error}\n    It is still out of traffic and its lock is held. retry: take it out again as verified and run the action${run.opts.healthCheck ? ' and the health check' : ''} again; skip: leave it depooled and go on (it counts against max-failed-batches); abort: stop the run here (it stays depooled)`,
          DECISIONS,
        );
      } catch (err) {
        // No terminal: fail closed exactly as before this question existed.
        if (!isConfirmationError(err)) throw err;
        announce();
        return back;
      }
      await run.note([s], () => `the operator chose ${d} after: ${error}`);
      answered.push({ host, reason: error, answer: d });
      if (d === 'abort') {
        run.stopReason ??= `aborted by the operator after ${host} failed (${error}); it is left depooled`;
        announce();
        return back;
      }
      if (d === 'retry') retry.push(s);
      if (run.aborted) break;
    }
    announce();
    if (!retry.length || run.aborted) return back;
    // Still out (this run's marker, the host lock held): verified out again before anything runs on it.
    for (const s of retry) {
      s.stillDepooled = false;
      delete s.reason;
    }
    await run.setPhase(retry, 'depooled', (s) => ({ changes: s.changes, reason: 'retry, chosen by the operator' }));
    if (!(await batch.takeOut()) || run.aborted) return back;
    await batch.act();
    if (run.aborted) return back;
    if (run.opts.healthCheck) {
      await batch.healthCheck(run.opts.healthCheck);
      if (run.aborted) return back;
    }
    back.push(...(await batch.putBack()));
  }
}
