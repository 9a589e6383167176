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
    timeoutMs: z.number().int().positive().default(2000),
  })
  .strict();

export const locksSchema = z
  .object({
    prefix: z.string().default('/galley/locks'),
    /** Lease TTL: a killed run's slots free themselves within this many seconds. */
    leaseTtlSeconds: z.number().int().min(2).default(5),
    /** How long to wait for a busy lock before giving up (exit 1 with the holders). */
    waitTimeoutSeconds: z.number().nonnegative().default(60),
  })
  .strict();

export type CookbooksConfig = z.infer<typeof cookbooksSchema>;
export type LogsConfig = z.infer<typeof logsSchema>;
export type NotifierConfig = z.infer<typeof notifierSchema>;
export type LocksConfig = z.infer<typeof locksSchema>;
