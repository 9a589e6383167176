/**
 * confctl's errors and the guards other packages match them with (never by their code strings).
 * Light on purpose (`@galley/confctl/errors` loads no etcd3): lb and core import the guards at start-up.
 */
import { GalleyError, isGalleyError } from '@galley/errors';
import type { Selector } from './types.js';

// etcd's own errors and guard are @galley/etcd's; re-exported for conftool's users (Conftool throws them).
export { EtcdErrorCode, EtcdUnavailableError, isEtcdError } from '@galley/etcd/errors';

const NO_MATCH = 'ERR_CONFCTL_NO_MATCH';

/** A selection matched no conftool object (NoMatchError). */
export function isNoMatchError(err: unknown): err is NoMatchError {
  return isGalleyError(err) && err.code === NO_MATCH;
}

export function formatSelector(sel: Selector): string {
  const parts = (['dc', 'cluster', 'service', 'name'] as const).filter((t) => sel[t] !== undefined).map((t) => `${t}=${sel[t]}`);
  return parts.length > 0 ? parts.join(',') : '(everything)';
}

/** A selection matched no object. */
export class NoMatchError extends GalleyError {
  constructor(sel: Selector, namespace: string) {
    super(NO_MATCH, `no conftool object matches ${formatSelector(sel)} under ${namespace}`, {
      hint: 'each tag is an anchored regex (name=mw1001 matches only mw1001; use name=mw1001.* for a prefix); check with `confctl select ... get`',
      details: { selector: sel, namespace },
    });
  }
}

/** A stored value or a requested change does not fit the node schema. */
export class InvalidValueError extends GalleyError {
  readonly key: string;
  constructor(key: string, value: unknown, problem: string, opts: { onWrite?: boolean } = {}) {
    const shown = typeof value === 'string' ? value : JSON.stringify(value);
    super(
      'ERR_CONFCTL_INVALID_VALUE',
      opts.onWrite
        ? `refusing to write ${key}: ${problem} (value ${shown}); nothing was written`
        : `invalid value stored at ${key}: ${problem} (value ${shown}); nothing was written`,
      {
        hint: opts.onWrite
          ? 'pooled must be one of yes|no|inactive and weight an integer >= 0'
          : 'fix the stored value (e.g. `confctl select ... set/pooled=no:weight=0` after deleting it, or `etcdctl put`) — the schema is {"pooled": "yes"|"no"|"inactive", "weight": int >= 0}',
        details: { key, value: shown, problem },
      },
    );
    this.key = key;
  }
}

/** A concurrent writer kept changing the object: bounded retries exhausted. */
export class ConflictError extends GalleyError {
  constructor(key: string, attempts: number, why = 'it was modified concurrently') {
    super('ERR_CONFCTL_CONFLICT', `could not update ${key}: ${why} (${attempts} attempt${attempts === 1 ? '' : 's'})`, {
      hint: 'someone else is changing this object; check who (other cookbook runs, confctl users) and retry',
      details: { key, attempts },
    });
  }
}

/**
 * A write got no answer (deadline, dropped connection) and a re-read could not show that it was
 * applied: it may or may not have been, or may still be. Nothing is recorded for it.
 */
export class WriteUnknownError extends GalleyError {
  readonly key: string;
  constructor(key: string, wrote: string, current: string | undefined, cause: unknown) {
    super(
      'ERR_CONFCTL_WRITE_UNKNOWN',
      `write to ${key} got no answer from etcd and may or may not have been applied: we wrote ${wrote}, ` +
        (current === undefined ? 'and it could not be read back' : `it now holds ${current}`),
      {
        hint: `check the object by hand (\`confctl select ... get\`, or \`etcdctl get ${key}\`) and set it as needed; check etcd's health before retrying`,
        cause,
        details: { key, wrote, current },
      },
    );
    this.key = key;
  }
}

/** A caller-supplied fence compare failed: the run's lock is gone, so nothing was written. */
export class FencedError extends GalleyError {
  constructor(key: string, compares: readonly unknown[]) {
    super(
      'ERR_CONFCTL_FENCED',
      `write to ${key} rejected: a fence condition failed (the run's lock is no longer held); nothing was written`,
      {
        hint: 'the lock lease probably expired (process paused or etcd unreachable); check for another run, then rerun',
        details: { key, compares },
      },
    );
  }
}

/** A selector string or regex is malformed. */
export class SelectorError extends GalleyError {
  constructor(message: string) {
    super('ERR_CONFCTL_BAD_SELECTOR', message, {
      hint: "write a selector like 'dc=eqiad,cluster=jobrunner,service=nginx,name=mw10.*' (tags dc, cluster, service, name; values are regexes)",
    });
  }
}

/** A fleet description (sync) is malformed. */
export class FleetError extends GalleyError {
  constructor(file: string, problems: readonly string[]) {
    super('ERR_CONFCTL_FLEET_INVALID', `invalid fleet description ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
      hint: 'the format is {dc: {cluster: {fqdn: [service, ...] | {service: {pooled?, weight?}}}}}; see packages/confctl/README.md',
      details: { problems },
    });
  }
}
