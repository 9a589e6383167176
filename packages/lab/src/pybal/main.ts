// Entry of a PyBal simulator child process: `node main.js CONFIG.json`.
import { runSimulator } from './sim.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: pybal-sim CONFIG.json\n');
  process.exitCode = 2;
} else {
  runSimulator(file).catch((err: unknown) => {
    process.stderr.write(`PyBal simulator failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
    setTimeout(() => process.kill(process.pid, 'SIGTERM'), 10);
  });
}
