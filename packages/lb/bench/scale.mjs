#!/usr/bin/env node
/* global process, console */
// `pnpm bench scale`: what the `cookbook` binary costs as the fleet grows (issue 16, "Scale" and
// "1,000-host dry-run plan through the binary").
//
// 1. Per-batch overhead, 50-host and 200-host labs (2 LBs, PyBal propagation delay 300 ms,
//    instant restarts, depool threshold 0.2): `cookbook sre.lb.rolling-restart` on the largest
//    (dc, cluster) of each lab, batch=10%, sleep=0, through the built binary with --output json.
//    Per batch, from its `batch-started` to its `batch-done` event, minus the floor of a batch
//    (depool propagation + repool propagation = 2 × 300 ms): what galley adds per batch. Beside
//    it the fixed part (whole process minus the batches). The per-batch overhead of the 200-host
//    lab next to the 50-host one's is the ratio that must not grow.
// 2. A 1,000-host dry-run plan through the binary: `cookbook -d sre.lb.rolling-restart
//    cluster=jobrunner batch=10` in a 2,000-host lab without sshd; whole process wall time
//    (target ≤ 1.0 s).
//
// Options: --runs N (default 3), --skip-scale, --skip-plan.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startLab } from '@galley/lab';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt('runs', '3'));
const DELAY = 300;
const BIN = path.join(import.meta.dirname, '../../cli/dist/bin.js');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function cookbook(config, argv) {
  const started = Date.now();
  const r = spawnSync(process.execPath, [BIN, '-c', config, '--yes', '--output', 'json', ...argv], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    maxBuffer: 64 * 1024 * 1024,
  });
  const wall = Date.now() - started;
  if (r.status !== 0) throw new Error(`cookbook ${argv.join(' ')} exited ${r.status}:\n${`${r.stdout}${r.stderr}`.slice(-2000)}`);
  const events = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  return { wall, events };
}

function largestGroup(lab) {
  const groups = new Map();
  for (const h of lab.info.hosts) groups.set(`${h.dc}/${h.cluster}`, (groups.get(`${h.dc}/${h.cluster}`) ?? 0) + 1);
  const [group, size] = [...groups].sort((a, b) => b[1] - a[1])[0];
  const [dc, cluster] = group.split('/');
  return { dc, cluster, size };
}

/** Per batch: batch-started → batch-done in ms (NDJSON event times). */
function batchDurations(events) {
  const start = new Map();
  const out = [];
  for (const e of events) {
    if (e.type === 'batch-started') start.set(e.batch, Date.parse(e.ts));
    else if (e.type === 'batch-done' && start.has(e.batch)) out.push(Date.parse(e.ts) - start.get(e.batch));
  }
  return out;
}

async function scaleBench() {
  const rows = [];
  for (const hosts of [50, 200]) {
    const t0 = Date.now();
    const lab = await startLab({ hosts, lbs: 2, pybalDelayMs: DELAY, restartMs: 0, depoolThreshold: 0.2, alertmanager: false });
    const { dc, cluster, size } = largestGroup(lab);
    console.log(
      `lab: ${hosts} hosts, 2 LBs, PyBal delay ${DELAY} ms, instant restarts; up in ${Date.now() - t0} ms; rolling ${dc}/${cluster} (${size} hosts)`,
    );
    try {
      const perBatch = [];
      const fixed = [];
      let batches = 0;
      for (let run = 1; run <= RUNS; run++) {
        const { wall, events } = cookbook(lab.info.config, [
          'sre.lb.rolling-restart',
          `cluster=${cluster}`,
          `dc=${dc}`,
          'batch=10%',
          'sleep=0',
          'reason=bench',
        ]);
        const d = batchDurations(events);
        batches = d.length;
        const over = d.map((ms) => ms - 2 * DELAY);
        perBatch.push(...over);
        fixed.push(wall - d.reduce((a, b) => a + b, 0));
        console.log(
          `  run ${run}: ${d.length} batches, ${wall} ms whole process; per batch above the ${2 * DELAY} ms floor: median ${median(over)} ms (min ${Math.min(...over)}, max ${Math.max(...over)}); fixed ${fixed.at(-1)} ms`,
        );
      }
      rows.push({ hosts, size, batches, perBatch: median(perBatch), fixed: median(fixed) });
    } finally {
      await lab.stop();
    }
  }
  for (const r of rows)
    console.log(
      `SCALE: ${r.hosts}-host lab (${r.size}-host cluster, ${r.batches} batches of 10%): overhead per batch median ${r.perBatch} ms, fixed per run ${r.fixed} ms`,
    );
  const [a, b] = rows;
  console.log(
    `SCALE: per-batch overhead ${b.hosts} hosts / ${a.hosts} hosts = ${(b.perBatch / a.perBatch).toFixed(2)} (batches are ${(b.size / a.size).toFixed(1)}× larger; target: does not grow with the cluster)`,
  );
}

async function planBench() {
  const t0 = Date.now();
  const lab = await startLab({ hosts: 2000, lbs: 2, ssh: false, checkIntervalMs: 5000, alertmanager: false });
  console.log(`lab: 2000 hosts without sshd (cluster jobrunner = 1000 hosts), 2 LBs; up in ${Date.now() - t0} ms`);
  try {
    // a lab without sshd has no ssh: section; the cookbook wants one, and a dry-run never connects
    const config = path.join(lab.dir, 'plan.config.yaml');
    fs.writeFileSync(config, `${fs.readFileSync(lab.info.config, 'utf8')}\nssh:\n  user: root\n`);
    const walls = [];
    let lines = 0;
    for (let run = 1; run <= RUNS; run++) {
      const { wall, events } = cookbook(config, ['-d', 'sre.lb.rolling-restart', 'cluster=jobrunner', 'batch=10', 'reason=bench']);
      walls.push(wall);
      lines = events.length;
      console.log(`  run ${run}: ${wall} ms whole process (${events.length} events)`);
    }
    console.log(
      `PLAN (binary): 1,000-host dry-run plan, median ${median(walls)} ms whole process over ${RUNS} run(s), ${lines} events (target ≤ 1000)`,
    );
  } finally {
    await lab.stop();
  }
}

if (!args.includes('--skip-scale')) await scaleBench();
if (!args.includes('--skip-plan')) await planBench();
