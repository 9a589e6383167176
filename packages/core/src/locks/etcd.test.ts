import { describe, expect, it } from '@jest/globals';
import { GRPCDeadlineExceededError, GRPCUnavailableError, type Etcd3 } from 'etcd3';
import { EtcdLocks } from './etcd.js';

interface Kv {
  value: string;
  lease: string;
  create: number;
  mod: number;
}

/**
 * The part of etcd3's client the lock code uses, over a map. `fault` decides, per write to a lock
 * key (the `acquired` txn, a delete), whether it is applied and whether its answer is lost:
 * 'commit' applies it then throws like a lost reply, 'nothing' throws without applying it.
 */
function memoryEtcd() {
  const data = new Map<string, Kv>();
  let rev = 1;
  const put = (key: string, value: string, lease: string) => {
    rev++;
    const old = data.get(key);
    data.set(key, { value, lease, create: old?.create ?? rev, mod: rev });
  };
  const kvOf = (key: string, e: Kv) => ({
    key: Buffer.from(key),
    value: Buffer.from(e.value),
    lease: e.lease,
    create_revision: String(e.create),
    mod_revision: String(e.mod),
  });
  const state = {
    data,
    txns: 0,
    deletes: 0,
    /** Per-call fault for the next writes of the given kind (shifted off as they happen). */
    txnFaults: [] as ('commit' | 'nothing' | 'removed' | Error)[],
    deleteFaults: [] as ('commit' | 'nothing')[],
    failReads: false,
    lost: (): Error => new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'),
  };
  const watcher = () => ({ on: () => undefined, cancel: async () => undefined });
  const etcd = {
    lease: () => {
      const id = '7587';
      return {
        grant: async () => id,
        on: () => undefined,
        put: (key: string) => ({ value: (v: string) => ({ exec: async () => put(key, v, id) }) }),
        revoke: async () => {
          for (const [k, e] of data) if (e.lease === id) data.delete(k);
        },
      };
    },
    getAll: () => ({
      prefix: (p: string) => ({
        exec: async () => ({ kvs: [...data].filter(([k]) => k.startsWith(p)).map(([k, e]) => kvOf(k, e)) }),
      }),
    }),
    get: (key: string) => ({
      exec: async () => {
        if (state.failReads) throw new GRPCUnavailableError('14 UNAVAILABLE: No connection established');
        const e = data.get(key);
        return { kvs: e ? [kvOf(key, e)] : [] };
      },
    }),
    watch: () => ({
      prefix: () => ({ create: async () => watcher() }),
      key: () => ({ startRevision: () => ({ create: async () => watcher() }) }),
    }),
    put: (key: string) => ({ value: (value: string) => ({ lease: (lease: string) => ({ key, value, lease }) }) }),
    if: (key: string, _target: 'Lease', _op: '==', lease: string) => ({
      then: (op: { key: string; value: string; lease: string }) => ({
        commit: async () => {
          state.txns++;
          const fault = state.txnFaults.shift();
          if (fault instanceof Error) throw fault;
          if (fault === 'removed') data.delete(key);
          const ok = data.get(key)?.lease === lease;
          if (ok && fault !== 'nothing') put(op.key, op.value, op.lease);
          if (fault !== undefined) throw state.lost();
          return { succeeded: ok, header: { revision: String(rev) } };
        },
      }),
    }),
    delete: () => ({
      key: (key: string) => ({
        exec: async () => {
          state.deletes++;
          const fault = state.deleteFaults.shift();
          const had = data.has(key);
          if (fault !== 'nothing') data.delete(key);
          if (fault !== undefined) throw state.lost();
          return { deleted: had ? '1' : '0' };
        },
      }),
    }),
  };
  return { etcd: etcd as unknown as Etcd3, state };
}

const opts = { concurrency: 1, ttlSeconds: 60 };
const ourKey = (state: ReturnType<typeof memoryEtcd>['state']) =>
  [...state.data.keys()].find((k) => k.startsWith('/galley/locks/cookbooks/sre.x/'));

describe('a lock write whose answer etcd never sends', () => {
  it('acquire: the `acquired` txn committed but its reply was lost → the slot is ours, the key kept, nothing resent', async () => {
    const { etcd, state } = memoryEtcd();
    state.txnFaults = ['commit'];
    const s = new EtcdLocks(etcd).session('run-1');
    try {
      const res = await s.acquire('cookbooks', 'sre.x', opts);
      expect(res).toMatchObject({ busy: false, reentrant: false });
      expect(s.holds('cookbooks', 'sre.x')).toBe(true);
      const key = ourKey(state);
      expect(res.key).toBe(key);
      // Still there, bound to our lease, stamped once: the run did not take its own key for lost.
      expect(JSON.parse(state.data.get(key!)!.value)).toMatchObject({ runId: 'run-1', acquired: expect.any(String) });
      expect(state.data.get(key!)!.lease).toBe('7587');
      expect(state.txns).toBe(1);
      expect(state.deletes).toBe(0);
      expect(s.fence()).toEqual([{ key, target: 'Lease', op: '==', value: '7587' }]);
    } finally {
      await s.close();
    }
  });

  it('acquire: a txn that was not applied is sent again (a re-read found the queued value), up to 3 tries', async () => {
    const { etcd, state } = memoryEtcd();
    state.txnFaults = ['nothing', 'nothing'];
    const s = new EtcdLocks(etcd).session('run-2');
    try {
      await s.acquire('cookbooks', 'sre.x', opts);
      expect(state.txns).toBe(3);
      expect(JSON.parse(state.data.get(ourKey(state)!)!.value)).toHaveProperty('acquired');
    } finally {
      await s.close();
    }

    // Three unanswered tries, none applied: fail closed with a code naming the key, key removed.
    const b = memoryEtcd();
    b.state.txnFaults = ['nothing', 'nothing', 'nothing'];
    const s2 = new EtcdLocks(b.etcd).session('run-3');
    const queued: string[] = [];
    const inner = b.etcd.if.bind(b.etcd);
    (b.etcd as { if: unknown }).if = (...a: Parameters<Etcd3['if']>) => (queued.push(String(a[0])), inner(...a));
    try {
      const err = (await s2.acquire('cookbooks', 'sre.x', opts).catch((e: unknown) => e)) as Error & { code?: string };
      expect(err.code).toBe('ERR_LOCK_UNCONFIRMED');
      expect(err.message).toContain(`could not confirm that lock key ${queued[0]} is ours`);
      expect(b.state.txns).toBe(3);
      expect(ourKey(b.state)).toBeUndefined();
      expect(s2.holds('cookbooks', 'sre.x')).toBe(false);
    } finally {
      await s2.close();
    }
  });

  it('acquire: a key removed meanwhile is ERR_LOCK_LOST; a failed re-read is ERR_LOCK_UNCONFIRMED; other errors pass through', async () => {
    const a = memoryEtcd();
    a.state.txnFaults = ['removed'];
    const s = new EtcdLocks(a.etcd).session('run-4');
    await expect(s.acquire('cookbooks', 'sre.x', opts)).rejects.toMatchObject({
      code: 'ERR_LOCK_LOST',
      message: expect.stringContaining('was removed right after we obtained cookbooks/sre.x'),
    });
    expect(a.state.txns).toBe(1);
    await s.close();

    const b = memoryEtcd();
    b.state.txnFaults = ['commit'];
    const s2 = new EtcdLocks(b.etcd).session('run-5');
    const inner = b.etcd.if.bind(b.etcd);
    (b.etcd as { if: unknown }).if = (...a: Parameters<Etcd3['if']>) => ((b.state.failReads = true), inner(...a));
    await expect(s2.acquire('cookbooks', 'sre.x', opts)).rejects.toMatchObject({
      code: 'ERR_LOCK_UNCONFIRMED',
      message: expect.stringMatching(
        /could not confirm that lock key \/galley\/locks\/cookbooks\/sre\.x\/[0-9a-f-]+ is ours: etcd did not answer/,
      ),
      details: { key: expect.stringMatching(/^\/galley\/locks\/cookbooks\/sre\.x\//) },
    });
    expect(s2.holds('cookbooks', 'sre.x')).toBe(false);
    await s2.close();

    const c = memoryEtcd();
    c.state.txnFaults = [new Error('etcdserver: too many operations in txn request')];
    const s3 = new EtcdLocks(c.etcd).session('run-6');
    await expect(s3.acquire('cookbooks', 'sre.x', opts)).rejects.toThrow('too many operations');
    expect(c.state.txns).toBe(1);
    expect(ourKey(c.state)).toBeUndefined();
    await s3.close();
  });

  it('breakLock: a delete applied but unanswered reports "removed", not "already gone"; an unsettled one is ERR_LOCK_UNCONFIRMED', async () => {
    const { etcd, state } = memoryEtcd();
    const key = '/galley/locks/cookbooks/sre.y/abc';
    state.data.set(key, { value: '{}', lease: '1', create: 2, mod: 2 });
    state.deleteFaults = ['commit'];
    const locks = new EtcdLocks(etcd);
    expect(await locks.breakLock('cookbooks/sre.y/abc')).toBe(true);
    expect(state.data.has(key)).toBe(false);
    expect(state.deletes).toBe(1);

    // Not applied: re-read finds it, delete again.
    state.data.set(key, { value: '{}', lease: '1', create: 3, mod: 3 });
    state.deleteFaults = ['nothing'];
    expect(await locks.breakLock(key)).toBe(true);
    expect(state.data.has(key)).toBe(false);
    expect(state.deletes).toBe(3);

    // No answer and no re-read: the user is told the key, not "removed".
    state.data.set(key, { value: '{}', lease: '1', create: 4, mod: 4 });
    state.deleteFaults = ['nothing'];
    state.failReads = true;
    await expect(locks.breakLock(key)).rejects.toMatchObject({
      code: 'ERR_LOCK_UNCONFIRMED',
      message: expect.stringContaining(`could not confirm that lock key ${key} was removed`),
    });
  });
});
