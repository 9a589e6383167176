/**
 * The `ssh:` section's defaults as plain values: a Remote built without a config section (and
 * galley-exec's --help and usage errors, which build nothing) must not load zod for them. The
 * schema (config.ts) takes each default from here.
 */
import type { SshConfig } from './config.js';

export const SSH_DEFAULTS = {
  transport: 'ssh2',
  user: 'root',
  agent: true,
  concurrency: 64,
  maxHandshakes: 64,
  maxHandshakesPerHost: 4,
  maxChannelsPerConnection: 8,
  connectTimeoutMs: 10_000,
  commandTimeoutMs: 300_000,
  keepaliveIntervalMs: 15_000,
  idleTimeoutMs: 60_000,
} as const;

/** Every ssh setting at its default (a config without `ssh:`, or a Remote built without one). */
export function defaultSshConfig(): SshConfig {
  return { ...SSH_DEFAULTS, identityFiles: [], knownHosts: [] };
}
