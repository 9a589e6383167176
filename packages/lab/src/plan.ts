/**
 * The lab's fleet, as pure data: which hosts exist, which conftool objects they have, which PyBal
 * pools and load balancers carry them. Deterministic for a given size so that tests and docs can
 * name hosts (`mw1301.eqiad.wmnet` is always the first eqiad jobrunner).
 */

export type Pooled = 'yes' | 'no' | 'inactive';

export interface PlannedHost {
  name: string;
  short: string;
  dc: string;
  cluster: string;
  services: string[];
}

export interface PlannedObject {
  dc: string;
  cluster: string;
  service: string;
  name: string;
  pooled: Pooled;
  weight: number;
}

export interface PlannedPool {
  dc: string;
  cluster: string;
  service: string;
  pool: string;
  loadBalancers: string[];
  depoolThreshold: number;
}

export interface FleetPlan {
  hosts: PlannedHost[];
  objects: PlannedObject[];
  pools: PlannedPool[];
  loadBalancers: string[];
}

export const SERVICES = ['nginx', 'php-fpm'] as const;
export const DEFAULT_DEPOOL_THRESHOLD = 0.5;

/** Host-number bases per (dc, cluster): eqiad appservers are mw1001…, eqiad jobrunners mw1301…, codfw mw2001…/mw2301…. */
const GROUPS = [
  { dc: 'eqiad', cluster: 'appserver', base: 1001, share: 1 / 3 },
  { dc: 'eqiad', cluster: 'jobrunner', base: 1301, share: 1 / 3 },
  { dc: 'codfw', cluster: 'appserver', base: 2001, share: 1 / 6 },
  { dc: 'codfw', cluster: 'jobrunner', base: 2301, share: 1 / 6 },
] as const;

/** Split n hosts over the four groups: 12 → 4/4/2/2, 20 → 7/7/3/3, 50 → 17/17/8/8. */
export function groupSizes(n: number): number[] {
  const sizes = GROUPS.map((g) => Math.floor(n * g.share));
  let left = n - sizes.reduce((a, b) => a + b, 0);
  // Remainders go to the eqiad jobrunners first: the README's rolling restart runs there.
  const order = [1, 0, 3, 2];
  for (let i = 0; left > 0; i = (i + 1) % order.length, left--) sizes[order[i]!]! += 1;
  return sizes;
}

export function lbNames(m: number): string[] {
  return Array.from({ length: m }, (_, i) => `lvs${1019 + i}`);
}

export function poolName(dc: string, cluster: string, service: string): string {
  return `${cluster}-${service}_${dc}`;
}

/**
 * The seed: every object pooled=yes weight=10, except the last eqiad appserver (pooled=no, when
 * that group has ≥ 3 hosts) and the last codfw appserver (pooled=inactive, when that group has ≥ 2
 * hosts), for both services. Jobrunner pools start fully pooled so threshold scenarios start clean.
 */
export function planFleet(opts: { hosts: number; lbs: number; depoolThreshold?: number }): FleetPlan {
  const sizes = groupSizes(opts.hosts);
  const hosts: PlannedHost[] = [];
  const objects: PlannedObject[] = [];
  GROUPS.forEach((g, gi) => {
    const size = sizes[gi]!;
    for (let i = 0; i < size; i++) {
      const short = `mw${g.base + i}`;
      const name = `${short}.${g.dc}.wmnet`;
      hosts.push({ name, short, dc: g.dc, cluster: g.cluster, services: [...SERVICES] });
      let pooled: Pooled = 'yes';
      if (g.dc === 'eqiad' && g.cluster === 'appserver' && size >= 3 && i === size - 1) pooled = 'no';
      if (g.dc === 'codfw' && g.cluster === 'appserver' && size >= 2 && i === size - 1) pooled = 'inactive';
      for (const service of SERVICES) objects.push({ dc: g.dc, cluster: g.cluster, service, name, pooled, weight: 10 });
    }
  });
  const loadBalancers = lbNames(opts.lbs);
  const pools: PlannedPool[] = [];
  GROUPS.forEach((g, gi) => {
    if (sizes[gi] === 0) return;
    for (const service of SERVICES) {
      pools.push({
        dc: g.dc,
        cluster: g.cluster,
        service,
        pool: poolName(g.dc, g.cluster, service),
        loadBalancers: [...loadBalancers],
        depoolThreshold: opts.depoolThreshold ?? DEFAULT_DEPOOL_THRESHOLD,
      });
    }
  });
  return { hosts, objects, pools, loadBalancers };
}

export function conftoolKey(namespace: string, o: { dc: string; cluster: string; service: string; name: string }): string {
  const ns = namespace === '/' ? '' : namespace;
  return `${ns}/v1/pools/${o.dc}/${o.cluster}/${o.service}/${o.name}`;
}
