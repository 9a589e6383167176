import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Source files the simulator process needs, relative to src/. */
const SIM_SOURCES = [
  'pybal/main.ts',
  'pybal/sim.ts',
  'pybal/api.ts',
  'pybal/coordinator.ts',
  'pybal/upstream.ts',
  'pybal/metrics.ts',
  'etcd-client.ts',
];

/**
 * The simulator's entry script. From dist/ it is dist/pybal/main.js. When the lab runs from its
 * TypeScript sources (jest, no build), the few files the simulator needs are transpiled with
 * @swc/core into packages/lab/node_modules/.cache/galley-lab-sim/ (etcd3 resolves from there, and
 * linters and git ignore it).
 */
export async function simulatorEntry(): Promise<string> {
  if (import.meta.url.endsWith('.js')) return path.join(here, 'main.js');
  const src = path.resolve(here, '..');
  const out = path.resolve(src, '..', 'node_modules', '.cache', 'galley-lab-sim');
  const swc = await import('@swc/core');
  for (const rel of SIM_SOURCES) {
    const file = path.join(src, rel);
    const target = path.join(out, rel.replace(/\.ts$/, '.js'));
    const stSrc = fs.statSync(file);
    if (fs.existsSync(target) && fs.statSync(target).mtimeMs >= stSrc.mtimeMs) continue;
    const { code } = await swc.transformFile(file, {
      jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
      module: { type: 'es6' },
      sourceMaps: false,
    });
    fs.mkdirSync(path.dirname(target), { recursive: true });
    // Atomic: two labs starting at once (side-by-side tests) must not read half a file.
    const tmp = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    fs.writeFileSync(tmp, code);
    fs.renameSync(tmp, target);
  }
  fs.writeFileSync(path.join(out, 'package.json'), '{"type":"module"}\n'); // node_modules/ is not under our package.json's "type"
  return path.join(out, 'pybal', 'main.js');
}
