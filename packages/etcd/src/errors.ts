/**
 * etcd's errors and the guard other packages match them with (never by their code strings). Light
 * on purpose (`@galley/etcd/errors` loads no etcd3): core and lb import the guard at start-up.
 */
import { GalleyError, isGalleyError } from '@galley/errors';

/** etcd could not be used: unreachable, refusing our credentials, or its TLS files unreadable. */
export const EtcdErrorCode = { UNAVAILABLE: 'ERR_ETCD_UNAVAILABLE', AUTH: 'ERR_ETCD_AUTH', TLS_FILE: 'ERR_ETCD_TLS_FILE' } as const;
const ETCD_CODES: ReadonlySet<string> = new Set(Object.values(EtcdErrorCode));

/** etcd could not be used (EtcdErrorCode): nothing in it (conftool, locks) can be read or written right now. */
export function isEtcdError(err: unknown): err is GalleyError {
  return isGalleyError(err) && ETCD_CODES.has(err.code);
}

/** etcd did not answer. */
export class EtcdUnavailableError extends GalleyError {
  constructor(endpoints: readonly string[], cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(EtcdErrorCode.UNAVAILABLE, `etcd is not reachable at ${endpoints.join(', ') || '(no endpoints)'}: ${why}`, {
      hint: 'check that etcd runs and listens there (`etcdctl --endpoints=... endpoint health`), the etcd.endpoints/tls/auth settings in the config, and firewalls',
      cause,
      details: { endpoints },
    });
  }
}
