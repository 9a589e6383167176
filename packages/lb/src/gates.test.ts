// The operator in the loop (gates.ts), as pure logic over the fake fleet: pause-after and
// confirm-each-batch gates, retry/skip/abort of a failed host, a pause from another terminal at
// the safe points. The terminal itself is tested against the lab (test/e2e/lb-gates.test.ts).
import { describe, expect, it } from '@jest/globals';
import { ConfirmationError } from '@galley/core';
import { parseBatchSpec } from './batches.js';
import type { Decision, Operator } from './gates.js';
import type { LbEvent } from './ports.js';
import { runRolling, type RollingOptions, type RollingReport } from './rolling.js';
import { selectHosts } from './select.js';
import { FakeFleet } from './testing/index.js';

const restart = [{ argv: ['systemctl', 'restart', 'nginx'], timeoutMs: 1000 }];

interface Asked {
  confirms: string[];
  choices: string[];
  safePoints: string[];
}

function operator(answers: {
  confirm?: (m: string) => boolean | Error;
  choose?: (m: string) => Decision | Error;
  pausedAt?: (where: string) => Promise<void> | void;
}): { op: Operator; asked: Asked } {
  const asked: Asked = { confirms: [], choices: [], safePoints: [] };
  return {
    asked,
    op: {
      confirm: async (m) => {
        asked.confirms.push(m);
        const a = answers.confirm?.(m) ?? true;
        if (a instanceof Error) throw a;
        return a;
      },
      choose: async (m) => {
        asked.choices.push(m);
        const a = answers.choose?.(m) ?? new ConfirmationError(m);
        if (a instanceof Error) throw a;
        return a;
      },
      safePoint: async (w) => {
        asked.safePoints.push(w);
        await answers.pausedAt?.(w);
      },
    },
  };
}

async function run(
  fleet: FakeFleet,
  op: Operator | undefined,
  opts: Partial<Omit<RollingOptions, 'selection' | 'batch'>> & { batch?: string } = {},
): Promise<RollingReport> {
  const selection = await selectHosts(fleet.store, { dc: 'eqiad', cluster: 'jobrunner' });
  return runRolling(
    { ...fleet.ports(), ...(op ? { operator: op } : {}) },
    { commands: restart, ...opts, selection, batch: parseBatchSpec(opts.batch ?? '1') },
  );
}

const everythingBack = (fleet: FakeFleet): boolean => [...fleet.objects.values()].every((o) => o.pooled === fleet.initial.get(o.key));
const started = (fleet: FakeFleet): number[] => fleet.events.flatMap((e: LbEvent) => (e.type === 'batch-started' ? [e.batch] : []));

describe('gates between lockstep batches', () => {
  it('pause-after=1 asks once, after batch 1 is back; yes goes on to the end', async () => {
    const fleet = FakeFleet.cluster(4);
    const { op, asked } = operator({});
    const r = await run(fleet, op, { batch: '1,2', pauseAfter: 1 });
    expect(r.status).toBe('succeeded');
    expect(asked.confirms).toEqual([
      expect.stringMatching(
        /^pause-after=1: batch 1 is done and back in traffic\. Go on with batch 2\/3 \(mw1002\.eqiad\.wmnet, mw1003\.eqiad\.wmnet\)\?$/,
      ),
    ]);
    // a safe point before every batch
    expect(asked.safePoints).toEqual(['before batch 1/3', 'before batch 2/3', 'before batch 3/3']);
    expect(everythingBack(fleet)).toBe(true);
  });

  it('no at the gate: stopped by the operator, nothing more taken out, the rest not attempted', async () => {
    const fleet = FakeFleet.cluster(4);
    const { op } = operator({ confirm: () => false });
    const r = await run(fleet, op, { pauseAfter: 1 });
    expect(r.status).toBe('stopped');
    expect(r.stopReason).toMatch(/^stopped by the operator after batch 1 \(pause-after=1: not confirmed\)/);
    expect(r.succeeded).toEqual(['mw1001.eqiad.wmnet']);
    expect(r.notAttempted).toEqual(['mw1002.eqiad.wmnet', 'mw1003.eqiad.wmnet', 'mw1004.eqiad.wmnet']);
    expect(started(fleet)).toEqual([1]);
    expect(everythingBack(fleet)).toBe(true);
  });

  it('nobody to ask (no TTY, no --yes) is never a yes: the run stops at the gate', async () => {
    const fleet = FakeFleet.cluster(4);
    const { op } = operator({ confirm: (m) => new ConfirmationError(m) });
    const r = await run(fleet, op, { batch: '2', pauseAfter: 1 });
    expect(r.status).toBe('stopped');
    expect(r.stopReason).toMatch(/no terminal to ask whether to go on after batch 1 \(and no --yes\)/);
    expect(started(fleet)).toEqual([1]);
  });

  it('confirm-each-batch asks before every batch after the first', async () => {
    const fleet = FakeFleet.cluster(4);
    const { op, asked } = operator({});
    const r = await run(fleet, op, { confirmEachBatch: true });
    expect(r.status).toBe('succeeded');
    expect(asked.confirms.map((m) => m.split(':')[0])).toEqual(['confirm-each-batch', 'confirm-each-batch', 'confirm-each-batch']);
  });

  it('a pause from another terminal holds the run at the safe point: no host is out meanwhile', async () => {
    const fleet = FakeFleet.cluster(3);
    let outWhilePaused = -1;
    const { op } = operator({
      pausedAt: (w) => {
        if (w === 'before batch 2/3') outWhilePaused = [...fleet.objects.values()].filter((o) => o.pooled === 'no').length;
      },
    });
    const r = await run(fleet, op);
    expect(r.status).toBe('succeeded');
    expect(outWhilePaused).toBe(0);
  });

  it('the moving window has a safe point before each host it takes out', async () => {
    const fleet = FakeFleet.cluster(4);
    const { op, asked } = operator({});
    const r = await run(fleet, op, { batch: '2', window: 'moving' });
    expect(r.status).toBe('succeeded');
    expect(asked.safePoints).toEqual(['mw1001', 'mw1002', 'mw1003', 'mw1004'].map((h) => `before taking out ${h}.eqiad.wmnet`));
  });
});

describe('decisions on a failed host', () => {
  it('retry: the host is verified out again, acted on again, and put back; the batch counts as done', async () => {
    const fleet = FakeFleet.cluster(4);
    fleet.behaviour.set('mw1002.eqiad.wmnet', 'action-fails');
    const { op, asked } = operator({
      choose: () => {
        fleet.behaviour.set('mw1002.eqiad.wmnet', 'ok');
        return 'retry';
      },
    });
    const r = await run(fleet, op, { batch: '2' });
    expect(asked.choices).toEqual([expect.stringMatching(/^mw1002\.eqiad\.wmnet failed: action failed/)]);
    expect(r.status).toBe('succeeded');
    expect(r.failedBatches).toBe(0);
    expect(r.succeeded.sort()).toEqual(['mw1001', 'mw1002', 'mw1003', 'mw1004'].map((h) => `${h}.eqiad.wmnet`));
    expect(everythingBack(fleet)).toBe(true);
    // its batch-mate was put back before the question
    const decision = fleet.events.findIndex((e) => e.type === 'decision');
    const mateDone = fleet.events.findIndex((e) => e.type === 'host-phase' && e.host === 'mw1001.eqiad.wmnet' && e.phase === 'done');
    expect(mateDone).toBeGreaterThan(-1);
    expect(mateDone).toBeLessThan(decision);
    expect(
      fleet.journalEntries.some(
        (e) => e.host === 'mw1002.eqiad.wmnet' && /^the operator chose retry after: action failed/.test(String(e.reason)),
      ),
    ).toBe(true);
  });

  it('a retry that fails again is asked again', async () => {
    const fleet = FakeFleet.cluster(4);
    fleet.behaviour.set('mw1001.eqiad.wmnet', 'action-fails');
    const answers: Decision[] = ['retry', 'skip'];
    const { op, asked } = operator({ choose: () => answers.shift()! });
    const r = await run(fleet, op, { batch: '2', maxFailedBatches: 1 });
    expect(asked.choices).toHaveLength(2);
    expect(r.failed.map((f) => [f.host, f.stillDepooled])).toEqual([['mw1001.eqiad.wmnet', true]]);
    expect(r.succeeded).toEqual(['mw1002.eqiad.wmnet', 'mw1003.eqiad.wmnet', 'mw1004.eqiad.wmnet']);
  });

  it('skip: left depooled, reported, counted against the failure budget as without a terminal', async () => {
    const fleet = FakeFleet.cluster(4);
    fleet.behaviour.set('mw1002.eqiad.wmnet', 'action-fails');
    const { op } = operator({ choose: () => 'skip' });
    const r = await run(fleet, op);
    expect(r.status).toBe('failed');
    expect(r.failedBatches).toBe(1);
    expect(r.stopReason).toMatch(/more than max-failed-batches=0/);
    expect(r.failed).toEqual([expect.objectContaining({ host: 'mw1002.eqiad.wmnet', stillDepooled: true })]);
    expect(r.notAttempted).toEqual(['mw1003.eqiad.wmnet', 'mw1004.eqiad.wmnet']);
  });

  it('abort: the run stops there even with budget left; the host stays depooled', async () => {
    const fleet = FakeFleet.cluster(4);
    fleet.behaviour.set('mw1002.eqiad.wmnet', 'action-fails');
    const { op } = operator({ choose: () => 'abort' });
    const r = await run(fleet, op, { maxFailedBatches: 3 });
    expect(r.status).toBe('failed');
    expect(r.stopReason).toMatch(/^aborted by the operator after mw1002\.eqiad\.wmnet failed/);
    expect(r.failed).toEqual([expect.objectContaining({ host: 'mw1002.eqiad.wmnet', stillDepooled: true })]);
    expect(r.notAttempted).toEqual(['mw1003.eqiad.wmnet', 'mw1004.eqiad.wmnet']);
  });

  it('a failed health check is a decision too; retry runs the action and the health check again', async () => {
    const fleet = FakeFleet.cluster(3);
    fleet.behaviour.set('mw1001.eqiad.wmnet', 'unhealthy');
    const { op } = operator({
      choose: () => {
        fleet.behaviour.set('mw1001.eqiad.wmnet', 'ok');
        return 'retry';
      },
    });
    const r = await run(fleet, op, { healthCheck: { command: { shell: 'check' }, timeoutMs: 3000, intervalMs: 1000 } });
    expect(r.status).toBe('succeeded');
    expect(everythingBack(fleet)).toBe(true);
  });

  it('no terminal: nothing is asked and the host fails closed exactly as without an operator', async () => {
    const a = FakeFleet.cluster(4);
    const b = FakeFleet.cluster(4);
    for (const f of [a, b]) f.behaviour.set('mw1002.eqiad.wmnet', 'action-fails');
    const { op } = operator({});
    const withOp = await run(a, op, { maxFailedBatches: 1 });
    const without = await run(b, undefined, { maxFailedBatches: 1 });
    const shape = (r: RollingReport) => ({
      status: r.status,
      succeeded: r.succeeded,
      failed: r.failed.map((f) => [f.host, f.stillDepooled]),
      notAttempted: r.notAttempted,
      stopReason: r.stopReason,
    });
    expect(shape(withOp)).toEqual(shape(without));
  });
});
