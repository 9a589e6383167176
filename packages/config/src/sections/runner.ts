/**
 * The runner's own sections (`cookbooks:`, `logs:`, `notifier:`, `locks:`): the cookbook binary's,
 * not a client package's, so they live with the loader.
 */
import { durationMs, durationSeconds, MINUTE, type ConfigSection } from '@galley/errors/config';
import { z } from 'zod';

export const cookbooksSchema = z
  .object({
    /** Directories holding cookbook trees; merged into one tree (later dirs cannot shadow earlier names). */
    dirs: z.array(z.string()).min(1),
  })
  .strict();

export const logsSchema = z.object({ dir: z.string().min(1) }).strict();

export const notifierSchema = z
  .object({
    webhook: z.string().regex(/^https?:\/\//, 'must be an http(s) URL'),
    timeoutMs: durationMs(10 * MINUTE).default(2000),
  })
  .strict();

export const locksSchema = z
  .object({
    prefix: z.string().default('/galley/locks'),
    /** Lease TTL: a killed run's slots free themselves within this many seconds. */
    leaseTtlSeconds: durationSeconds(2, 600).default(5),
    /** How long to wait for a busy lock before giving up (exit 1 with the holders). */
    waitTimeoutSeconds: durationSeconds(0, 86400, '0: do not wait, give up at once when busy').default(60),
  })
  .strict();

export type CookbooksConfig = z.infer<typeof cookbooksSchema>;
export type LogsConfig = z.infer<typeof logsSchema>;
export type NotifierConfig = z.infer<typeof notifierSchema>;
export type LocksConfig = z.infer<typeof locksSchema>;

export const cookbooksSection: ConfigSection<typeof cookbooksSchema> = {
  schema: cookbooksSchema,
  resolvePaths(c, abs) {
    c.dirs = c.dirs.map(abs);
  },
};
export const logsSection: ConfigSection<typeof logsSchema> = {
  schema: logsSchema,
  resolvePaths(l, abs) {
    l.dir = abs(l.dir);
  },
};
export const notifierSection: ConfigSection<typeof notifierSchema> = { schema: notifierSchema };
export const locksSection: ConfigSection<typeof locksSchema> = { schema: locksSchema };
