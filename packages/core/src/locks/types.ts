import type { EtcdCompare } from '../clients.js';
import type { LockHolderInfo } from '../errors.js';

export interface AcquireOptions {
  concurrency: number;
  ttlSeconds: number;
  /** Called while waiting, with the current holders (for the "waiting for …" display). */
  onWait?: (holders: readonly LockHolderInfo[]) => void;
  /** Stop waiting (first SIGINT): the queue key is removed and the abort reason thrown. */
  signal?: AbortSignal;
}

/** Options of a many-at-once acquire: the same lock spec for every name. */
export interface AcquireManyOptions extends Omit<AcquireOptions, 'onWait'> {
  /** Called while waiting, per name still held by others, with its holders (shown per host). */
  onWait?: (name: string, holders: readonly LockHolderInfo[]) => void;
}

/** What a dry-run acquire found: a busy lock is reported, nothing is written. */
export interface AcquireResult {
  key: string;
  busy: boolean;
  holders: LockHolderInfo[];
  reentrant: boolean;
}

export interface NamedAcquireResult extends AcquireResult {
  name: string;
}

/**
 * acquireMany() as one acquire per name in name order (sessions without a transaction to do it
 * at once: no locks, the in-memory table of tests).
 */
export async function acquireEach(session: LockSession, kind: string, names: readonly string[], opts: AcquireManyOptions): Promise<NamedAcquireResult[]> {
  const out: NamedAcquireResult[] = [];
  for (const name of [...new Set(names)].sort()) {
    const { onWait, ...rest } = opts;
    const r = await session.acquire(kind, name, { ...rest, ...(onWait ? { onWait: (h: readonly LockHolderInfo[]) => onWait(name, h) } : {}) });
    out.push({ name, ...r });
  }
  return out;
}

/**
 * The locks of one top-level run (shared by its nested cookbooks: re-entrant by lock name).
 * `kind` is `cookbooks` or `hosts`.
 */
export interface LockSession {
  readonly enabled: boolean;
  readonly dryRun: boolean;
  /** Why locks are off (disabled sessions only): shown in the loud "LOCKS BYPASSED" line. */
  readonly bypassReason?: string | undefined;
  acquire(kind: string, name: string, opts: AcquireOptions): Promise<AcquireResult>;
  /**
   * `<kind>/<name>` for every name, all or none: the results in name order. Names already held are
   * re-entrant; the rest are taken together or waited for together (never some held while waiting).
   */
  acquireMany(kind: string, names: readonly string[], opts: AcquireManyOptions): Promise<NamedAcquireResult[]>;
  /** Whether this run holds `<kind>/<name>` (taken by it or a nested run). */
  holds(kind: string, name: string): boolean;
  /** Compares that hold only while the run's locks (and the given hosts' locks) are ours. */
  fence(hosts?: readonly string[]): EtcdCompare[];
  /** Throws ERR_LOCK_LOST / ERR_LOCK_EXPIRED when the run may not start another step. */
  check(): void;
  /** check() plus a round trip confirming the lease is alive (before a step that writes). */
  verify(): Promise<void>;
  /** Aborted when the lease is lost or a max-hold TTL passes. */
  readonly lost: AbortSignal;
  close(): Promise<void>;
}

/** `--no-locks` (or a dry-run without etcd): nothing is taken, nothing is fenced. */
export class NoLockSession implements LockSession {
  readonly enabled = false;
  readonly lost: AbortSignal = new AbortController().signal;
  constructor(
    readonly dryRun: boolean,
    readonly bypassReason: string = '--no-locks',
  ) {}
  async acquire(kind: string, name: string): Promise<AcquireResult> {
    return { key: `${kind}/${name}`, busy: false, holders: [], reentrant: false };
  }
  acquireMany(kind: string, names: readonly string[], opts: AcquireManyOptions): Promise<NamedAcquireResult[]> {
    return acquireEach(this, kind, names, opts);
  }
  holds(): boolean {
    return false;
  }
  fence(): EtcdCompare[] {
    return [];
  }
  check(): void {}
  async verify(): Promise<void> {}
  async close(): Promise<void> {}
}
