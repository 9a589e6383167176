// The integration project's one shared lab: 12 hosts, 2 LBs, 1 etcd member, a bastion, PyBal
// delay 200 ms, in a fresh temp dir. A lab the user already runs (GALLEY_LAB_DIR) is used as is.
// GALLEY_LAB_PYBAL_MODE=upstream runs the shared lab's simulators as PyBal's coordinator.py does.
import { checkPybalMode, openLab, startLab } from '@galley/lab';

export default async function globalSetup(): Promise<void> {
  if (process.env.GALLEY_LAB_DIR) {
    await openLab(process.env.GALLEY_LAB_DIR);
    return;
  }
  const started = Date.now();
  const pybalMode = checkPybalMode(process.env.GALLEY_LAB_PYBAL_MODE ?? 'wikitech');
  const lab = await startLab({ hosts: 12, lbs: 2, etcdMembers: 1, bastion: true, pybalDelayMs: 200, pybalMode });
  process.env.GALLEY_LAB_DIR = lab.dir;
  process.env.GALLEY_LAB_OWNED = '1';
  process.stderr.write(`\n[galley-lab] shared lab in ${lab.dir} ready in ${Date.now() - started} ms (PyBal mode ${pybalMode})\n`);
}
