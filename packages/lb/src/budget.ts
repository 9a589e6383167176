/**
 * The run-level budgets and the host order of a rolling run (issue 14 item 6): `max-failed=N|N%`
 * (failed hosts, as Ansible's max_fail_percentage), `deadline=` for the whole run, and
 * `order=as-listed|sorted|shuffled` (with `seed=`). Pure functions: the drivers and run.ts apply them.
 */
import { randomInt } from 'node:crypto';
import { NodeSet } from '@galley/remote/nodeset';
import { LbArgumentError, ResumeMismatchError } from './errors.js';
import type { JournalEntry } from './ports.js';

/** `max-failed=` as typed: a count of hosts, or a percentage of the selected hosts. */
export type MaxFailed = { hosts: number; text: string } | { percent: number; text: string };

/** `3` or `25%` (0–100%, whole or decimal); anything else is an argument error naming the value. */
export function parseMaxFailed(v: string | number): MaxFailed {
  const text = String(v).trim();
  if (/^\d+$/.test(text)) return { hosts: Number(text), text };
  const m = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (m) {
    const percent = Number(m[1]);
    if (percent > 100) throw new LbArgumentError(`max-failed=${text}: a percentage of the selected hosts is at most 100%`);
    return { percent, text };
  }
  throw new LbArgumentError(`max-failed=${text}: expected a number of hosts (e.g. 2) or a percentage of the selected hosts (e.g. 25%)`);
}

/**
 * Failed hosts tolerated: N, or N% of the selected hosts rounded DOWN (Ansible's rule: the run stops
 * when more than N% have failed, so 25% of 4 tolerates 1 and the 2nd failure stops it; 25% of 3
 * tolerates 0).
 */
export function toleratedFailures(m: MaxFailed, selected: number): number {
  // integer arithmetic on hundredths: 33.3% of 3 is not 0.999…
  return 'hosts' in m ? m.hosts : Math.floor((Math.round(m.percent * 100) * selected) / 10_000);
}

export type HostOrder = 'as-listed' | 'sorted' | 'shuffled';
export const HOST_ORDERS: readonly HostOrder[] = ['as-listed', 'sorted', 'shuffled'];

/** The order the run takes hosts in, as journaled (a resume keeps it). */
export interface OrderSpec {
  order: HostOrder;
  /** shuffled only: the seed that reproduces the order. */
  seed?: number;
}

export const MAX_SEED = 2 ** 31 - 1;

/** A fresh seed for `order=shuffled` without `seed=` (printed, so the run can be repeated). */
export function newSeed(): number {
  return randomInt(1, MAX_SEED);
}

/** mulberry32: small, fast, and the same sequence for a seed on every platform. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Hosts in the order asked for: as-listed (as the selection lists them: by name, numbers compared as
 * numbers), sorted (NodeSet's order, `nodeset -e`: by name pattern, then numerically within it, so
 * every `cp` host before every `mw` one and `mw[1-10].codfw` before `mw[1-10].eqiad`), or shuffled
 * (Fisher–Yates over the as-listed order with `seed`: the same seed gives the same order).
 */
export function orderHosts<T extends { host: string }>(hosts: readonly T[], spec: OrderSpec): T[] {
  if (spec.order === 'as-listed') return [...hosts];
  if (spec.order === 'sorted') {
    const rank = new Map(
      NodeSet.fromHosts(hosts.map((h) => h.host))
        .hosts()
        .map((h, i) => [h, i]),
    );
    return [...hosts].sort((a, b) => (rank.get(a.host) ?? 0) - (rank.get(b.host) ?? 0));
  }
  if (spec.seed === undefined) throw new Error('orderHosts: shuffled needs a seed');
  const out = [...hosts];
  const r = rng(spec.seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The order asked for, made definite: a shuffle without `seed=` gets a fresh one (printed, so it can be repeated). */
export function resolveOrder(asked: { order?: HostOrder | undefined; seed?: number | undefined }): OrderSpec {
  const order = asked.order ?? 'as-listed';
  return order === 'shuffled' ? { order, seed: asked.seed ?? newSeed() } : { order };
}

export function orderText(s: OrderSpec): string {
  return s.order === 'shuffled' ? `order=shuffled seed=${s.seed}` : `order=${s.order}`;
}

/**
 * The order of a resumed run: the interrupted run's (journaled in its lb-run entry), so the hosts it
 * had not reached come in the plan it announced. An order (or seed) given that differs from it is
 * refused, never silently replanned; none given takes the journaled one.
 */
export function resumeOrder(
  runId: string,
  entries: readonly JournalEntry[],
  asked: { order?: HostOrder | undefined; seed?: number | undefined },
): OrderSpec | undefined {
  const was = [...entries].reverse().find((e) => e.type === 'lb-run' && e.order && typeof e.order === 'object')?.order as
    OrderSpec | undefined;
  if (!was) return undefined;
  const differs = (asked.order !== undefined && asked.order !== was.order) || (asked.seed !== undefined && asked.seed !== was.seed);
  if (differs)
    throw new ResumeMismatchError(
      runId,
      orderText(was),
      orderText({
        order: asked.order ?? was.order,
        ...(asked.seed !== undefined ? { seed: asked.seed } : was.seed !== undefined ? { seed: was.seed } : {}),
      }),
    );
  return was;
}
