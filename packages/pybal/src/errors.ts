import { GalleyError, type GalleyErrorOptions } from '@galley/errors';

/** A PyBal instrumentation endpoint could not be used: unreachable, erroring, or answering nonsense. */
export class PybalError extends GalleyError {
  constructor(code: `ERR_PYBAL_${string}`, message: string, opts: GalleyErrorOptions = {}) {
    super(code, message, opts);
  }
}

export const PybalErrorCode = {
  /** Body is neither the JSON nor the text form PyBal serves for that URL. */
  BAD_RESPONSE: 'ERR_PYBAL_BAD_RESPONSE',
  /** Connection refused/reset/timed out after the bounded retries. */
  UNREACHABLE: 'ERR_PYBAL_UNREACHABLE',
  /** A non-404 error status (5xx after retries, or a 4xx) from the instrumentation API. */
  HTTP_STATUS: 'ERR_PYBAL_HTTP_STATUS',
  /** The LB answered 404 for a pool: it does not carry it (config drift between galley and PyBal). */
  POOL_NOT_FOUND: 'ERR_PYBAL_POOL_NOT_FOUND',
  /** PybalTopology built from a config that names an LB without a URL or maps a service twice. */
  CONFIG_INVALID: 'ERR_PYBAL_CONFIG_INVALID',
  /** A verification did not pass (see `assertVerified`). */
  NOT_VERIFIED: 'ERR_PYBAL_NOT_VERIFIED',
} as const;
