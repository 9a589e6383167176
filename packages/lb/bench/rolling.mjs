#!/usr/bin/env node
/* global process, console */
// `pnpm bench rolling`: the load-balanced rolling operation against a real lab (imports from dist).
//
// 1. 40 lab hosts, 2 LBs, batch 4, PyBal propagation delay 300 ms, instant restarts: the wall time
//    of a rolling restart of every host next to the floor no implementation can beat,
//    batches × (depool propagation + restart + repool propagation) + sleeps, as a ratio (target ≤ 1.3).
//    The whole 40-host fleet is rolled (4 clusters in 2 dcs, depool threshold 0.2 so that the
//    small codfw pools can lose a batch of 4); the journal is written to etcd like the runner does.
//    Then the same kind of run through the built `cookbook` binary on the largest (dc, cluster) of
//    that lab, batch 4: everything the library run leaves out — process start, config, the
//    cookbook and cluster locks, host locks, fenced writes, lock checks before each command, the
//    audit log — against the same floor formula; and per batch, the time its host locks take.
// 2. Dry-run plan of a 1,000-host cluster (cluster=jobrunner in a 2,000-host lab without sshd:
//    conftool objects + PyBal simulator state only), in a fresh child process: wall time (≤ 3 s)
//    and peak RSS (≤ 250 MB).
//
// Options: --runs N (rolling runs, default 3), --skip-rolling, --skip-plan.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { startLab } from '@galley/lab';
import { parseBatchSpec, runRolling, selectHosts } from '@galley/lb';
import { clientsFor, libraryPorts } from './lib/lab-ports.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt('runs', '3'));
const DELAY = 300;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function rollingBench() {
  const t0 = Date.now();
  const lab = await startLab({ hosts: 40, lbs: 2, pybalDelayMs: DELAY, restartMs: 0, depoolThreshold: 0.2 });
  console.log(`lab: 40 hosts, 2 LBs, PyBal delay ${DELAY} ms, instant restarts; up in ${Date.now() - t0} ms (${lab.dir})`);
  const c = await clientsFor(lab);
  try {
    const results = [];
    for (let run = 1; run <= RUNS; run++) {
      const runId = `bench-${Date.now()}`;
      const phases = { depool: [], verifyOut: [], action: [], repool: [], verifyIn: [] };
      const marks = new Map();
      let batches = 0;
      const mark = (batch, what) => marks.set(`${batch}:${what}`, Date.now());
      const ports = libraryPorts(c, runId, (e) => {
        if (e.type === 'batch-started') batches++;
        if (e.type !== 'host-phase') return;
        // first host of the batch entering a phase marks it
        const k = `${e.batch}:${e.phase}`;
        if (!marks.has(k)) mark(e.batch, e.phase);
      });
      const started = Date.now();
      const selection = await selectHosts(ports.store, {});
      const report = await runRolling(ports, {
        selection,
        batch: parseBatchSpec('4'),
        commands: [{ argv: ['systemctl', 'restart', 'nginx', 'php-fpm'], timeoutMs: 30_000 }],
        sleepMs: 0,
      });
      const wall = Date.now() - started;
      if (report.status !== 'succeeded')
        throw new Error(`run ${run}: ${report.status}: ${report.stopReason ?? ''} ${JSON.stringify(report.failed)}`);
      for (let b = 1; b <= batches; b++) {
        const m = (p) => marks.get(`${b}:${p}`);
        phases.depool.push(m('depooled') - m('depooling'));
        phases.verifyOut.push(m('verified-out') - m('depooled'));
        phases.action.push(m('acted') - m('acting'));
        phases.repool.push(m('repooled') - m('repooling'));
        phases.verifyIn.push(m('done') - m('repooled'));
      }
      const floor = batches * (DELAY + 0 + DELAY);
      results.push({ wall, floor, batches, hosts: report.succeeded.length, phases });
      console.log(
        `run ${run}: ${report.succeeded.length} hosts in ${batches} batches: ${wall} ms, floor ${floor} ms, ratio ${(wall / floor).toFixed(2)}  ` +
          `(median per batch: depool write ${median(phases.depool)} ms, verify out ${median(phases.verifyOut)} ms, restart ${median(phases.action)} ms, repool write ${median(phases.repool)} ms, verify in ${median(phases.verifyIn)} ms)`,
      );
    }
    const wall = median(results.map((r) => r.wall));
    const floor = results[0].floor;
    console.log(
      `ROLLING: median ${wall} ms over ${RUNS} run(s), floor ${floor} ms = ${results[0].batches} × (${DELAY} + 0 + ${DELAY}) ms, ratio ${(wall / floor).toFixed(2)} (target ≤ 1.30)`,
    );
    cookbookBench(lab);
  } finally {
    await c.close();
    await lab.stop();
  }
}

/** The same operation through the `cookbook` binary (the runner's whole overhead included). */
function cookbookBench(lab) {
  const groups = new Map();
  for (const h of lab.info.hosts) groups.set(`${h.dc}/${h.cluster}`, (groups.get(`${h.dc}/${h.cluster}`) ?? 0) + 1);
  const [group] = [...groups].sort((a, b) => b[1] - a[1])[0];
  const [dc, cluster] = group.split('/');
  const bin = path.join(import.meta.dirname, '../../cli/dist/bin.js');
  const runs = [];
  for (let run = 1; run <= RUNS; run++) {
    const started = Date.now();
    const r = spawnSync(
      process.execPath,
      [
        bin,
        '-c',
        lab.info.config,
        '--yes',
        '--output',
        'json',
        'sre.lb.rolling-restart',
        `cluster=${cluster}`,
        `dc=${dc}`,
        'batch=4',
        'sleep=0',
        'reason=bench',
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
      },
    );
    const wall = Date.now() - started;
    const out = `${r.stdout}${r.stderr}`;
    if (r.status !== 0) throw new Error(`cookbook run ${run} exited ${r.status}:\n${out.slice(-2000)}`);
    const batches = Math.max(...[...out.matchAll(/Batch \d+\/(\d+)/g)].map((m) => Number(m[1])));
    const inRun = /END \(PASS\)[^\n]* in ([\d.]+)s/.exec(out);
    const floor = batches * (DELAY + 0 + DELAY);
    const locks = hostLockMs(r.stdout);
    runs.push({ wall, floor, batches, runMs: inRun ? Number(inRun[1]) * 1000 : NaN, locks });
    console.log(
      `cookbook run ${run}: ${dc}/${cluster} in ${batches} batches of 4: ${wall} ms whole process (run itself ${inRun?.[1] ?? '?'} s), floor ${floor} ms, ratio ${(wall / floor).toFixed(2)}  ` +
        `(median per batch: host locks ${median(locks)} ms)`,
    );
  }
  const wall = median(runs.map((r) => r.wall));
  const floor = runs[0].floor;
  console.log(
    `COOKBOOK: median ${wall} ms whole process over ${RUNS} run(s) (${dc}/${cluster}, ${runs[0].batches} batches), floor ${floor} ms, ratio ${(wall / floor).toFixed(2)} (target ≤ 1.30, measured through the runner)`,
  );
  console.log(
    `COOKBOOK: host locks per batch: median ${median(runs.flatMap((r) => r.locks))} ms (from a batch's start to its last host lock taken, NDJSON event times)`,
  );
}

/**
 * Per batch, from its `batch-started` event to the last host lock it took (`lock acquired` on
 * hosts/…): the time a batch spends on its host locks, through the runner. Event times are in ms.
 */
function hostLockMs(ndjson) {
  const out = [];
  let start;
  let last;
  const flush = () => {
    if (start !== undefined && last !== undefined) out.push(last - start);
    start = last = undefined;
  };
  for (const line of ndjson.split('\n')) {
    if (!line.startsWith('{')) continue;
    const e = JSON.parse(line);
    if (e.type === 'batch-started') {
      flush();
      start = Date.parse(e.ts);
    } else if (start !== undefined && e.type === 'lock' && e.status === 'acquired' && /(^|\/)hosts\//.test(String(e.key))) {
      last = Date.parse(e.ts);
    } else if (start !== undefined && e.type === 'host-phase') {
      // the batch has moved on: locks after this are not its start-of-batch locking
      flush();
    }
  }
  flush();
  return out;
}

async function planBench() {
  const t0 = Date.now();
  const lab = await startLab({ hosts: 2000, lbs: 2, ssh: false, checkIntervalMs: 5000 });
  console.log(`lab: 2000 hosts without sshd (cluster jobrunner = 1000 hosts, 2000 conftool objects), 2 LBs; up in ${Date.now() - t0} ms`);
  try {
    const child = path.join(import.meta.dirname, 'plan-child.mjs');
    const runs = [];
    for (let i = 0; i < 3; i++) {
      const r = spawnSync(process.execPath, [child, lab.info.config], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`plan child failed: ${r.stderr}`);
      runs.push(JSON.parse(r.stdout.trim().split('\n').at(-1)));
    }
    const ms = median(runs.map((r) => r.ms));
    const processMs = median(runs.map((r) => r.processMs));
    const rss = Math.max(...runs.map((r) => r.maxRssMb));
    const last = runs.at(-1);
    console.log(
      `PLAN: ${last.hosts} hosts, ${last.batches} batches, ${last.objects} objects to depool, ${last.lines} plan lines, ${last.warnings} capacity warning(s)`,
    );
    console.log(
      `PLAN: median ${ms} ms for select + capacity + plan + text (whole process incl. node start and imports: ${processMs} ms; target ≤ 3000), peak RSS ${rss.toFixed(0)} MB (target ≤ 250)`,
    );
  } finally {
    await lab.stop();
  }
}

if (!args.includes('--skip-rolling')) await rollingBench();
if (!args.includes('--skip-plan')) await planBench();
