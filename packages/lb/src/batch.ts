/**
 * One batch of a rolling run through the phases of ARCHITECTURE §4, one method each: take out
 * (depool, verify out on every LB), act, health check, put back (repool, verify in on every LB,
 * fail closed), finish. Each phase acts on the batch's hosts that reached it: a host that fails
 * stays where it failed (put back, or failed and still depooled) while the others go on. The
 * traffic-safety steps are engine.ts's; journal, events and host states go through the Run. A step
 * that must stop the run (conftool or the journal unwritable, the action not runnable) throws
 * StopRun once the batch's hosts are where the report will say they are.
 */
import { isLockFailure } from '@galley/core';
import { displayCommand } from '@galley/remote/command';
import * as engine from './engine.js';
import { drainHosts } from './drain.js';
import { errorText, type Hold } from './engine.js';
import type { ActionStep, HostAction } from './action.js';
import type { HostOutcome, HostPhase } from './ports.js';
import { decideFailures } from './gates.js';
import type { HealthCheck } from './rolling.js';
import { StopRun, type HostState, type Run } from './run.js';

export class Batch {
  private readonly run: Run;
  readonly hosts: readonly HostState[];
  readonly no: number;
  /** The batch count shown (`Batch no/of`). */
  private readonly of: number;
  /** The leftovers of a resumed run (batch 0). */
  private readonly resume: boolean;
  /** Hosts whose action or health check failed (still out): what the operator may retry (gates.ts). */
  private readonly retryable = new Set<HostState>();

  constructor(run: Run, hosts: readonly HostState[], at: { no: number; of: number; resume?: boolean }) {
    this.run = run;
    this.hosts = hosts;
    this.no = at.no;
    this.of = at.of;
    this.resume = at.resume ?? false;
  }

  /** Every phase in turn; true when every host is done. A signal stops it between phases. */
  async go(): Promise<boolean> {
    try {
      return await this.phases();
    } finally {
      // Hosts back in (or put back before acting) are not silenced any longer; the others keep theirs.
      await this.run.silences?.release(this.hosts);
    }
  }

  private async phases(): Promise<boolean> {
    await this.start();
    if (!(await this.takeOut())) return false;
    if (this.run.aborted) return false;
    await this.drainOut();
    if (this.run.aborted) return false;
    await this.act();
    if (this.run.aborted) return false;
    const hc = this.run.opts.healthCheck;
    if (hc) {
      await this.healthCheck(hc);
      if (this.run.aborted) return false;
    }
    const back = await this.putBack();
    if (!this.retryable.size || !this.run.ports.operator || this.run.opts.window === 'moving') return this.finish(back);
    // The batch's other hosts are back before the operator is asked about the failed ones.
    await this.run.setPhase(back, 'done');
    return this.finish([...back, ...(await decideFailures(this.run, this, this.retryable))]);
  }

  /** Announce the batch and take its host locks; nothing of it is touched when they cannot be had. */
  private async start(): Promise<void> {
    const { run, no } = this;
    const names = this.hosts.map((s) => s.plan.host);
    run.emit({
      type: 'batch-started',
      batch: no,
      of: this.of,
      hosts: names,
      ...(this.resume ? { resume: true } : {}),
      ...(run.opts.window === 'moving' && !this.resume ? { window: 'moving' as const } : {}),
    });
    for (const s of this.hosts) s.batch = no;
    try {
      await run.ports.lockHosts?.(names);
    } catch (err) {
      // Nothing of the batch has been touched: its hosts stay as they are, reported not attempted.
      throw new StopRun(`cannot lock the hosts of batch ${no} (${errorText(err)}); nothing of it was touched`, { cause: err });
    }
  }

  /** Take out: depool, then verify out. False when not verified out (the batch is put back, nothing acts). */
  async takeOut(): Promise<boolean> {
    // Silenced before anything of the batch is written (a host that cannot be silenced stops the run here).
    await this.run.silences?.create(
      this.hosts.filter((st) => st.phase !== 'done' && st.phase !== 'failed' && st.phase !== 'put-back'),
      this.no,
    );
    await this.depool();
    return this.verifyOut();
  }

  /** 1. take out the recorded pooled=yes objects: one fenced CAS txn per object, our owner marker in it. */
  private async depool(): Promise<void> {
    const { run } = this;
    const fresh = this.hosts.filter((st) => st.phase === 'pending');
    const toWrite = fresh.filter((st) => st.take.length);
    const nothing = fresh.filter((st) => !st.take.length);
    if (toWrite.length) {
      await run.setPhase(toWrite, 'depooling', (st) => ({ objects: st.take.map((o) => o.key) }));
      if (run.opts.drain?.weight) await this.drainWeight(toWrite);
    }
    if (toWrite.length) {
      const w = await engine.writeOut(run.deps, toWrite, run.owner);
      run.noteLeft(toWrite);
      if (w.failed.length) {
        const err = w.failed[0]?.error;
        await this.putBackUnacted(toWrite, `depool failed: ${errorText(err)}`);
        throw new StopRun(`cannot write conftool: ${errorText(err)}`);
      }
      await run.setPhase(toWrite, 'depooled', (st) => ({ changes: st.changes }));
    }
    // Hosts with nothing to depool are not out yet for all that: they are verified like the others.
    if (nothing.length) await run.setPhase(nothing, 'depooled', () => ({ changes: [] }));
  }

  /**
   * drain=weight: weight 0 while still pooled (journaled: a resume restores it), then the drain wait
   * there; hosts that did not drain are put back unacted (their weight restored) and removed from
   * `toWrite`, which is left with the hosts to depool.
   */
  private async drainWeight(toWrite: HostState[]): Promise<void> {
    const { run } = this;
    const w = await engine.writeWeightZero(run.deps, toWrite, run.owner);
    run.noteLeft(toWrite);
    if (w.failed.length) {
      const err = w.failed[0]?.error;
      await this.putBackUnacted(toWrite, `weight=0 (drain=weight) failed: ${errorText(err)}`);
      throw new StopRun(`cannot write conftool: ${errorText(err)}`);
    }
    await run.setPhase(toWrite, 'depooling', (st) => ({ objects: st.take.map((o) => o.key), changes: st.changes }));
    // The drain counts from the moment every LB sends the host no new connections, not from the write.
    const w0 = await engine.verifyWeightZero(run.deps, toWrite, { verifyTimeoutMs: run.opts.verifyTimeoutMs, batch: this.no });
    if (w0.failedHosts.length) {
      const bad = toWrite.filter((st) => w0.failedHosts.includes(st.plan.host));
      await this.putBackUnacted(
        bad,
        `weight=0 (drain=weight) not applied on every LB: ${w0.report}; not depooled, not acted on, weight restored`,
      );
      toWrite.splice(0, toWrite.length, ...toWrite.filter((st) => !bad.includes(st)));
    }
    const stuck = await drainHosts(run, toWrite, this.no, run.opts.drain!);
    for (const { st, why } of stuck) await this.putBackUnacted([st], why);
    const gone = new Set(stuck.map((x) => x.st));
    // Stopped while draining: nothing was depooled or run; the weight goes back rather than stay at 0.
    if (run.aborted) {
      const left = toWrite.filter((st) => !gone.has(st));
      if (left.length)
        await this.putBackUnacted(left, 'interrupted while draining at weight=0: not depooled, not acted on, weight restored');
      for (const st of left) gone.add(st);
    }
    toWrite.splice(0, toWrite.length, ...toWrite.filter((st) => !gone.has(st)));
  }

  /** drain=DURATION (not weight): once verified out, wait (or poll drain-check); hosts that did not drain are put back unacted. */
  private async drainOut(): Promise<void> {
    const d = this.run.opts.drain;
    if (!d || d.weight) return;
    const stuck = await drainHosts(
      this.run,
      this.hosts.filter((s) => s.phase === 'verified-out'),
      this.no,
      d,
    );
    for (const { st, why } of stuck) await this.putBackUnacted([st], why);
  }

  /**
   * 2. verify out, on every LB, every object of the selected services of every host of the batch
   * (not only what this run wrote); on failure no action runs and the batch is put back.
   */
  private async verifyOut(): Promise<boolean> {
    const { run } = this;
    const unverified = this.hosts.filter((st) => st.phase === 'depooled');
    if (!unverified.length) return true;
    const v = await engine.verifyOut(run.deps, unverified, { verifyTimeoutMs: run.opts.verifyTimeoutMs, batch: this.no });
    if (v.reason !== undefined) {
      await this.putBackUnacted(unverified, v.reason);
      return false;
    }
    await run.setPhase(unverified, 'verified-out');
    return true;
  }

  /** 3. the action, on hosts every LB reported out. */
  async act(): Promise<void> {
    const { run, no } = this;
    const ready = this.hosts.filter((s) => s.phase === 'verified-out');
    if (!ready.length) return;
    await run.setPhase(ready, 'acting');
    // The action is not given the abort signal: a restart that has begun is allowed to finish.
    let results: HostOutcome[];
    try {
      results = run.opts.action
        ? await this.runAction(run.opts.action, ready)
        : await run.ports.executor.run(
            ready.map((s) => s.plan.host),
            run.opts.commands,
          );
    } catch (err) {
      if (isLockFailure(err)) {
        // The runner checks its locks before any command starts: nothing ran, so the hosts are
        // put back (if that write fails too, they are reported still depooled).
        await this.putBackUnacted(ready, `action not started: ${errorText(err)}`);
      } else {
        await run.fail(
          ready,
          `the action did not complete (${errorText(err)}): outcome unknown, left depooled (check it, then \`cookbook sre.lb.pool host=…\`)`,
          (s) => s.changes.length > 0,
        );
      }
      throw new StopRun(`cannot run the action on batch ${no}: ${errorText(err)}`, { cause: err });
    }
    const resultOf = new Map(results.map((r) => [r.host, r]));
    const ok: HostState[] = [];
    const bad: HostState[] = [];
    for (const s of ready) {
      const r = resultOf.get(s.plan.host);
      if (r) {
        run.outputs.set(s.plan.host, r.outputs);
        run.emit({ type: 'host-output', batch: no, host: s.plan.host, outputs: r.outputs });
      }
      (r?.ok ? ok : bad).push(s);
      if (!r?.ok) s.reason = `action failed: ${r?.message ?? 'no result'}`;
    }
    await run.fail(
      bad,
      (s) => s.reason ?? 'action failed',
      (s) => s.changes.length > 0,
    );
    for (const s of bad) this.retryable.add(s);
    await run.setPhase(ok, 'acted');
  }

  /**
   * 3'. an action of its own (RollingOptions.action) instead of the commands: what it records is
   * journaled under the host's acting phase; a resumed run's hosts caught while acting resume it.
   */
  private async runAction(action: HostAction, ready: readonly HostState[]): Promise<HostOutcome[]> {
    const { run, no } = this;
    const byHost = new Map(ready.map((s) => [s.plan.host, s]));
    const step: ActionStep = {
      record: (entries) =>
        run.recordAction(
          ready.filter((s) => entries.has(s.plan.host)),
          (s) => entries.get(s.plan.host)!,
        ),
      step: (host, text) => {
        if (byHost.has(host)) run.emit({ type: 'host-step', batch: no, host, text });
      },
    };
    const resumed = ready.filter((s) => s.resumeAction !== undefined);
    const fresh = ready.filter((s) => s.resumeAction === undefined);
    const [a, b] = await Promise.all([
      fresh.length
        ? action.run(
            fresh.map((s) => s.plan.host),
            step,
          )
        : [],
      resumed.length && action.resume
        ? action.resume(
            resumed.map((s) => ({ host: s.plan.host, recorded: s.resumeAction?.recorded })),
            step,
          )
        : [],
    ]);
    for (const s of resumed) delete s.resumeAction;
    return [...a, ...b];
  }

  /** 4. the health check, on the hosts that acted, until it passes or times out (a signal stops waiting). */
  async healthCheck(hc: HealthCheck): Promise<void> {
    const { run, no } = this;
    const { clock, executor } = run.ports;
    let waiting = this.hosts.filter((s) => s.phase === 'acted');
    const deadline = clock.now() + (hc.timeoutMs ?? 60_000);
    const last = new Map<string, string>();
    while (waiting.length) {
      let results: HostOutcome[];
      try {
        results = await executor.run(
          waiting.map((s) => s.plan.host),
          [hc.command],
        );
      } catch (err) {
        await run.fail(waiting, `health check could not run (${errorText(err)}); left depooled`, (s) => s.changes.length > 0);
        throw new StopRun(`cannot run the health check on batch ${no}: ${errorText(err)}`, { cause: err });
      }
      const passed = new Set(results.filter((r) => r.ok).map((r) => r.host));
      for (const r of results)
        if (!r.ok)
          last.set(
            r.host,
            r.message ??
              r.outputs
                .map((o) => o.stderr || o.stdout)
                .join(' ')
                .trim(),
          );
      await run.setPhase(
        waiting.filter((s) => passed.has(s.plan.host)),
        'healthy',
      );
      waiting = waiting.filter((s) => !passed.has(s.plan.host));
      // Stopped while checking: the journal says how each check ended (cut by the runner, …).
      if (waiting.length && run.aborted) await run.note(waiting, (s) => `health check stopped: ${last.get(s.plan.host) ?? 'interrupted'}`);
      if (!waiting.length || run.aborted) break;
      if (clock.now() >= deadline) {
        await run.fail(
          waiting,
          (s) =>
            `health check \`${displayCommand(hc.command)}\` did not pass within ${hc.timeoutMs ?? 60_000} ms: ${last.get(s.plan.host) ?? ''}`.trim(),
          (s) => s.changes.length > 0,
        );
        for (const s of waiting) this.retryable.add(s);
        break;
      }
      await clock.sleep(Math.min(hc.intervalMs ?? 1000, Math.max(0, deadline - clock.now())));
    }
  }

  /**
   * 5. put back exactly what was taken out (only what still carries our marker), 6. verified in on
   * every LB; a host not back everywhere is taken out again and verified out (fail closed). Returns
   * the hosts that are back (or had nothing to put back).
   */
  async putBack(): Promise<HostState[]> {
    const { run, no } = this;
    const repoolFrom: ReadonlySet<HostPhase> = new Set(
      run.opts.healthCheck ? ['healthy', 'repooling', 'repooled'] : ['acted', 'healthy', 'repooling', 'repooled'],
    );
    const toRepool = this.hosts.filter((st) => repoolFrom.has(st.phase));
    const withChanges = toRepool.filter((st) => st.changes.length);
    const done = toRepool.filter((st) => !st.changes.length);
    if (!withChanges.length) return done;
    await run.setPhase(
      withChanges.filter((st) => st.phase !== 'repooled'),
      'repooling',
    );
    const res = await engine.putBack(run.deps, withChanges, {
      ...run.backOpts(no),
      afterWrite: (back) =>
        run.setPhase(
          withChanges.filter((st) => back.includes(st)),
          'repooled',
        ),
    });
    run.noteLeft(withChanges);
    for (const r of res.hosts) {
      const st = r.hold as HostState;
      if (r.status === 'in') done.push(st);
      else await run.fail([st], r.reason ?? 'not put back', () => true);
    }
    if (res.failed.length) throw new StopRun(`cannot write conftool: ${errorText(res.failed[0]?.error)}`);
    return done;
  }

  /** The hosts that are back are done; the journal is written before the batch counts as ended. */
  async finish(done: readonly HostState[]): Promise<boolean> {
    await this.run.setPhase(
      done.filter((s) => s.phase !== 'done'),
      'done',
    );
    await this.run.flushJournal();
    return this.hosts.every((s) => s.phase === 'done');
  }

  /**
   * Put back hosts that were never acted on (a failed depool write or verification, an action
   * that could not start): what is back in on every LB is 'put-back'; what is not was taken out
   * again (failed, depooled).
   */
  private async putBackUnacted(hs: readonly HostState[], why: string): Promise<void> {
    const { run } = this;
    const withChanges = hs.filter((st) => st.changes.length);
    const res = await engine.putBack(run.deps, withChanges, run.backOpts(this.no));
    run.noteLeft(hs);
    const bad = res.hosts.filter((h) => h.status !== 'in');
    const badSet = new Set<Hold>(bad.map((h) => h.hold));
    const back = hs.filter((st) => !badSet.has(st));
    for (const st of back) {
      st.reason = why;
      st.stillDepooled = false;
    }
    await run.setPhase(back, 'put-back', (st) => ({ reason: st.reason }));
    for (const b of bad) await run.fail([b.hold as HostState], `${why}; ${b.reason ?? ''}`, () => true);
    if (res.failed.length) throw new StopRun(`cannot write conftool: ${errorText(res.failed[0]?.error)}`);
  }
}
