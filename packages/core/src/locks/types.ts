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
export async function acquireEach(
  session: LockSession,
  kind: string,
  names: readonly string[],
  opts: AcquireManyOptions,
): Promise<NamedAcquireResult[]> {
  const out: NamedAcquireResult[] = [];
  for (const name of [...new Set(names)].sort()) {
    const { onWait, ...rest } = opts;
    const r = await session.acquire(kind, name, {
      ...rest,
      ...(onWait ? { onWait: (h: readonly LockHolderInfo[]) => onWait(name, h) } : {}),
    });
    out.push({ name, ...r });
  }
  return out;
}

/** The kinds the runner takes itself: `ctx.lock` may not use them (a host lock is `ctx.lockHosts`). */
export const RUNNER_LOCK_KINDS: ReadonlySet<string> = new Set(['cookbooks', 'hosts']);

/**
 * What is wrong with a `ctx.lock(kind, name, { concurrency })` call, or undefined. The kind is the
 * first path segment under the lock prefix (`/galley/locks/<kind>/<name>/<uuid>`), so it must be a
 * plain word that is not one of the runner's, and the name one more segment.
 */
export function namedLockProblem(kind: string, name: string, concurrency: number): string | undefined {
  if (!/^[a-z][a-z0-9-]*$/.test(kind))
    return `lock kind ${JSON.stringify(kind)} must be lowercase letters, digits and '-', starting with a letter`;
  if (RUNNER_LOCK_KINDS.has(kind))
    return `lock kind ${kind} is the runner's own (${kind === 'hosts' ? 'use ctx.lockHosts' : 'the cookbook lock is declared with `lock:`'})`;
  if (name === '' || /[/\s]/.test(name))
    return `lock name ${JSON.stringify(name)} (kind ${kind}) must be non-empty, without '/' or whitespace`;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    return `lock ${kind}/${name}: concurrency must be a whole number ≥ 1, got ${String(concurrency)}`;
  return undefined;
}

/**
 * The locks of one top-level run (shared by its nested cookbooks: re-entrant by lock name).
 * `kind` is `cookbooks`, `hosts`, or a cookbook's named lock kind (`ctx.lock`, e.g. `lb-cluster`).
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
  /**
   * Compares that hold only while the run's locks are ours: every lock but host locks (the cookbook
   * lock, named locks), and the host locks of the given hosts.
   */
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
