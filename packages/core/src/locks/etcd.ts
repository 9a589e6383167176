/**
 * Lease-backed counting semaphores in etcd v3. One key per holder,
 * `<prefix>/<kind>/<name>/<uuid>`, bound to the run's lease (keepalive); a holder owns a slot iff
 * its key is among the first `concurrency` live keys by create revision (fair: waiters queue by
 * their own key's revision). A killed run's keys vanish when its lease expires (seconds).
 */
import crypto from 'node:crypto';
import os from 'node:os';
import type { Etcd3, Lease } from 'etcd3';
import type { EtcdCompare } from '../clients.js';
import { LockExpiredError, LockLostError, LockTimeoutError, type LockHolderInfo } from '../errors.js';
import type { AcquireOptions, AcquireResult, LockSession } from './types.js';

export interface LockValue {
  owner: string;
  runId: string;
  created: string;
  concurrency: number;
  ttl: number;
}

export interface LockEntry extends LockValue {
  key: string;
  /** `<kind>/<name>` */
  lock: string;
  createRevision: string;
  lease: string;
}

export interface EtcdLocksOptions {
  prefix?: string;
  leaseTtlSeconds?: number;
  waitTimeoutSeconds?: number;
}

export function ownerString(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    user = process.env.USER ?? 'unknown';
  }
  return `${user}@${os.hostname()} [${process.pid}]`;
}

function parseValue(raw: string): LockValue | undefined {
  try {
    const v = JSON.parse(raw) as Partial<LockValue>;
    if (typeof v.owner !== 'string' || typeof v.concurrency !== 'number') return undefined;
    return { owner: v.owner, runId: String(v.runId ?? '?'), created: String(v.created ?? ''), concurrency: v.concurrency, ttl: Number(v.ttl ?? 0) };
  } catch {
    return undefined;
  }
}

const cmpRev = (a: { createRevision: string }, b: { createRevision: string }) => {
  const x = BigInt(a.createRevision);
  const y = BigInt(b.createRevision);
  return x < y ? -1 : x > y ? 1 : 0;
};

export const isExpired = (e: LockValue, now = Date.now()) => e.ttl > 0 && Date.parse(e.created) + e.ttl * 1000 < now;

/** Reads and administers the lock table (`cookbook --locks`, `--break-lock`). */
export class EtcdLocks {
  readonly prefix: string;
  readonly leaseTtlSeconds: number;
  readonly waitTimeoutSeconds: number;

  constructor(
    readonly etcd: Etcd3,
    opts: EtcdLocksOptions = {},
  ) {
    this.prefix = (opts.prefix ?? '/galley/locks').replace(/\/+$/, '');
    this.leaseTtlSeconds = opts.leaseTtlSeconds ?? 5;
    this.waitTimeoutSeconds = opts.waitTimeoutSeconds ?? 60;
  }

  /** Every holder (and waiter) under `<prefix>/<filter>`, ordered by lock then create revision. */
  async list(filter = ''): Promise<LockEntry[]> {
    const res = await this.etcd.getAll().prefix(`${this.prefix}/${filter}`).exec();
    const out: LockEntry[] = [];
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      const v = parseValue(kv.value.toString());
      if (!v) continue;
      const rel = key.slice(this.prefix.length + 1);
      const lock = rel.slice(0, rel.lastIndexOf('/'));
      out.push({ ...v, key, lock, createRevision: String(kv.create_revision), lease: String(kv.lease) });
    }
    return out.sort((a, b) => (a.lock === b.lock ? cmpRev(a, b) : a.lock < b.lock ? -1 : 1));
  }

  /** Remove one holder's key (its run loses the slot and its fenced writes fail). */
  async breakLock(key: string): Promise<boolean> {
    const full = key.startsWith('/') ? key : `${this.prefix}/${key}`;
    const res = await this.etcd.delete().key(full).exec();
    return Number(res.deleted) > 0;
  }

  session(runId: string, opts: { dryRun?: boolean; owner?: string } = {}): EtcdLockSession {
    return new EtcdLockSession(this, runId, opts.dryRun ?? false, opts.owner ?? ownerString());
  }
}

export class EtcdLockSession implements LockSession {
  readonly enabled = true;
  private lease: Lease | undefined;
  private leaseId: string | undefined;
  private readonly held = new Map<string, { key: string; timer: NodeJS.Timeout }>();
  private readonly lostCtl = new AbortController();
  private watchdog: NodeJS.Timeout | undefined;
  private lastKeepalive = Date.now();
  private closed = false;

  constructor(
    private readonly locks: EtcdLocks,
    readonly runId: string,
    readonly dryRun: boolean,
    readonly owner: string,
  ) {}

  get lost(): AbortSignal {
    return this.lostCtl.signal;
  }

  /** The lease id as decimal string (what a `Lease ==` compare wants). */
  get lease_(): string | undefined {
    return this.leaseId;
  }

  private markLost(err: Error): void {
    if (!this.lostCtl.signal.aborted && !this.closed) this.lostCtl.abort(err);
  }

  private async ensureLease(): Promise<Lease> {
    if (this.lease) return this.lease;
    const ttl = this.locks.leaseTtlSeconds;
    const lease = this.locks.etcd.lease(ttl, { autoKeepAlive: true });
    this.leaseId = await lease.grant();
    this.lease = lease;
    this.lastKeepalive = Date.now();
    lease.on('lost', (err) => this.markLost(new LockLostError(`lease ${this.leaseId} lost: ${err.message}`)));
    lease.on('keepaliveSucceeded', (res) => {
      // A revoked lease answers keepalives with TTL 0; the 'lost' event may come later.
      if (String(res.TTL) === '0') this.markLost(new LockLostError(`lease ${this.leaseId} was revoked or expired`));
      else this.lastKeepalive = Date.now();
    });
    // etcd3's own loss detection fires after ~2×TTL (toolchain.md §3): watch the keepalives ourselves.
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastKeepalive > ttl * 1000) this.markLost(new LockLostError(`no keepalive for lease ${this.leaseId} in ${ttl}s`));
    }, 250);
    this.watchdog.unref();
    return lease;
  }

  async acquire(kind: string, name: string, opts: AcquireOptions): Promise<AcquireResult> {
    const lock = `${kind}/${name}`;
    const mine = this.held.get(lock);
    if (mine) return { key: mine.key, busy: false, holders: [], reentrant: true };
    this.check();
    const live = async () => {
      const all = (await this.locks.list(`${lock}/`)).filter((e) => e.lock === lock);
      const now = Date.now();
      const expired = all.filter((e) => isExpired(e, now));
      // Past their hard max-hold TTL: they no longer count, and we clean them up.
      for (const e of expired) void this.locks.etcd.delete().key(e.key).exec().catch(() => undefined);
      return all.filter((e) => !isExpired(e, now));
    };
    const info = (es: LockEntry[]): LockHolderInfo[] => es.map((e) => ({ key: e.key, owner: e.owner, runId: e.runId, created: e.created }));

    if (this.dryRun) {
      const entries = await live();
      return { key: lock, busy: entries.length >= opts.concurrency, holders: info(entries), reentrant: false };
    }

    const lease = await this.ensureLease();
    const key = `${this.locks.prefix}/${lock}/${crypto.randomUUID()}`;
    const value: LockValue = { owner: this.owner, runId: this.runId, created: new Date().toISOString(), concurrency: opts.concurrency, ttl: opts.ttlSeconds };
    await lease.put(key).value(JSON.stringify(value)).exec();
    const deadline = Date.now() + this.locks.waitTimeoutSeconds * 1000;
    const watcher = await this.locks.etcd.watch().prefix(`${this.locks.prefix}/${lock}/`).create();
    let onAbort: (() => void) | undefined;
    try {
      let announced = '';
      let notify: () => void = () => undefined;
      watcher.on('data', () => notify());
      onAbort = () => notify();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      for (;;) {
        const changed = new Promise<void>((resolve) => {
          notify = resolve;
        });
        const entries = await live();
        const rank = entries.findIndex((e) => e.key === key);
        if (rank < 0) throw new LockLostError(`our queue key for ${lock} disappeared while waiting`);
        const ahead = entries.slice(0, rank);
        if (rank < opts.concurrency && ahead.every((e) => rank < e.concurrency)) break;
        const holders = info(ahead);
        const sig = holders.map((h) => h.key).join(',');
        if (sig !== announced) {
          announced = sig;
          opts.onWait?.(holders);
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          await this.locks.etcd.delete().key(key).exec().catch(() => undefined);
          throw new LockTimeoutError(lock, opts.concurrency, this.locks.waitTimeoutSeconds, holders);
        }
        this.check();
        if (opts.signal?.aborted) throw opts.signal.reason;
        // Also re-poll now and then: a max-hold expiry produces no etcd event.
        await Promise.race([changed, new Promise((r) => setTimeout(r, Math.min(left, 1000)))]);
      }
    } catch (err) {
      await this.locks.etcd.delete().key(key).exec().catch(() => undefined);
      throw err;
    } finally {
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
      await watcher.cancel().catch(() => undefined);
    }
    const timer = setTimeout(() => {
      this.markLost(new LockExpiredError(lock, opts.ttlSeconds));
      void this.locks.etcd.delete().key(key).exec().catch(() => undefined);
    }, opts.ttlSeconds * 1000);
    timer.unref();
    this.held.set(lock, { key, timer });
    return { key, busy: false, holders: [], reentrant: false };
  }

  fence(hosts: readonly string[] = []): EtcdCompare[] {
    if (this.leaseId === undefined) return [];
    const out: EtcdCompare[] = [];
    for (const [lock, h] of this.held) {
      const isHost = lock.startsWith('hosts/');
      if (!isHost || hosts.includes(lock.slice('hosts/'.length))) out.push({ key: h.key, target: 'Lease', op: '==', value: this.leaseId });
    }
    return out;
  }

  check(): void {
    if (this.lostCtl.signal.aborted) throw this.lostCtl.signal.reason as Error;
  }

  /** A round trip to etcd: is our lease still alive? (before starting a step that writes) */
  async verify(): Promise<void> {
    this.check();
    if (!this.lease || this.leaseId === undefined) return;
    try {
      const res = await this.locks.etcd.leaseClient.leaseTimeToLive({ ID: this.leaseId, keys: false });
      if (Number(res.TTL) <= 0) this.markLost(new LockLostError(`lease ${this.leaseId} was revoked or expired`));
    } catch (err) {
      this.markLost(new LockLostError(`cannot confirm lease ${this.leaseId}: ${(err as Error).message}`));
    }
    this.check();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.watchdog) clearInterval(this.watchdog);
    for (const h of this.held.values()) clearTimeout(h.timer);
    this.held.clear();
    // Revoking deletes every key bound to the lease at once.
    if (this.lease) await this.lease.revoke().catch(() => undefined);
  }
}
