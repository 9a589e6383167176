import type { Etcd3 } from 'etcd3';
import { conftoolKey, type PlannedObject } from './plan.js';

export function poolsPrefix(namespace: string): string {
  return `${namespace === '/' ? '' : namespace}/v1/pools/`;
}

/**
 * Write the seeded conftool tree and delete every other key under the namespace's pools, so that a
 * reset really returns to the seed. Transactions of ≤ 120 ops (etcd's default --max-txn-ops is
 * 128): a 12-host lab is one revision, which watchers see as one change.
 */
export async function seedConftool(etcd: Etcd3, namespace: string, objects: PlannedObject[]): Promise<void> {
  const prefix = poolsPrefix(namespace);
  const existing = await etcd.getAll().prefix(prefix).strings();
  const wanted = new Map(objects.map((o) => [conftoolKey(namespace, o), JSON.stringify({ pooled: o.pooled, weight: o.weight })]));
  const ops = [];
  for (const k of Object.keys(existing)) if (!wanted.has(k)) ops.push(etcd.delete().key(k));
  // Unchanged keys are not rewritten: a reset of an untouched lab does not wake every watcher.
  for (const [k, v] of wanted) if (existing[k] !== v) ops.push(etcd.put(k).value(v));
  for (let i = 0; i < ops.length; i += 120) {
    // `Version > -1` holds for any key, present or not: an unconditional transaction.
    await etcd.if(prefix, 'Version', '>', -1).then(...ops.slice(i, i + 120)).commit();
  }
}
