#!/usr/bin/env node
/* global process, console */
// `pnpm bench moving`: window=moving against lockstep on a real lab whose restarts take 0.3–3 s
// (a different time per host, `startLab({ restartMs: { min, max } })`).
//
// 40 lab hosts, 2 LBs, PyBal propagation delay 300 ms, batch 4, sleep 0; the whole fleet rolled by
// the library (as `pnpm bench rolling` does), alternately with window=moving and lockstep. Each
// host's action time is measured in the run (acting → acted), so both ideal schedules use the real
// restarts: a host costs depool propagation + its action + repool propagation; the moving ideal
// feeds the hosts, in order, to `batch` slots as they free up; the lockstep ideal is the sum over
// batches of the slowest host of each. Action times come from the moving runs (in lockstep a host is
// 'acted' only when its whole batch is, so its own time is not seen). Target: moving wall ≤ 1.15×
// its ideal; lockstep printed beside. The moving mode runs first, so lockstep has times to use.
//
// Options: --runs N (runs per mode, default 2), --hosts N (default 40), --batch N (default 4).
import { startLab } from '@galley/lab';
import { parseBatchSpec, runRolling, selectHosts } from '@galley/lb';
import { clientsFor, libraryPorts } from './lib/lab-ports.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt('runs', '2'));
const HOSTS = Number(opt('hosts', '40'));
const BATCH = Number(opt('batch', '4'));
const DELAY = 300;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Hosts in order, each taking d ms, fed to `slots` slots as they free up: the makespan. */
function movingIdeal(ds, slots) {
  const free = Array(slots).fill(0);
  for (const d of ds) {
    free.sort((a, b) => a - b);
    free[0] += d;
  }
  return Math.max(...free);
}
function lockstepIdeal(ds, size) {
  let t = 0;
  for (let i = 0; i < ds.length; i += size) t += Math.max(...ds.slice(i, i + size));
  return t;
}

const t0 = Date.now();
const lab = await startLab({ hosts: HOSTS, lbs: 2, pybalDelayMs: DELAY, restartMs: { min: 300, max: 3000 }, depoolThreshold: 0.2 });
console.log(`lab: ${HOSTS} hosts, 2 LBs, PyBal delay ${DELAY} ms, restarts 300–3000 ms per host; up in ${Date.now() - t0} ms (${lab.dir})`);
const c = await clientsFor(lab);
const rows = { moving: [], lockstep: [] };
/** host → its action time (ms), from the latest moving run */
const actionOf = new Map();
try {
  for (let run = 1; run <= RUNS; run++) {
    for (const window of run === 1 || run % 2 ? ['moving', 'lockstep'] : ['lockstep', 'moving']) {
      const runId = `bench-moving-${Date.now()}`;
      const acting = new Map();
      const action = new Map();
      let maxOut = 0;
      const out = new Set();
      const ports = libraryPorts(c, runId, (e) => {
        if (e.type !== 'host-phase') return;
        if (e.phase === 'depooling') out.add(e.host);
        if (e.phase === 'done' || e.phase === 'failed' || e.phase === 'put-back') out.delete(e.host);
        maxOut = Math.max(maxOut, out.size);
        if (e.phase === 'acting') acting.set(e.host, Date.now());
        if (e.phase === 'acted') action.set(e.host, Date.now() - acting.get(e.host));
      });
      const selection = await selectHosts(ports.store, {});
      const order = selection.hosts.map((h) => h.host);
      const started = Date.now();
      const report = await runRolling(ports, {
        selection,
        batch: parseBatchSpec(String(BATCH)),
        window,
        sleepMs: 0,
        commands: [{ argv: ['systemctl', 'restart', 'nginx', 'php-fpm'], timeoutMs: 30_000 }],
      });
      const wall = Date.now() - started;
      if (report.status !== 'succeeded')
        throw new Error(`${window} run ${run}: ${report.status}: ${report.stopReason ?? ''} ${JSON.stringify(report.failed)}`);
      if (window === 'moving') for (const [h, ms] of action) actionOf.set(h, ms);
      const ds = order.map((h) => DELAY + actionOf.get(h) + DELAY);
      const ideal = window === 'moving' ? movingIdeal(ds, BATCH) : lockstepIdeal(ds, BATCH);
      const other = window === 'moving' ? lockstepIdeal(ds, BATCH) : movingIdeal(ds, BATCH);
      rows[window].push({ wall, ideal, other, maxOut });
      console.log(
        `run ${run} ${window.padEnd(8)}: ${report.succeeded.length} hosts ${wall} ms, its ideal ${ideal} ms (ratio ${(wall / ideal).toFixed(2)}), ` +
          `${window === 'moving' ? 'lockstep' : 'moving'} ideal for the same restarts ${other} ms; at most ${maxOut} out at once; median host action ${median([...actionOf.values()])} ms`,
      );
    }
  }
  const m = (w, k) => median(rows[w].map((r) => r[k]));
  const ratio = m('moving', 'wall') / m('moving', 'ideal');
  console.log(
    `MOVING: median ${m('moving', 'wall')} ms, ideal ${m('moving', 'ideal')} ms, ratio ${ratio.toFixed(2)} (target ≤ 1.15: ${ratio <= 1.15 ? 'MET' : 'NOT MET'})`,
  );
  console.log(
    `LOCKSTEP: median ${m('lockstep', 'wall')} ms, ideal ${m('lockstep', 'ideal')} ms, ratio ${(m('lockstep', 'wall') / m('lockstep', 'ideal')).toFixed(2)}; moving is ${(m('lockstep', 'wall') / m('moving', 'wall')).toFixed(2)}× faster`,
  );
} finally {
  await c.close();
  await lab.stop();
}
