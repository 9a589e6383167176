// sre.lb.rolling-restart on a terminal (util-linux script(1), as an operator runs it): one task per
// batch, one subtask per host showing its phase; a failed host keeps the run's report and exit 1.
// eqiad jobrunner: mw1301–mw1304, all pooled=yes; 2 LBs, PyBal delay ~200 ms.
import { afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { connectEtcd } from '@galley/confctl';
import { EtcdLocks } from '@galley/core/locks';
import type { Lab } from '@galley/lab';
import { sharedLab } from '@galley/lab/testing';
import { etcdRange, poolsPrefix, settled } from './lb-helpers.js';
import { onTty as onTtyOf } from './tty.js';

jest.setTimeout(120_000);

let lab: Lab;

beforeAll(async () => {
  lab = await sharedLab();
});
afterEach(async () => {
  await lab.reset();
});

/** The binary on a pseudo-terminal (tty.ts), on this file's lab. */
function onTty(
  args: string[],
  onScreen?: (screen: string, type: (keys: string) => void) => void,
): Promise<{ code: number | null; screen: string }> {
  return onTtyOf(lab, args, onScreen ? { onScreen } : {});
}

const esc = (s: string): string => s.replace(/[.[\]()]/g, '\\$&');

describe('sre.lb.rolling-restart on a terminal', () => {
  it('one task per batch, a subtask per host under it showing the phase; a host ends as "done"', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const r = await onTty(['sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=2', 'sleep=0', 'reason=e2e tty']);
    if (r.code !== 0) throw new Error(`exit ${r.code}, expected 0; the screen:\n${r.screen}`);
    expect(r.screen).toMatch(/✔ Batch 1\/2: mw1301\.eqiad\.wmnet, mw1302\.eqiad\.wmnet\n/);
    expect(r.screen).toMatch(/✔ Batch 2\/2: mw1303\.eqiad\.wmnet, mw1304\.eqiad\.wmnet\n/);
    for (const h of ['mw1301', 'mw1302', 'mw1303', 'mw1304'].map((x) => `${x}.eqiad.wmnet`)) {
      // drawn as a subtask (indented under its batch), through the phases that wait on the LBs
      for (const phase of ['depooled, waiting until every LB has it out', 'restarting', 'repooled, waiting until every LB has it back']) {
        expect(r.screen).toMatch(new RegExp(`^ {2}\\S ${esc(h)}: ${esc(phase)}$`, 'm'));
      }
      // it ends as done, not as its last phase with the end message glued on
      expect(r.screen).toMatch(new RegExp(`^ {2}✔ ${esc(h)}: done$`, 'm'));
      expect(r.screen).not.toMatch(new RegExp(`${esc(h)}: repooled[^\\n]*: ${esc(h)}: done`));
    }
    // a batch's hosts are drawn under that batch: mw1303 appears only after batch 2 starts
    expect(r.screen.indexOf('mw1303.eqiad.wmnet: depooled')).toBeGreaterThan(r.screen.indexOf('Batch 2/2'));
  });

  it("a batch's lines (depool, restart, repool) are drawn in its block: after the previous batch's end, before its own", async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const r = await onTty(['sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'sleep=0', 'reason=e2e tty order']);
    if (r.code !== 0) throw new Error(`exit ${r.code}, expected 0; the screen:\n${r.screen}`);
    // The capture is every redraw in turn: a line's first appearance is when the operator first saw it.
    const lines = r.screen.split('\n');
    const first = (re: RegExp): number => lines.findIndex((l) => re.test(l));
    const hosts = ['mw1301', 'mw1302', 'mw1303', 'mw1304'].map((x) => `${x}.eqiad.wmnet`);
    const doneAt = hosts.map((h, i) => first(new RegExp(`^✔ Batch ${i + 1}/4: ${esc(h)}$`)));
    const problems: string[] = [];
    hosts.forEach((h, i) => {
      expect(doneAt[i]).toBeGreaterThan(-1);
      const mine = [
        ...['nginx', 'php-fpm'].flatMap((svc) =>
          [`pooled yes → no`, `pooled no → yes`].map((what) => `changed ${h}: /conftool/v1/pools/eqiad/jobrunner/${svc}/${h} ${what}`),
        ),
        `changed ${h}: run systemctl restart nginx php-fpm`,
      ];
      for (const text of mine) {
        const at = first(new RegExp(`^ {2}› ${esc(text)}$`));
        if (at < 0) problems.push(`batch ${i + 1}: never drawn: ${text}`);
        else if (at > doneAt[i]!) problems.push(`batch ${i + 1}: drawn after its done line (line ${at} > ${doneAt[i]}): ${text}`);
        else if (i > 0 && at < doneAt[i - 1]!)
          problems.push(`batch ${i + 1}: drawn before batch ${i}'s end (line ${at} < ${doneAt[i - 1]}): ${text}`);
      }
    });
    if (problems.length > 0) console.log(`${problems.join('\n')}\n--- screen ---\n${r.screen}`);
    expect(problems).toEqual([]);
    // the end report comes after the last batch, outside any block
    expect(first(/^END \(PASS\)/)).toBeGreaterThan(doneAt[3]!);
  });

  it('a host that fails: its subtask keeps the host and the phase once, the report says what is left where, exit 1 (not 99)', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    await lab.failService('mw1303.eqiad.wmnet', 'nginx', 'restart');
    const r = await onTty(['sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=2', 'sleep=0', 'reason=e2e tty failure']);
    expect(r.code).toBe(1);
    expect(r.screen).toMatch(/^ {2}✖ mw1303\.eqiad\.wmnet: restarting: FAILED — action failed: /m);
    expect(r.screen).not.toMatch(/mw1303\.eqiad\.wmnet: restarting: mw1303\.eqiad\.wmnet/);
    expect(r.screen).toMatch(
      /Failed, STILL DEPOOLED: mw1303\.eqiad\.wmnet \(eqiad\/jobrunner\/nginx\/mw1303\.eqiad\.wmnet, eqiad\/jobrunner\/php-fpm\/mw1303\.eqiad\.wmnet\): action failed/,
    );
    expect(r.screen).toMatch(/END \(FAIL\) - Cookbook sre\.lb\.rolling-restart \(exit_code=1\)/);
    // The errors logged after the host's step ended are drawn nowhere rather than crashing listr2.
    expect(r.screen).not.toMatch(/progress display failed/);
    const { kvs } = await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'jobrunner'));
    expect(
      (JSON.parse(kvs.get(`${poolsPrefix(lab, 'eqiad', 'jobrunner')}nginx/mw1303.eqiad.wmnet`)!.value) as { pooled: string }).pooled,
    ).toBe('no');
  });

  it('Ctrl+C mid-batch: the host stopped mid-way is drawn as stopped (not with a tick), the report says it is still depooled; exit 97', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    let typed = false;
    const r = await onTty(
      ['sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'sleep=0', 'reason=e2e tty ctrl-c'],
      (screen, type) => {
        if (!typed && /mw1302\.eqiad\.wmnet: restarting/.test(screen)) {
          typed = true;
          type('\x03');
        }
      },
    );
    expect(typed).toBe(true);
    expect(r.code).toBe(97);
    expect(r.screen).toMatch(/^ {2}✖ mw1302\.eqiad\.wmnet: (restarting|acted): stopped — interrupted$/m);
    expect(r.screen).not.toMatch(/✔ mw1302\.eqiad\.wmnet/);
    expect(r.screen).not.toMatch(/✔ Batch 2\/4/);
    expect(r.screen).toMatch(/Stopped at acted: mw1302\.eqiad\.wmnet, STILL DEPOOLED/);
  });

  it("a host lock held by another run: the wait is drawn in that host's batch, with the holder, while batch 1 is done; the run goes on when it is released", async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const etcd = connectEtcd({ endpoints: lab.info.etcd.endpoints, dialTimeoutMs: 3000, requestTimeoutMs: 5000 });
    const other = new EtcdLocks(etcd, {}).session('e2e-tty-operator', { dryRun: false });
    await other.acquire('hosts', 'mw1302.eqiad.wmnet', { concurrency: 1, ttlSeconds: 120 });
    let released = false;
    let seenWhileWaiting = '';
    try {
      const r = await onTty(
        ['sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'sleep=0', 'reason=e2e tty lock wait'],
        (screen) => {
          if (!released && /waiting for lock hosts\/mw1302\.eqiad\.wmnet/.test(screen)) {
            released = true;
            seenWhileWaiting = screen;
            // the operator's run ends: its lock goes, and the waiting run must go on by itself
            void other.close();
          }
        },
      );
      expect(released).toBe(true);
      if (r.code !== 0) throw new Error(`exit ${r.code}, expected 0; the screen:\n${r.screen}`);
      const lines = seenWhileWaiting.replace(/\r/g, '').split('\n');
      const first = (re: RegExp): number => lines.findIndex((l) => re.test(l));
      // a line of batch 2's block (indented under it), not a line printed over the drawing
      const wait = first(/^ {2}› waiting for lock hosts\/mw1302\.eqiad\.wmnet, held by:$/);
      if (wait < 0) console.log(`--- screen while waiting ---\n${seenWhileWaiting}`);
      expect(wait).toBeGreaterThan(-1);
      // drawn inside batch 2's block: after batch 1's end and batch 2's title, with who holds it
      expect(wait).toBeGreaterThan(first(/^✔ Batch 1\/4: mw1301\.eqiad\.wmnet$/));
      expect(wait).toBeGreaterThan(first(/Batch 2\/4: mw1302\.eqiad\.wmnet/));
      expect(seenWhileWaiting).toMatch(/e2e-tty-operator/);
      // nothing of mw1302 changed while it waited: the lock comes before its depool
      expect(seenWhileWaiting).not.toMatch(/changed mw1302\.eqiad\.wmnet/);
      expect(r.screen).toMatch(/✔ Batch 4\/4: mw1304\.eqiad\.wmnet\n/);
    } finally {
      if (!released) await other.close();
      etcd.close();
    }
  });
});
