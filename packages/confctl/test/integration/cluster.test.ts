import { describe, expect, it, jest } from '@jest/globals';
import { Etcd3 } from 'etcd3';
import { Conftool, EtcdKv, connectEtcd, inverseOf, type KvStore, type WatchEvent } from '@galley/confctl';
// See contract.test.ts for why the lab is imported from its sources.
import { privateLab, replyEatingProxy } from '@galley/lab/testing';

jest.setTimeout(120000);

/** A KvStore through a reply-eating proxy: the first write's reply is lost — once etcd has applied it
 * (the key reads `pooled: no`), the connection drops. `txns()` counts the writes sent. */
async function firstReplyLost(lab: { info: { etcd: { endpoints: string[] } } }, k: string) {
  const proxy = await replyEatingProxy(lab.info.etcd.endpoints[0]!);
  const raw = new Etcd3({ hosts: lab.info.etcd.endpoints });
  const real = new EtcdKv(connectEtcd({ endpoints: [proxy.url], dialTimeoutMs: 1000, requestTimeoutMs: 10000 }));
  let count = 0;
  const kv: KvStore = Object.assign(Object.create(real) as EtcdKv, {
    txn: (...a: Parameters<KvStore['txn']>) => {
      count++;
      if (count === 1) {
        proxy.hold = true;
        void (async () => {
          while (JSON.parse((await raw.get(k).string()) ?? '{}').pooled !== 'no') await new Promise((r) => setTimeout(r, 20));
          proxy.hold = false;
          proxy.drop();
        })();
      }
      return real.txn(...a);
    },
  });
  return { proxy, raw, kv, txns: () => count };
}

const waitFor = async (cond: () => boolean, ms = 10000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('etcd connection: a 3-member cluster, failures, compaction', () => {
  const priv = privateLab({ ssh: false, pybal: false, etcdMembers: 3 }, 90000);
  const ns = '/cluster-test';
  const key = (name: string): string => `${ns}/v1/pools/eqiad/appserver/nginx/${name}`;

  const connect = (endpoints = priv.lab.info.etcd.endpoints): Conftool =>
    new Conftool(connectEtcd({ endpoints, dialTimeoutMs: 1000, requestTimeoutMs: 2000 }), { namespace: ns });

  it('keeps serving reads and writes with one member stopped, from every client attempt', async () => {
    const { lab } = priv;
    expect(lab.info.etcd.endpoints).toHaveLength(3);
    const ct = connect();
    try {
      await ct.sync({
        eqiad: {
          appserver: Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`mw100${i}`, { nginx: { pooled: 'yes', weight: 10 } }])),
        },
      });
      const victim = lab.info.etcd.members[0]!.name;
      await lab.etcdStop(victim);
      try {
        // The client picks endpoints at random; 20 rounds hit the stopped one many times.
        for (let i = 0; i < 20; i++) {
          const pooled = i % 2 === 0 ? 'no' : 'yes';
          const nodes = await ct.select({ name: 'mw100[0-4]' });
          expect(nodes).toHaveLength(5);
          const changes = await ct.update({ name: `mw100${i % 5}` }, { pooled });
          expect(changes.length).toBeLessThanOrEqual(1);
          expect((await ct.select({ name: `mw100${i % 5}` }))[0]!.pooled).toBe(pooled);
        }
      } finally {
        await lab.etcdStart(victim);
      }
    } finally {
      ct.close();
    }
  });

  it('reports ERR_ETCD_UNAVAILABLE naming the endpoints when no member answers, and works again at once when they return', async () => {
    const { lab } = priv;
    const ct = connect();
    try {
      await ct.select({ name: 'mw1000' });
      for (const m of lab.info.etcd.members) await lab.etcdStop(m.name);
      try {
        // Several failures in a row would open etcd3's default circuit breaker for 5 s.
        for (let i = 0; i < 4; i++) {
          const err = await ct.select({ name: 'mw1000' }).then(
            (): Error & { code?: string } => new Error('no error'),
            (e: unknown) => e as Error & { code?: string },
          );
          expect(err.code).toBe('ERR_ETCD_UNAVAILABLE');
          for (const ep of lab.info.etcd.endpoints) expect(err.message).toContain(ep);
        }
      } finally {
        await Promise.all(lab.info.etcd.members.map((m) => lab.etcdStart(m.name)));
      }
      // Quorum is back; the client must not keep failing (no open breaker), beyond leader election.
      const started = Date.now();
      let nodes: unknown[] = [];
      for (;;) {
        try {
          nodes = await ct.select({ name: 'mw1000' });
          break;
        } catch (err) {
          if (Date.now() - started > 10000) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      expect(nodes).toHaveLength(1);
      // etcd3's default breaker would fail every call for 5 s after the last failure.
      expect(Date.now() - started).toBeLessThan(2500);
    } finally {
      ct.close();
    }
  });

  it('a malformed request does not break the next call (no circuit breaker): the next select answers at once', async () => {
    // One endpoint: etcd3 spreads its retries over the endpoints, so a single one is where its
    // default breaker (3 consecutive failures per host) opens.
    const client = connectEtcd({ endpoints: [priv.lab.info.etcd.endpoints[0]!], dialTimeoutMs: 1000, requestTimeoutMs: 2000 });
    const kv = new EtcdKv(client);
    const ct = new Conftool(kv, { namespace: ns });
    try {
      await ct.sync({ eqiad: { appserver: { mw1900: { nginx: { pooled: 'yes', weight: 1 } } } } });
      await ct.select({ name: 'mw1900' }); // connected
      // toolchain.md §3: with etcd3's default fault handling this one request is retried, opens
      // the host circuit breaker, and the next good call fails with BrokenCircuitError for 5 s.
      const bad = await client.kv.txn({ compare: 'x' as unknown as [], success: [], failure: [] }).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(bad?.message).toMatch(/13 INTERNAL: Request message serialization failure/);
      const started = Date.now();
      const nodes = await ct.select({ name: 'mw1900' });
      expect(Date.now() - started).toBeLessThan(500);
      expect(nodes).toMatchObject([{ pooled: 'yes', weight: 1 }]);
      expect(JSON.parse((await kv.get(key('mw1900')))!.value)).toEqual({ pooled: 'yes', weight: 1 });
    } finally {
      ct.close();
    }
  });

  it('a txn whose reply is lost is not resent by the client; Conftool re-reads and records it as its own (ambiguous) change', async () => {
    const { lab } = priv;
    const k = key('mw1950');
    const { proxy, raw, kv } = await firstReplyLost(lab, k);
    const logs: string[] = [];
    const ct = new Conftool(kv, { namespace: ns, log: (l) => logs.push(l) });
    try {
      await raw.put(k).value(JSON.stringify({ pooled: 'yes', weight: 10 }));
      const applied = await ct.update({ name: 'mw1950' }, { pooled: 'no' });
      expect(applied).toMatchObject([{ key: k, field: 'pooled', from: 'yes', to: 'no', ambiguous: true }]);
      expect(logs.join('\n')).toContain('etcd did not answer our write, but the object now holds exactly what we wrote');
      expect(JSON.parse((await raw.get(k).string())!)).toEqual({ pooled: 'no', weight: 10 });
    } finally {
      ct.close();
      raw.close();
      await proxy.close();
    }
  });

  it('transition: a txn whose reply is lost after etcd applied it is settled by re-reading: changed (ambiguous), marker written, and the inverse puts it back', async () => {
    const { lab } = priv;
    const k = key('mw1951');
    const { proxy, raw, kv, txns } = await firstReplyLost(lab, k);
    const ct = new Conftool(kv, { namespace: ns, log: () => undefined });
    const marker = { runId: 'run-lost', user: 'alice', reason: 'test', time: new Date().toISOString() };
    try {
      await raw.put(k).value(JSON.stringify({ pooled: 'yes', weight: 10 }));
      const [node] = await ct.select({ name: 'mw1951' });
      const [o] = await ct.transition([{ node: node!, change: { pooled: 'no' }, owner: { set: marker } }]);
      expect(o).toMatchObject({ status: 'changed', ambiguous: true, before: { pooled: 'yes' }, after: { pooled: 'no' } });
      expect(txns()).toBe(1);
      expect(JSON.parse((await raw.get(ct.ownerKeyFor(node!.tags)).string())!)).toEqual(marker);
      if (o?.status !== 'changed') throw new Error('not changed');
      const [back] = await ct.transition([inverseOf(o, { mustBe: 'run-lost' })]);
      expect(back).toMatchObject({ status: 'changed', after: { pooled: 'yes', weight: 10 } });
      expect(JSON.parse((await raw.get(k).string())!)).toEqual({ pooled: 'yes', weight: 10 });
      expect(await raw.get(ct.ownerKeyFor(node!.tags)).string()).toBeNull();
    } finally {
      ct.close();
      raw.close();
      await proxy.close();
    }
  });

  it('watch survives a compacted resume revision by listing again (real etcd)', async () => {
    const { lab } = priv;
    const endpoints = lab.info.etcd.endpoints;
    const raw = new Etcd3({ hosts: endpoints });
    const client = connectEtcd({ endpoints, dialTimeoutMs: 1000, requestTimeoutMs: 2000 });
    const real = new EtcdKv(client);
    // The first watch resumes from revision 1, long compacted: exactly what a watcher that
    // reconnects after a long disconnect hits. Later watches are the real ones.
    let first = true;
    const kv: KvStore = Object.assign(Object.create(real) as EtcdKv, {
      watch: (prefix: string, from: string, h: Parameters<KvStore['watch']>[2]) => {
        const rev = first ? '1' : from;
        first = false;
        return real.watch(prefix, rev, h);
      },
    });
    const logs: string[] = [];
    const ct = new Conftool(kv, { namespace: ns, log: (l) => logs.push(l) });
    try {
      const rev = (await raw.put(key('mw1001')).value(JSON.stringify({ pooled: 'yes', weight: 1 }))).header.revision;
      await raw.kv.compact({ revision: rev });
      const resyncs: number[] = [];
      const events: WatchEvent[] = [];
      const w = await ct.watch({ cluster: 'appserver' }, (e) => events.push(e), { onResync: (n) => resyncs.push(n.length) });
      try {
        await waitFor(() => resyncs.length >= 2);
        // etcd 3.4 cancels with an empty reason (compact_revision set); the resync is what matters.
        expect(logs.join('\n')).toMatch(/failed .*; listing again/);
        await raw.put(key('mw1001')).value(JSON.stringify({ pooled: 'no', weight: 1 }));
        await waitFor(() => events.length >= 1);
        expect(events[0]).toMatchObject({ type: 'put', key: key('mw1001'), node: { pooled: 'no' } });
      } finally {
        await w.close();
      }
    } finally {
      client.close();
      raw.close();
    }
  });
});
