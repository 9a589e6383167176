import { GalleyError, UsageError } from '@galley/errors';

/** A host pattern that is not valid ClusterShell NodeSet syntax. */
export class NodeSetSyntaxError extends UsageError {
  constructor(pattern: string, why: string) {
    super('ERR_REMOTE_NODESET_SYNTAX', `invalid host pattern '${pattern}': ${why}`, {
      hint: "use ClusterShell NodeSet syntax, e.g. 'mw[1001-1004,1010].eqiad.wmnet'",
      details: { pattern },
    });
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
  constructor(code: 'ERR_REMOTE_IDENTITY' | 'ERR_REMOTE_SSH_CONFIG' | 'ERR_REMOTE_KNOWN_HOSTS', message: string, hint: string, cause?: unknown) {
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

/** waitRebootSince gave up: those hosts did not come back with a new boot in time. */
export class RebootTimeoutError extends GalleyError {
  readonly hosts: string[];
  constructor(hosts: string[], display: string, timeoutMs: number) {
    // under a second it used to read "within 0s"
    const within = timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)}s`;
    super('ERR_REMOTE_REBOOT_TIMEOUT', `reboot of ${display} not seen within ${within}`, {
      hint: 'check the console of those hosts; they may be stuck in firmware or fsck',
      details: { hosts },
    });
    this.hosts = hosts;
  }
}
