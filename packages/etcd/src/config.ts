/**
 * @galley/etcd's section of the galley config file (`etcd:`), with its defaults. @galley/config
 * composes it into the file's schema; nothing here reads a file.
 */
import { durationMs, MINUTE, type ConfigSection } from '@galley/errors/config';
import { z } from 'zod';

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
    auth: z
      .object({ username: z.string().min(1), password: z.string() })
      .strict()
      .optional(),
    dialTimeoutMs: durationMs(10 * MINUTE).default(3000),
    requestTimeoutMs: durationMs(10 * MINUTE).default(5000),
  })
  .strict();
export type EtcdConfig = z.infer<typeof etcdSchema>;

export const etcdSection: ConfigSection<typeof etcdSchema> = {
  schema: etcdSchema,
  resolvePaths(etcd, abs) {
    const t = etcd.tls;
    if (t === undefined) return;
    if (t.ca !== undefined) t.ca = abs(t.ca);
    if (t.cert !== undefined) t.cert = abs(t.cert);
    if (t.key !== undefined) t.key = abs(t.key);
  },
};
