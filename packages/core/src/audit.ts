/**
 * The audit trail: a JSONL file per cookbook (`<logs.dir>/<cookbook path>/<name>.jsonl`, appended)
 * holding every event of every run, plus one line per finished top-level run in
 * `<logs.dir>/index.jsonl`. Secrets are redacted before anything is written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { redactObject } from '@galley/errors';
import type { RunEvent, RunSink } from './events.js';

export function auditFileFor(logsDir: string, cookbook: string): string {
  const parts = cookbook.split('.');
  const name = parts.pop() ?? 'cookbook';
  return path.join(logsDir, ...parts, `${name}.jsonl`);
}

export interface AuditIndexLine {
  ts: string;
  runId: string;
  cookbook: string;
  user: string;
  args: Record<string, unknown>;
  argv: string[];
  reason?: string | undefined;
  taskId?: string | undefined;
  dryRun: boolean;
  exitCode: number;
  durationMs: number;
  changes: number;
  errors: number;
  log: string;
}

export interface AuditLogOptions {
  /** Called once, on the first failed write (the run goes on: an audit problem never breaks a run). */
  onError?: (err: Error, file: string) => void;
}

/**
 * Synchronous appends: the last lines must be on disk even if the process is killed right after.
 * The index gets one line per top-level run (nested runs are in the cookbook files only).
 */
export class AuditLog implements RunSink {
  private readonly file: string;
  private failed = false;
  private readonly started = new Map<
    string,
    {
      args: Record<string, unknown>;
      argv: string[];
      reason?: string | undefined;
      taskId?: string | undefined;
      user: string;
      errors: number;
    }
  >();

  constructor(
    private readonly logsDir: string,
    private readonly cookbook: string,
    private readonly opts: AuditLogOptions = {},
  ) {
    this.file = auditFileFor(logsDir, cookbook);
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
  }

  get path(): string {
    return this.file;
  }

  event(e: RunEvent): void {
    // The runner's events are redacted already; the CLI's own ones (a hard stop's report) are not.
    const safe = redactObject(e);
    try {
      fs.appendFileSync(this.file, `${JSON.stringify(safe)}\n`);
    } catch (err) {
      // the audit log must never break a run, but the operator must know it is incomplete
      this.fail(err, this.file);
      return;
    }
    if (e.type === 'run-started' || e.type === 'args-refused') {
      const s = safe as unknown as AuditIndexLine;
      this.started.set(e.runId, {
        args: s.args ?? {},
        argv: s.argv,
        reason: s.reason,
        taskId: s.taskId,
        user: (safe as unknown as { user: string }).user,
        errors: 0,
      });
    } else if (e.type === 'error') {
      const s = this.started.get(e.runId);
      if (s) s.errors++;
    } else if (e.type === 'run-finished') {
      const s = this.started.get(e.runId);
      const f = safe as unknown as { exitCode: number; durationMs: number; dryRun: boolean; depth?: number; summary: { changes: number } };
      if ((f.depth ?? 0) > 0) return;
      const line: AuditIndexLine = {
        ts: e.ts,
        runId: e.runId,
        cookbook: e.cookbook ?? this.cookbook,
        user: s?.user ?? '',
        args: s?.args ?? {},
        argv: s?.argv ?? [],
        reason: s?.reason,
        taskId: s?.taskId,
        dryRun: f.dryRun,
        exitCode: f.exitCode,
        durationMs: f.durationMs,
        changes: f.summary.changes,
        errors: s?.errors ?? 0,
        log: this.file,
      };
      const index = path.join(this.logsDir, 'index.jsonl');
      try {
        fs.appendFileSync(index, `${JSON.stringify(line)}\n`);
      } catch (err) {
        this.fail(err, index);
      }
    }
  }

  private fail(err: unknown, file: string): void {
    if (this.failed) return;
    this.failed = true;
    this.opts.onError?.(err instanceof Error ? err : new Error(String(err)), file);
  }
}
