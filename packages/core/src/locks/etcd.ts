/**
 * Lease-backed counting semaphores in etcd v3. One key per holder,
 * `<prefix>/<kind>/<name>/<uuid>`, bound to the run's lease (keepalive); a holder owns a slot iff
 * its key is among the first `concurrency` live keys by create revision (fair: waiters queue by
 * their own key's revision). A killed run's keys vanish when its lease expires (seconds).
 */
import crypto from 'node:crypto';
import os from 'node:os';
import { CompareResult, CompareTarget, type Etcd3, type Lease, type Watcher } from 'etcd3';
import { asWriteTxn, isAmbiguousWriteError } from '@galley/etcd';
import type { EtcdCompare } from '../clients.js';
import { LockExpiredError, LockLostError, LockTimeoutError, LockUnconfirmedError, type LockHolderInfo } from '../errors.js';
import type { AcquireManyOptions, AcquireOptions, AcquireResult, LockSession, NamedAcquireResult } from './types.js';

export interface LockValue {
  owner: string;
  runId: string;
  created: string;
  /** When the slot was obtained (absent while waiting): the max-hold TTL counts from here. */
  acquired?: string | undefined;
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

const BROKEN_HINT =
  'someone ran `cookbook --break-lock` on it, or another run found it past its max hold time; nothing further was run or written by this run (see `cookbook --locks`)';

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
    return {
      owner: v.owner,
      runId: String(v.runId ?? '?'),
      created: String(v.created ?? ''),
      ...(typeof v.acquired === 'string' ? { acquired: v.acquired } : {}),
      concurrency: v.concurrency,
      ttl: Number(v.ttl ?? 0),
    };
  } catch {
    return undefined;
  }
}

/**
 * How often a write to a lock key whose answer was lost is sent again, when a re-read shows it was
 * not applied. Each try already waited a full request timeout; more would hide a broken etcd.
 */
const AMBIGUOUS_TRIES = 3;

const cmpRev = (a: { createRevision: string }, b: { createRevision: string }) => {
  const x = BigInt(a.createRevision);
  const y = BigInt(b.createRevision);
  return x < y ? -1 : x > y ? 1 : 0;
};

/**
 * Past its hard max-hold TTL. A holder's TTL counts from when it obtained the slot (`acquired`),
 * as its own timer does: counting from `created` would let others delete a holder that had to wait.
 * A waiter (no `acquired` yet) holds nothing: its wait is bounded by waitTimeoutSeconds and its lease.
 */
/**
 * The slot rule: the key at `rank` in its queue (after `ahead`, oldest first) holds the lock when
 * fewer than `concurrency` are ahead of it and fewer than each of their own concurrencies.
 */
function slotFree(rank: number, ahead: readonly LockEntry[], concurrency: number): boolean {
  return rank < concurrency && ahead.every((e) => rank < e.concurrency);
}

export const isExpired = (e: LockValue, now = Date.now()) =>
  e.ttl > 0 && e.acquired !== undefined && Date.parse(e.acquired) + e.ttl * 1000 < now;

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

  /**
   * Remove one holder's key (its run loses the slot and its fenced writes fail). True when this call
   * removed it. Not resent by etcd3 on a lost answer: the resend would find nothing to delete and
   * report an applied removal as "already gone". A lost answer is settled by re-reading: a key that
   * is gone was removed (by us, or its lease ended meanwhile: released either way).
   */
  async breakLock(key: string): Promise<boolean> {
    const full = key.startsWith('/') ? key : `${this.prefix}/${key}`;
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await asWriteTxn(() => this.etcd.delete().key(full).exec());
        return Number(res.deleted) > 0;
      } catch (err) {
        if (!isAmbiguousWriteError(err)) throw err;
        let still: boolean;
        try {
          still = (await this.etcd.get(full).exec()).kvs.length > 0;
        } catch {
          throw new LockUnconfirmedError(full, 'release', err);
        }
        if (!still) return true;
        if (attempt >= AMBIGUOUS_TRIES) throw new LockUnconfirmedError(full, 'release', err);
      }
    }
  }

  session(runId: string, opts: { dryRun?: boolean; owner?: string } = {}): EtcdLockSession {
    return new EtcdLockSession(this, runId, opts.dryRun ?? false, opts.owner ?? ownerString());
  }
}

/** A lock this session holds: its key, its max-hold timer, and the watch on the key's removal. */
interface HeldKey {
  key: string;
  timer: NodeJS.Timeout;
  watcher?: Watcher | undefined;
}

export class EtcdLockSession implements LockSession {
  readonly enabled = true;
  private lease: Lease | undefined;
  private leaseId: string | undefined;
  private readonly held = new Map<string, HeldKey>();
  private readonly lostCtl = new AbortController();
  private watchdog: NodeJS.Timeout | undefined;
  private lastKeepalive = Date.now();
  private closed = false;
  private verifying: Promise<void> | undefined;
  private nextVerify: Promise<void> | undefined;

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
      if (Date.now() - this.lastKeepalive > ttl * 1000)
        this.markLost(new LockLostError(`no keepalive for lease ${this.leaseId} in ${ttl}s`));
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
      for (const e of expired)
        void this.locks.etcd
          .delete()
          .key(e.key)
          .exec()
          .catch(() => undefined);
      return all.filter((e) => !isExpired(e, now));
    };
    const info = (es: LockEntry[]): LockHolderInfo[] => es.map((e) => ({ key: e.key, owner: e.owner, runId: e.runId, created: e.created }));

    if (this.dryRun) {
      const entries = await live();
      return { key: lock, busy: entries.length >= opts.concurrency, holders: info(entries), reentrant: false };
    }

    const lease = await this.ensureLease();
    const key = `${this.locks.prefix}/${lock}/${crypto.randomUUID()}`;
    const value: LockValue = {
      owner: this.owner,
      runId: this.runId,
      created: new Date().toISOString(),
      concurrency: opts.concurrency,
      ttl: opts.ttlSeconds,
    };
    // Left to etcd3's resend on a lost answer: a resent put writes the same value under the same
    // lease, and the key's create revision (our place in the queue) stays that of the first.
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
        if (slotFree(rank, ahead, opts.concurrency)) break;
        const holders = info(ahead);
        const sig = holders.map((h) => h.key).join(',');
        if (sig !== announced) {
          announced = sig;
          opts.onWait?.(holders);
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          await this.locks.etcd
            .delete()
            .key(key)
            .exec()
            .catch(() => undefined);
          throw new LockTimeoutError(lock, opts.concurrency, this.locks.waitTimeoutSeconds, holders);
        }
        this.check();
        if (opts.signal?.aborted) throw opts.signal.reason;
        // Also re-poll now and then: a max-hold expiry produces no etcd event.
        await Promise.race([changed, new Promise((r) => setTimeout(r, Math.min(left, 1000)))]);
      }
    } catch (err) {
      await this.locks.etcd
        .delete()
        .key(key)
        .exec()
        .catch(() => undefined);
      throw err;
    } finally {
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
      await watcher.cancel().catch(() => undefined);
    }
    // Record when we got the slot (others measure our max hold from it), only while the key is
    // still ours: a key removed meanwhile means we never really held the lock.
    const acquired: LockValue = { ...value, acquired: new Date().toISOString() };
    let revision: string | undefined;
    try {
      revision = await this.markAcquired(key, JSON.stringify(acquired));
    } catch (err) {
      await this.locks.etcd
        .delete()
        .key(key)
        .exec()
        .catch(() => undefined);
      throw err;
    }
    if (revision === undefined) throw new LockLostError(`lock key ${key} was removed right after we obtained ${lock}`, BROKEN_HINT);
    await this.hold(lock, key, opts.ttlSeconds, revision);
    return { key, busy: false, holders: [], reentrant: false };
  }

  /**
   * `key` (written at `revision`) now holds `lock`: its max-hold timer, and a watch on the key.
   * Our key deleted by someone else (`--break-lock`, or another run expiring it) means the lock is
   * no longer ours: stop at once, not only at the next verify(). From the revision of our own
   * write on, so a delete in between is not missed.
   */
  private async hold(lock: string, key: string, ttlSeconds: number, revision: string): Promise<void> {
    const timer = setTimeout(() => {
      this.markLost(new LockExpiredError(lock, ttlSeconds));
      void this.locks.etcd
        .delete()
        .key(key)
        .exec()
        .catch(() => undefined);
    }, ttlSeconds * 1000);
    timer.unref();
    const entry: HeldKey = { key, timer };
    this.held.set(lock, entry);
    try {
      const w = await this.locks.etcd
        .watch()
        .key(key)
        .startRevision(String(BigInt(revision) + 1n))
        .create();
      w.on('delete', () => this.markLost(new LockLostError(`lock key ${key} was removed by someone else`, BROKEN_HINT)));
      if (this.closed) await w.cancel().catch(() => undefined);
      else entry.watcher = w;
    } catch {
      // verify() still confirms every key before each write and non-safe command
    }
  }

  /**
   * All of `<kind>/<name>` for every name in ONE etcd txn where it can: for each name a compare on
   * its whole key range (nothing there, or nothing changed since we saw it free), then a put of one
   * key per name, already stamped `acquired`, under the run's lease — one revision for the set. A
   * name held by another run fails the txn and nothing is taken: its failure branch reads every
   * name's range in the same round trip, we wait (watching those ranges, `onWait` per held name
   * with its holders) and try the whole set again. Nothing is held while waiting, so two runs
   * taking overlapping sets in any order cannot deadlock on them.
   *
   * The slot rule is acquire()'s: a key put now is last in each queue, so a name is free iff its
   * live keys (waiters included: they were there first) are fewer than `concurrency` and fewer
   * than each of their own concurrencies. Keys past their max-hold TTL do not count and are removed.
   */
  async acquireMany(kind: string, names: readonly string[], opts: AcquireManyOptions): Promise<NamedAcquireResult[]> {
    const sorted = [...new Set(names)].sort();
    const out = new Map<string, NamedAcquireResult>();
    const todo: string[] = [];
    for (const name of sorted) {
      const mine = this.held.get(`${kind}/${name}`);
      if (mine) out.set(name, { name, key: mine.key, busy: false, holders: [], reentrant: true });
      else todo.push(name);
    }
    const inOrder = () => sorted.map((n) => out.get(n)!);
    if (todo.length === 0) return inOrder();
    this.check();
    if (this.dryRun) {
      const rs = await Promise.all(todo.map((n) => this.acquire(kind, n, { concurrency: opts.concurrency, ttlSeconds: opts.ttlSeconds })));
      todo.forEach((n, i) => out.set(n, { name: n, ...rs[i]! }));
      return inOrder();
    }

    await this.ensureLease();
    const leaseId = this.leaseId!;
    const etcd = this.locks.etcd;
    const dirOf = (name: string) => `${this.locks.prefix}/${kind}/${name}/`;
    // [dir, dir+1): every key of that lock (the dir ends with '/', so the end is that byte + 1).
    const range = (dir: string) => ({ key: Buffer.from(dir), range_end: Buffer.from(`${dir.slice(0, -1)}0`) });
    // Per name, the revision up to which its range was seen free; '0': it must be empty.
    const seenFree = new Map(todo.map((n) => [n, '0']));
    const announced = new Map<string, string>();
    const deadline = Date.now() + this.locks.waitTimeoutSeconds * 1000;
    let watcher: Watcher | undefined;
    let changed = false;
    let wake: (() => void) | undefined;
    const poke = () => {
      changed = true;
      wake?.();
    };
    opts.signal?.addEventListener('abort', poke, { once: true });
    let keys: string[] = [];
    let revision: string;
    try {
      for (let unanswered = 0; ;) {
        changed = false;
        const stamp = new Date().toISOString();
        const value: LockValue = {
          owner: this.owner,
          runId: this.runId,
          created: stamp,
          acquired: stamp,
          concurrency: opts.concurrency,
          ttl: opts.ttlSeconds,
        };
        keys = todo.map((n) => `${dirOf(n)}${crypto.randomUUID()}`);
        let res: {
          succeeded: boolean;
          revision: string;
          ranges: { key: Buffer; value: Buffer; create_revision: string; lease: string }[][];
        };
        try {
          // Not resent by etcd3 on a lost answer: a resend would fail on our own keys. Settled below.
          const r = await asWriteTxn(() =>
            etcd.kv.txn({
              compare: todo.map((n) => ({
                ...range(dirOf(n)),
                target: CompareTarget.Mod,
                result: CompareResult.Less,
                mod_revision: String(BigInt(seenFree.get(n)!) + 1n),
              })),
              success: keys.map((k) => ({
                request_put: { key: Buffer.from(k), value: Buffer.from(JSON.stringify(value)), lease: leaseId },
              })),
              failure: todo.map((n) => ({ request_range: range(dirOf(n)) })),
            }),
          );
          res = {
            succeeded: r.succeeded,
            revision: String(r.header.revision),
            ranges: r.succeeded
              ? []
              : r.responses.map((x) =>
                  x.response_range.kvs.map((kv) => ({ ...kv, create_revision: String(kv.create_revision), lease: String(kv.lease) })),
                ),
          };
        } catch (err) {
          if (!isAmbiguousWriteError(err)) throw err;
          // One txn: our first key there under our lease means all of them are.
          let kv;
          try {
            kv = (await etcd.get(keys[0]!).exec()).kvs[0];
          } catch {
            throw new LockUnconfirmedError(keys[0]!, 'acquire', err);
          }
          if (kv !== undefined && String(kv.lease) === leaseId) {
            res = { succeeded: true, revision: String(kv.mod_revision), ranges: [] };
          } else {
            if (++unanswered >= AMBIGUOUS_TRIES) throw new LockUnconfirmedError(keys[0]!, 'acquire', err);
            continue;
          }
        }
        if (res.succeeded) {
          revision = res.revision;
          break;
        }
        keys = [];
        const now = Date.now();
        const blocked: { name: string; holders: LockHolderInfo[] }[] = [];
        todo.forEach((name, i) => {
          const dir = dirOf(name);
          const entries: LockEntry[] = [];
          for (const kv of res.ranges[i] ?? []) {
            const key = kv.key.toString();
            const v = parseValue(kv.value.toString());
            if (!v || key.indexOf('/', dir.length) >= 0) continue;
            entries.push({ ...v, key, lock: `${kind}/${name}`, createRevision: kv.create_revision, lease: kv.lease });
          }
          entries.sort(cmpRev);
          for (const e of entries)
            if (isExpired(e, now))
              void etcd
                .delete()
                .key(e.key)
                .exec()
                .catch(() => undefined);
          const live = entries.filter((e) => !isExpired(e, now));
          const rank = live.length;
          if (slotFree(rank, live, opts.concurrency)) {
            seenFree.set(name, res.revision);
          } else {
            // Tried again only as "empty" or after a fresh look at it (the next failure branch).
            seenFree.set(name, '0');
            blocked.push({ name, holders: live.map((e) => ({ key: e.key, owner: e.owner, runId: e.runId, created: e.created })) });
          }
        });
        // Every name free by now (a holder left between our compares and reads): try at once.
        if (blocked.length === 0) continue;
        for (const b of blocked) {
          const sig = b.holders.map((h) => h.key).join(',');
          if (announced.get(b.name) !== sig) {
            announced.set(b.name, sig);
            opts.onWait?.(b.name, b.holders);
          }
        }
        const left = deadline - Date.now();
        if (left <= 0)
          throw new LockTimeoutError(`${kind}/${blocked[0]!.name}`, opts.concurrency, this.locks.waitTimeoutSeconds, blocked[0]!.holders);
        this.check();
        if (opts.signal?.aborted) throw opts.signal.reason;
        // From the revision we read at: nothing that happens after our look is missed.
        if (!watcher) {
          const dirs = todo.map(dirOf);
          watcher = await etcd
            .watch()
            .prefix(`${this.locks.prefix}/${kind}/`)
            .startRevision(String(BigInt(res.revision) + 1n))
            .create();
          watcher.on('data', (r) => {
            if (r.events.some((ev) => dirs.some((d) => ev.kv.key.toString().startsWith(d)))) poke();
          });
        }
        // Also re-poll now and then: a max-hold expiry produces no etcd event.
        if (!changed) {
          let timer: NodeJS.Timeout | undefined;
          await new Promise<void>((resolve) => {
            wake = resolve;
            timer = setTimeout(resolve, Math.min(left, 1000));
          });
          clearTimeout(timer);
          wake = undefined;
        }
        this.check();
        if (opts.signal?.aborted) throw opts.signal.reason;
      }
    } catch (err) {
      // Keys of an attempt whose outcome is unknown: not left behind (the lease would keep them).
      for (const k of keys)
        await etcd
          .delete()
          .key(k)
          .exec()
          .catch(() => undefined);
      throw err;
    } finally {
      opts.signal?.removeEventListener('abort', poke);
      await watcher?.cancel().catch(() => undefined);
    }

    await Promise.all(
      todo.map((name, i) => {
        out.set(name, { name, key: keys[i]!, busy: false, holders: [], reentrant: false });
        return this.hold(`${kind}/${name}`, keys[i]!, opts.ttlSeconds, revision);
      }),
    );
    return inOrder();
  }

  /**
   * Stamp our queue key with `acquired`, only while it is still ours (bound to our lease). Returns
   * the revision of that write, undefined when the key is no longer ours. Not resent by etcd3 when
   * the answer is lost (asWriteTxn): that is settled here, by re-reading the key — our lease and the
   * stamped value: applied; our lease and the queued value: not applied, send it again (bounded);
   * gone or another lease: removed. Unsettled: ERR_LOCK_UNCONFIRMED naming the key.
   */
  private async markAcquired(key: string, stamped: string): Promise<string | undefined> {
    const etcd = this.locks.etcd;
    const leaseId = this.leaseId!;
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await asWriteTxn(() => etcd.if(key, 'Lease', '==', leaseId).then(etcd.put(key).value(stamped).lease(leaseId)).commit());
        return res.succeeded ? String(res.header.revision) : undefined;
      } catch (err) {
        if (!isAmbiguousWriteError(err)) throw err;
        let kv;
        try {
          kv = (await etcd.get(key).exec()).kvs[0];
        } catch {
          throw new LockUnconfirmedError(key, 'acquire', err);
        }
        if (kv === undefined || String(kv.lease) !== leaseId) return undefined;
        if (kv.value.toString() === stamped) return String(kv.mod_revision);
        if (attempt >= AMBIGUOUS_TRIES) throw new LockUnconfirmedError(key, 'acquire', err);
      }
    }
  }

  holds(kind: string, name: string): boolean {
    return this.held.has(`${kind}/${name}`);
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

  /**
   * A round trip to etcd before a step that writes or runs a non-safe command: is every key we hold
   * still there, bound to our lease? One txn of `Lease ==` compares: a revoked lease, an expired one
   * and a key removed by `--break-lock` or by another run all make it fail.
   *
   * Steps that check at the same time (hosts of a batch going their own way) share one txn: a call
   * made while one is in flight does not trust it (it was sent before the call, the loss it must
   * see may come after) and waits for the next one, sent once that one is back, for every caller
   * that came meanwhile. So each call is answered by a txn sent after it was made, never older.
   */
  async verify(): Promise<void> {
    this.check();
    if (!this.lease || this.leaseId === undefined) return;
    if (this.verifying === undefined) {
      await this.verifyNow();
    } else {
      this.nextVerify ??= this.verifying.then(() => {
        this.nextVerify = undefined;
        return this.verifyNow();
      });
      await this.nextVerify;
    }
    this.check();
  }

  /** Checks now, with the keys held now; never throws (a failure marks the session lost). */
  private verifyNow(): Promise<void> {
    const p = this.verifyOnce().finally(() => {
      if (this.verifying === p) this.verifying = undefined;
    });
    this.verifying = p;
    return p;
  }

  private async verifyOnce(): Promise<void> {
    const leaseId = this.leaseId!;
    const keys = [...this.held.values()].map((h) => h.key);
    try {
      if (keys.length > 0) {
        const etcd = this.locks.etcd;
        // Compares only, no ops: etcd3 may resend it like any read.
        let b = etcd.if(keys[0]!, 'Lease', '==', leaseId);
        for (const k of keys.slice(1)) b = b.and(k, 'Lease', '==', leaseId);
        const res = await b.commit();
        if (!res.succeeded) this.markLost(await this.whyLost(keys));
      } else {
        const res = await this.locks.etcd.leaseClient.leaseTimeToLive({ ID: leaseId, keys: false });
        if (Number(res.TTL) <= 0) this.markLost(new LockLostError(`lease ${leaseId} was revoked or expired`));
      }
    } catch (err) {
      this.markLost(new LockLostError(`cannot confirm lease ${leaseId}: ${(err as Error).message}`));
    }
  }

  /** After a failed verify(): say which key went, or that the lease did. */
  private async whyLost(keys: readonly string[]): Promise<LockLostError> {
    const res = await this.locks.etcd.leaseClient.leaseTimeToLive({ ID: this.leaseId!, keys: false }).catch(() => undefined);
    if (res && Number(res.TTL) <= 0) return new LockLostError(`lease ${this.leaseId} was revoked or expired`);
    const gone: string[] = [];
    for (const k of keys) {
      const lease = (
        await this.locks.etcd
          .get(k)
          .exec()
          .catch(() => undefined)
      )?.kvs[0]?.lease;
      if (lease === undefined || String(lease) !== this.leaseId) gone.push(k);
    }
    return new LockLostError(`lock key ${gone.length > 0 ? gone.join(', ') : keys.join(', ')} was removed by someone else`, BROKEN_HINT);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.watchdog) clearInterval(this.watchdog);
    for (const h of this.held.values()) {
      clearTimeout(h.timer);
      await h.watcher?.cancel().catch(() => undefined);
    }
    this.held.clear();
    // Revoking deletes every key bound to the lease at once.
    if (this.lease) await this.lease.revoke().catch(() => undefined);
  }
}
