/**
 * The value checks of the sre.lb cookbooks' options, declared next to them (`check:` in
 * rollingArgs/poolArgs): @galley/core runs them on the typed values before any lock, client or
 * announcement. Each runs the very parser the operation uses later, so the two cannot disagree.
 */
import type { ArgCheck } from '@galley/core';
import { NodeSet } from '@galley/remote/nodeset';
import { parseBatchSpec, parseDuration } from './batches.js';
import { MAX_SEED, parseMaxFailed } from './budget.js';
import { parseDrain } from './drain.js';

const problemOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
};

export const batchArg: ArgCheck = {
  accepts: 'a host count ≥ 1, a percentage above 0% and below 100% (rounded down, at least 1 host), or a ramp like 1,3,25%',
  check: (v) => problemOf(() => parseBatchSpec(v as string)),
};

/**
 * Every duration the lb cookbooks take is a wait with hosts out of traffic and the run's locks held,
 * so one longer than a day is a typo (`sleep=3600m`, `command-timeout=86400000`), never a plan.
 */
export const MAX_DURATION_MS = 24 * 3600 * 1000;

/** `12h`, `10m`, `90s`: a bound as the operator would type it. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

export interface DurationArgOptions {
  /** 0 is refused too: a timeout or deadline of 0 could never pass (and must never mean "none"). */
  positive?: boolean;
  /**
   * The max hold of the cookbook's lock: a longer wait would outlive the lock with hosts out of
   * traffic, so it is the bound when below a day.
   */
  lockTtlSeconds?: number;
}

/**
 * A duration from 0 (or above 0, `positive`) to at most 24h and at most the cookbook lock's max
 * hold. Every refusal names the argument as typed and the accepted range.
 */
export function durationArg(opts: DurationArgOptions = {}): ArgCheck {
  const lockMs = opts.lockTtlSeconds !== undefined ? opts.lockTtlSeconds * 1000 : Infinity;
  const maxMs = Math.min(MAX_DURATION_MS, lockMs);
  const why =
    maxMs === lockMs ? "the max hold of this cookbook's lock" : 'hosts stay out of traffic and locks stay held for the whole wait';
  const range = `${opts.positive ? 'above 0' : '0 or more'}, at most ${formatDuration(maxMs)} (${why})`;
  return {
    accepts: `a duration like 30s, 2m, 500ms, or a number of seconds: ${range}`,
    check: (v, name) => {
      const shown = `${name}=${String(v)}`;
      let ms: number;
      try {
        ms = parseDuration(v as string | number, name);
      } catch {
        const negative = typeof v === 'number' ? v < 0 : /^\s*-/.test(String(v));
        return `${shown}: ${negative ? 'a duration cannot be negative' : 'not a duration like 30s, 2m, 500ms or a number of seconds'}; accepted: ${range}`;
      }
      if (opts.positive && ms === 0) return `${shown}: must be above 0 (0 is not "no timeout"); accepted: ${range}`;
      return ms > maxMs ? `${shown}: more than ${formatDuration(maxMs)}; accepted: ${range}` : undefined;
    },
  };
}

export const hostPatternArg: ArgCheck = {
  accepts: 'a NodeSet pattern like mw[1001-1004].eqiad.wmnet',
  check: (v, name) => {
    const p = problemOf(() => NodeSet.parse(String(v)));
    if (p) return `${name}=${String(v)}: ${p}`;
    return NodeSet.parse(String(v)).size === 0 ? `${name}=${String(v)}: names no host` : undefined;
  },
};

export const wholeNumberArg: ArgCheck = {
  accepts: 'a whole number ≥ 0',
  check: (v, name) =>
    typeof v === 'number' && Number.isInteger(v) && v >= 0 ? undefined : `${name}=${String(v)}: must be a whole number ≥ 0`,
};

/** A count from 1 (`pause-after=N`: 0 would be before anything was done). */
export const countArg: ArgCheck = {
  accepts: 'a whole number ≥ 1',
  check: (v, name) =>
    typeof v === 'number' && Number.isInteger(v) && v >= 1 ? undefined : `${name}=${String(v)}: must be a whole number ≥ 1`,
};

/** A comma-separated list of names (services, units): at least one, none empty. */
export const nameListArg: ArgCheck = {
  accepts: 'comma-separated names, e.g. nginx,php-fpm',
  check: (v, name) => {
    const parts = String(v)
      .split(',')
      .map((s) => s.trim());
    return parts.some((p) => p === '') ? `${name}=${String(v)}: an empty name in the list` : undefined;
  },
};

/** A shell command: not empty. */
export const commandArg: ArgCheck = {
  accepts: 'a shell command (not empty)',
  check: (v, name) => (String(v).trim() === '' ? `${name}=: the command is empty` : undefined),
};

/**
 * `drain=`: a duration (0 or more, at most 1h: connections that take longer are not draining), or
 * `weight` / `weight:DURATION` (weight 0 first, then the wait). Runs drain.ts's own parser.
 */
export const DRAIN_MAX_MS = 3600 * 1000;
export const drainArg: ArgCheck = {
  accepts: 'a duration like 30s (0 or more, at most 1h), or weight / weight:30s (weight 0 while still pooled, wait, then depool)',
  check: (v, name) => {
    const shown = `${name}=${String(v)}`;
    let ms: number;
    try {
      ms = parseDrain(v as string | number, 0).ms;
    } catch (err) {
      const negative = typeof v === 'number' ? v < 0 : /^\s*(weight:)?\s*-/.test(String(v));
      return `${shown}: ${negative ? 'a duration cannot be negative' : err instanceof Error ? err.message.replace(/^drain=[^:]*: /, '') : String(err)}; accepted: ${drainArg.accepts}`;
    }
    return ms > DRAIN_MAX_MS ? `${shown}: more than 1h; accepted: ${drainArg.accepts}` : undefined;
  },
};

/** `max-failed=`: a whole number of hosts, or a percentage of the selected hosts from 0% to 100%. */
export const maxFailedArg: ArgCheck = {
  accepts: 'a number of failed hosts tolerated (e.g. 2), or a percentage of the selected hosts from 0% to 100% (e.g. 25%, rounded down)',
  check: (v, name) => {
    const p = problemOf(() => parseMaxFailed(v as string | number));
    return p ? `${p.replace(/^max-failed=/, `${name}=`)}; accepted: ${maxFailedArg.accepts}` : undefined;
  },
};

/** `seed=`: the seed of order=shuffled, a whole number from 1 to 2^31-1. */
export const seedArg: ArgCheck = {
  accepts: `a whole number from 1 to ${MAX_SEED}`,
  check: (v, name) =>
    typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_SEED
      ? undefined
      : `${name}=${String(v)}: must be a whole number from 1 to ${MAX_SEED}`,
};
