/**
 * remote's errors and the guards other packages match them with (never by their code strings).
 * Light on purpose (`@galley/remote/errors` loads no ssh2).
 */
import { GalleyError, UsageError, isGalleyError } from '@galley/errors';
import { MAX_NODESET_SIZE } from './rangeset.js';

/** A host expression ClusterShell's NodeSet would refuse; `position` is where (0-based) in the expression. */
export class NodeSetSyntaxError extends UsageError {
  readonly position: number;
  constructor(expression: string, position: number, why: string) {
    super('ERR_REMOTE_NODESET_SYNTAX', `invalid host expression '${expression}' at position ${position + 1}: ${why}`, {
      hint: "use ClusterShell NodeSet syntax, e.g. 'mw[1001-1004,1010].eqiad.wmnet', 'mw[1001-1010].eqiad.wmnet!mw1005.eqiad.wmnet' (galley-nodeset -e shows what an expression names)",
      details: { expression, position },
    });
    this.position = position;
  }
}

/** A host expression that would name more than MAX_NODESET_SIZE hosts. */
export class NodeSetSizeError extends UsageError {
  constructor(expression: string, position: number, count: number | bigint) {
    super(
      'ERR_REMOTE_NODESET_TOO_LARGE',
      `host expression '${expression}' names ${count} hosts at position ${position + 1}: more than the limit of ${MAX_NODESET_SIZE}`,
      {
        hint: `narrow the ranges; one expression may name at most ${MAX_NODESET_SIZE} hosts`,
        details: { expression, position, count: String(count) },
      },
    );
  }
}

/** A `@group`, `@source:group` or wildcard that cannot be resolved (unknown group or source, no resolver, a loop). */
export class NodeSetGroupError extends UsageError {
  constructor(expression: string, why: string, hint: string) {
    super('ERR_REMOTE_NODESET_GROUP', `host expression '${expression}': ${why}`, { hint, details: { expression } });
  }
}

/** Batch size / threshold / timeouts that make no sense. */
export class RunOptionsError extends UsageError {
  constructor(what: string, hint: string) {
    super('ERR_REMOTE_RUN_OPTIONS', what, { hint });
  }
}

/** run() with an empty host set: almost always a bad query upstream. */
export class NoHostsError extends UsageError {
  constructor() {
    super('ERR_REMOTE_NO_HOSTS', 'no hosts to run on', { hint: 'check the host pattern or the conftool selection' });
  }
}

/** An identity file or ssh_config named in the config cannot be used. */
export class SshSetupError extends GalleyError {
  constructor(
    code: 'ERR_REMOTE_IDENTITY' | 'ERR_REMOTE_SSH_CONFIG' | 'ERR_REMOTE_KNOWN_HOSTS' | 'ERR_REMOTE_OPENSSH',
    message: string,
    hint: string,
    cause?: unknown,
  ) {
    super(code, message, { hint, cause });
  }
}

/** waitRebootSince was given boot ids, but not for every host: it could never tell those rebooted. */
export class RebootBaselineError extends UsageError {
  readonly hosts: string[];
  constructor(hosts: string[], display: string) {
    super('ERR_REMOTE_REBOOT_NO_BOOT_ID', `no boot id recorded before the reboot for ${display}`, {
      hint: 'record them with bootIds(hosts) before rebooting and check every host answered (an unreachable host has none), or pass the reboot start time instead',
      details: { hosts },
    });
    this.hosts = hosts;
  }
}

const REBOOT_TIMEOUT = 'ERR_REMOTE_REBOOT_TIMEOUT';

/** waitRebootSince gave up: those hosts did not come back with a new boot in time. */
export class RebootTimeoutError extends GalleyError {
  readonly hosts: string[];
  constructor(hosts: string[], display: string, timeoutMs: number) {
    // under a second it used to read "within 0s"
    const within = timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)}s`;
    super(REBOOT_TIMEOUT, `reboot of ${display} not seen within ${within}`, {
      hint: 'check the console of those hosts; they may be stuck in firmware or fsck',
      details: { hosts },
    });
    this.hosts = hosts;
  }
}

/**
 * known_hosts vouches for these hosts only through `@cert-authority` (host certificates), which
 * ssh2 cannot verify: refused before anything runs rather than failing every host as 'hostkey'.
 */
export class HostCertificateUnsupportedError extends GalleyError {
  readonly hosts: string[];
  constructor(hosts: string[], display: string) {
    super(
      'ERR_REMOTE_HOST_CERT_SSH2',
      `known_hosts trusts ${display} only through a @cert-authority (SSH host certificates), which the ssh2 transport cannot verify`,
      {
        hint: "set `ssh.transport: openssh` in the config (the system OpenSSH client verifies host certificates), or record the hosts' own keys in ssh.knownHosts",
        details: { hosts },
      },
    );
    this.hosts = hosts;
  }
}

/** waitRebootSince gave up on some hosts (RebootTimeoutError). */
export function isRebootTimeoutError(err: unknown): err is RebootTimeoutError {
  return isGalleyError(err) && err.code === REBOOT_TIMEOUT;
}
