import { z } from 'zod';

/** Pluggable host-lifecycle clients used by sre.hosts.* cookbooks (implementations chosen here). */
export const provisionerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('lab'), labDir: z.string() }).strict(),
  z
    .object({
      type: z.literal('command'),
      /** argv templates with {host} and {os} placeholders; each placeholder is one argv element, never shell text. */
      reinstall: z.array(z.string()).min(1),
      powerOn: z.array(z.string()).optional(),
      powerOff: z.array(z.string()).optional(),
      powerCycle: z.array(z.string()).optional(),
      powerStatus: z.array(z.string()).optional(),
      hostKey: z.array(z.string()).optional(),
      /** Per command (default 10 minutes). */
      timeoutMs: z.number().int().positive().optional(),
    })
    .strict(),
]);

export const inventorySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('file'), path: z.string() }).strict(),
  z.object({ type: z.literal('http'), url: z.string().regex(/^https?:\/\//), token: z.string().optional() }).strict(),
]);

export const monitoringSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  z.object({ type: z.literal('http'), url: z.string().regex(/^https?:\/\//), token: z.string().optional() }).strict(),
]);

export const hostsSchema = z
  .object({
    /** Run ON the host over SSH after a reinstall (config management), argv with {host}/{os}. */
    postInstall: z.array(z.string()).optional(),
    /** Wipe command run ON the host over SSH at decommission, argv with {host}. */
    wipe: z.array(z.string()).optional(),
    /** Health check run on the host after the post-install command (default: `systemctl is-active` of its conftool services). */
    healthCheck: z.array(z.string()).optional(),
    /** Deadline for a reinstalled host to come back with a new boot id (default 40 minutes). */
    installTimeoutMs: z.number().int().positive().optional(),
    /** Downtime length set for a reimage/decommission (default 2 hours). */
    downtimeMs: z.number().int().positive().optional(),
  })
  .strict();
