/**
 * How a rolling run schedules its batches, all over the same Batch (so the same phases, journal
 * and fail-closed rules): a resumed run's leftovers first, as batch 0; then either lockstep batches
 * (the next starts when the whole previous one is back) or a moving window (the next host goes out
 * as soon as one is back). Both check capacity before anything goes out, count hosts left depooled
 * by failures against the batch size, and stop at the failure budget or a signal.
 */
import { formatDuration } from './args.js';
import { Batch } from './batch.js';
import { waitForCapacity } from './capacity-wait.js';
import { batchSizeAt } from './batches.js';
import { capacityMessage, depoolsPerPool, judgeCapacity } from './capacity.js';
import { beforeBatch, safePoint } from './gates.js';
import type { HostPhase } from './ports.js';
import { StopRun, stopText, type HostState, type Run } from './run.js';

/** A resumed run's leftovers, before anything new: failed ones reported, the others finished as batch 0. */
export async function runLeftovers(run: Run, leftovers: readonly HostState[], of: number): Promise<void> {
  if (!leftovers.length) return;
  const failedNow = leftovers.filter((s) => s.phase === 'failed');
  if (failedNow.length)
    await run.fail(
      failedNow,
      (s) => s.reason ?? 'unknown',
      (s) => s.stillDepooled,
    );
  const active = leftovers.filter((s) => s.phase !== 'failed');
  if (!active.length) return;
  const ok = await new Batch(run, active, { no: 0, of, resume: true }).go();
  if (run.aborted && !ok) throw new StopRun("interrupted while finishing the resumed run's leftovers");
  run.batches.push({
    batch: 0,
    hosts: active.map((s) => s.plan.host),
    ok,
    ...(ok ? {} : { reason: 'leftovers of the resumed run failed' }),
  });
  run.emit({
    type: 'batch-done',
    batch: 0,
    ok,
    succeeded: active.filter((s) => s.phase === 'done').map((s) => s.plan.host),
    failed: active.filter((s) => s.phase === 'failed' || s.phase === 'put-back').map((s) => s.plan.host),
  });
  if (!ok && !run.aborted) {
    run.failedBatches++;
    if (run.failedBatches > run.maxFailed)
      run.stopReason = `${run.failedBatches} failed batch(es), more than max-failed-batches=${run.maxFailed}`;
  }
}

/**
 * Lockstep: batches from the queue in the batch spec's sizes, each started when the previous one is
 * back, less the hosts failures left depooled; capacity checked before each; `planned` batches shown
 * until hosts left depooled make more.
 */
export async function runLockstep(run: Run, queue: HostState[], planned: number): Promise<void> {
  const { opts, ports } = run;
  const spec = opts.batch;
  const n = opts.selection.hosts.length;
  // The count shown in `Batch i/N`: re-planned (and said why) when hosts left depooled shrink the batches.
  let total = planned;
  const batchesLeft = (from: number, left: number, out: number): number => {
    let k = 0;
    for (let j = from; left > 0; j++, k++) {
      const room = batchSizeAt(spec, j, n) - out;
      if (room <= 0) return k + 1;
      left -= room;
    }
    return k;
  };
  for (let i = 0; queue.length && !run.stopReason; i++) {
    if (run.aborted || run.pastDeadline()) break;
    const size = batchSizeAt(spec, i, n);
    // Hosts this run left depooled use up the batch's budget: never more out at once than a batch.
    const out = run.leftDepooled();
    const room = size - out;
    if (room <= 0) {
      run.stopReason = `${out} host(s) are still depooled after failures, which uses the whole batch size ${size}; not depooling more`;
      break;
    }
    const hs = queue.slice(0, room);
    const no = run.batches.filter((b) => b.batch > 0).length + 1;
    // A safe point: a pause from another terminal, the pause-after / confirm-each-batch gate. Capacity is judged after it, live.
    if (!(await beforeBatch(run, { no, of: total, hosts: hs.map((s) => s.plan.host) })) || run.pastDeadline()) break;
    const need = depoolsPerPool(
      ports,
      hs.map((s) => s.plan),
    );
    if (need.size) {
      const live = await ports.capacity.capacity([...need.keys()]);
      let rows = judgeCapacity(need, live);
      run.emit({ type: 'capacity', batch: no, pools: rows });
      let waited: number | undefined;
      if (rows.some((r) => !r.ok) && opts.capacityWaitMs) ({ rows, waitedMs: waited } = await waitForCapacity(run, no, need, rows));
      if (run.aborted) break;
      if (rows.some((r) => !r.ok)) {
        // the deadline ended the wait: stopped by the deadline, not refused
        if (waited !== undefined && run.pastDeadline()) break;
        run.stopReason = capacityMessage(no, rows) + waitedText(waited, opts.capacityWaitMs);
        run.refused = true;
        break;
      }
    }
    queue.splice(0, hs.length);
    // While this batch waits on the LBs, get the next one's connections ready.
    ports.executor.prepare?.(queue.slice(0, batchSizeAt(spec, i + 1, n)).map((s) => s.plan.host));
    const expected = no - 1 + batchesLeft(i, queue.length + hs.length, out);
    if (expected !== total) {
      run.emit({
        type: 'warning',
        message: `re-planned: ${out} host(s) left depooled by failures use up part of the batch size, so ${expected} batches instead of ${total}`,
      });
      total = expected;
    }
    const ok = await new Batch(run, hs, { no, of: total }).go();
    if (run.endBatch(hs, no, ok, 'failed batch(es)') !== undefined) break;
    if (queue.length && !run.aborted && opts.sleepMs) {
      const ms = Math.min(opts.sleepMs, run.deadlineLeftMs());
      run.emit({ type: 'sleep', batch: no, ms });
      await ports.clock.sleep(ms, opts.signal);
    }
  }
}

function waitedText(waited: number | undefined, waitMs: number | undefined): string {
  return waited === undefined
    ? ''
    : ` (after waiting ${formatDuration(Math.round(waited / 100) * 100)} for capacity, capacity-wait=${formatDuration(waitMs ?? 0)})`;
}

const NOT_YET_OUT: ReadonlySet<HostPhase> = new Set(['pending', 'depooling', 'depooled']);

/**
 * The moving window: each host is its own batch, and a new one starts as soon as one is back, while
 * fewer than the window's size are out. The window follows the batch ramp as hosts finish
 * (`batch=1,4`: one canary alone, then up to 4 at once). Before each host is taken out, the capacity
 * check counts the hosts already out whose depool the LBs may not show yet. A step that stops the
 * run (StopRun) starts nothing new; hosts already out finish their steps.
 */
export async function runMoving(run: Run, queue: HostState[]): Promise<void> {
  const { opts, ports } = run;
  const spec = opts.batch;
  const n = opts.selection.hosts.length;
  const inFlight = new Map<HostState, Promise<void>>();
  let unit = 0;
  let finished = 0;
  const of = queue.length;
  const windowSize = (): number => {
    // the ramp advances by whole batches' worth of finished hosts
    let j = 0;
    let acc = batchSizeAt(spec, 0, n);
    while (acc <= finished) {
      j++;
      acc += batchSizeAt(spec, j, n);
    }
    return batchSizeAt(spec, j, n);
  };
  const capacityWaits = new Set<string>();
  /** capacity-wait=: hosts that have had their wait (and how long it was). */
  const waitedFor = new Set<HostState>();
  const waitedMs = new Map<HostState, number>();
  const start = (s: HostState, no: number): void => {
    const p = (async () => {
      let ok = false;
      try {
        ok = await new Batch(run, [s], { no, of }).go();
      } catch (err) {
        run.stopReason ??= stopText(err);
      }
      finished++;
      run.endBatch([s], no, ok, 'failed host(s) in a moving window');
    })();
    inFlight.set(
      s,
      p.finally(() => inFlight.delete(s)),
    );
  };
  const slotFrees = async (): Promise<void> => {
    await Promise.race(inFlight.values());
  };
  while (queue.length && !run.stopReason && !run.aborted) {
    if (run.pastDeadline()) break;
    const size = windowSize();
    const out = run.leftDepooled();
    if (size - out <= 0) {
      if (inFlight.size) {
        await slotFrees();
        continue;
      }
      run.stopReason = `${out} host(s) are still depooled after failures, which uses the whole batch size ${size}; not depooling more`;
      break;
    }
    if (inFlight.size >= size - out) {
      await slotFrees();
      continue;
    }
    const s = queue[0]!;
    // A safe point before a new host goes out: a pause from another terminal takes effect here.
    await safePoint(run, `before taking out ${s.plan.host}`);
    if (run.aborted || run.stopReason || run.pastDeadline()) break;
    const need = depoolsPerPool(ports, [s.plan]);
    if (need.size) {
      // Hosts out before this one are in the LBs' counts once verified out; until then, counted here.
      const pending = [...inFlight.keys()].filter((h) => NOT_YET_OUT.has(h.phase));
      for (const [pool, k] of depoolsPerPool(
        ports,
        pending.map((h) => h.plan),
      ))
        if (need.has(pool)) need.set(pool, need.get(pool)! + k);
      const live = await ports.capacity.capacity([...need.keys()]);
      const rows = judgeCapacity(need, live);
      if (rows.some((r) => !r.ok)) {
        // Short only because of hosts of this run still out: wait for one to come back, then look again.
        if (inFlight.size) {
          for (const r of rows.filter((x) => !x.ok && !capacityWaits.has(x.pool))) {
            capacityWaits.add(r.pool);
            run.warn(
              `pool ${r.pool} can lose only ${r.canTakeOut} more server(s) while ${inFlight.size} host(s) of this run are out (${r.detail}); the window waits for one to come back rather than breach its depool threshold`,
            );
          }
          await slotFrees();
          continue;
        }
        run.emit({ type: 'capacity', batch: unit + 1, pools: rows });
        if (opts.capacityWaitMs && !waitedFor.has(s)) {
          // nothing of this run is out: wait for capacity (once per host), then look again from the top
          waitedFor.add(s);
          const w = await waitForCapacity(run, unit + 1, need, rows);
          waitedMs.set(s, w.waitedMs);
          continue;
        }
        if (waitedFor.has(s) && run.pastDeadline()) break;
        run.stopReason = capacityMessage(unit + 1, rows) + waitedText(waitedMs.get(s), waitedFor.has(s) ? opts.capacityWaitMs : undefined);
        run.refused = true;
        break;
      }
      run.emit({ type: 'capacity', batch: unit + 1, pools: rows });
    }
    queue.shift();
    unit++;
    start(s, unit);
    ports.executor.prepare?.(queue.slice(0, size).map((h) => h.plan.host));
    if (queue.length && opts.sleepMs && inFlight.size >= size - out) {
      // the pause is taken when a slot frees, before the next host goes out (Cumin's batch sleep)
      await slotFrees();
      if (!run.stopReason && !run.aborted) {
        const ms = Math.min(opts.sleepMs, run.deadlineLeftMs());
        run.emit({ type: 'sleep', batch: unit, ms });
        await ports.clock.sleep(ms, opts.signal);
      }
    }
  }
  while (inFlight.size) await slotFrees();
  run.batches.sort((a, b) => a.batch - b.batch);
  const ok = !run.stopReason && run.batches.every((b) => b.ok) && !run.aborted;
  run.emit({ type: 'window-done', ok, ...(run.stopReason ? { reason: run.stopReason } : {}) });
}
