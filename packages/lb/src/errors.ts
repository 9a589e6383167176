import { GalleyError, UsageError, isGalleyError, type GalleyErrorOptions } from '@galley/errors';

/** Every code lb raises: one place, for the classes and the guards below. */
export const LbErrorCode = {
  BAD_ARGUMENT: 'ERR_LB_BAD_ARGUMENT',
  WHOLE_CLUSTER: 'ERR_LB_WHOLE_CLUSTER',
  NOTHING_SELECTED: 'ERR_LB_NOTHING_SELECTED',
  NO_POOL: 'ERR_LB_NO_POOL',
  CAPACITY: 'ERR_LB_CAPACITY',
  RESUME_MISMATCH: 'ERR_LB_RESUME_MISMATCH',
} as const;
const LB_CODES: ReadonlySet<string> = new Set(Object.values(LbErrorCode));

/** A bad batch/sleep/timeout argument: names the argument and what is accepted. */
export class LbArgumentError extends UsageError {
  constructor(message: string, opts: GalleyErrorOptions = {}) {
    super(LbErrorCode.BAD_ARGUMENT, message, opts);
  }
}

/** The batch would act on the whole cluster at once (Spicerack's 0 < batch < n rule). */
export class WholeClusterError extends UsageError {
  constructor(batch: number, clusterSize: number, what: string) {
    super(LbErrorCode.WHOLE_CLUSTER, `a batch of ${batch} host(s) would take all ${clusterSize} host(s) of ${what} out at once`, {
      hint: `use a batch smaller than ${clusterSize} (a number, a percentage like 10%, or a ramp like 1,3,25%)`,
      details: { batch, clusterSize },
    });
  }
}

/** The selection matched nothing to act on. */
export class NothingSelectedError extends GalleyError {
  constructor(what: string, why: string) {
    super(LbErrorCode.NOTHING_SELECTED, `no host to act on for ${what}: ${why}`, {
      hint: 'check cluster=, dc=, services= and hosts= against `confctl select ... get`',
    });
  }
}

/** An object to depool (or pool) has no PyBal pool in the config, so it could never be verified. */
export class UnknownPoolError extends GalleyError {
  constructor(keys: string[], action: 'depool' | 'pool' = 'depool', narrow = 'services=') {
    super(
      LbErrorCode.NO_POOL,
      `no PyBal pool is configured for ${keys.length} object(s) to ${action}, e.g. ${keys.slice(0, 3).join(', ')}`,
      {
        hint: `add the (dc, cluster, service) to the pybal.pools section of the config, or restrict ${narrow}`,
        details: { keys },
      },
    );
  }
}

/** A batch would breach a pool's depool threshold: refused before any change. */
export class CapacityError extends GalleyError {
  constructor(message: string, details: Record<string, unknown>) {
    super(LbErrorCode.CAPACITY, message, {
      hint: 'use a smaller batch, or wait until the pool has more healthy pooled servers (see `cookbook sre.lb.status`)',
      details,
    });
  }
}

/** --resume with a different cluster, dc or services than the run it resumes. */
export class ResumeMismatchError extends UsageError {
  constructor(runId: string, was: string, now: string) {
    super(
      LbErrorCode.RESUME_MISMATCH,
      `--resume ${runId}: that run was ${was}, this one is ${now}; a resume continues the same operation`,
      {
        hint: `repeat the interrupted run's cluster=, dc= and services= exactly (${was}), or start a new run without --resume`,
        details: { runId, was, now },
      },
    );
  }
}

/**
 * One of lb's own refusals (bad argument, whole cluster, nothing selected, no pool, capacity,
 * resume mismatch): raised before anything is written. Compared by code, as isGalleyError is.
 */
export function isLbError(
  err: unknown,
): err is LbArgumentError | WholeClusterError | NothingSelectedError | UnknownPoolError | CapacityError | ResumeMismatchError {
  return isGalleyError(err) && LB_CODES.has(err.code);
}

export function isNothingSelectedError(err: unknown): err is NothingSelectedError {
  return isGalleyError(err) && err.code === LbErrorCode.NOTHING_SELECTED;
}

/**
 * Exit code of a run that was not confirmed (a question answered no, or no TTY and no --yes):
 * nothing was changed. Shared by every cookbook that asks (sre.lb.pool, sre.hosts.*).
 */
export const EXIT_NOT_CONFIRMED = 2;

/**
 * Exit code of a rolling run the operator stopped at a safe point (a pause-after or
 * confirm-each-batch gate answered no, or no terminal to ask it without --yes): every host it took
 * out is back, the rest were not attempted; `--resume RUN_ID` goes on with them. Not 2: things
 * were changed (and put back), which "not confirmed" says never happened.
 */
export const EXIT_STOPPED_BY_OPERATOR = 3;
