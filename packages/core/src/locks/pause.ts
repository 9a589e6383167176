/**
 * Pausing a running run from another terminal (`cookbook --pause RUN_ID` / `--continue RUN_ID`):
 * one key per paused run, `<galley prefix>/pauses/<runId>` (next to `<prefix>/locks`), value
 * `{runId, by, since}`. The key is bound to the paused run's own lock lease, so it vanishes with
 * the run (a crashed run leaves no pause behind for a later run to trip on), and it can only be
 * written while the run holds a lock: a run that is unknown or finished cannot be paused. The
 * running run reads it at each safe point (the runner's `ctx.safePoint`).
 */
import type { Etcd3 } from 'etcd3';
import type { PauseInfo, PauseReader } from '../execute.js';
import { RunNotRunningError } from '../errors.js';
import type { EtcdLocks } from './etcd.js';

export interface PauseResult {
  /** `paused`: this call paused it; `already`: it was paused before (by `info.by`). */
  status: 'paused' | 'already';
  info: PauseInfo;
}

export interface ContinueResult {
  /** `continued`: this call lifted the pause; `not-paused`: the run is running and was not paused. */
  status: 'continued' | 'not-paused';
  info?: PauseInfo;
}

function parse(raw: string | null): PauseInfo | undefined {
  if (raw === null) return undefined;
  try {
    const v = JSON.parse(raw) as Partial<PauseInfo>;
    return { runId: String(v.runId ?? '?'), by: String(v.by ?? 'unknown'), since: String(v.since ?? '') };
  } catch {
    // someone wrote the key by hand: still a pause (fail towards not taking more hosts out)
    return { runId: '?', by: 'unknown (unreadable pause key)', since: '' };
  }
}

export class EtcdPauses implements PauseReader {
  readonly prefix: string;

  constructor(
    private readonly etcd: Etcd3,
    private readonly locks: EtcdLocks,
    /** Whether a finished run left a journal (to tell "finished" from "unknown" in the error). */
    private readonly journalOf?: (runId: string) => Promise<unknown>,
  ) {
    // `/galley/locks` → `/galley/pauses`
    const root = locks.prefix.slice(0, Math.max(0, locks.prefix.lastIndexOf('/')));
    this.prefix = `${root}/pauses`;
  }

  keyOf(runId: string): string {
    return `${this.prefix}/${runId}`;
  }

  async read(runId: string): Promise<PauseInfo | undefined> {
    return parse(await this.etcd.get(this.keyOf(runId)).string());
  }

  /** The lock keys the run holds (or waits on) now; empty when it is not running. */
  private async holdersOf(runId: string) {
    return (await this.locks.list()).filter((e) => e.runId === runId);
  }

  private async notRunning(runId: string, what: 'pause' | 'continue'): Promise<RunNotRunningError> {
    const journal = this.journalOf ? await this.journalOf(runId).catch(() => undefined) : undefined;
    return new RunNotRunningError(runId, what, journal !== undefined);
  }

  /** Pause the run at its next safe point; `by` is the operator (`user@host`). */
  async pause(runId: string, by: string): Promise<PauseResult> {
    const before = await this.read(runId);
    const held = await this.holdersOf(runId);
    if (!held.length) throw await this.notRunning(runId, 'pause');
    if (before) return { status: 'already', info: before };
    const info: PauseInfo = { runId, by, since: new Date().toISOString() };
    // Only while that lock key still exists, and bound to its lease: the pause ends with the run.
    const lock = held[0]!;
    const res = await this.etcd
      .if(lock.key, 'Create', '>', 0)
      .then(this.etcd.put(this.keyOf(runId)).value(JSON.stringify(info)).lease(lock.lease))
      .commit()
      .catch((err: unknown) => {
        // the lease ended between the listing and the write: the run has just finished
        if (/lease not found/i.test(err instanceof Error ? err.message : String(err))) return { succeeded: false };
        throw err;
      });
    if (!res.succeeded) throw await this.notRunning(runId, 'pause');
    return { status: 'paused', info };
  }

  /** Lift the pause: the run goes on at once (within its poll interval). */
  async continue(runId: string): Promise<ContinueResult> {
    const prev = await this.etcd.delete().key(this.keyOf(runId)).getPrevious();
    const info = prev[0] ? parse(prev[0].value.toString()) : undefined;
    if (info) return { status: 'continued', info };
    if (!(await this.holdersOf(runId)).length) throw await this.notRunning(runId, 'continue');
    return { status: 'not-paused' };
  }
}
