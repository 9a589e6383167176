/**
 * What every package's config section is built from (`@galley/<pkg>/config`): the section's shape,
 * and durations with their accepted ranges. zod is loaded only by this entry, never by
 * `@galley/errors` itself.
 */
import { z } from 'zod';

/**
 * A package's config section: its zod schema (defaults included) and, when some of its fields are
 * file paths, how to resolve them against the config file's directory (`abs`), in place on a copy
 * @galley/config made. @galley/config composes the sections into the file's schema.
 */
export interface ConfigSection<T extends z.ZodType = z.ZodType> {
  readonly schema: T;
  resolvePaths?(value: z.output<T>, abs: (p: string) => string): void;
}

/**
 * Durations in the config: 0 never means "none" (a hung step would then hold its hosts and locks
 * forever), negative is refused, and each has an upper bound past which it can only be a typo
 * (seconds written as milliseconds times a thousand). Each problem names the range accepted.
 */
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

function human(ms: number): string {
  if (ms % DAY === 0) return `${ms / DAY} day${ms === DAY ? '' : 's'}`;
  if (ms % HOUR === 0) return `${ms / HOUR}h`;
  if (ms % MINUTE === 0) return `${ms / MINUTE} min`;
  return `${ms / SECOND} s`;
}

/** Milliseconds, a whole number from 1 to `maxMs`. */
export function durationMs(maxMs: number) {
  const range = `a whole number of milliseconds above 0 and at most ${maxMs} (${human(maxMs)})`;
  return z.number().int(`must be ${range}`).positive(`must be ${range}; 0 is not "no timeout"`).max(maxMs, `must be ${range}`);
}

/** Seconds, a whole number from `min` to `max` (`min` 0: 0 has a meaning of its own, said in `zero`). */
export function durationSeconds(min: number, maxSeconds: number, zero?: string) {
  const range = `${min === 0 ? 'a number of seconds from 0' : `a whole number of seconds from ${min}`} to ${maxSeconds} (${human(maxSeconds * SECOND)})${zero ? `; ${zero}` : ''}`;
  const base = z.number();
  return (min === 0 ? base : base.int(`must be ${range}`)).min(min, `must be ${range}`).max(maxSeconds, `must be ${range}`);
}
