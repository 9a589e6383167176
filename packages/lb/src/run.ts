/**
 * What one rolling run shares across its batches: the journal (appended in order, the entries a
 * resume depends on awaited before their side effect), the events and warnings, every host's state,
 * the failure budget, and the final report, which is conftool read back. The phases of a batch
 * (batch.ts) and the drivers that schedule batches (drivers.ts) act through it.
 */
import { formatDuration } from './args.js';
import { toleratedFailures, type OrderSpec } from './budget.js';
import { errorText, newHold, readBack, type EngineDeps, type Hold, type ObjectState, type PutBackOptions } from './engine.js';
import type { CommandOutput, HostPhase, JournalEntry, LbEvent, LbPorts, OwnerMarker, PoolChange } from './ports.js';
import type { FailedHost, RollingOptions, RollingReport } from './rolling.js';
import { HostSilences } from './silences.js';
import { mustBeOut, shortKey, type HostPlan } from './select.js';

/** A host's hold (engine.ts: what to take, what must be out, what this run holds) and its place in the run. */
export interface HostState extends Hold {
  plan: HostPlan;
  phase: HostPhase;
  batch: number;
  reason?: string;
  stillDepooled: boolean;
  /** leftAsFound entries already reported. */
  noted: number;
  /** A resumed run's host caught while acting: its action resumes from what it journaled (action.ts). */
  resumeAction?: { recorded: Record<string, unknown> | undefined };
}

export function hostState(plan: HostPlan, phase: HostPhase, changes: PoolChange[] = [], batch = 0): HostState {
  return { ...newHold(plan.host, plan.depool, mustBeOut(plan)), changes, plan, phase, batch, stillDepooled: false, noted: 0 };
}

/** Stops the run: nothing more is written (etcd unreachable, journal lost, fencing failed…). */
export class StopRun extends Error {}

/** Why the run stopped, from what a step threw. */
export function stopText(err: unknown): string {
  return err instanceof StopRun ? err.message : `stopped by an unexpected error: ${errorText(err)}`;
}

const TERMINAL: ReadonlySet<HostPhase> = new Set(['done', 'failed', 'put-back']);
// 'acted' too: a resume repools a host only when it knows its action completed.
const CRITICAL: ReadonlySet<HostPhase> = new Set(['depooling', 'acting', 'acted', 'repooling', 'failed', 'put-back']);

export class Run {
  readonly ports: LbPorts;
  readonly opts: RollingOptions;
  /** The marker written with every depool; its run id is the one whose markers this run puts back. */
  readonly owner: OwnerMarker;
  /** What the engine's steps are given (its events go through `emit`). */
  readonly deps: EngineDeps;
  readonly warnings: string[] = [];
  readonly outputs = new Map<string, CommandOutput[]>();
  /** Every host of the run, in report order: carried over from a resumed run, its leftovers, the queue. */
  readonly states = new Map<string, HostState>();
  /** Hosts a resumed run had finished or failed: reported as they were, never as succeeded here. */
  carried: ReadonlyMap<string, HostState> = new Map();
  readonly skipped: { host: string; why: string }[];
  readonly batches: RollingReport['batches'] = [];
  failedBatches = 0;
  readonly maxFailed: number;
  stopReason: string | undefined;
  /** A capacity check refused the next batch. */
  refused = false;
  /** Each host's silence while it is out (ports.silencer); undefined: nothing is silenced. */
  readonly silences: HostSilences | undefined;
  /** The order the hosts are taken in (journaled: a resume keeps it). */
  order: OrderSpec | undefined;
  /** deadline=: when it passes (clock time), and whether it stopped the run. */
  readonly deadlineAt: number | undefined;
  deadlineReached = false;
  /** max-failed=: failed hosts tolerated. */
  readonly maxFailedHosts: number | undefined;
  /** The operator stopped the run at a gate (answered no, or no terminal to ask). */
  stoppedByOperator = false;
  private emitFailed = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(ports: LbPorts, opts: RollingOptions, owner: OwnerMarker) {
    this.ports = ports;
    this.opts = opts;
    this.owner = owner;
    this.skipped = [...opts.selection.skipped];
    // max-failed= alone: the host budget decides (no batch budget besides it), as Ansible's max_fail_percentage
    this.maxFailed = opts.maxFailedBatches ?? (opts.maxFailedHosts ? Infinity : 0);
    this.maxFailedHosts = opts.maxFailedHosts ? toleratedFailures(opts.maxFailedHosts, opts.selection.hosts.length) : undefined;
    this.deadlineAt = opts.deadlineMs !== undefined ? ports.clock.now() + opts.deadlineMs : undefined;
    this.deps = { store: ports.store, verifier: ports.verifier, capacity: ports.capacity, clock: ports.clock, emit: this.emit };
    this.silences = ports.silencer ? new HostSilences(this, ports.silencer) : undefined;
  }

  get aborted(): boolean {
    return this.opts.signal?.aborted === true;
  }

  /**
   * deadline=: a safe point (nothing of the next batch touched yet) past the deadline stops the run
   * there: true, and the reason said. What is out finishes its steps; nothing new starts.
   */
  pastDeadline(): boolean {
    if (this.deadlineAt === undefined || this.ports.clock.now() < this.deadlineAt) return false;
    if (!this.deadlineReached) {
      this.deadlineReached = true;
      const left = [...this.states.values()].filter((s) => s.phase === 'pending').length;
      this.stopReason ??= `deadline=${formatDuration(this.opts.deadlineMs!)} reached: no new batch was started after it (${left} host(s) not attempted)`;
    }
    return true;
  }

  /** Time left before the deadline (Infinity without one). */
  deadlineLeftMs(): number {
    return this.deadlineAt === undefined ? Infinity : Math.max(0, this.deadlineAt - this.ports.clock.now());
  }

  /** Hosts that failed in this run (a resumed run's earlier failures are not counted again). */
  failedHosts(): number {
    return [...this.states.values()].filter((s) => (s.phase === 'failed' || s.phase === 'put-back') && !this.carried.has(s.plan.host))
      .length;
  }

  // Progress is for people: a display that throws (a renderer bug, a closed terminal) must not
  // stop the algorithm between a depool and its repool, nor lose the report. Noted once, then ignored.
  readonly emit = (e: LbEvent): void => {
    try {
      this.ports.emit(e);
    } catch (err) {
      if (this.emitFailed) return;
      this.emitFailed = true;
      this.warnings.push(`the progress display failed (${errorText(err)}); the run went on without it`);
    }
  };

  /** Stop at this safe point because of the operator (gates.ts): nothing new is started. */
  stopByOperator(reason: string): void {
    this.stoppedByOperator = true;
    this.stopReason ??= reason;
  }

  warn(message: string): void {
    this.warnings.push(message);
    this.emit({ type: 'warning', message });
  }

  /** The run's first journal entry: its scope and owner; for a resume, what it carries over so it can be resumed in turn. */
  async journalStart(resumed?: { from: string; carried: JournalEntry['carried'] }): Promise<void> {
    const scope = this.opts.scope ? { scope: this.opts.scope } : {};
    const order = this.order ? { order: this.order } : {};
    const entry: JournalEntry = resumed
      ? { type: 'lb-run', ...scope, ...order, resumedFrom: resumed.from, owner: this.owner.runId, carried: resumed.carried }
      : { type: 'lb-run', ...scope, ...order, owner: this.owner.runId };
    await this.ports.journal.append(entry).catch((err: unknown) => {
      throw new StopRun(`cannot write the run journal (${errorText(err)})`, { cause: err });
    });
  }

  private async journal(s: HostState, extra: Partial<JournalEntry> = {}): Promise<void> {
    try {
      await this.ports.journal.append({
        type: 'lb-host-phase',
        host: s.plan.host,
        phase: s.phase,
        batch: s.batch,
        at: new Date(this.ports.clock.now()).toISOString(),
        ...extra,
      });
    } catch (err) {
      throw new StopRun(`cannot write the run journal (${errorText(err)}); stopping before the next step`, { cause: err });
    }
  }

  /**
   * Move hosts to a phase: journaled, then announced. Journal entries are appended in order. The
   * ones a resume depends on before a side effect (about to depool, about to act, about to repool)
   * are awaited; the others are chained behind them without holding up the batch, and awaited at
   * the next awaited entry or at the end.
   */
  async setPhase(hs: readonly HostState[], phase: HostPhase, extra?: (s: HostState) => Partial<JournalEntry>): Promise<void> {
    if (!hs.length) return;
    // Snapshot now: the chained write may run after the host has moved on.
    const at = new Date(this.ports.clock.now()).toISOString();
    const entries = hs.map((s) => ({ phase, batch: s.batch, at, ...extra?.(s) }));
    const prev = this.chain;
    this.chain = prev.then(() => Promise.all(hs.map((s, i) => this.journal(s, entries[i]))).then(() => undefined));
    // A failure stays in the chain and surfaces at the next awaited entry.
    this.chain.catch(() => undefined);
    // A phase that announces a side effect is durable before the host is said to be in it, so
    // a run stopped by a journal failure reports where its hosts really are.
    if (CRITICAL.has(phase)) await this.chain;
    for (const s of hs) {
      s.phase = phase;
      this.emit({
        type: 'host-phase',
        batch: s.batch,
        host: s.plan.host,
        phase,
        ...(s.reason !== undefined && (phase === 'failed' || phase === 'put-back') ? { reason: s.reason } : {}),
      });
    }
  }

  /** Journal why hosts stopped where they are (their phase unchanged), in order with the rest. */
  async note(hs: readonly HostState[], reason: (s: HostState) => string): Promise<void> {
    if (!hs.length) return;
    const entries = hs.map((s) => ({ phase: s.phase, batch: s.batch, reason: reason(s) }));
    this.chain = this.chain.then(() => Promise.all(hs.map((s, i) => this.journal(s, entries[i]))).then(() => undefined));
    this.chain.catch(() => undefined);
    await this.chain;
  }

  /** Journal what an action records for a resume (ActionStep.record): durable before it resolves. */
  async recordAction(hs: readonly HostState[], data: (s: HostState) => Record<string, unknown>): Promise<void> {
    if (!hs.length) return;
    const entries = hs.map((s) => ({ phase: s.phase, batch: s.batch, action: data(s) }));
    this.chain = this.chain.then(() => Promise.all(hs.map((s, i) => this.journal(s, entries[i]))).then(() => undefined));
    this.chain.catch(() => undefined);
    await this.chain;
  }

  async flushJournal(): Promise<void> {
    await this.chain;
  }

  async fail(
    hs: readonly HostState[],
    reason: string | ((s: HostState) => string),
    stillDepooled: (s: HostState) => boolean,
  ): Promise<void> {
    for (const s of hs) {
      s.reason = typeof reason === 'string' ? reason : reason(s);
      s.stillDepooled = stillDepooled(s);
    }
    await this.setPhase(hs, 'failed', (s) => ({ reason: s.reason, stillDepooled: s.stillDepooled, changes: s.changes }));
  }

  /** Objects someone else changed, found by the engine: said once each. */
  noteLeft(hs: readonly HostState[]): void {
    for (const st of hs) {
      for (const l of st.leftAsFound.slice(st.noted)) this.warn(`${shortKey(l.key)}: ${l.why}`);
      st.noted = st.leftAsFound.length;
    }
  }

  /** How the engine puts back a batch's hosts: only what carries this run's marker. */
  backOpts(no: number): PutBackOptions & { batch: number } {
    return { ownerId: this.owner.runId, owner: this.owner, verifyTimeoutMs: this.opts.verifyTimeoutMs, batch: no };
  }

  /** Hosts this run left out of their pools by failures: they use up the batch size. */
  leftDepooled(): number {
    return [...this.states.values()].filter((s) => s.phase === 'failed' && s.stillDepooled).length;
  }

  /**
   * A batch has ended: its line in the report, its batch-done event, and its count against the
   * failure budget (`budgetText` says what the budget counts). 'interrupted' when a signal stopped
   * it mid-way, 'over-budget' when it was one failed batch too many.
   */
  endBatch(hs: readonly HostState[], no: number, ok: boolean, budgetText: string): 'interrupted' | 'over-budget' | undefined {
    const hosts = hs.map((s) => s.plan.host);
    const done = hs.filter((s) => s.phase === 'done').map((s) => s.plan.host);
    if (this.aborted && hs.some((s) => !TERMINAL.has(s.phase))) {
      this.batches.push({ batch: no, hosts, ok: false, reason: 'interrupted' });
      this.emit({ type: 'batch-done', batch: no, ok: false, succeeded: done, failed: [], reason: 'interrupted' });
      return 'interrupted';
    }
    const failedHosts = hs.filter((s) => s.phase === 'failed' || s.phase === 'put-back');
    // a batch stopped by StopRun before any host failed: say where its hosts were left
    const why = failedHosts.length
      ? failedHosts.map((s) => `${s.plan.host}: ${s.reason ?? ''}`)
      : hs.filter((s) => s.phase !== 'done').map((s) => `${s.plan.host}: stopped at ${s.phase}`);
    const reason = ok ? undefined : why.join('; ') || undefined;
    this.batches.push({ batch: no, hosts, ok, ...(reason ? { reason } : {}) });
    this.emit({
      type: 'batch-done',
      batch: no,
      ok,
      succeeded: done,
      failed: failedHosts.map((s) => s.plan.host),
      ...(reason ? { reason } : {}),
    });
    if (ok) return undefined;
    this.failedBatches++;
    const failedCount = this.failedHosts();
    const hostsOver = this.maxFailedHosts !== undefined && failedCount > this.maxFailedHosts;
    if (this.failedBatches <= this.maxFailed && !hostsOver) return undefined;
    const mf = this.opts.maxFailedHosts;
    this.stopReason ??= hostsOver
      ? `${failedCount} failed host(s), more than max-failed=${mf!.text} (${this.maxFailedHosts} of ${this.opts.selection.hosts.length} selected host(s)${'percent' in mf! ? ', rounded down' : ''})`
      : `${this.failedBatches} ${budgetText}, more than max-failed-batches=${this.maxFailed}`;
    return 'over-budget';
  }

  /** The journal is all written (or why not), and the reason the run stopped, if it did, said. */
  async settle(): Promise<void> {
    await this.chain.catch((err: unknown) => {
      this.stopReason ??= `cannot write the run journal (${errorText(err)})`;
    });
    if (this.aborted && !this.stopReason) this.stopReason = 'interrupted: no new batch or step was started';
    if (this.stopReason) this.emit({ type: 'stopped', reason: this.stopReason });
  }

  /** The final report: where every host ended, each one that did not simply finish as conftool holds it now. */
  async report(): Promise<RollingReport> {
    const all = [...this.states.values()];
    const { objectsOf, oursOut } = await readBackHosts(
      this.deps,
      all.filter((st) => st.phase !== 'pending' && (st.phase !== 'done' || st.leftAsFound.length)),
      this.owner.runId,
    );
    const failed: FailedHost[] = all
      .filter((st) => st.phase === 'failed' || st.phase === 'put-back')
      .map((st) => {
        const out = oursOut(st);
        const silence = this.silences?.of(st.plan.host);
        return {
          host: st.plan.host,
          reason: st.reason ?? 'unknown',
          stillDepooled: out.length > 0,
          depooledObjects: out,
          batch: st.batch,
          objects: objectsOf(st),
          ...(silence ? { silence } : {}),
        };
      });
    const inFlight = all
      .filter((st) => st.phase !== 'pending' && st.phase !== 'done' && st.phase !== 'failed' && st.phase !== 'put-back')
      .map((st) => {
        const silence = this.silences?.of(st.plan.host);
        return {
          host: st.plan.host,
          phase: st.phase,
          depooledObjects: oursOut(st),
          batch: st.batch,
          objects: objectsOf(st),
          ...(silence ? { silence } : {}),
        };
      });
    const leftAsFound = all.flatMap((st) => st.leftAsFound.map((l) => ({ host: st.plan.host, object: shortKey(l.key), why: l.why })));
    const succeeded = all.filter((s) => s.phase === 'done' && !this.carried.has(s.plan.host)).map((s) => s.plan.host);
    const notAttempted = all.filter((s) => s.phase === 'pending').map((s) => s.plan.host);
    const { refused, stopReason } = this;
    const status: RollingReport['status'] = refused
      ? 'refused'
      : this.aborted
        ? 'interrupted'
        : failed.length || inFlight.length || ((notAttempted.length || stopReason) && !this.stoppedByOperator)
          ? 'failed'
          : this.stoppedByOperator
            ? 'stopped'
            : 'succeeded';
    return {
      status,
      succeeded,
      failed,
      inFlight,
      notAttempted,
      skipped: this.skipped,
      batches: this.batches,
      failedBatches: this.failedBatches,
      ...(stopReason ? { stopReason } : {}),
      outputs: this.outputs,
      warnings: this.warnings,
      leftAsFound,
      ...(this.order ? { order: this.order } : {}),
      ...(this.opts.deadlineMs !== undefined ? { deadline: { ms: this.opts.deadlineMs, reached: this.deadlineReached } } : {}),
    };
  }
}

/**
 * Conftool read back, object by object, for these hosts: what each holds now (every object of its
 * plan and every one the run changed), and which of them are out under `ownerId`'s marker (the real
 * leftovers, never what the run believes it wrote).
 */
async function readBackHosts(
  engine: EngineDeps,
  hosts: readonly HostState[],
  ownerId: string,
): Promise<{ objectsOf: (st: HostState) => ObjectState[]; oursOut: (st: HostState) => string[] }> {
  const readKeys = new Map<string, { key: string; tags: HostPlan['objects'][number]['tags'] }>();
  for (const st of hosts) {
    for (const o of st.plan.objects) readKeys.set(o.key, o);
    for (const c of st.changes) readKeys.set(c.key, c);
  }
  const states = await readBack(engine, [...readKeys.values()]);
  const stateOf = new Map([...readKeys.keys()].map((k, i) => [k, states[i]!]));
  const keysOf = (st: HostState): string[] => [...new Set([...st.plan.objects.map((o) => o.key), ...st.changes.map((c) => c.key)])];
  return {
    objectsOf: (st) => keysOf(st).flatMap((k) => (stateOf.has(k) ? [stateOf.get(k)!] : [])),
    oursOut: (st) => {
      const keys = keysOf(st);
      // conftool unreadable: what the run last knew it holds, said as such by the `unknown` states
      if (keys.some((k) => stateOf.get(k)?.pooled === 'unknown')) return st.changes.map((c) => c.key);
      return keys.filter((k) => stateOf.get(k)?.pooled === 'no' && stateOf.get(k)?.owner?.runId === ownerId);
    },
  };
}
