import { NothingSelectedError } from './errors.js';
import type { PoolObject, PoolSelector, PoolStore, Pooled } from './ports.js';

/** What the run will do to one host's conftool objects, decided once from the state before the run. */
export interface HostPlan {
  host: string;
  dc: string;
  cluster: string;
  /** Every conftool object of the host, as read before the run. */
  objects: PoolObject[];
  /** Objects that are `pooled=yes` now in the selected services: the only ones depooled and repooled. */
  depool: PoolObject[];
  /** Every other object of the host, with the reason it is never written. */
  leftAlone: { key: string; service: string; pooled: Pooled; why: string }[];
}

export interface Selection {
  hosts: HostPlan[];
  /** Hosts matched but not acted on (e.g. every object inactive). */
  skipped: { host: string; why: string }[];
  /** Hosts of the cluster(s) before the hosts= filter: the bound for "never the whole cluster". */
  clusterSize: number;
  /**
   * Per (dc, cluster) touched: its hosts that are not inactive (before the hosts= filter) and how
   * many of them are selected. "Never the whole cluster" holds for each of them: without dc=, one
   * dc's pool can be small enough for a batch to take all of it out.
   */
  groups?: { dc: string; cluster: string; size: number; selected: number }[];
  /** conftool services seen on the selected hosts (the default set of services to restart). */
  services: string[];
  /** Human description of the selection, for messages. */
  what: string;
}

export interface SelectOptions {
  dc?: string;
  cluster?: string;
  /** Only these services' objects are depooled; other services' objects are left alone. */
  services?: string[];
  /** Restrict to these hosts (already expanded from a NodeSet pattern). */
  hosts?: ReadonlySet<string>;
}

const collator = new Intl.Collator('en', { numeric: true });

/** The reason given for an object outside the selected services (it may stay pooled during the action). */
export const NOT_SELECTED = 'service not selected';

/**
 * The objects that must be out of every LB before anything runs on the host: every object of the
 * selected services that is not `inactive`, whether this run depools it or it was `no` already
 * (PyBal keeps a server set to `no` pooled while depooling it would breach the threshold, and an
 * LB may still lag a recent manual depool).
 */
export function mustBeOut(plan: HostPlan): PoolObject[] {
  const outOfScope = new Set(plan.leftAlone.filter((l) => l.why === NOT_SELECTED).map((l) => l.key));
  return plan.objects.filter((o) => !outOfScope.has(o.key) && o.pooled !== 'inactive');
}

/** dc/cluster/service/host from a conftool key. */
export function shortKey(key: string): string {
  const i = key.indexOf('/pools/');
  return i >= 0 ? key.slice(i + 7) : key;
}

export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function describeSelection(opts: SelectOptions): string {
  const parts: string[] = [];
  if (opts.dc) parts.push(`dc=${opts.dc}`);
  if (opts.cluster) parts.push(`cluster=${opts.cluster}`);
  if (opts.services?.length) parts.push(`services=${opts.services.join(',')}`);
  if (opts.hosts) parts.push(`hosts=${opts.hosts.size === 1 ? [...opts.hosts][0] : `${opts.hosts.size} hosts`}`);
  return parts.join(' ') || 'everything';
}

/**
 * One range read, then a per-host decision. Objects outside the selected services, and objects
 * that are `no` or `inactive`, are recorded as left alone with the reason: the plan shows them
 * and the run never writes them.
 */
export async function selectHosts(store: PoolStore, opts: SelectOptions): Promise<Selection> {
  const sel: PoolSelector = {};
  if (opts.dc) sel.dc = escapeRegex(opts.dc);
  if (opts.cluster) sel.cluster = escapeRegex(opts.cluster);
  if (opts.hosts && opts.hosts.size === 1) sel.name = escapeRegex([...opts.hosts][0] ?? '');
  const what = describeSelection(opts);
  const objects = await store.select(sel);
  const byHost = new Map<string, PoolObject[]>();
  for (const o of objects) {
    const list = byHost.get(o.tags.name);
    if (list) list.push(o);
    else byHost.set(o.tags.name, [o]);
  }
  const wanted = opts.services?.length ? new Set(opts.services) : undefined;
  let clusterObjects: readonly PoolObject[] = objects;
  if (sel.name !== undefined) {
    // One host asked for: the cluster size comes from its own cluster.
    const first = objects[0];
    clusterObjects = first ? await store.select({ dc: escapeRegex(first.tags.dc), cluster: escapeRegex(first.tags.cluster) }) : [];
  }
  const clusterSize = countActiveHosts(clusterObjects);
  const hosts: HostPlan[] = [];
  const skipped: Selection['skipped'] = [];
  const services = new Set<string>();
  for (const name of [...byHost.keys()].sort(collator.compare)) {
    if (opts.hosts && !opts.hosts.has(name)) continue;
    const objs = byHost.get(name) ?? [];
    const inScope = objs.filter((o) => !wanted || wanted.has(o.tags.service));
    if (inScope.length === 0) {
      skipped.push({ host: name, why: `no object in services ${[...(wanted ?? [])].join(',')}` });
      continue;
    }
    if (inScope.every((o) => o.pooled === 'inactive')) {
      skipped.push({ host: name, why: 'every selected object is inactive (out of PyBal for a long time)' });
      continue;
    }
    const first = objs[0]!;
    const plan: HostPlan = { host: name, dc: first.tags.dc, cluster: first.tags.cluster, objects: objs, depool: [], leftAlone: [] };
    for (const o of objs) {
      if (wanted && !wanted.has(o.tags.service)) {
        plan.leftAlone.push({ key: o.key, service: o.tags.service, pooled: o.pooled, why: NOT_SELECTED });
      } else if (o.pooled === 'yes') {
        plan.depool.push(o);
        services.add(o.tags.service);
      } else {
        services.add(o.tags.service);
        plan.leftAlone.push({
          key: o.key,
          service: o.tags.service,
          pooled: o.pooled,
          why: o.pooled === 'no' ? 'already pooled=no before the run' : 'inactive: removed from PyBal',
        });
      }
    }
    hosts.push(plan);
  }
  if (hosts.length === 0) {
    throw new NothingSelectedError(
      what,
      objects.length === 0 ? 'conftool has no object there' : `${skipped.length} host(s) matched, none can be acted on`,
    );
  }
  const groups = new Map<string, { dc: string; cluster: string; members: Set<string>; selected: number }>();
  for (const o of clusterObjects) {
    if (o.pooled === 'inactive') continue;
    const k = `${o.tags.dc}/${o.tags.cluster}`;
    const g = groups.get(k) ?? { dc: o.tags.dc, cluster: o.tags.cluster, members: new Set<string>(), selected: 0 };
    g.members.add(o.tags.name);
    groups.set(k, g);
  }
  for (const h of hosts) {
    const g = groups.get(`${h.dc}/${h.cluster}`);
    if (g) g.selected++;
  }
  return {
    hosts,
    skipped,
    clusterSize,
    groups: [...groups.values()].map((g) => ({ dc: g.dc, cluster: g.cluster, size: g.members.size, selected: g.selected })),
    services: [...services].sort(),
    what,
  };
}

function countActiveHosts(objects: readonly PoolObject[]): number {
  const active = new Set<string>();
  for (const o of objects) if (o.pooled !== 'inactive') active.add(o.tags.name);
  return active.size;
}
