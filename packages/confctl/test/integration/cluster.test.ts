import { describe, expect, it, jest } from '@jest/globals';
import { Etcd3 } from 'etcd3';
import { Conftool, EtcdKv, connectEtcd, type KvStore, type WatchEvent } from '@galley/confctl';
// See contract.test.ts for why the lab is imported from its sources.
import { privateLab } from '../../../lab/src/testing/index.js';

jest.setTimeout(120000);

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
      await ct.sync({ eqiad: { appserver: Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`mw100${i}`, { nginx: { pooled: 'yes', weight: 10 } }])) } });
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
