import { GalleyError } from '@galley/errors';

/**
 * etcd did not answer a write to a lock key (taking the slot, or `--break-lock`) and a re-read could
 * not settle whether it was applied. Fail closed: the run does not go on as if it held the lock.
 */
export class LockUnconfirmedError extends GalleyError {
  constructor(key: string, what: 'acquire' | 'release', cause: unknown) {
    super(
      'ERR_LOCK_UNCONFIRMED',
      what === 'acquire'
        ? `could not confirm that lock key ${key} is ours: etcd did not answer while we took the slot (${(cause as Error)?.message ?? String(cause)})`
        : `could not confirm that lock key ${key} was removed: etcd did not answer (${(cause as Error)?.message ?? String(cause)})`,
      {
        hint:
          what === 'acquire'
            ? 'check etcd health and run again; the key is bound to this run\'s lease, which ends with it, so it vanishes within the lease TTL (see `cookbook --locks`)'
            : 'check etcd health, then see whether the key is still listed by `cookbook --locks` and break it again if it is',
        cause,
        details: { key },
      },
    );
  }
}
