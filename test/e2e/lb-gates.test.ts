// The operator in the loop of a rolling run, against the lab: the pause-after / confirm-each-batch
// gates and the retry / skip / abort decision on a terminal (util-linux script(1)), the warning
// outside tmux/screen, a gate without a terminal, and `cookbook --pause/--continue RUN_ID` from a
// second process. eqiad jobrunner: mw1301–mw1304, nginx + php-fpm, all pooled=yes; 2 LBs.
import { afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Lab } from '@galley/lab';
import { sharedLab } from '@galley/lab/testing';
import { cookbook, etcdRange, outputOf, poolsPrefix, settled, sleep } from './lb-helpers.js';
import { onTty } from './tty.js';

jest.setTimeout(120_000);

let lab: Lab;

beforeAll(async () => {
  lab = await sharedLab();
});
afterEach(async () => {
  await lab.reset();
});

const HOSTS = ['mw1301', 'mw1302', 'mw1303', 'mw1304'].map((h) => `${h}.eqiad.wmnet`);
const esc = (s: string): string => s.replace(/[.[\]()]/g, '\\$&');

/** host → its objects' pooled values, as conftool holds them now. */
async function pooled(): Promise<Record<string, string[]>> {
  const prefix = poolsPrefix(lab, 'eqiad', 'jobrunner');
  const { kvs } = await etcdRange(lab, prefix);
  const out: Record<string, string[]> = {};
  for (const [k, v] of [...kvs].sort(([a], [b]) => (a < b ? -1 : 1)))
    (out[k.split('/').at(-1)!] ??= []).push((JSON.parse(v.value) as { pooled: string }).pooled);
  return out;
}
const allYes = (): Record<string, string[]> => Object.fromEntries(HOSTS.map((h) => [h, ['yes', 'yes']]));

/**
 * Answer each question once when it is drawn: `answers` maps a pattern of the screen to what is
 * typed (or to a function that looks at the lab first and returns it). Returns what was seen.
 */
function answering(answers: [RegExp, string | (() => Promise<string>)][]): {
  onScreen: (screen: string, type: (k: string) => void) => void;
  seen: string[];
} {
  const seen: string[] = [];
  let busy = false;
  return {
    seen,
    onScreen: (screen, type) => {
      if (busy || !answers.length) return;
      const [re, a] = answers[0]!;
      if (!re.test(screen)) return;
      answers.shift();
      busy = true;
      seen.push(screen);
      void (async () => {
        type(`${typeof a === 'string' ? a : await a()}\n`);
        busy = false;
      })();
    },
  };
}

const GATE =
  /pause-after=1: batch 1 is done and back in traffic\. Go on with batch 2\/3 \(mw1302\.eqiad\.wmnet, mw1303\.eqiad\.wmnet\)\?\nType "go" to proceed or "abort" to interrupt the execution\n> $/;

describe('gates on a terminal', () => {
  it('pause-after=1 with batch=1,2: asked after the canary is back, nothing else out meanwhile; go finishes; warned outside tmux/screen', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    let atGate: Record<string, string[]> | undefined;
    const a = answering([
      [
        GATE,
        async () => {
          atGate = await pooled();
          return 'go';
        },
      ],
    ]);
    const r = await onTty(
      lab,
      ['sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1,2', 'pause-after=1', 'sleep=0', 'reason=e2e canary gate'],
      { onScreen: a.onScreen, env: { TMUX: undefined, STY: undefined } },
    );
    if (r.code !== 0) throw new Error(`exit ${r.code}, expected 0; the screen:\n${r.screen}`);
    expect(a.seen).toHaveLength(1);
    // asked once the canary's step is drawn as done, before the next batch is drawn
    expect(a.seen[0]).toMatch(/✔ Batch 1\/3: mw1301\.eqiad\.wmnet\n/);
    expect(a.seen[0]).not.toMatch(/Batch 2\/3/);
    expect(atGate).toEqual(allYes());
    expect(r.screen).toMatch(/✔ Batch 3\/3: mw1304\.eqiad\.wmnet\n/);
    expect(r.screen.match(/Type "go" to proceed/g)).toHaveLength(1);
    expect(r.screen).toMatch(/\[WARN\] not inside tmux or screen/);
    expect(await pooled()).toEqual(allYes());
  });

  it('pause-after=1 answered abort: stopped by the operator, exit 3, the rest not attempted, the resume command said; no warning inside tmux', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const a = answering([[GATE, 'abort']]);
    const r = await onTty(
      lab,
      ['sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1,2', 'pause-after=1', 'sleep=0', 'reason=e2e canary stop'],
      { onScreen: a.onScreen, env: { TMUX: '/tmp/tmux-0/default,1,0' } },
    );
    expect(a.seen).toHaveLength(1);
    if (r.code !== 3) throw new Error(`exit ${r.code}, expected 3; the screen:\n${r.screen}`);
    expect(r.screen).toMatch(/STOPPED BY THE OPERATOR: 1 succeeded, 0 failed, 0 stopped mid-way, 3 not attempted/);
    expect(r.screen).toMatch(/Stopped: stopped by the operator after batch 1 \(pause-after=1: not confirmed\); nothing more was taken out/);
    expect(r.screen).toMatch(/Not attempted: mw1302\.eqiad\.wmnet, mw1303\.eqiad\.wmnet, mw1304\.eqiad\.wmnet/);
    expect(r.screen).toMatch(
      /`cookbook --resume \d{8}T\d{6}-[0-9a-f]{6} …` \(the same cookbook and arguments\) goes on with the hosts not attempted/,
    );
    expect(r.screen).not.toMatch(/Batch 2\/3/);
    expect(r.screen).not.toMatch(/not inside tmux or screen/);
    expect(await pooled()).toEqual(allYes());
  });

  it('confirm-each-batch: asked before every batch after the first', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const a = answering([
      [
        /confirm-each-batch: batch 1 is done and back in traffic\. Go on with batch 2\/3 \(mw1303\.eqiad\.wmnet\)\?\nType "go"[^\n]*\n> $/,
        'go',
      ],
      [
        /confirm-each-batch: batch 2 is done and back in traffic\. Go on with batch 3\/3 \(mw1304\.eqiad\.wmnet\)\?\nType "go"[^\n]*\n> $/,
        'go',
      ],
    ]);
    const r = await onTty(
      lab,
      ['sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=2,1', 'confirm-each-batch', 'sleep=0', 'reason=e2e confirm each'],
      { onScreen: a.onScreen },
    );
    if (r.code !== 0) throw new Error(`exit ${r.code}, expected 0; the screen:\n${r.screen}`);
    expect(a.seen).toHaveLength(2);
    expect(r.screen.match(/Type "go" to proceed/g)).toHaveLength(2);
    expect(await pooled()).toEqual(allYes());
  });

  it('without a terminal (and no --yes) pause-after stops at the gate: exit 3, said why, nothing left out', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const r = await cookbook(lab, [
      '--output',
      'json',
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=2',
      'pause-after=1',
      'sleep=0',
      'reason=e2e gate no tty',
    ]);
    expect(r.code).toBe(3);
    const out = outputOf(r)!;
    expect(out.status).toBe('stopped');
    expect(out.stopReason).toMatch(/pause-after=1: no terminal to ask whether to go on after batch 1 \(and no --yes\)/);
    expect(out.notAttempted).toEqual(HOSTS.slice(2));
    expect(await pooled()).toEqual(allYes());
  });
});

const DECIDE =
  /mw1302\.eqiad\.wmnet failed: action failed: [^\n]*\n {4}It is still out of traffic and its lock is held\. [^\n]*\nType "retry", "skip" or "abort"\n> $/;

describe('a failed host on a terminal: retry / skip / abort', () => {
  it('retry after the operator fixed the host: its batch-mate is back first, the retry finishes it, conftool ends as it began', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    await lab.failService('mw1302.eqiad.wmnet', 'nginx', 'restart');
    let atQuestion: Record<string, string[]> | undefined;
    const a = answering([
      [
        DECIDE,
        async () => {
          atQuestion = await pooled();
          // the operator fixes it, then retries
          await lab.heal('mw1302.eqiad.wmnet');
          return 'retry';
        },
      ],
    ]);
    const r = await onTty(lab, ['sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=2', 'sleep=0', 'reason=e2e retry'], {
      onScreen: a.onScreen,
    });
    if (r.code !== 0) throw new Error(`exit ${r.code}, expected 0; the screen:\n${r.screen}`);
    expect(atQuestion).toEqual({ ...allYes(), 'mw1302.eqiad.wmnet': ['no', 'no'] });
    // the batch's step ends (drawn failed so far) before the question: the renderer lets go of the terminal
    const batchLines = a.seen[0]!.split('\n').filter((l) => l.includes('Batch 1/2: mw1301.eqiad.wmnet, mw1302.eqiad.wmnet'));
    expect(batchLines.at(-1)).toMatch(/^[⚠✖] Batch 1\/2/);
    expect(r.screen).toMatch(/✔ Batch 1, retry of mw1302\.eqiad\.wmnet\n/);
    expect(r.screen).toMatch(new RegExp(`^ {2}✔ ${esc('mw1302.eqiad.wmnet')}: done$`, 'm'));
    expect(r.screen).toMatch(/All hosts done: 4 succeeded, 0 failed/);
    expect(await pooled()).toEqual(allYes());
  });

  it('skip: left depooled and reported, the run goes on within max-failed-batches; exit 1', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    await lab.failService('mw1302.eqiad.wmnet', 'nginx', 'restart');
    const a = answering([[DECIDE, 'skip']]);
    const r = await onTty(
      lab,
      ['sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=2', 'max-failed-batches=1', 'sleep=0', 'reason=e2e skip'],
      { onScreen: a.onScreen },
    );
    expect(a.seen).toHaveLength(1);
    if (r.code !== 1) throw new Error(`exit ${r.code}, expected 1; the screen:\n${r.screen}`);
    expect(r.screen).toMatch(/mw1302\.eqiad\.wmnet: skipped by the operator: left depooled/);
    expect(r.screen).toMatch(/Succeeded: mw1301\.eqiad\.wmnet, mw1303\.eqiad\.wmnet, mw1304\.eqiad\.wmnet/);
    expect(r.screen).toMatch(/Failed, STILL DEPOOLED: mw1302\.eqiad\.wmnet/);
    expect(await pooled()).toEqual({ ...allYes(), 'mw1302.eqiad.wmnet': ['no', 'no'] });
  });

  it('abort: the run stops there (budget left or not), the host stays depooled, the rest not attempted; exit 1', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    await lab.failService('mw1302.eqiad.wmnet', 'nginx', 'restart');
    const a = answering([[DECIDE, 'abort']]);
    const r = await onTty(
      lab,
      ['sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=2', 'max-failed-batches=1', 'sleep=0', 'reason=e2e abort'],
      { onScreen: a.onScreen },
    );
    expect(a.seen).toHaveLength(1);
    if (r.code !== 1) throw new Error(`exit ${r.code}, expected 1; the screen:\n${r.screen}`);
    expect(r.screen).toMatch(/Stopped: aborted by the operator after mw1302\.eqiad\.wmnet failed/);
    expect(r.screen).toMatch(/Not attempted: mw1303\.eqiad\.wmnet, mw1304\.eqiad\.wmnet/);
    expect(await pooled()).toEqual({ ...allYes(), 'mw1302.eqiad.wmnet': ['no', 'no'] });
  });
});

describe('cookbook --pause / --continue RUN_ID from another terminal', () => {
  it('paused between batches: no host out and no new batch while paused, locks held (read back), who paused shown and journaled; continue finishes', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    let runId: string | undefined;
    let pausedBy: Promise<Awaited<ReturnType<typeof cookbook>>> | undefined;
    let pausedAt = 0;
    const startedBatches: { batch: number; t: number }[] = [];
    const whilePaused: Promise<void>[] = [];
    let checks: { pooled: Record<string, string[]>; locks: string[]; pauseKey: boolean; batchesStarted: number } | undefined;
    const run = cookbook(
      lab,
      ['--output', 'json', 'sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'sleep=0', 'reason=e2e pause'],
      {
        onEvent: (e) => {
          if (e.type === 'batch-started') startedBatches.push({ batch: e.batch as number, t: Date.now() });
          if (e.type === 'batch-started' && e.batch === 1 && !pausedBy) {
            runId = e.runId!;
            pausedBy = cookbook(lab, ['--pause', runId]);
          }
          if (e.type === 'paused') {
            pausedAt = Date.now();
            whilePaused.push(
              (async () => {
                // a second while paused: nothing taken out, nothing started, the locks still there
                await sleep(1200);
                const { kvs } = await etcdRange(lab, '/galley/locks/');
                const pause = await etcdRange(lab, `/galley/pauses/${runId!}`);
                checks = {
                  pooled: await pooled(),
                  locks: [...kvs.values()].filter((v) => (JSON.parse(v.value) as { runId: string }).runId === runId).map((v) => v.value),
                  pauseKey: pause.kvs.size === 1,
                  batchesStarted: startedBatches.filter((b) => b.t > pausedAt).length,
                };
                const c = await cookbook(lab, ['--continue', runId!]);
                expect(c.code).toBe(0);
                expect(c.stdout).toMatch(new RegExp(`run ${runId!}: continued \\(it was paused by \\S+@\\S+ since `));
              })(),
            );
          }
        },
      },
    );
    const r = await run;
    await Promise.all(whilePaused);
    const p = await pausedBy!;
    expect(p.code).toBe(0);
    expect(p.stdout).toMatch(new RegExp(`run ${runId!}: paused by \\S+@\\S+; it stops at its next safe point`));
    if (r.code !== 0) throw new Error(`exit ${r.code}, expected 0; stderr:\n${r.stderr}`);
    expect(checks).toBeDefined();
    expect(checks!.pooled).toEqual(allYes());
    expect(checks!.batchesStarted).toBe(0);
    expect(checks!.pauseKey).toBe(true);
    // the cookbook lock, the cluster lock (and host locks): held by the paused run
    expect(checks!.locks.length).toBeGreaterThanOrEqual(2);
    const paused = r.events.find((e) => e.type === 'paused')!;
    expect(paused).toEqual(
      expect.objectContaining({
        by: expect.stringMatching(/\S+@\S+/),
        since: expect.any(String),
        at: expect.stringMatching(/^before batch \d\/4$/),
      }),
    );
    expect(r.stderr).toMatch(/PAUSED by \S+@\S+ since \S+, before batch \d\/4: nothing new is started; the run keeps its locks/);
    const journal = r.events.filter((e) => e.type === 'journal').map((e) => (e.entry as { type: string }).type);
    expect(journal).toEqual(expect.arrayContaining(['paused', 'continued']));
    expect(outputOf(r)!.succeeded).toEqual(HOSTS);
    expect(await pooled()).toEqual(allYes());
    // the pause went with the run: its key was bound to the run's lease
    expect((await etcdRange(lab, `/galley/pauses/${runId!}`)).kvs.size).toBe(0);
  });

  it('Ctrl+C while paused: the run stops there (exit 97), nothing was out, the pause went with it', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    let runId: string | undefined;
    let pause: Promise<Awaited<ReturnType<typeof cookbook>>> | undefined;
    const r = await cookbook(
      lab,
      ['--output', 'json', 'sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'sleep=0', 'reason=e2e pause then ctrl-c'],
      {
        onEvent: (e, child) => {
          if (e.type === 'batch-started' && e.batch === 1 && !pause) {
            runId = e.runId!;
            pause = cookbook(lab, ['--pause', runId]);
          }
          if (e.type === 'paused') child.kill('SIGINT');
        },
      },
    );
    expect((await pause!).code).toBe(0);
    expect(r.events.some((e) => e.type === 'paused')).toBe(true);
    if (r.code !== 97) throw new Error(`exit ${r.code}, expected 97; stderr:\n${r.stderr}`);
    expect(r.events.some((e) => e.type === 'continued')).toBe(false);
    expect(outputOf(r)!.status).toBe('interrupted');
    expect(await pooled()).toEqual(allYes());
    expect((await etcdRange(lab, `/galley/pauses/${runId!}`)).kvs.size).toBe(0);
  });

  it('--pause of an unknown run and of a finished one: a clear error with its code, exit 1', async () => {
    const unknown = await cookbook(lab, ['--pause', '20260101T000000-abcdef']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /cannot pause run 20260101T000000-abcdef: no such run is running \(no lock is held by it\) \[ERR_RUN_NOT_RUNNING\]/,
    );
    await settled(lab, 'eqiad', 'jobrunner');
    const done = await cookbook(lab, [
      '--output',
      'json',
      'sre.lb.restart-service',
      'host=mw1301.eqiad.wmnet',
      'service=nginx',
      'reason=e2e pause finished',
    ]);
    expect(done.code).toBe(0);
    const id = done.events[0]!.runId!;
    const finished = await cookbook(lab, ['--continue', id]);
    expect(finished.code).toBe(1);
    expect(finished.stderr).toMatch(
      new RegExp(`cannot continue run ${id}: it has finished \\(it holds no lock any more\\) \\[ERR_RUN_NOT_RUNNING\\]`),
    );
  });
});
