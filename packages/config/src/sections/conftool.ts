import { z } from 'zod';

export const conftoolSchema = z
  .object({
    namespace: z.string().regex(/^\/[^\s]*[^/\s]$|^\/$/, 'must be an absolute key prefix like /conftool').default('/conftool'),
  })
  .strict();
export type ConftoolConfig = z.infer<typeof conftoolSchema>;
