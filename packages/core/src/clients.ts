/**
 * The client bag a cookbook receives. Core never constructs these (the CLI is the composition
 * root); it only needs their types. Until the client packages export their classes, these are
 * minimal structural interfaces mirroring the agreed APIs (see the confctl/remote/pybal briefs);
 * they are deliberately loose so that the real classes satisfy them.
 */

export type Pooled = 'yes' | 'no' | 'inactive';
export interface NodeTags {
  dc: string;
  cluster: string;
  service: string;
  name: string;
}
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
/** An etcd transaction compare added to every fenced write (`Lease ==` on the run's lock key). */
export interface EtcdCompare {
  key: string;
  target: 'Create' | 'Mod' | 'Version' | 'Value' | 'Lease';
  op: '==' | '!=' | '>' | '<';
  value: string | number;
}

/** What the runner feeds into a client when it binds it to a run. */
export interface ClientHooks {
  dryRun: boolean;
  /** Extra compares for every write of the object with these tags (run lock + host lock). */
  fence(tags: NodeTags): EtcdCompare[];
  /** Awaited before any real conftool write: takes the host locks, refuses when the lease is lost. */
  beforeWrite(nodes: readonly { tags: NodeTags }[]): Promise<void>;
  /** Awaited before running non-safe commands: same as beforeWrite, for SSH. */
  beforeRun(hosts: readonly string[], commands?: readonly unknown[]): Promise<void>;
  /** Every performed or intended conftool change. */
  onChange(change: ChangeLike): void;
  /** Every performed or intended command. */
  onCommand(e: { hosts: readonly string[]; cmd: string; dryRun: boolean }): void;
  log(line: string): void;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- structural placeholders for client classes */
export interface ConftoolClient {
  readonly dryRun: boolean;
  select(sel: Partial<NodeTags>): Promise<ConftoolNodeLike[]>;
  update(target: any, changes: Partial<{ pooled: Pooled; weight: number }>): Promise<ChangeLike[]>;
  [method: string]: any;
}
export interface RemoteClient {
  readonly dryRun: boolean;
  [method: string]: any;
}
export interface PybalServiceClient {
  [method: string]: any;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

export interface Clients {
  readonly confctl: ConftoolClient;
  readonly remote: RemoteClient;
  readonly pybal: PybalServiceClient;
}
