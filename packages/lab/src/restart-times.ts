import crypto from 'node:crypto';
import { LabOptionError } from './errors.js';

/**
 * Per-host restart times: MIN..MAX ms (inclusive), one per host. The pick is a stable hash of
 * the host name (and `seed`, when given), so two labs with the same hosts and range get the same
 * times: a benchmark can be rerun, and `seed` gives another draw of the same range.
 */
export interface RestartRange {
  min: number;
  max: number;
  seed?: string;
}

/**
 * How long a fake `systemctl restart` keeps a service down: one time for every host, a range
 * (a reproducible pick per host), or a function of the host's FQDN.
 */
export type RestartMs = number | RestartRange | ((host: string) => number);

const HOW = 'give MS (e.g. 300) or MIN:MAX (e.g. 300:3000): whole milliseconds ≥ 0, MIN ≤ MAX';

function checkMs(option: string, given: string, ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 0) throw new LabOptionError(option, given, HOW);
  return ms;
}

/** `--restart-ms` text: `300` or `300:3000`. Throws LabOptionError (naming the option) otherwise. */
export function parseRestartMs(text: string, option = '--restart-ms'): number | RestartRange {
  const t = text.trim();
  const one = /^\d+$/.exec(t);
  if (one) return checkMs(option, text, Number(t));
  const range = /^(\d+):(\d+)$/.exec(t);
  if (!range) throw new LabOptionError(option, text, HOW);
  const r = { min: checkMs(option, text, Number(range[1])), max: checkMs(option, text, Number(range[2])) };
  if (r.min > r.max) throw new LabOptionError(option, text, `${HOW} (${r.min} > ${r.max}: did you mean ${r.max}:${r.min}?)`);
  return r;
}

/** One time in ms (`galley-lab slow HOST MS`). */
export function parseMs(text: string, option: string): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new LabOptionError(option, text, 'give whole milliseconds ≥ 0, e.g. 1500');
  return checkMs(option, text, Number(t));
}

/** MIN..MAX picked from sha256(seed + host): uniform enough for benchmarks, and the same on every run. */
export function pickRestartMs(range: RestartRange, host: string): number {
  const h = crypto
    .createHash('sha256')
    .update(`${range.seed ?? ''}\0${host}`)
    .digest();
  const u = h.readUInt32BE(0) / 2 ** 32; // [0, 1)
  return range.min + Math.floor(u * (range.max - range.min + 1));
}

/** Check the option as given to startLab (before anything starts). */
export function validateRestartMs(spec: RestartMs, option = 'restartMs'): void {
  if (typeof spec === 'function') return; // checked per host by restartTimes
  if (typeof spec === 'number') {
    checkMs(option, String(spec), spec);
    return;
  }
  const given = JSON.stringify(spec);
  if (typeof spec !== 'object' || spec === null)
    throw new LabOptionError(option, String(spec), 'give a number of ms, { min, max }, or a function of the host name');
  checkMs(option, given, spec.min);
  checkMs(option, given, spec.max);
  if (spec.min > spec.max) throw new LabOptionError(option, given, `min ≤ max (${spec.min} > ${spec.max})`);
}

/** Every host's restart time (validated). */
export function restartTimes(spec: RestartMs, hosts: readonly string[], option = 'restartMs'): Record<string, number> {
  validateRestartMs(spec, option);
  const out: Record<string, number> = {};
  for (const h of hosts) {
    const ms = typeof spec === 'number' ? spec : typeof spec === 'function' ? spec(h) : pickRestartMs(spec, h);
    out[h] = checkMs(option, `${String(ms)} for ${h}`, ms);
  }
  return out;
}

/** How the option reads in lab.json and the summary (functions are not serializable). */
export function describeRestartMs(spec: RestartMs): number | RestartRange | 'per-host' {
  return typeof spec === 'function' ? 'per-host' : spec;
}
