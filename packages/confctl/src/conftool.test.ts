import { describe, expect, it } from '@jest/globals';
import { Conftool } from './conftool.js';
import type { KvStore } from './kv.js';
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
    for (const h of ['mw1001', 'mw1002', 'mw1003']) mem.put(`/conftool/v1/pools/eqiad/appserver/nginx/${h}`, JSON.stringify({ pooled: 'yes', weight: 10 }));
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
    await expect(ct.update({ name: 'mw1001' }, { pooled: 'no' })).rejects.toMatchObject({ code: 'ERR_CONFCTL_CONFLICT', message: expect.stringContaining('(3 attempts)') });
    expect(attempts).toBe(3);
    expect(JSON.parse((await mem.get(key))!.value)).toEqual({ pooled: 'yes', weight: 13 });
  });

  it('changeAndRestore restores what an update changed before it failed part way', async () => {
    const mem = seeded();
    const seen: string[] = [];
    const ct = new Conftool(mem, {
      onChange: (c) => seen.push(`${c.tags.name} ${String(c.from)}=>${String(c.to)}`),
      fence: (tags) => (tags.name === 'mw1003' ? [{ key: '/nonexistent-lock', target: 'Create', op: '>', value: 0 }] : []),
    });
    let ran = false;
    await expect(
      ct.changeAndRestore({ cluster: 'appserver' }, { pooled: 'no' }, async () => {
        ran = true;
      }),
    ).rejects.toMatchObject({ code: 'ERR_CONFCTL_FENCED' });
    expect(ran).toBe(false);
    // mw1001 and mw1002 really were depooled (mw1003's fence failed), then put back.
    expect(seen.sort()).toEqual(['mw1001 no=>yes', 'mw1001 yes=>no', 'mw1002 no=>yes', 'mw1002 yes=>no']);
    expect((await ct.select({})).map((n) => `${n.tags.name}=${n.pooled}`)).toEqual(['mw1001=yes', 'mw1002=yes', 'mw1003=yes']);
  });

  it('setAndVerify reports a value changed right after our write', async () => {
    const mem = seeded();
    const key = '/conftool/v1/pools/eqiad/appserver/nginx/mw1001';
    // onChange runs right after our txn: a synchronous raw put there races the read-back.
    const ct = new Conftool(mem, { onChange: () => void mem.put(key, JSON.stringify({ pooled: 'yes', weight: 1 })) });
    await expect(ct.setAndVerify({ name: 'mw1001' }, { weight: 30 })).rejects.toMatchObject({
      code: 'ERR_CONFCTL_VERIFY_FAILED',
      message: expect.stringContaining(`${key} has weight=1, expecting 30`),
    });
    const quiet = new Conftool(mem);
    expect(await quiet.setAndVerify([(await quiet.select({ name: 'mw1002' }))[0]!], { weight: 30 })).toHaveLength(1);
  });
});
