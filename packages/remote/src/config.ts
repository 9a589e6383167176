/**
 * @galley/remote's sections of the galley config file (`ssh:` and `groups:`), with their defaults.
 * @galley/config composes them into the file's schema; nothing here reads a file.
 */
import { DAY, durationMs, MINUTE, type ConfigSection } from '@galley/errors/config';
import { z } from 'zod';
import { SSH_DEFAULTS as D } from './ssh-defaults.js';

/** SSH client settings for @galley/remote. Host keys are always verified: there is no switch to turn that off. */
export const sshSchema = z
  .object({
    /**
     * ssh2 (in-process, the default: fastest) or openssh (the system `ssh` with connection
     * multiplexing: host certificates, post-quantum key exchange, GSSAPI, anything OpenSSH has).
     */
    transport: z.enum(['ssh2', 'openssh']).default(D.transport),
    user: z.string().min(1).default(D.user),
    identityFiles: z.array(z.string()).default([]),
    /** Use ssh-agent via SSH_AUTH_SOCK when set. */
    agent: z.boolean().default(D.agent),
    /** known_hosts files for every host, as `ssh -o UserKnownHostsFile=…` (empty: ssh_config's, else ~/.ssh/known_hosts). */
    knownHosts: z.array(z.string()).default([]),
    /** OpenSSH client config, as `ssh -F` (`none`: no file); unset: ~/.ssh/config then /etc/ssh/ssh_config, as ssh. */
    sshConfig: z.string().optional(),
    /** Hosts in flight at once (Cumin's fanout). */
    concurrency: z.number().int().positive().default(D.concurrency),
    /**
     * Concurrent handshakes across all hosts (the fanout: a lower bound made 50 hosts wait for a
     * second wave, +0.12 s in the remote bench) and per host (keep below sshd's MaxStartups 10).
     */
    maxHandshakes: z.number().int().positive().default(D.maxHandshakes),
    maxHandshakesPerHost: z.number().int().positive().default(D.maxHandshakesPerHost),
    /** Concurrent channels per connection (keep below sshd's MaxSessions 10). */
    maxChannelsPerConnection: z.number().int().positive().max(64).default(D.maxChannelsPerConnection),
    connectTimeoutMs: durationMs(10 * MINUTE).default(D.connectTimeoutMs),
    commandTimeoutMs: durationMs(DAY).default(D.commandTimeoutMs),
    keepaliveIntervalMs: durationMs(10 * MINUTE).default(D.keepaliveIntervalMs),
    idleTimeoutMs: durationMs(DAY).default(D.idleTimeoutMs),
  })
  .strict();
export type SshConfig = z.infer<typeof sshSchema>;

export const sshSection: ConfigSection<typeof sshSchema> = {
  schema: sshSchema,
  resolvePaths(ssh, abs) {
    ssh.identityFiles = ssh.identityFiles.map(abs);
    ssh.knownHosts = ssh.knownHosts.map(abs);
    if (ssh.sshConfig !== undefined && ssh.sshConfig.toLowerCase() !== 'none') ssh.sshConfig = abs(ssh.sshConfig);
  },
};

export { defaultSshConfig } from './ssh-defaults.js';

const name = z.string().regex(/^[^\s@,!&^*:]+$/, 'must be a name without spaces or any of @ , ! & ^ * :');
const expression = z.union([z.string(), z.array(z.string())]);

/**
 * Host groups for `@group` / `@source:group` in host expressions (ClusterShell's group sources)
 * and Cumin's `A:alias` queries.
 */
export const groupsSchema = z
  .object({
    /** Source used by `@group` without `source:` (default: the first source, else conftool). */
    default: name.optional(),
    /** Inline sources: `source: {group: expression}` (the built-in `conftool` source cannot be redefined). */
    sources: z.record(name, z.record(z.string().min(1), expression)).default({}),
    /** ClusterShell groups.d YAML files (`source: {group: expression}`), read when a group is first used. */
    files: z.array(z.string().min(1)).default([]),
    /** Cumin aliases: `name: query` (`A:name` in galley-exec). */
    aliases: z.record(z.string().regex(/^[A-Za-z0-9_.+-]+$/, 'must use only letters, digits and - _ . +'), z.string().min(1)).default({}),
  })
  .strict()
  .refine((g) => !Object.hasOwn(g.sources, 'conftool'), {
    message: "the 'conftool' group source is built in and cannot be redefined",
    path: ['sources', 'conftool'],
  });
export type GroupsConfig = z.infer<typeof groupsSchema>;

export const groupsSection: ConfigSection<typeof groupsSchema> = {
  schema: groupsSchema,
  resolvePaths(groups, abs) {
    groups.files = groups.files.map(abs);
  },
};
