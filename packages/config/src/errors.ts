/**
 * The config file's errors and the guards other packages match them with (never by their code
 * strings). Light on purpose (`@galley/config/errors` loads no cosmiconfig or zod): the binaries
 * import the guards at start-up and load the config itself lazily.
 */
import { GalleyError, isGalleyError } from '@galley/errors';

const NOT_FOUND = 'ERR_CONFIG_NOT_FOUND';
const UNREADABLE = 'ERR_CONFIG_UNREADABLE';
/** ConfigError's (it lives in @galley/errors; loadConfig is what throws it). */
const INVALID = 'ERR_CONFIG_INVALID';
const CONFIG_CODES: ReadonlySet<string> = new Set([NOT_FOUND, UNREADABLE, INVALID]);

/** No config file: the one named with -c does not exist, or the search found none. */
export class ConfigNotFoundError extends GalleyError {
  constructor(message: string, hint: string) {
    super(NOT_FOUND, message, { hint });
  }
}

/** The config file exists but cannot be read or parsed as YAML/JSON/JS. */
export class ConfigUnreadableError extends GalleyError {
  constructor(cause: unknown) {
    super(UNREADABLE, `cannot read config file: ${(cause as Error).message}`, { hint: 'check the file is valid YAML/JSON/JS', cause });
  }
}

export function isConfigNotFoundError(err: unknown): err is ConfigNotFoundError {
  return isGalleyError(err) && err.code === NOT_FOUND;
}

/** Any problem with the config file: missing, unreadable, or invalid (every problem listed). */
export function isConfigError(err: unknown): err is GalleyError {
  return isGalleyError(err) && CONFIG_CODES.has(err.code);
}
