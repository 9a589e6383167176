import { GalleyError, UsageError } from '@galley/errors';

/** A lab is already running in that directory. */
export class LabRunningError extends GalleyError {
  constructor(dir: string) {
    super('ERR_LAB_RUNNING', `a lab is already running in ${dir}`, {
      hint: `use it (GALLEY_LAB_DIR=${dir}), or stop it with \`galley-lab down --dir ${dir}\``,
    });
  }
}

/** No lab (lab.json) in that directory. */
export class LabNotFoundError extends GalleyError {
  constructor(dir: string) {
    super('ERR_LAB_NOT_FOUND', `no lab in ${dir} (no lab.json)`, {
      hint: `start one with \`galley-lab up --dir ${dir}\``,
    });
  }
}

/** A name given to a lab command (host, service, LB, etcd member) does not exist in this lab. */
export class LabUnknownError extends GalleyError {
  constructor(kind: string, name: string, known: readonly string[]) {
    super('ERR_LAB_UNKNOWN_NAME', `no ${kind} named ${name} in this lab`, {
      hint: `known ${kind}s: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', …' : ''}`,
    });
  }
}

/** Starting the lab failed (a process did not come up); everything started so far was stopped. */
export class LabStartError extends GalleyError {
  constructor(message: string, opts: { hint: string; cause?: unknown }) {
    super('ERR_LAB_START', message, opts);
  }
}

/** A tool the lab needs (etcd, sshd, unshare, ssh-keygen) is missing, or we are not root. */
export class LabPrerequisiteError extends GalleyError {
  constructor(message: string, hint: string) {
    super('ERR_LAB_PREREQUISITE', message, { hint });
  }
}

/** stopHost/startHost/reboot on a lab started without ssh hosts. */
export class LabNoSshError extends GalleyError {
  constructor(host: string) {
    super('ERR_LAB_NO_SSHD', `${host} has no sshd: this lab was started with ssh: false`, {
      hint: 'start a lab with ssh hosts (galley-lab up without --no-ssh, or startLab({ ssh: true }))',
    });
  }
}

/**
 * DIR already holds a file `up` would write (a private key, known_hosts, ssh_config, …) that no
 * earlier lab recorded as its own: `up` refuses rather than overwrite it.
 */
export class LabDirConflictError extends GalleyError {
  constructor(dir: string, entries: readonly string[]) {
    super('ERR_LAB_DIR_CONFLICT', `${dir} already has ${entries.join(', ')}, which galley-lab up would overwrite`, {
      hint: `use an empty or new directory (galley-lab up --dir NEW), or move ${entries.length > 1 ? 'them' : 'it'} away`,
    });
  }
}

/** A lab option (CLI flag or startLab option) with a value the lab cannot use; nothing was started. */
export class LabOptionError extends UsageError {
  constructor(option: string, given: string, how: string) {
    super('ERR_LAB_BAD_OPTION', `${option} ${given}: not a valid value`, { hint: how });
  }
}

/** `alert`/`alerts`/`silences` on a lab started without its Alertmanager. */
export class LabNoAlertmanagerError extends GalleyError {
  constructor() {
    super('ERR_LAB_NO_ALERTMANAGER', 'this lab has no Alertmanager: it was started with --no-alertmanager (or by an older galley-lab)', {
      hint: 'start a lab with it: galley-lab up (without --no-alertmanager), or startLab({ alertmanager: true })',
    });
  }
}
