/**
 * confctl's section of the galley config file (`conftool:`), with its default. @galley/config
 * composes it into the file's schema; nothing here reads a file. (`etcd:` is @galley/etcd's.)
 */
import type { ConfigSection } from '@galley/errors/config';
import { z } from 'zod';

export const DEFAULT_CONFTOOL_NAMESPACE = '/conftool';

export const conftoolSchema = z
  .object({
    namespace: z
      .string()
      .regex(/^\/[^\s]*[^/\s]$|^\/$/, 'must be an absolute key prefix like /conftool')
      .default(DEFAULT_CONFTOOL_NAMESPACE),
  })
  .strict();
export type ConftoolConfig = z.infer<typeof conftoolSchema>;

/** Always present in a loaded config: an absent `conftool:` is the default namespace. */
export const conftoolSection: ConfigSection<z.ZodDefault<typeof conftoolSchema>> = {
  schema: conftoolSchema.default({ namespace: DEFAULT_CONFTOOL_NAMESPACE }),
};
