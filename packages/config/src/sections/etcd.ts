import { z } from 'zod';
import { durationMs, MINUTE } from './duration.js';

/** etcd v3 connection: several endpoints (a cluster), optional TLS and user/password auth. */
export const etcdSchema = z
  .object({
    endpoints: z.array(z.string().regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL')).min(1),
    tls: z
      .object({
        ca: z.string().optional(),
        cert: z.string().optional(),
        key: z.string().optional(),
      })
      .strict()
      .optional(),
    auth: z.object({ username: z.string().min(1), password: z.string() }).strict().optional(),
    dialTimeoutMs: durationMs(10 * MINUTE).default(3000),
    requestTimeoutMs: durationMs(10 * MINUTE).default(5000),
  })
  .strict();
export type EtcdConfig = z.infer<typeof etcdSchema>;
