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
    /** Run after a reinstall (config management), argv with {host}. */
    postInstall: z.array(z.string()).optional(),
    /** Wipe command run on the host at decommission. */
    wipe: z.array(z.string()).optional(),
  })
  .strict();
