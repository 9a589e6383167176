import { describe, expect, it } from '@jest/globals';
import { GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';
import { Conftool } from './conftool.js';
import { inverseOf } from './transition.js';
import { EtcdUnavailableError } from './errors.js';
import type { KvStore } from '@galley/etcd';
import { MemoryKv } from './testing/index.js';
import type { WatchEvent } from './types.js';

describe('Conftool.watch on the in-memory store', () => {
  it('re-lists when the watch fails at once (resume revision already compacted)', async () => {
    const mem = new MemoryKv();
    const key = '/conftool/v1/pools/eqiad/appserver/nginx/mw1001';
    mem.put(key, JSON.stringify({ pooled: 'yes', weight: 1 }));
    mem.compact();
    let first = true;
    const kv: KvStore = Object.assign(Object.create(mem) as MemoryKv, {
      watch: (prefix: string, from: string, h: Parameters<KvStore['watch']>[2]) => {
        const rev = first ? '1' : from;
        first = false;
        return mem.watch(prefix, rev, h);
      },
    });
    const logs: string[] = [];
    const ct = new Conftool(kv, { log: (l) => logs.push(l) });
    const resyncs: number[] = [];
    const events: WatchEvent[] = [];
    const w = await ct.watch({}, (e) => events.push(e), { onResync: (n) => resyncs.push(n.length) });
    try {
      for (let i = 0; i < 100 && resyncs.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      expect(resyncs).toEqual([1, 1]);
      expect(logs[0]).toMatch(/compacted.*listing again/);
      mem.put(key, JSON.stringify({ pooled: 'no', weight: 1 }));
      for (let i = 0; i < 100 && events.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
      expect(events).toMatchObject([{ type: 'put', key, node: { pooled: 'no' } }]);
    } finally {
      await w.close();
    }
  });
});

describe('Conftool reads and writes (in-memory store)', () => {
  const seeded = (): MemoryKv => {
    const mem = new MemoryKv();
    for (const h of ['mw1001', 'mw1002', 'mw1003'])
      mem.put(`/conftool/v1/pools/eqiad/appserver/nginx/${h}`, JSON.stringify({ pooled: 'yes', weight: 10 }));
    return mem;
  };

  it('a select is exactly one range read, narrowed by literal tags', async () => {
    const mem = seeded();
    const calls: string[] = [];
    const kv: KvStore = Object.assign(Object.create(mem) as MemoryKv, {
      range: (prefix: string) => {
        calls.push(`range ${prefix}`);
        return mem.range(prefix);
      },
      get: (key: string) => {
        calls.push(`get ${key}`);
        return mem.get(key);
      },
    });
    const ct = new Conftool(kv);
    expect(await ct.select({ name: 'mw100[12]' })).toHaveLength(2);
    expect(await ct.select({ dc: 'eqiad', cluster: 'appserver', name: 'mw1003' })).toHaveLength(1);
    expect(calls).toEqual(['range /conftool/v1/pools/', 'range /conftool/v1/pools/eqiad/appserver/']);
  });

  it('gives up after maxRetries re-reads when every attempt meets a concurrent change', async () => {
    const mem = seeded();
    const key = '/conftool/v1/pools/eqiad/appserver/nginx/mw1001';
    let attempts = 0;
    let weight = 10;
    mem.beforeTxn = (compares) => {
      if (compares[0]?.key !== key) return;
      attempts++;
      // Bypass beforeTxn (it is only consulted by txn): a plain put, like another writer.
      mem.put(key, JSON.stringify({ pooled: 'yes', weight: ++weight }));
    };
    const ct = new Conftool(mem, { maxRetries: 2 });
    await expect(ct.update({ name: 'mw1001' }, { pooled: 'no' })).rejects.toMatchObject({
      code: 'ERR_CONFCTL_CONFLICT',
      message: expect.stringContaining('(3 attempts)'),
    });
    expect(attempts).toBe(3);
    expect(JSON.parse((await mem.get(key))!.value)).toEqual({ pooled: 'yes', weight: 13 });
  });
});

describe('a write txn that gets no answer (in-memory store)', () => {
  const key = '/conftool/v1/pools/eqiad/appserver/nginx/mw1001';
  const seeded = (): MemoryKv => {
    const mem = new MemoryKv();
    mem.put(key, JSON.stringify({ pooled: 'yes', weight: 10 }));
    mem.put('/conftool/v1/pools/eqiad/appserver/nginx/mw1002', JSON.stringify({ pooled: 'yes', weight: 10 }));
    return mem;
  };
  /** A store whose next `lose` txns on `key` do `before` (e.g. commit) and then throw like a lost reply. */
  const losing = (
    mem: MemoryKv,
    lose: number,
    before: 'commit' | 'nothing',
    err: () => Error = () => new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'),
  ) => {
    let left = lose;
    const txns: string[] = [];
    const kv: KvStore = Object.assign(Object.create(mem) as MemoryKv, {
      txn: async (...a: Parameters<KvStore['txn']>) => {
        txns.push(a[0][0]!.key);
        if (a[0][0]!.key === key && left > 0) {
          left--;
          if (before === 'commit') await mem.txn(...a);
          throw err();
        }
        return mem.txn(...a);
      },
    });
    return { kv, txns };
  };
  const stored = async (mem: MemoryKv): Promise<unknown> => JSON.parse((await mem.get(key))!.value);

  it('update() records a change whose txn committed but whose reply was lost, also when EtcdKv wraps the loss as ERR_ETCD_UNAVAILABLE', async () => {
    const mem = seeded();
    const { kv } = losing(mem, 1, 'commit');
    const logs: string[] = [];
    const ct = new Conftool(kv, { log: (l) => logs.push(l) });
    const changes = await ct.update({ name: 'mw1001' }, { pooled: 'no' });
    expect(changes).toEqual([
      {
        key,
        tags: { dc: 'eqiad', cluster: 'appserver', service: 'nginx', name: 'mw1001' },
        field: 'pooled',
        from: 'yes',
        to: 'no',
        ambiguous: true,
      },
    ]);
    expect(logs.join('\n')).toContain('etcd did not answer our write, but the object now holds exactly what we wrote');

    // The same lost reply as EtcdKv reports it (ERR_ETCD_UNAVAILABLE around the gRPC error).
    const mem2 = seeded();
    const { kv: kv2, txns } = losing(
      mem2,
      1,
      'commit',
      () => new EtcdUnavailableError(['http://etcd:2379'], new GRPCUnavailableError('14 UNAVAILABLE: Connection dropped')),
    );
    const seen = await new Conftool(kv2, { log: () => undefined }).update({ name: 'mw1001' }, { pooled: 'no' });
    expect(seen).toMatchObject([{ key, field: 'pooled', from: 'yes', to: 'no', ambiguous: true }]);
    expect(txns).toEqual([key]);
    expect(await stored(mem2)).toEqual({ pooled: 'no', weight: 10 });
  });

  it('writes again when the unanswered txn left the object untouched; one that applies later still counts as ours', async () => {
    const mem = seeded();
    const { kv, txns } = losing(mem, 1, 'nothing');
    const changes = await new Conftool(kv, { log: () => undefined }).update({ name: 'mw1001' }, { pooled: 'no' });
    expect(changes).toMatchObject([{ key, field: 'pooled', from: 'yes', to: 'no' }]);
    expect(changes[0]!.ambiguous).toBeUndefined();
    expect(txns).toEqual([key, key]);
    expect(await stored(mem)).toEqual({ pooled: 'no', weight: 10 });

    // The lost txn is applied by etcd only after our re-read: the second one then fails its
    // compare and finds our value — ours, not someone else's.
    const late = seeded();
    let pending: Parameters<KvStore['txn']> | undefined;
    const kv2: KvStore = Object.assign(Object.create(late) as MemoryKv, {
      txn: async (...a: Parameters<KvStore['txn']>) => {
        if (pending === undefined) {
          pending = a;
          throw new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded');
        }
        await late.txn(...pending);
        return late.txn(...a);
      },
    });
    const c2 = await new Conftool(kv2, { log: () => undefined }).update({ name: 'mw1001' }, { pooled: 'no' });
    expect(c2).toMatchObject([{ key, field: 'pooled', from: 'yes', to: 'no', ambiguous: true }]);
  });

  it('an unanswered write whose object then holds something else is ERR_CONFCTL_WRITE_UNKNOWN naming the key; nothing recorded', async () => {
    const mem = seeded();
    const kv: KvStore = Object.assign(Object.create(mem) as MemoryKv, {
      txn: async (...a: Parameters<KvStore['txn']>) => {
        if (a[0][0]!.key !== key) return mem.txn(...a);
        mem.put(key, JSON.stringify({ pooled: 'inactive', weight: 10 })); // someone else, meanwhile
        throw new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded');
      },
    });
    const seen: unknown[] = [];
    const ct = new Conftool(kv, { onChange: (c) => seen.push(c), concurrency: 1 });
    await expect(ct.update({ name: 'mw100[12]' }, { pooled: 'no' })).rejects.toMatchObject({
      code: 'ERR_CONFCTL_WRITE_UNKNOWN',
      message: expect.stringContaining(`write to ${key} got no answer from etcd and may or may not have been applied`),
    });
    expect(seen).toEqual([]);
    // A plain etcd error that is not about a lost answer is passed through unchanged.
    const bad: KvStore = Object.assign(Object.create(mem) as MemoryKv, {
      txn: async () => {
        throw new Error('etcdserver: too many operations in txn request');
      },
    });
    await expect(new Conftool(bad).update({ name: 'mw1002' }, { pooled: 'no' })).rejects.toThrow('too many operations');
  });
});

describe('a conflict retry that re-reads an invalid value', () => {
  it('stops starting new writes and reports a conflict naming the key and value, not "nothing was written"', async () => {
    const mem = new MemoryKv();
    const names = Array.from({ length: 20 }, (_, i) => `mw${1001 + i}`);
    for (const n of names) mem.put(`/conftool/v1/pools/eqiad/appserver/nginx/${n}`, JSON.stringify({ pooled: 'yes', weight: 10 }));
    const broken = '/conftool/v1/pools/eqiad/appserver/nginx/mw1001';
    let planted = false;
    mem.beforeTxn = (compares) => {
      if (compares[0]?.key === broken && !planted) {
        planted = true;
        mem.put(broken, 'not json');
      }
    };
    const seen: string[] = [];
    const ct = new Conftool(mem, { concurrency: 4, onChange: (c) => seen.push(c.tags.name) });
    const err = (await ct.update({ cluster: 'appserver' }, { pooled: 'no' }).catch((e: unknown) => e)) as Error & { code?: string };
    expect(err.code).toBe('ERR_CONFCTL_CONFLICT');
    expect(err.message).toContain(`could not update ${broken}: it was changed concurrently to a value that breaks the schema`);
    expect(err.message).toContain('not json');
    expect(err.message).not.toContain('nothing was written');
    // Writes in flight beside mw1001 completed and were reported; the rest were never started.
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.length).toBeLessThan(12);
    const after = await ct.selectRaw({ cluster: 'appserver' });
    expect(after.filter((o) => o.value.includes('"no"')).map((o) => o.tags.name)).toEqual(seen.sort());
    expect(after.find((o) => o.key === broken)!.value).toBe('not json');
  });
});

describe('transition (in-memory store)', () => {
  const key = '/conftool/v1/pools/eqiad/appserver/nginx/mw1001';
  const ownerKey = '/galley/owners/conftool/eqiad/appserver/nginx/mw1001';
  const marker = (runId: string) => ({ runId, user: 'alice', reason: 'test', time: '2026-12-02T08:00:00.000Z' });
  const seeded = (): MemoryKv => {
    const mem = new MemoryKv();
    mem.put(key, JSON.stringify({ pooled: 'yes', weight: 10 }));
    return mem;
  };
  const lost = () => new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded');

  it('tells beforeWrite whether a call only takes out (to no or inactive) or only records an owner: the runner lets those through without host locks', async () => {
    const seen: boolean[] = [];
    const ct = new Conftool(seeded(), { beforeWrite: async (_nodes, info) => void seen.push(info?.takeOutOnly === true) });
    const node = async () => (await ct.select({}))[0]!;
    await ct.transition([{ node: await node(), change: { pooled: 'inactive' }, owner: { set: marker('run-1') } }]);
    await ct.transition([{ node: await node(), change: { pooled: 'inactive' }, owner: { set: marker('operator:bob') } }]);
    await ct.transition([
      { node: await node(), change: { pooled: 'no' }, expect: { pooled: 'inactive' }, owner: { mustBe: 'operator:bob' } },
    ]);
    await ct.transition([{ node: await node(), change: { pooled: 'yes' }, owner: { set: marker('run-2') } }]);
    await ct.transition([{ node: await node(), change: { pooled: 'no' }, owner: { set: marker('run-2') } }]);
    await ct.transition([{ node: await node(), change: { weight: 5 } }]);
    // out to inactive, an owner recorded on it, then a put-back (mustBe), a pool, out to no, a weight
    expect(seen).toEqual([true, true, false, false, true, false]);
  });

  it('the owner marker is compared in the txn: an operator taking the object over after we read the marker still wins', async () => {
    const mem = seeded();
    const ct = new Conftool(mem);
    expect(ct.ownerKeyFor({ dc: 'eqiad', cluster: 'appserver', service: 'nginx', name: 'mw1001' })).toBe(ownerKey);
    const [taken] = await ct.transition([{ node: (await ct.select({}))[0]!, change: { pooled: 'no' }, owner: { set: marker('run-1') } }]);
    if (taken?.status !== 'changed') throw new Error('not changed');
    let once = true;
    mem.beforeTxn = () => {
      if (!once) return;
      once = false;
      mem.put(ownerKey, JSON.stringify(marker('operator:bob')));
    };
    const [back] = await ct.transition([inverseOf(taken, { mustBe: 'run-1' })]);
    expect(back).toMatchObject({ status: 'changed-by-someone-else', found: { pooled: 'no' }, foundOwner: { runId: 'operator:bob' } });
    expect(JSON.parse((await mem.get(key))!.value)).toEqual({ pooled: 'no', weight: 10 });
    expect(JSON.parse((await mem.get(ownerKey))!.value)).toMatchObject({ runId: 'operator:bob' });
  });

  it('a lost reply: committed → changed (ambiguous); untouched → sent again; anything else → failed ERR_CONFCTL_WRITE_UNKNOWN', async () => {
    // committed, reply lost
    const mem = seeded();
    let lose = 1;
    const kv: KvStore = Object.assign(Object.create(mem) as MemoryKv, {
      txn: async (...a: Parameters<KvStore['txn']>) => {
        if (lose-- > 0) {
          await mem.txn(...a);
          throw lost();
        }
        return mem.txn(...a);
      },
    });
    const ct = new Conftool(kv, { log: () => undefined });
    const node = (await ct.select({}))[0]!;
    const [o] = await ct.transition([{ node, change: { pooled: 'no' }, owner: { set: marker('run-1') } }]);
    expect(o).toMatchObject({
      status: 'changed',
      ambiguous: true,
      after: { pooled: 'no' },
      node: { modRevision: (await mem.get(key))!.modRevision },
    });
    expect(JSON.parse((await mem.get(ownerKey))!.value)).toEqual(marker('run-1'));

    // not applied, reply lost: written again, once
    const mem2 = seeded();
    const sent: number[] = [];
    let lose2 = 1;
    const kv2: KvStore = Object.assign(Object.create(mem2) as MemoryKv, {
      txn: async (...a: Parameters<KvStore['txn']>) => {
        sent.push(1);
        if (lose2-- > 0) throw lost();
        return mem2.txn(...a);
      },
    });
    const ct2 = new Conftool(kv2, { log: () => undefined });
    const [o2] = await ct2.transition([{ node: (await ct2.select({}))[0]!, change: { pooled: 'no' }, owner: { set: marker('run-1') } }]);
    expect(o2).toMatchObject({ status: 'changed', after: { pooled: 'no' } });
    expect((o2 as { ambiguous?: true }).ambiguous).toBeUndefined();
    expect(sent).toHaveLength(2);

    // someone else wrote meanwhile, reply lost: unknown, nothing recorded
    const mem3 = seeded();
    const kv3: KvStore = Object.assign(Object.create(mem3) as MemoryKv, {
      txn: async () => {
        mem3.put(key, JSON.stringify({ pooled: 'inactive', weight: 10 }));
        throw lost();
      },
    });
    const seen: unknown[] = [];
    const ct3 = new Conftool(kv3, { onChange: (c) => seen.push(c) });
    const [o3] = await ct3.transition([{ node: (await ct3.select({}))[0]!, change: { pooled: 'no' } }]);
    expect(o3).toMatchObject({ status: 'failed', key, error: { code: 'ERR_CONFCTL_WRITE_UNKNOWN' } });
    expect(seen).toEqual([]);

    // a plain etcd error is a failed outcome too, not a throw
    const bad: KvStore = Object.assign(Object.create(mem3) as MemoryKv, {
      txn: async () => {
        throw new Error('etcdserver: too many operations in txn request');
      },
    });
    const ct4 = new Conftool(bad);
    expect((await ct4.transition([{ node: (await ct4.select({}))[0]!, change: { pooled: 'yes' } }]))[0]).toMatchObject({
      status: 'failed',
      error: { message: expect.stringContaining('too many operations') },
    });
  });

  it('a hot object gives up after maxRetries re-reads: failed ERR_CONFCTL_CONFLICT', async () => {
    const mem = seeded();
    let weight = 10;
    let attempts = 0;
    mem.beforeTxn = () => {
      attempts++;
      mem.put(key, JSON.stringify({ pooled: 'yes', weight: ++weight }));
    };
    const ct = new Conftool(mem, { maxRetries: 2, log: () => undefined });
    const [o] = await ct.transition([{ node: (await ct.select({}))[0]!, change: { pooled: 'no' }, expect: { pooled: 'yes' } }]);
    expect(o).toMatchObject({
      status: 'failed',
      error: { code: 'ERR_CONFCTL_CONFLICT', message: expect.stringContaining('(3 attempts)') },
    });
    expect(attempts).toBe(3);
  });

  it("an unreadable owner marker still counts as someone's", async () => {
    const mem = seeded();
    mem.put(ownerKey, 'garbage');
    const ct = new Conftool(mem);
    expect([...(await ct.owners({}))]).toEqual([
      [key, { runId: '(unreadable)', user: '', reason: 'unreadable owner marker: garbage', time: '' }],
    ]);
    const [o] = await ct.transition([{ node: (await ct.select({}))[0]!, change: { pooled: 'no' }, owner: { mustBe: 'run-1' } }]);
    expect(o).toMatchObject({ status: 'changed-by-someone-else', foundOwner: { runId: '(unreadable)' } });
  });
});
