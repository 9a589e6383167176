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
