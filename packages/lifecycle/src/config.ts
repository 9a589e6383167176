/**
 * @galley/lifecycle's sections of the galley config file (`provisioner:`, `inventory:`,
 * `monitoring:` and `hosts:`), with their defaults. @galley/config composes them into the file's
 * schema; nothing here reads a file.
 */
import { DAY, durationMs, type ConfigSection } from '@galley/errors/config';
import { z } from 'zod';

/**
 * `type: plugin`: a site's own implementation, loaded by @galley/lifecycle's fromConfig with a
 * dynamic import. `module` is an absolute path or a package name (resolved from @galley/lifecycle,
 * i.e. installed next to galley); a relative path would depend on the directory galley runs from.
 */
const pluginSchema = z
  .object({
    type: z.literal('plugin'),
    module: z
      .string()
      .min(1)
      .refine((m) => !/^\.{1,2}([/\\]|$)/.test(m), { message: 'must be an absolute path or a package name, not a relative path' }),
    /** Handed as is to the module's default export (the factory). */
    options: z.record(z.string(), z.unknown()).optional(),
    /** Bound on each call (the run gives up on it after this long); default 10 minutes for a provisioner, 1 minute otherwise. */
    timeoutMs: durationMs(DAY).optional(),
  })
  .strict();

/** Pluggable host-lifecycle clients used by sre.hosts.* cookbooks (implementations chosen here). */
export const provisionerSchema = z.discriminatedUnion('type', [
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
      /**
       * Run the commands over SSH on this management host (e.g. cumin1001.eqiad.wmnet) with the
       * `ssh:` settings, instead of locally; each argv element is quoted for the remote shell.
       */
      via: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9.-]*$/, 'must be a host name')
        .optional(),
      /** Per command (default 10 minutes). */
      timeoutMs: durationMs(DAY).optional(),
    })
    .strict(),
  pluginSchema,
]);

export const inventorySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('file'), path: z.string() }).strict(),
  z.object({ type: z.literal('http'), url: z.string().regex(/^https?:\/\//), token: z.string().optional() }).strict(),
  pluginSchema,
]);

/** A label name as Prometheus/Alertmanager accept it. */
const labelName = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'must be a label name ([a-zA-Z_][a-zA-Z0-9_]*)');

export const monitoringSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  z.object({ type: z.literal('http'), url: z.string().regex(/^https?:\/\//), token: z.string().optional() }).strict(),
  z
    .object({
      type: z.literal('alertmanager'),
      /** Base URL (the API v2 is under /api/v2). */
      url: z.string().regex(/^https?:\/\//, 'must be an http:// or https:// URL'),
      /** Sent as `Authorization: Bearer …` (redacted everywhere). */
      token: z.string().optional(),
      /** Extra request headers, e.g. an auth proxy's; every value is a secret (redacted everywhere). */
      headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'must be a header name'), z.string()).optional(),
      /** The alert label naming the host (default `instance`; matched as FQDN or FQDN:port). */
      hostLabel: labelName.optional(),
      /** The alert label naming the service (default `service`). */
      serviceLabel: labelName.optional(),
      /** Per request (default 10 s). */
      timeoutMs: durationMs(10 * 60_000).optional(),
      /** How long a host a rolling run leaves out of traffic after a failure keeps its silence (default 2 h). */
      keepFailedForMs: durationMs(30 * DAY).optional(),
    })
    .strict(),
  pluginSchema
    .extend({
      /** The plugin silences each host a rolling sre.lb.* run takes out (it must then have extendDowntime()). */
      silencesTakeOuts: z.boolean().optional(),
      /** With silencesTakeOuts: how long a host left out of traffic after a failure keeps its silence (default 2 h). */
      keepFailedForMs: durationMs(30 * DAY).optional(),
    })
    .strict(),
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
    installTimeoutMs: durationMs(DAY).optional(),
    /** Downtime length set for a reimage/decommission (default 2 hours). */
    downtimeMs: durationMs(30 * DAY).optional(),
  })
  .strict();

export type ProvisionerConfig = z.infer<typeof provisionerSchema>;
export type InventoryConfig = z.infer<typeof inventorySchema>;
export type MonitoringConfig = z.infer<typeof monitoringSchema>;
export type HostsConfig = z.infer<typeof hostsSchema>;

export const provisionerSection: ConfigSection<typeof provisionerSchema> = { schema: provisionerSchema };
export const inventorySection: ConfigSection<typeof inventorySchema> = {
  schema: inventorySchema,
  resolvePaths(i, abs) {
    if (i.type === 'file') i.path = abs(i.path);
  },
};
export const monitoringSection: ConfigSection<typeof monitoringSchema> = { schema: monitoringSchema };
export const hostsSection: ConfigSection<typeof hostsSchema> = { schema: hostsSchema };
