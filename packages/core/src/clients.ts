/**
 * The client bag a cookbook receives. Core never constructs these (the CLI is the composition
 * root); it only needs their types.
 */
import type { Conftool, NodeTags, Pooled } from '@galley/confctl';
import type { EtcdCompare } from '@galley/etcd';
import type { HostsSettings, Inventory, Monitoring, Provisioner } from '@galley/lifecycle';
import type { PybalService } from '@galley/pybal';
import type { Remote } from '@galley/remote';

// The conftool vocabulary is confctl's; core re-exports it so cookbooks need only @galley/core.
export type { EtcdCompare, NodeTags, Pooled };
export interface ConftoolNodeLike {
  key: string;
  tags: NodeTags;
  pooled: Pooled;
  weight: number;
}
export interface ChangeLike {
  key: string;
  tags: NodeTags;
  field: string;
  from: unknown;
  to: unknown;
}
/** What the runner feeds into a client when it binds it to a run. */
export interface ClientHooks {
  dryRun: boolean;
  /** Extra compares for every write of the object with these tags (run lock + host lock). */
  fence: (tags: NodeTags) => EtcdCompare[];
  /** Awaited before any real conftool write: takes the host locks, refuses when the lease is lost. */
  beforeWrite: (nodes: readonly { tags: NodeTags }[], info?: { takeOutOnly: boolean }) => Promise<void>;
  /** Awaited before running non-safe commands: same as beforeWrite, for SSH. */
  beforeRun: (hosts: readonly string[], commands?: readonly unknown[]) => Promise<void>;
  /** Every performed or intended conftool change. */
  onChange: (change: ChangeLike) => void;
  /** Every performed or intended command; `safe` ones are reads (never a change, never in the plan). */
  onCommand: (e: { hosts: readonly string[]; cmd: string; dryRun: boolean; safe?: boolean }) => void;
  /**
   * Called (synchronously) right before every provisioner/inventory/monitoring write, and for each
   * intended one in dry-run. Throws to refuse it: in prepare, after the lock was lost, or on a host
   * whose host lock the run does not hold (`ctx.lockHosts` first).
   */
  onAction: (a: { client: string; action: string; host?: string | undefined; dryRun: boolean }) => void;
  log: (line: string) => void;
}

export type ConftoolClient = Conftool;
export type RemoteClient = Remote;
export type PybalServiceClient = PybalService;

export interface Clients {
  readonly confctl: Conftool;
  readonly remote: Remote;
  readonly pybal: PybalService;
  /** Host-lifecycle clients (config sections provisioner/inventory/monitoring): undefined when not configured. */
  readonly provisioner?: Provisioner | undefined;
  readonly inventory?: Inventory | undefined;
  readonly monitoring?: Monitoring | undefined;
  /** The config's `hosts:` settings (post-install, wipe, health check, deadlines) for the sre.hosts cookbooks. */
  readonly hosts?: HostsSettings | undefined;
  /**
   * The config's `lb:` settings (the rolling cookbooks' drain and wait defaults). Its schema is
   * @galley/lb/config's (lb depends on core, so the shape is restated here; lb checks it matches).
   */
  readonly lb?: LbSettings | undefined;
}

/** Structurally @galley/lb/config's LbConfig. */
export interface LbSettings {
  readonly drainMs: number;
  readonly drainCheckIntervalMs: number;
  readonly capacityWaitIntervalMs: number;
}
