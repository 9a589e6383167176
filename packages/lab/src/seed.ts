import { Conftool, type FleetDescription } from '@galley/confctl';
import type { Etcd3 } from 'etcd3';
import { conftoolKey, type PlannedObject } from './plan.js';

export function poolsPrefix(namespace: string): string {
  return `${namespace === '/' ? '' : namespace}/v1/pools/`;
}

/** The seed as a confctl fleet description: dc → cluster → fqdn → service → initial values. */
export function seedFleet(objects: PlannedObject[]): FleetDescription {
  const fleet: FleetDescription = {};
  for (const o of objects) {
    ((fleet[o.dc] ??= {})[o.cluster] ??= {})[o.name] ??= {};
    fleet[o.dc]![o.cluster]![o.name]![o.service] = { pooled: o.pooled, weight: o.weight };
  }
  return fleet;
}

/**
 * Bring conftool to the seed. Objects are created, and stale ones deleted, by confctl's own
 * `sync` (conftool-sync semantics). sync never rewrites an existing object's values, so values
 * that drifted (a test's depool, a garbage value) are put back with direct writes afterwards —
 * only those, so a reset of an untouched lab does not wake every watcher. Owner markers
 * (/galley/owners/<namespace>/…) are removed.
 */
export async function seedConftool(etcd: Etcd3, namespace: string, objects: PlannedObject[]): Promise<void> {
  const conftool = new Conftool(etcd, { namespace });
  await conftool.sync(seedFleet(objects), { delete: true });
  const prefix = poolsPrefix(namespace);
  const existing = await etcd.getAll().prefix(prefix).strings();
  const ops = [];
  for (const o of objects) {
    const key = conftoolKey(namespace, o);
    const cur = existing[key];
    let ok = false;
    try {
      const v = JSON.parse(cur ?? 'null') as { pooled?: unknown; weight?: unknown } | null;
      ok = v !== null && v.pooled === o.pooled && v.weight === o.weight;
    } catch {
      ok = false;
    }
    if (!ok) ops.push(etcd.put(key).value(JSON.stringify({ pooled: o.pooled, weight: o.weight })));
  }
  // galley's owner markers (who holds an object out, @galley/confctl's ownersPrefix default) go
  // with the state they describe: a seeded object has no owner.
  const owners = `/galley/owners${namespace === '/' ? '' : namespace.replace(/\/+$/, '')}/`;
  if ((await etcd.getAll().prefix(owners).keys()).length > 0) await etcd.delete().prefix(owners).exec();
  // etcd's default --max-txn-ops is 128.
  for (let i = 0; i < ops.length; i += 120) {
    // `Version > -1` holds for any key, present or not: an unconditional transaction.
    await etcd
      .if(prefix, 'Version', '>', -1)
      .then(...ops.slice(i, i + 120))
      .commit();
  }
}
