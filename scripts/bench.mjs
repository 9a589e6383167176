#!/usr/bin/env node
// `pnpm bench NAME [ARGS...]`: build, then run the benchmark script packages/*/bench/NAME.mjs.
// Benchmarks print numbers (medians, ratios against peers measured in the same run); they are not tests.
/* global process, console */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const [name, ...rest] = process.argv.slice(2);
const found = fs
  .readdirSync(path.join(root, 'packages'))
  .map((p) => path.join(root, 'packages', p, 'bench'))
  .filter((d) => fs.existsSync(d))
  .flatMap((d) =>
    fs
      .readdirSync(d)
      .filter((f) => f.endsWith('.mjs'))
      .map((f) => path.join(d, f)),
  );
const byName = new Map(found.map((f) => [path.basename(f, '.mjs'), f]));
if (!name || !byName.has(name)) {
  console.error(`usage: pnpm bench NAME [ARGS...]\navailable: ${[...byName.keys()].sort().join(', ') || '(none yet)'}`);
  process.exit(2);
}
const build = spawnSync('pnpm', ['exec', 'tsc', '-b'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const r = spawnSync(process.execPath, [byName.get(name), ...rest], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
