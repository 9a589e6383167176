import { z } from 'zod';
import { DAY, durationMs, MINUTE } from './duration.js';

/** SSH client settings for @galley/remote. Host keys are always verified: there is no switch to turn that off. */
export const sshSchema = z
  .object({
    /**
     * ssh2 (in-process, the default: fastest) or openssh (the system `ssh` with connection
     * multiplexing: host certificates, post-quantum key exchange, GSSAPI, anything OpenSSH has).
     */
    transport: z.enum(['ssh2', 'openssh']).default('ssh2'),
    user: z.string().min(1).default('root'),
    identityFiles: z.array(z.string()).default([]),
    /** Use ssh-agent via SSH_AUTH_SOCK when set. */
    agent: z.boolean().default(true),
    /** known_hosts files for every host, as `ssh -o UserKnownHostsFile=…` (empty: ssh_config's, else ~/.ssh/known_hosts). */
    knownHosts: z.array(z.string()).default([]),
    /** OpenSSH client config, as `ssh -F` (`none`: no file); unset: ~/.ssh/config then /etc/ssh/ssh_config, as ssh. */
    sshConfig: z.string().optional(),
    /** Hosts in flight at once (Cumin's fanout). */
    concurrency: z.number().int().positive().default(64),
    /**
     * Concurrent handshakes across all hosts (the fanout: a lower bound made 50 hosts wait for a
     * second wave, +0.12 s in the remote bench) and per host (keep below sshd's MaxStartups 10).
     */
    maxHandshakes: z.number().int().positive().default(64),
    maxHandshakesPerHost: z.number().int().positive().default(4),
    /** Concurrent channels per connection (keep below sshd's MaxSessions 10). */
    maxChannelsPerConnection: z.number().int().positive().max(64).default(8),
    connectTimeoutMs: durationMs(10 * MINUTE).default(10000),
    commandTimeoutMs: durationMs(DAY).default(300000),
    keepaliveIntervalMs: durationMs(10 * MINUTE).default(15000),
    idleTimeoutMs: durationMs(DAY).default(60000),
  })
  .strict();
export type SshConfig = z.infer<typeof sshSchema>;
