import type { PybalConfig } from './config.js';
import type { LoadBalancerRef } from './client.js';
import { PybalError, PybalErrorCode } from './errors.js';

export interface PoolRef {
  dc: string;
  cluster: string;
  service: string;
  pool: string;
  loadBalancers: LoadBalancerRef[];
  depoolThreshold: number;
}

/** The conftool tags a pool lookup needs; @galley/confctl's ConftoolNode fits. */
export interface NodeTagsLike {
  dc: string;
  cluster: string;
  service: string;
  name: string;
}

const keyOf = (dc: string, cluster: string, service: string): string => `${dc}/${cluster}/${service}`;

/** Maps conftool (dc, cluster, service) to the PyBal pool and the load balancers that carry it. */
export class PybalTopology {
  private readonly byKey = new Map<string, PoolRef>();

  constructor(cfg: Pick<PybalConfig, 'loadBalancers' | 'pools'> & { defaultDepoolThreshold?: number }) {
    const problems: string[] = [];
    for (const p of cfg.pools) {
      const lbs: LoadBalancerRef[] = [];
      for (const name of p.loadBalancers) {
        const lb = cfg.loadBalancers[name];
        if (lb) lbs.push({ name, url: lb.url });
        else
          problems.push(
            `pool ${p.pool} (${keyOf(p.dc, p.cluster, p.service)}) names load balancer ${name}, which has no entry in pybal.loadBalancers`,
          );
      }
      const key = keyOf(p.dc, p.cluster, p.service);
      if (this.byKey.has(key)) problems.push(`${key} is mapped to more than one pool`);
      this.byKey.set(key, {
        dc: p.dc,
        cluster: p.cluster,
        service: p.service,
        pool: p.pool,
        loadBalancers: lbs,
        depoolThreshold: p.depoolThreshold ?? cfg.defaultDepoolThreshold ?? 0.5,
      });
    }
    if (problems.length > 0) {
      throw new PybalError(PybalErrorCode.CONFIG_INVALID, `invalid pybal configuration:\n${problems.map((l) => `  - ${l}`).join('\n')}`, {
        hint: 'every load balancer named in pybal.pools[].loadBalancers needs a pybal.loadBalancers.<name>.url',
        details: { problems },
      });
    }
  }

  poolFor(dc: string, cluster: string, service: string): PoolRef | undefined {
    return this.byKey.get(keyOf(dc, cluster, service));
  }

  /** Distinct pools the nodes belong to, in first-seen order; unmapped nodes are skipped (see `unmapped`). */
  poolsForNodes(nodes: readonly { tags: NodeTagsLike }[]): PoolRef[] {
    const seen = new Map<string, PoolRef>();
    for (const n of nodes) {
      const ref = this.poolFor(n.tags.dc, n.tags.cluster, n.tags.service);
      if (ref) seen.set(keyOf(ref.dc, ref.cluster, ref.service), ref);
    }
    return [...seen.values()];
  }

  /** Nodes whose (dc, cluster, service) has no PyBal pool in the config: not load-balanced, or config drift. */
  unmapped<T extends { tags: NodeTagsLike }>(nodes: readonly T[]): T[] {
    return nodes.filter((n) => !this.poolFor(n.tags.dc, n.tags.cluster, n.tags.service));
  }

  all(): PoolRef[] {
    return [...this.byKey.values()];
  }
}
