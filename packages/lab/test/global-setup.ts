// The integration project's shared labs: one per jest worker (jest.config.js: LAB_WORKERS, 2), each
// 12 hosts, 2 LBs, 1 etcd member, a bastion, PyBal delay 200 ms, in a fresh temp dir, so that two
// test files run at once without seeing each other's writes. GALLEY_LAB_DIRS lists them
// (path.delimiter-separated); sharedLab() picks the worker's own. A lab the user already runs
// (GALLEY_LAB_DIR) is used as is, by a single worker.
// GALLEY_LAB_PYBAL_MODE=upstream runs the shared labs' simulators as PyBal's coordinator.py does.
import path from 'node:path';
import { checkPybalMode, openLab, startLab } from '@galley/lab';

export default async function globalSetup(globalConfig: { maxWorkers: number }): Promise<void> {
  if (process.env.GALLEY_LAB_DIR) {
    await openLab(process.env.GALLEY_LAB_DIR);
    process.env.GALLEY_LAB_DIRS = process.env.GALLEY_LAB_DIR;
    return;
  }
  const started = Date.now();
  const pybalMode = checkPybalMode(process.env.GALLEY_LAB_PYBAL_MODE ?? 'wikitech');
  const count = Math.max(1, globalConfig.maxWorkers);
  const labs = await Promise.all(
    Array.from({ length: count }, () => startLab({ hosts: 12, lbs: 2, etcdMembers: 1, bastion: true, pybalDelayMs: 200, pybalMode })),
  );
  process.env.GALLEY_LAB_DIRS = labs.map((l) => l.dir).join(path.delimiter);
  process.env.GALLEY_LAB_OWNED = '1';
  process.stderr.write(
    `\n[galley-lab] ${count} shared lab(s) (one per jest worker) in ${labs.map((l) => l.dir).join(', ')} ready in ${Date.now() - started} ms (PyBal mode ${pybalMode})\n`,
  );
}
