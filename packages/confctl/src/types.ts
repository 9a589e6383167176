/** The conftool `node` object model (conftool/node.py): tags dc, cluster, service + the FQDN. */

export type Pooled = 'yes' | 'no' | 'inactive';
export const POOLED_VALUES: readonly Pooled[] = ['yes', 'no', 'inactive'];

export interface NodeTags {
  dc: string;
  cluster: string;
  service: string;
  name: string;
}

export interface ConftoolNode {
  /** Full etcd key, including the namespace. */
  key: string;
  tags: NodeTags;
  pooled: Pooled;
  weight: number;
  /** Fields of the stored value other than pooled/weight; kept as-is on every write. */
  extra: Record<string, unknown>;
  /** etcd mod_revision of the value this object was read from (decimal string). */
  modRevision: string;
}

/** Each tag is an anchored regex `^(?:expr)$`; an omitted tag matches everything. */
export interface Selector {
  dc?: string;
  cluster?: string;
  service?: string;
  name?: string;
}

/** A compare of an etcd transaction (the fence of a write): @galley/etcd's. */
export type { EtcdCompare } from '@galley/etcd';

export interface Change {
  key: string;
  tags: NodeTags;
  field: 'pooled' | 'weight';
  from: unknown;
  to: unknown;
  /**
   * The write's reply was lost (deadline, dropped connection); a re-read found exactly the value
   * we wrote at a newer revision, so it is recorded as ours. It may in theory be an identical
   * write by someone else; restoring it is still safe (restore compares the value).
   */
  ambiguous?: boolean;
}

export interface NodeValues {
  pooled: Pooled;
  weight: number;
}

export type WatchEvent = { type: 'put' | 'delete'; node?: ConftoolNode; key: string };

export interface SyncResult {
  created: ConftoolNode[];
  /** Keys deleted (only with `delete: true`). */
  removed: string[];
  /** Existing objects that are in the description (their values are never touched). */
  kept: number;
  /** Keys present in etcd but not in the description: removed with `delete: true`, else only reported. */
  stale: string[];
}
