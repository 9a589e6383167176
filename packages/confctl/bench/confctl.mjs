#!/usr/bin/env node
// `pnpm bench confctl [--objects N] [--runs N]`: Conftool against a throwaway etcd it starts
// itself (tmpfs data dir), seeded with N node objects (default 10,000). Prints medians of:
//   select  — one regex select over all objects (one range read + parse + match)
//   naive   — the same select done one read per key (sequential, like a per-key client; and 32 in flight)
//   set     — pooled=no on 100 selected objects (one CAS txn per object), restored between runs
//   cli     — `confctl select '…' get` over all objects as a user runs it (a new process, config file,
//             10,000 JSON lines to a pipe), interleaved with `etcdctl get --prefix` (Go, the floor for
//             reading the same keys in a new process) and a bare `node -e ''`
// Targets (issue 3): select <= 250 ms median; >= 20x faster than per-key reads.
// Target (issue 16): the `confctl select` CLI over 10,000 objects <= 0.5 s.
/* global process, console, fetch, setTimeout */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Conftool, connectEtcd } from '../dist/index.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const OBJECTS = arg('objects', 10000);
const RUNS = arg('runs', 11);
const NAIVE_RUNS = arg('naive-runs', 3);

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ms = (x) => `${x.toFixed(1)} ms`;
const time = async (fn) => {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
};

const [clientPort, peerPort] = [await freePort(), await freePort()];
const dataDir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'confctl-bench-'));
const etcd = spawn(
  'etcd',
  [
    '--name',
    'bench',
    '--data-dir',
    dataDir,
    '--listen-client-urls',
    `http://127.0.0.1:${clientPort}`,
    '--advertise-client-urls',
    `http://127.0.0.1:${clientPort}`,
    '--listen-peer-urls',
    `http://127.0.0.1:${peerPort}`,
    '--initial-advertise-peer-urls',
    `http://127.0.0.1:${peerPort}`,
    '--initial-cluster',
    `bench=http://127.0.0.1:${peerPort}`,
    '--initial-cluster-state',
    'new',
    '--logger',
    'zap',
    '--log-level',
    'error',
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
const cleanup = () => {
  if (etcd.exitCode === null) etcd.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
};
process.on('exit', cleanup);
process.once('SIGINT', () => {
  cleanup();
  process.kill(process.pid, 'SIGINT');
});

const endpoint = `http://127.0.0.1:${clientPort}`;
for (let i = 0; ; i++) {
  try {
    const r = await fetch(`${endpoint}/health`);
    if (r.ok) break;
  } catch {
    /* not up yet */
  }
  if (i > 200) throw new Error('etcd did not become healthy in 10 s');
  await new Promise((r) => setTimeout(r, 50));
}

const client = connectEtcd({ endpoints: [endpoint], dialTimeoutMs: 3000, requestTimeoutMs: 30000 });
const ct = new Conftool(client, { namespace: '/conftool' });

// 2 dcs x 2 clusters x 2 services x N/8 hosts
const perGroup = Math.ceil(OBJECTS / 8);
const fleet = {};
let n = 0;
for (const [dc, base] of [
  ['eqiad', 1000],
  ['codfw', 2000],
]) {
  for (const [cluster, off] of [
    ['appserver', 0],
    ['jobrunner', 5000],
  ]) {
    const hosts = {};
    for (let i = 0; i < perGroup && n < OBJECTS; i++) {
      const services = {};
      for (const s of ['nginx', 'php-fpm']) if (n++ < OBJECTS) services[s] = { pooled: 'yes', weight: 10 };
      hosts[`mw${base * 10 + off + i}.${dc}.wmnet`] = services;
    }
    (fleet[dc] ??= {})[cluster] = hosts;
  }
}
const seedMs = await time(() => ct.sync(fleet));
const all = await ct.select({});
console.log(
  `confctl bench: etcd ${endpoint} (tmpfs), ${all.length} node objects seeded in ${ms(seedMs)}; ${RUNS} runs (naive: ${NAIVE_RUNS})`,
);

// A regex that has to look at every object (no literal dc/cluster/service to narrow the range).
const sel = { cluster: 'app.*|job.*', name: 'mw[0-9]+\\.(eqiad|codfw)\\.wmnet' };
const selectTimes = [];
const selectCpu = [];
let matched = 0;
for (let i = 0; i < RUNS; i++) {
  const cpu = process.cpuUsage();
  selectTimes.push(await time(async () => (matched = (await ct.select(sel)).length)));
  const d = process.cpuUsage(cpu);
  selectCpu.push((d.user + d.system) / 1000);
}
// The etcd round trip alone (gRPC range + decode), to see where a select's time goes.
const rangeTimes = [];
for (let i = 0; i < RUNS; i++) rangeTimes.push(await time(() => ct.kv.range('/conftool/v1/pools/')));

const keys = all.map((x) => x.key);
const naive = async (parallel) => {
  let i = 0;
  let got = 0;
  const worker = async () => {
    while (i < keys.length) {
      const k = keys[i++];
      const v = await client.get(k).string();
      if (v !== null) {
        JSON.parse(v);
        got++;
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  if (got !== keys.length) throw new Error(`naive read ${got}/${keys.length}`);
};
const naiveSeq = [];
for (let i = 0; i < NAIVE_RUNS; i++) naiveSeq.push(await time(() => naive(1)));
const naivePar = [];
for (let i = 0; i < NAIVE_RUNS; i++) naivePar.push(await time(() => naive(32)));

const setTimes = [];
const hundred = { dc: 'eqiad', cluster: 'appserver', service: 'nginx', name: 'mw100[0-9][0-9]\\.eqiad\\.wmnet' };
for (let i = 0; i < RUNS; i++) {
  const target = await ct.select(hundred);
  if (target.length !== 100) throw new Error(`expected 100 objects, got ${target.length}`);
  let changed = 0;
  setTimes.push(await time(async () => (changed = (await ct.update(target, { pooled: 'no' })).length)));
  if (changed !== 100) throw new Error(`set changed ${changed}`);
  await ct.update(hundred, { pooled: 'yes' });
}
const selectAndSet = [];
for (let i = 0; i < Math.min(RUNS, 5); i++) {
  selectAndSet.push(await time(() => ct.update(hundred, { pooled: 'no' })));
  await ct.update(hundred, { pooled: 'yes' });
}

const sMed = median(selectTimes);
console.log(
  `select (regex over all ${all.length}, ${matched} matched): median ${ms(sMed)}  [min ${ms(Math.min(...selectTimes))}, max ${ms(Math.max(...selectTimes))}]  target <= 250 ms: ${sMed <= 250 ? 'OK' : 'MISSED'}`,
);
console.log(`  of which: client CPU median ${ms(median(selectCpu))}; the bare range read (gRPC + decode) median ${ms(median(rangeTimes))}`);
console.log(
  `naive select, one get per key, sequential:      median ${ms(median(naiveSeq))}  ratio ${(median(naiveSeq) / sMed).toFixed(1)}x  target >= 20x: ${median(naiveSeq) / sMed >= 20 ? 'OK' : 'MISSED'}`,
);
console.log(
  `naive select, one get per key, 32 in flight:    median ${ms(median(naivePar))}  ratio ${(median(naivePar) / sMed).toFixed(1)}x`,
);
console.log(
  `set pooled=no on 100 selected objects (100 CAS txns, 16 in flight): median ${ms(median(setTimes))}  [min ${ms(Math.min(...setTimes))}, max ${ms(Math.max(...setTimes))}]`,
);
console.log(`select + set pooled=no on those 100 (update by selector):           median ${ms(median(selectAndSet))}`);
// The CLI as a user runs it: a new process each time, interleaved with its floors.
const cfgFile = path.join(dataDir, 'galley.yaml');
fs.writeFileSync(cfgFile, `etcd:\n  endpoints: ['${endpoint}']\nconftool:\n  namespace: /conftool\n`);
const confctlBin = path.resolve(import.meta.dirname, '../../cli/dist/confctl-bin.js');
const wall = (cmd, args, check) => {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: { ...process.env, ETCDCTL_API: '3' } });
  const d = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  check?.(r.stdout);
  return d;
};
const cliRows = { confctl: [], etcdctl: [], node: [] };
const lines = (out) => out.split('\n').filter((l) => l.trim() !== '').length;
for (let i = 0; i < Math.min(RUNS, 7); i++) {
  cliRows.confctl.push(
    wall(
      process.execPath,
      [confctlBin, '-c', cfgFile, 'select', 'cluster=app.*|job.*,name=mw[0-9]+\\.(eqiad|codfw)\\.wmnet', 'get'],
      (out) => {
        if (lines(out) !== all.length) throw new Error(`confctl printed ${lines(out)} lines, expected ${all.length}`);
      },
    ),
  );
  cliRows.etcdctl.push(wall('etcdctl', ['--endpoints', endpoint, 'get', '--prefix', '/conftool/v1/pools/']));
  cliRows.node.push(wall(process.execPath, ['-e', '']));
}
const cMed = median(cliRows.confctl);
console.log(
  `confctl select … get through the CLI (new process, ${all.length} JSON lines): median ${ms(cMed)}  target <= 500 ms: ${cMed <= 500 ? 'OK' : 'MISSED'}`,
);
console.log(
  `  beside it, same run: etcdctl get --prefix (Go) median ${ms(median(cliRows.etcdctl))}, ratio ${(cMed / median(cliRows.etcdctl)).toFixed(2)}x; node -e '' median ${ms(median(cliRows.node))}`,
);
console.log(
  `load average during run: ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')} (${os.cpus().length} cpus)`,
);
ct.close();
cleanup();
