import { parse as parseYaml } from 'yaml';
import { FleetError } from './errors.js';
import type { NodeValues } from './types.js';
import { validateChanges } from './value.js';

/**
 * A fleet description, normalized: dc → cluster → fqdn → service → initial values (applied only
 * when the object is created; missing fields take the schema defaults pooled=inactive, weight=0).
 */
export type FleetDescription = Record<string, Record<string, Record<string, Record<string, Partial<NodeValues> | null>>>>;

const SEGMENT = /^[A-Za-z0-9_.:-]+$/;

/**
 * Parse a fleet YAML file (conftool-sync's `{dc: {cluster: {fqdn: [services]}}}`), where a host
 * may instead map each service to its initial values:
 *
 *     eqiad:
 *       jobrunner:
 *         mw1001.eqiad.wmnet: [nginx, php-fpm]
 *         mw1002.eqiad.wmnet: {nginx: {pooled: "yes", weight: 10}, php-fpm: {}}
 *
 * Every problem is reported together, each with its path.
 */
export function parseFleet(text: string, file = '(fleet)'): FleetDescription {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new FleetError(file, [`not valid YAML: ${(err as Error).message}`]);
  }
  return normalizeFleet(raw, file);
}

export function normalizeFleet(raw: unknown, file = '(fleet)'): FleetDescription {
  const problems: string[] = [];
  const out: FleetDescription = {};
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const seg = (path: string, name: string): boolean => {
    if (SEGMENT.test(name)) return true;
    problems.push(`${path}: "${name}" is not a valid key segment (letters, digits, _ . : -)`);
    return false;
  };
  if (!isMap(raw)) throw new FleetError(file, ['(top level): expected a mapping dc → cluster → host → services']);
  for (const [dc, clusters] of Object.entries(raw)) {
    if (!seg(dc, dc)) continue;
    if (!isMap(clusters)) {
      problems.push(`${dc}: expected a mapping cluster → host → services`);
      continue;
    }
    for (const [cluster, hosts] of Object.entries(clusters)) {
      const cp = `${dc}.${cluster}`;
      if (!seg(cp, cluster)) continue;
      if (!isMap(hosts)) {
        problems.push(`${cp}: expected a mapping host → services`);
        continue;
      }
      for (const [host, services] of Object.entries(hosts)) {
        const hp = `${cp}.${host}`;
        if (!seg(hp, host)) continue;
        const svc: Record<string, Partial<NodeValues> | null> = {};
        if (Array.isArray(services)) {
          for (const s of services) {
            if (typeof s === 'string' && seg(hp, s)) svc[s] = null;
            else if (typeof s !== 'string') problems.push(`${hp}: service names must be strings, got ${JSON.stringify(s)}`);
          }
        } else if (isMap(services)) {
          for (const [s, v] of Object.entries(services)) {
            if (!seg(`${hp}.${s}`, s)) continue;
            if (v === null || v === undefined) svc[s] = null;
            else if (!isMap(v)) problems.push(`${hp}.${s}: expected {pooled?, weight?}, got ${JSON.stringify(v)}`);
            else {
              try {
                svc[s] = validateChanges(`${hp}.${s}`, v);
              } catch (err) {
                problems.push(
                  `${hp}.${s}: ${(err as Error).message.replace(/^refusing to write [^:]+: /, '').replace(/; nothing was written$/, '')}`,
                );
              }
            }
          }
        } else {
          problems.push(`${hp}: expected a list of services or a mapping service → values`);
          continue;
        }
        ((out[dc] ??= {})[cluster] ??= {})[host] = svc;
      }
    }
  }
  if (problems.length > 0) throw new FleetError(file, problems);
  return out;
}
