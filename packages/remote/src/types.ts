import type { NodeSet } from './nodeset.js';

interface CommandCommon {
  /** Per-command timeout; the remote process group is killed when it expires. */
  timeoutMs?: number;
  /** Exit codes that count as success (default [0]); [] means any exit code is OK. */
  okCodes?: number[];
  sudo?: boolean;
}

/** argv is quoted for the remote shell; `shell` is sent verbatim and only when the caller asks for it. */
export type CommandSpec = ({ argv: string[] } & CommandCommon) | ({ shell: string } & CommandCommon);

export type HostFailure = 'unreachable' | 'auth' | 'hostkey' | 'timeout' | 'exit-code' | 'skipped-dry-run' | 'not-run';

export interface CommandResult {
  cmd: string;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface HostResult {
  host: string;
  ok: boolean;
  /** Exit code of the last command that ran (null when none ran to completion). */
  exitCode: number | null;
  /** Output of every command that ran, concatenated. */
  stdout: string;
  stderr: string;
  durationMs: number;
  failure?: HostFailure;
  message?: string;
  commands: CommandResult[];
}

export interface RunOptions {
  /** Hosts in flight at once: an integer or a percentage of the hosts (at least 1). Default: all. */
  batchSize?: number | `${number}%`;
  /** Pause between one host finishing and the next starting (moving window) or between slices (lockstep). */
  batchSleepMs?: number;
  /** 0..1, default 1: scheduling stops once the success ratio can no longer reach it. */
  successThreshold?: number;
  /** async: each host runs all commands, stopping at its first failure. sync: command by command across hosts. */
  mode?: 'async' | 'sync';
  /** moving: at most batchSize in flight, refilled as hosts finish. lockstep: slice by slice. */
  window?: 'moving' | 'lockstep';
  /** Read-only commands: they also run in dry-run. */
  isSafe?: boolean;
  globalTimeoutMs?: number;
  signal?: AbortSignal;
  onEvent?: (e: HostEvent) => void;
}

export interface HostEvent {
  host: string;
  phase: 'queued' | 'connecting' | 'running' | 'done' | 'failed';
  command?: string;
  result?: HostResult;
}

export interface RunReport {
  status: 'succeeded' | 'completed-with-failures' | 'failed' | 'timeout';
  exitCode: 0 | 1 | 2 | 4;
  results: HostResult[];
  /** Hosts with identical output, like Cumin's node groups. */
  groups: { hosts: NodeSet; output: string }[];
  /** Hosts on which at least one command was not run (threshold, abort, global timeout). */
  notRun: string[];
}

/** What a transport reports for one command on one host. */
export interface ExecOutcome {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  failure?: Exclude<HostFailure, 'exit-code' | 'skipped-dry-run' | 'not-run'>;
  message?: string;
  /**
   * The connection dropped while the command ran (its channel was open): the only failure that
   * `reboot()` counts as success. A host never reached (refused, reset during the handshake,
   * pool closed) is not this.
   */
  lostWhileRunning?: boolean;
}

export interface ExecRequest {
  host: string;
  /** Rendered exec string (quoted, sudo and timeout applied). */
  command: string;
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Called once the transport starts a new connection for this host (not for a pooled one). */
  onConnecting?: () => void;
  /** Called when the command has started on the host (channel open). */
  onRunning?: () => void;
}

/** The seam between scheduling and SSH: the real pool, or a fake in unit tests. */
export interface Transport {
  exec(req: ExecRequest): Promise<ExecOutcome>;
  /**
   * Refuse up front (throw a GalleyError) hosts this transport can never verify as configured
   * (ssh2: a host known only through @cert-authority). Called before anything runs.
   */
  preflight?(hosts: readonly string[]): void;
  /** Drop the pooled connection to a host (after a reboot). */
  evict?(host: string): void;
  close(): Promise<void>;
}
