/**
 * @galley/pybal's section of the galley config file (`pybal:`), with its defaults. @galley/config
 * composes it into the file's schema; nothing here reads a file.
 */
import { durationMs, MINUTE, type ConfigSection } from '@galley/errors/config';
import { z } from 'zod';

/**
 * Where PyBal's view of a conftool service lives: each (dc, cluster, service) maps to a PyBal pool
 * name, the load balancers carrying it and the pool's depool threshold.
 */
export const pybalPoolSchema = z
  .object({
    dc: z.string().min(1),
    cluster: z.string().min(1),
    service: z.string().min(1),
    pool: z.string().min(1),
    loadBalancers: z.array(z.string().min(1)).min(1),
    depoolThreshold: z.number().min(0).max(1).optional(),
  })
  .strict();

export const pybalSchema = z
  .object({
    /** Instrumentation URL per load balancer name, e.g. lvs1019: http://lvs1019:9090 */
    loadBalancers: z.record(z.string(), z.object({ url: z.string().regex(/^https?:\/\//, 'must be an http(s) URL') }).strict()),
    pools: z.array(pybalPoolSchema).default([]),
    defaultDepoolThreshold: z.number().min(0).max(1).default(0.5),
    requestTimeoutMs: durationMs(10 * MINUTE).default(2000),
    retries: z.number().int().nonnegative().default(2),
    /** How long verifyPooled/verifyDepooled poll before giving up. */
    verifyTimeoutMs: durationMs(10 * MINUTE).default(30000),
  })
  .strict()
  .superRefine(
    (cfg, ctx) => {
      // Cross-references, so a typo is reported at load time with its path, together with every
      // other problem — also when another field of the section is wrong (see `when` below), so the
      // value read here may be of any shape.
      const lbs: unknown = (cfg as { loadBalancers?: unknown }).loadBalancers;
      const pools: unknown = (cfg as { pools?: unknown }).pools;
      if (typeof lbs !== 'object' || lbs === null || !Array.isArray(pools)) return;
      const seen = new Map<string, number>();
      (pools as unknown[]).forEach((raw, i) => {
        if (typeof raw !== 'object' || raw === null) return;
        const p = raw as { dc?: unknown; cluster?: unknown; service?: unknown; loadBalancers?: unknown };
        (Array.isArray(p.loadBalancers) ? (p.loadBalancers as unknown[]) : []).forEach((lb, j) => {
          if (typeof lb === 'string' && !Object.hasOwn(lbs, lb)) {
            ctx.addIssue({
              code: 'custom',
              path: ['pools', i, 'loadBalancers', j],
              message: `load balancer ${lb} has no entry in pybal.loadBalancers`,
            });
          }
        });
        const key = `${String(p.dc)}/${String(p.cluster)}/${String(p.service)}`;
        const first = seen.get(key);
        if (first !== undefined)
          ctx.addIssue({ code: 'custom', path: ['pools', i], message: `${key} is already mapped by pools.${first}` });
        else seen.set(key, i);
      });
    },
    // zod skips a refinement once the object has an issue: run it anyway, so that a wrong type
    // elsewhere in pybal: does not hide a load balancer typo.
    { when: () => true },
  );
export type PybalPoolConfig = z.infer<typeof pybalPoolSchema>;
export type PybalConfig = z.infer<typeof pybalSchema>;

export const pybalSection: ConfigSection<typeof pybalSchema> = { schema: pybalSchema };
