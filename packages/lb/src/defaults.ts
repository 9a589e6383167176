/**
 * The defaults of the config's `lb:` section (config.ts validates the section with zod; this plain
 * module is what the operations read, so a cookbook never loads zod).
 */
import type { LbSettings } from '@galley/core';

export const LB_DEFAULTS: LbSettings = {
  /** drain= when not given: no drain. */
  drainMs: 0,
  drainCheckIntervalMs: 1000,
  capacityWaitIntervalMs: 5000,
};
