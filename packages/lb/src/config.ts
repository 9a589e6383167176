/**
 * @galley/lb's section of the galley config file (`lb:`): the defaults of the rolling cookbooks'
 * drain and waits. @galley/config composes it into the file's schema; nothing here reads a file.
 */
import { HOUR, MINUTE, type ConfigSection } from '@galley/errors/config';
import { z } from 'zod';
import type { LbSettings } from '@galley/core';
import { LB_DEFAULTS } from './defaults.js';

export { LB_DEFAULTS };

const ms = (min: number, max: number, what: string) =>
  z
    .number()
    .int(`must be a whole number of milliseconds from ${min} to ${max}${what}`)
    .min(min, `must be a whole number of milliseconds from ${min} to ${max}${what}`)
    .max(max, `must be a whole number of milliseconds from ${min} to ${max}${what}`);

export const lbSchema = z
  .object({
    /** `drain=` when not given (and the wait of `drain=weight`): 0 = no drain. */
    drainMs: ms(0, HOUR, ' (0: no drain)').default(LB_DEFAULTS.drainMs),
    /** Pause between drain-check rounds. */
    drainCheckIntervalMs: ms(100, MINUTE, '').default(LB_DEFAULTS.drainCheckIntervalMs),
    /** How often a batch waiting for capacity (capacity-wait=) asks the LBs again. */
    capacityWaitIntervalMs: ms(100, 10 * MINUTE, '').default(LB_DEFAULTS.capacityWaitIntervalMs),
  })
  .strict();

export type LbConfig = z.infer<typeof lbSchema>;

export const lbSection: ConfigSection<typeof lbSchema> = { schema: lbSchema };

// The section's shape is restated in @galley/core's Clients (lb depends on core): this fails to
// compile when the two drift apart.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const LB_SETTINGS_MATCH: Same<LbConfig, LbSettings> = true;
