/**
 * The ports the load-balanced cluster operation is written against. The algorithm (rolling.ts and
 * the parts it runs: batch.ts, drivers.ts, engine.ts…) only sees these small interfaces; adapters.ts
 * binds them to @galley/confctl, @galley/remote and @galley/pybal, and src/testing holds in-memory
 * fakes that pass the same contract suite. Keeping the algorithm behind ports lets every safety rule
 * be tested as pure logic, table-driven.
 */

import { setTimeout as delay } from 'node:timers/promises';
// Who took an object out and why, and what a transition does with that marker: confctl's own
// types (one home; a type-only import loads nothing).
import type { OwnerMarker, OwnerOp } from '@galley/confctl';
import type { Decision, Operator } from './gates.js';

export type { OwnerMarker, OwnerOp };

export type Pooled = 'yes' | 'no' | 'inactive';

export interface PoolTags {
  dc: string;
  cluster: string;
  service: string;
  name: string;
}

/** One conftool object (structurally a subset of @galley/confctl's ConftoolNode). */
export interface PoolObject {
  key: string;
  tags: PoolTags;
  pooled: Pooled;
  weight: number;
  /** etcd's mod revision as read (the compare of the next write). */
  modRevision?: string;
}

/**
 * A change the run made to one object (structurally @galley/confctl's Change for `pooled`), with
 * what a put-back compares: the weight and mod revision as written.
 */
export interface PoolChange {
  key: string;
  tags: PoolTags;
  field: 'pooled';
  from: Pooled;
  to: Pooled;
  /** The weight the object had when we wrote it (someone changing it meanwhile is left as found). */
  weight?: number;
  /** The object's mod revision after our write. */
  modRevision?: string;
  /**
   * drain=weight: the weight the object had before galley set it to 0 (`weight` is then 0), restored
   * in the put-back's txn only while the object still holds weight 0 and our marker. A change with
   * `from` = `to` = `yes` is the weight write alone (the depool did not follow).
   */
  weightFrom?: number;
}

export interface PoolSelector {
  dc?: string;
  cluster?: string;
  service?: string;
  name?: string;
}

/** One object from the state it was read in (`expect`) to `to`, in one fenced compare-and-set txn. */
export interface PoolTransition {
  object: PoolObject;
  to: Pooled;
  /** A weight to write in the same txn (drain=weight: 0 on the way out, the old one on the way back). */
  weight?: number;
  /** What must still hold (default: `pooled` as read). A weight someone changed is a conflict. */
  expect?: { pooled: Pooled; weight?: number };
  owner?: OwnerOp;
}

export type PoolTransitionResult =
  | { status: 'changed'; key: string; change: PoolChange }
  | { status: 'already'; key: string; pooled: Pooled }
  | { status: 'changed-by-someone-else'; key: string; found: { pooled: Pooled; weight: number } | null; foundOwner: OwnerMarker | null }
  | { status: 'invalid'; key: string; error: Error }
  | { status: 'failed'; key: string; error: unknown };

/** Conftool pool state: every write is one fenced compare-and-set transaction per object. */
export interface PoolStore {
  select(sel: PoolSelector): Promise<PoolObject[]>;
  /**
   * Per object, exactly one result, in order; never throws for one object's problem (it throws only
   * before anything is written: the run's lock is gone, a bug).
   */
  transition(reqs: readonly PoolTransition[]): Promise<PoolTransitionResult[]>;
  /** The owner markers of these objects, by key (objects without one are absent). */
  owners(objects: readonly { key: string; tags: PoolTags }[]): Promise<Map<string, OwnerMarker>>;
  /**
   * The objects as stored now, by key: a value that is not valid conftool JSON is `{ invalid }`,
   * a deleted object is absent. What reports are made of (never what the run believes it wrote).
   */
  readBack(objects: readonly { key: string; tags: PoolTags }[]): Promise<Map<string, PoolObject | { invalid: string }>>;
}

export type CommandSpec = { argv: string[]; timeoutMs?: number } | { shell: string; timeoutMs?: number };

export interface CommandOutput {
  cmd: string;
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

export interface HostOutcome {
  host: string;
  ok: boolean;
  /** Why it failed, for the report (exit code, timeout, unreachable, …). */
  message?: string;
  outputs: CommandOutput[];
}

/** SSH execution: every command in order on each host (stop at the host's first failure). */
export interface Executor {
  run(hosts: readonly string[], commands: readonly CommandSpec[], opts?: { signal?: AbortSignal }): Promise<HostOutcome[]>;
  /** Optional: get ready to reach these hosts soon (e.g. open SSH connections); never fails, changes nothing. */
  prepare?(hosts: readonly string[]): void;
}

export interface LbVerification {
  ok: boolean;
  /** Hosts at least one LB disagrees about. */
  failedHosts: string[];
  /** Human text naming each LB that disagrees, what it said and why. */
  report: string;
  /** Per pool and LB, what its last answer showed (when the verifier asked LBs at all). */
  lbs?: LbSeen[];
  /** The deadline it had, and the polling rounds it took. */
  deadlineMs?: number;
  rounds?: number;
}

/** One LB's last answer about one pool in a verification (structurally @galley/pybal's LbCheck). */
export interface LbSeen {
  pool: string;
  lb: string;
  /** Every host of the pool verified was in the state asked for. */
  ok: boolean;
  /** No usable answer (unreachable, HTTP error, a body that is not PyBal's). */
  error?: string;
  /** Per host: the LB's view (null: not listed in the pool; {error}: no usable answer), and why it is not the state asked for. */
  hosts: { host: string; seen: { enabled: boolean; up: boolean; pooled: boolean } | null | { error: string }; ok: boolean; why?: string }[];
  /** The pool in that answer: up+enabled servers, total, threshold, and whether it is below the threshold (PyBal's canDepool() false). */
  capacity?: { upEnabled: number; total: number; threshold: number; below: boolean };
}

/** Every LB of every affected pool is asked; ok only when all agree (bounded by a deadline). */
export interface LbVerifier {
  verifyOut(objects: readonly PoolObject[], opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<LbVerification>;
  verifyIn(objects: readonly PoolObject[], opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<LbVerification>;
  /** drain=weight: every LB has each object's host at weight 0 (or does not pool it). */
  verifyWeightZero(objects: readonly PoolObject[], opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<LbVerification>;
}

export interface PoolCapacity {
  pool: string;
  /** How many more servers can leave now without breaching the threshold, worst case over LBs (0 when unknown). */
  canTakeOut: number;
  /** One line per LB with its numbers, for messages. */
  detail: string;
  error?: string;
}

/** Live PyBal state: which pool an object belongs to and how much room each pool has. */
export interface CapacityProbe {
  /** The PyBal pool of a conftool object, or undefined when no pool is configured for it. */
  poolOf(object: PoolObject): string | undefined;
  capacity(pools: readonly string[]): Promise<Map<string, PoolCapacity>>;
}

/** The phases a host goes through; the journal records each transition. */
export type HostPhase =
  | 'pending'
  | 'depooling'
  | 'depooled'
  | 'verified-out'
  | 'acting'
  | 'acted'
  | 'healthy'
  | 'repooling'
  | 'repooled'
  | 'done'
  | 'put-back'
  | 'failed';

export interface JournalEntry {
  /** lb-silence: a host's silence id (`silence`), journaled before the host is taken out (a resume adopts it). */
  type: 'lb-host-phase' | 'lb-run' | 'lb-silence';
  host?: string;
  phase?: HostPhase;
  batch?: number;
  /** depooling: the objects about to be written; depooled: the changes made. */
  objects?: string[];
  changes?: PoolChange[];
  reason?: string;
  stillDepooled?: boolean;
  at?: string;
  [k: string]: unknown;
}

export interface Journal {
  append(entry: JournalEntry): Promise<void>;
}

export type LbEvent =
  | {
      type: 'plan';
      batches: string[][];
      skipped: { host: string; why: string }[];
      window?: { moving: true; batch: string; hosts: string[] };
    }
  /** window 'moving': a one-host batch of a moving window (several run at once). */
  | { type: 'batch-started'; batch: number; of: number; hosts: string[]; resume?: boolean; window?: 'moving' }
  /** The moving window's last host has finished (or the run stopped). */
  | { type: 'window-done'; ok: boolean; reason?: string }
  | { type: 'capacity'; batch: number; pools: (PoolCapacity & { depool: number; ok: boolean })[] }
  | { type: 'host-phase'; batch: number; host: string; phase: HostPhase; reason?: string }
  | {
      type: 'verification';
      batch: number;
      /** weight-0: drain=weight, before the depool. */
      direction: 'out' | 'in' | 'weight-0';
      ok: boolean;
      hosts: string[];
      failedHosts: string[];
      report: string;
      elapsedMs: number;
    }
  | { type: 'host-output'; batch: number; host: string; outputs: CommandOutput[] }
  /** What a host's action (RollingOptions.action) is doing now: rebooting, waiting for a new boot id… */
  | { type: 'host-step'; batch: number; host: string; text: string }
  | { type: 'batch-done'; batch: number; ok: boolean; succeeded: string[]; failed: string[]; reason?: string }
  | { type: 'sleep'; batch: number; ms: number }
  /** drain=: hosts verified out (or at weight 0) wait this long, or until drain-check says 0 connections. */
  | { type: 'drain'; batch: number; hosts: string[]; ms: number; weight?: boolean; check?: string }
  /** drain-check's answers in one round (established connections per host; null: no number). */
  | { type: 'drain-check'; batch: number; answers: { host: string; connections: number | null; output: string }[]; leftMs: number }
  /** capacity-wait=: the batch waits for capacity (the pools' numbers now), re-checking every intervalMs until leftMs runs out. */
  | {
      type: 'capacity-wait';
      batch: number;
      pools: (PoolCapacity & { depool: number; ok: boolean })[];
      waitedMs: number;
      leftMs: number;
      intervalMs: number;
    }
  | { type: 'stopped'; reason: string }
  /** A host's silence (ports.silencer): created before it is taken out, expired once it is back, or kept when it is left out. */
  | { type: 'silence'; batch: number; host: string; action: 'created' | 'expired' | 'kept'; id: string; until?: string }
  /** A gate between lockstep batches (pause-after, confirm-each-batch): the operator is asked whether to go on. */
  | { type: 'gate'; batch: number; next: number; of: number; why: string }
  /** A failed host of a lockstep batch on a terminal: asked (no answer yet), then answered. */
  | { type: 'decision'; batch: number; host: string; reason: string; answer?: Decision }
  | { type: 'warning'; message: string };

/**
 * Alerts silenced while a host is out of traffic (`monitoring: {type: alertmanager}`, bound to the
 * run's dry-run). Absent: nothing is silenced, as with `monitoring: none`.
 */
export interface Silencer {
  /** Where the silences go, for messages (the Alertmanager URL). */
  readonly where: string;
  /** How long a host left out of traffic after a failure keeps its silence. */
  readonly keepFailedForMs: number;
  /** The monitoring system answers (a read); rejects with its client's named error. */
  check(): Promise<void>;
  /** One silence of the host's alerts for these services, for `durationMs`; its id. */
  silence(host: string, o: { services: readonly string[]; durationMs: number; reason: string }): Promise<string>;
  /** End it now (the host is back in, verified). */
  expire(id: string): Promise<void>;
  /** It ends `durationMs` from now instead; as read back (the id may change). */
  keep(id: string, o: { durationMs: number; reason: string }): Promise<{ id: string; endsAt: string }>;
}

export interface Clock {
  now(): number;
  /** Resolves after ms, or early when the signal aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface LbPorts {
  store: PoolStore;
  executor: Executor;
  verifier: LbVerifier;
  capacity: CapacityProbe;
  journal: Journal;
  emit(event: LbEvent): void;
  clock: Clock;
  /** Per-host locks through the runner (idempotent). */
  lockHosts?(hosts: readonly string[]): Promise<void>;
  /** Silences for the hosts taken out (monitoring: alertmanager); absent: none. */
  silencer?: Silencer;
  /** The operator (gates, decisions on failure, pauses from another terminal): gates.ts. Absent: nobody is asked. */
  operator?: Operator;
}

export const realClock: Clock = {
  now: () => Date.now(),
  // Resolves early (never rejects) when the signal aborts: the caller checks the signal.
  sleep: (ms, signal) => delay(Math.max(0, ms), undefined, signal ? { signal } : undefined).catch(() => undefined),
};
