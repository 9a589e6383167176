#!/usr/bin/env node
// `pnpm bench cli`: `cookbook -l` over a generated tree of 300 cookbooks (compiled .js, group
// index modules, owners) and `cookbook --version`, median wall times next to bare `node -e ''`
// measured in the same run (interleaved). Targets: `-l` ≤ 2.0× and `--version` ≤ 1.5× bare node.
// The first (cold) run builds the manifest and the config cache; it is reported separately and not
// part of the median.
/* global console, process */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const BIN = path.resolve(import.meta.dirname, '../dist/bin.js');
const N = Number(process.argv[2] ?? 300);
const RUNS = Number(process.argv[3] ?? 15);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-bench-cli-'));
const tree = path.join(dir, 'cookbooks');
// the generated cookbooks live outside the workspace: they import @galley/core by its resolved URL
const core = import.meta.resolve('@galley/core');

// 300 cookbooks: 5 top groups × 6 subgroups × 10 cookbooks, each a real defineCookbook module.
let made = 0;
for (let a = 0; a < 5 && made < N; a++) {
  const ga = path.join(tree, `team${a}`);
  fs.mkdirSync(ga, { recursive: true });
  fs.writeFileSync(path.join(ga, 'index.js'), `export const group = { title: 'Team ${a} cookbooks', owner: 'SRE' };\n`);
  for (let b = 0; b < 6 && made < N; b++) {
    const gb = path.join(ga, `area${b}`);
    fs.mkdirSync(gb, { recursive: true });
    fs.writeFileSync(path.join(gb, 'index.js'), `export const group = { title: 'Area ${b}' };\n`);
    for (let c = 0; c < 10 && made < N; c++, made++) {
      fs.writeFileSync(
        path.join(gb, `cookbook-${c}.js`),
        `import { defineCookbook } from ${JSON.stringify(core)};\n` +
          `export default defineCookbook({ title: 'Cookbook ${a}.${b}.${c}: does a thing', args: { cluster: { type: 'string', demandOption: true } }, lock: { concurrency: 2, ttlSeconds: 600 }, async run() {} });\n`,
      );
    }
  }
}
const cfg = path.join(dir, 'cookbook.config.yaml');
fs.writeFileSync(cfg, `cookbooks:\n  dirs: [${tree}]\nlogs:\n  dir: ${path.join(dir, 'logs')}\n`);
const env = { ...process.env, XDG_CACHE_HOME: path.join(dir, 'cache') };

function time(args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { ms, out: r.stdout };
}
const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const cold = time([BIN, '-c', cfg, '-l']);
const lines = cold.out
  .trim()
  .split('\n')
  .filter((l) => / \[[^\]]+\]$/.test(l)).length;
if (lines !== made) throw new Error(`expected ${made} cookbooks in the tree, got ${lines}`);
const bare = [];
const list = [];
const ver = [];
// Interleaved, so all three see the same machine load.
for (let i = 0; i < RUNS; i++) {
  bare.push(time(['-e', '']).ms);
  list.push(time([BIN, '-c', cfg, '-l']).ms);
  ver.push(time([BIN, '--version']).ms);
}
const mb = median(bare);
const ml = median(list);
const mv = median(ver);
const verdict = (ok) => (ok ? 'MET' : 'NOT MET');
console.log(`cookbook -l over ${made} cookbooks, and cookbook --version (${RUNS} runs each, interleaved)`);
console.log(`  cold -l (manifest + config cache build): ${cold.ms.toFixed(0)} ms`);
console.log(`  node -e '' median:         ${mb.toFixed(0)} ms`);
console.log(
  `  cookbook -l median:        ${ml.toFixed(0)} ms  (${(ml / mb).toFixed(2)}× bare node)  target ≤ 2.0×: ${verdict(ml / mb <= 2)}`,
);
console.log(
  `  cookbook --version median: ${mv.toFixed(0)} ms  (${(mv / mb).toFixed(2)}× bare node)  target ≤ 1.5×: ${verdict(mv / mb <= 1.5)}`,
);
fs.rmSync(dir, { recursive: true, force: true });
