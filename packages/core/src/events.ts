/**
 * Run events: the single stream the runner produces. The CLI renders it (listr2 / text / NDJSON on
 * stdout with `--output json`) and the audit log records it. Schema documented in packages/cli/README.md.
 */
import type { Leftover, PlannedChange } from './cookbook.js';
import type { ArgProblem } from './errors.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface RunStartedEvent {
  type: 'run-started';
  cookbook: string;
  args: Record<string, unknown>;
  argv: string[];
  reason?: string | undefined;
  taskId?: string | undefined;
  dryRun: boolean;
  user: string;
  depth: number;
  resumeOf?: string | undefined;
}
/** In place of run-started when the arguments are refused (exit 96) or the cookbook's spec is broken (95). */
export interface ArgsRefusedEvent {
  type: 'args-refused';
  cookbook: string;
  argv: string[];
  dryRun: boolean;
  user: string;
  depth: number;
  problems?: ArgProblem[] | undefined;
}
export interface LogEvent {
  type: 'log';
  level: LogLevel;
  msg: string;
  fields?: Record<string, unknown> | undefined;
}
export interface StepEvent {
  type: 'step';
  id: string;
  parent?: string | undefined;
  title: string;
  status: 'started' | 'updated' | 'output' | 'succeeded' | 'failed' | 'skipped';
  message?: string | undefined;
}
export interface ChangeEvent extends PlannedChange {
  type: 'change';
  dryRun: boolean;
}
export interface OutputEvent {
  type: 'output';
  data: unknown;
  text?: string | undefined;
}
export interface LeftoverEvent extends Leftover {
  type: 'leftover';
}
export interface LockEvent {
  type: 'lock';
  status: 'waiting' | 'acquired' | 'released' | 'busy' | 'lost' | 'bypassed';
  key: string;
  holders?: { owner: string; runId: string; created: string }[];
  message?: string;
}
export interface ErrorEvent {
  type: 'error';
  phase: 'args' | 'prepare' | 'lock' | 'run' | 'rollback' | 'runner';
  code?: string | undefined;
  message: string;
}
export interface RunSummary {
  status: 'PASS' | 'FAIL' | 'ERROR';
  changes: number;
  plan: PlannedChange[];
  leftovers: Leftover[];
  rolledBack: boolean;
  interrupted: boolean;
}
export interface RunFinishedEvent {
  type: 'run-finished';
  cookbook: string;
  exitCode: number;
  durationMs: number;
  dryRun: boolean;
  depth: number;
  summary: RunSummary;
}
/** Cookbook-defined events (host-phase, verification, batch-done, …) pass through as they are. */
export interface CustomEvent {
  type: string;
  [k: string]: unknown;
}

export type RunEventBody =
  | RunStartedEvent
  | ArgsRefusedEvent
  | LogEvent
  | StepEvent
  | ChangeEvent
  | OutputEvent
  | LeftoverEvent
  | LockEvent
  | ErrorEvent
  | RunFinishedEvent;

/** Every event carries when, which run, and (for nested runs) which cookbook. */
export type RunEvent = (RunEventBody | CustomEvent) & { ts: string; runId: string; cookbook?: string };

export interface RunSink {
  event(e: RunEvent): void;
}

export function fanout(...sinks: (RunSink | undefined)[]): RunSink {
  const live = sinks.filter((s): s is RunSink => s !== undefined);
  return {
    event(e) {
      for (const s of live) s.event(e);
    },
  };
}
