import { afterAll, beforeAll } from '@jest/globals';
import { openLab, startLab, type Lab, type StartLabOptions } from '../lab.js';

/**
 * The lab started by the integration project's jest globalSetup (GALLEY_LAB_DIR). Tests that
 * change its state put it back with `lab.reset()` (afterEach/afterAll).
 */
export async function sharedLab(): Promise<Lab> {
  const dir = process.env.GALLEY_LAB_DIR;
  if (!dir) {
    throw new Error('GALLEY_LAB_DIR is not set: run integration tests through jest --selectProjects integration (its globalSetup starts the lab), or export GALLEY_LAB_DIR of a running `galley-lab up`');
  }
  return openLab(dir);
}

/**
 * A lab of its own for one test file (own size, own faults): started in beforeAll, stopped in
 * afterAll. Use `lab` inside tests, not at module scope.
 */
export function privateLab(opts: StartLabOptions = {}, timeoutMs = 60000): { readonly lab: Lab } {
  let lab: Lab | undefined;
  beforeAll(async () => {
    lab = await startLab(opts);
  }, timeoutMs);
  afterAll(async () => {
    await lab?.stop();
  }, 30000);
  return {
    get lab(): Lab {
      if (!lab) throw new Error('privateLab: the lab is not started yet (use it inside tests or hooks, not at module scope)');
      return lab;
    },
  };
}
