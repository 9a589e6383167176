/**
 * confctl's sections of the galley config file (`etcd:` and `conftool:`), with their defaults.
 * @galley/config composes them into the file's schema; nothing here reads a file.
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
    auth: z.object({ username: z.string().min(1), password: z.string() }).strict().optional(),
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

export const DEFAULT_CONFTOOL_NAMESPACE = '/conftool';

export const conftoolSchema = z
  .object({
    namespace: z.string().regex(/^\/[^\s]*[^/\s]$|^\/$/, 'must be an absolute key prefix like /conftool').default(DEFAULT_CONFTOOL_NAMESPACE),
  })
  .strict();
export type ConftoolConfig = z.infer<typeof conftoolSchema>;

/** Always present in a loaded config: an absent `conftool:` is the default namespace. */
export const conftoolSection: ConfigSection<z.ZodDefault<typeof conftoolSchema>> = {
  schema: conftoolSchema.default({ namespace: DEFAULT_CONFTOOL_NAMESPACE }),
};
