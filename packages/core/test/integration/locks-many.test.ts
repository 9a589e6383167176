import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Etcd3 } from 'etcd3';
import { Conftool, connectEtcd } from '@galley/confctl';
import { sharedLab } from '@galley/lab/testing';
import type { LockHolderInfo } from '../../src/errors.js';
import { EtcdLocks } from '../../src/locks/etcd.js';

let etcd: Etcd3;
const uniq = () => Math.random().toString(16).slice(2, 8);
const hostsOf = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `mw${String(i).padStart(2, '0')}-${tag}.test`);
const spec = { concurrency: 1, ttlSeconds: 60 };

beforeAll(async () => {
  const lab = await sharedLab();
  etcd = connectEtcd({ endpoints: lab.info.etcd.endpoints, dialTimeoutMs: 3000, requestTimeoutMs: 5000 });
});
afterAll(() => etcd.close());

/** Every key under hosts/<name>/ of these hosts, with its revisions and owner. */
async function keysOf(hosts: readonly string[]) {
  const out: { host: string; key: string; create: string; mod: string; runId: string; acquired: unknown }[] = [];
  for (const host of hosts) {
    const res = await etcd.getAll().prefix(`/galley/locks/hosts/${host}/`).exec();
    for (const kv of res.kvs) {
      const v = JSON.parse(kv.value.toString()) as { runId: string; acquired?: string };
      out.push({
        host,
        key: kv.key.toString(),
        create: String(kv.create_revision),
        mod: String(kv.mod_revision),
        runId: v.runId,
        acquired: v.acquired,
      });
    }
  }
  return out;
}

describe('acquireMany: the host locks of a batch in one etcd txn', () => {
  it('10 hosts are taken by one txn: one revision for the whole set, each key stamped acquired and fenced', async () => {
    const hosts = hostsOf(uniq(), 10);
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 5 });
    const s = locks.session('many-1');
    try {
      // given in reverse: the results come back in name order
      const rs = await s.acquireMany('hosts', [...hosts].reverse(), spec);
      expect(rs.map((r) => r.name)).toEqual(hosts);
      expect(rs.every((r) => !r.busy && !r.reentrant)).toBe(true);
      const keys = await keysOf(hosts);
      expect(keys).toHaveLength(10);
      // one revision bump for the set: every key created (and last written) at the same revision
      expect(new Set(keys.map((k) => k.create)).size).toBe(1);
      expect(keys.every((k) => k.mod === k.create && k.runId === 'many-1' && typeof k.acquired === 'string')).toBe(true);
      expect(keys.map((k) => k.key).sort()).toEqual(rs.map((r) => r.key).sort());
      for (const h of hosts) expect(s.holds('hosts', h)).toBe(true);
      expect(s.fence(hosts.slice(0, 3))).toHaveLength(3);
      // again, plus one more: the held ones are re-entrant, only the new one is written
      const more = `${hosts[0]}-extra`;
      const again = await s.acquireMany('hosts', [...hosts, more], spec);
      expect(again.filter((r) => r.reentrant).map((r) => r.name)).toEqual(hosts);
      expect((await keysOf([...hosts, more])).length).toBe(11);
      await s.verify();
    } finally {
      await s.close();
    }
    expect(await keysOf(hosts)).toEqual([]);
  }, 30000);

  it('all or nothing: one host held by another run → none is taken while waiting, the holder is reported per host; taken together once it is released', async () => {
    const hosts = hostsOf(uniq(), 5);
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 20 });
    const other = locks.session('other-run', { owner: 'alice@cumin1001 [42]' });
    await other.acquire('hosts', hosts[2]!, spec);
    const s = locks.session('many-2');
    try {
      const waits: { name: string; holders: readonly LockHolderInfo[] }[] = [];
      let seenWhileWaiting: Awaited<ReturnType<typeof keysOf>> | undefined;
      let released: Promise<void> | undefined;
      const rs = await s.acquireMany('hosts', hosts, {
        ...spec,
        onWait: (name, holders) => {
          waits.push({ name, holders });
          released ??= (async () => {
            seenWhileWaiting = await keysOf(hosts);
            await other.close();
          })();
        },
      });
      await released;
      expect(waits).toHaveLength(1);
      expect(waits[0]).toMatchObject({ name: hosts[2], holders: [{ owner: 'alice@cumin1001 [42]', runId: 'other-run' }] });
      // while it waited, only the other run's key existed: nothing of ours, not even on the free hosts
      expect(seenWhileWaiting?.map((k) => k.runId)).toEqual(['other-run']);
      expect(rs.every((r) => !r.busy && !r.reentrant)).toBe(true);
      const keys = await keysOf(hosts);
      expect(keys.map((k) => k.runId)).toEqual(Array(5).fill('many-2'));
      expect(new Set(keys.map((k) => k.create)).size).toBe(1);
    } finally {
      await s.close();
      await other.close();
    }
  }, 30000);

  it('gives up after waitTimeoutSeconds with ERR_LOCK_TIMEOUT naming the held host and its holder; nothing of it is left', async () => {
    const hosts = hostsOf(uniq(), 4);
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 1 });
    const other = locks.session('holder-run');
    await other.acquire('hosts', hosts[3]!, spec);
    const s = locks.session('late-run');
    try {
      const t0 = Date.now();
      await expect(s.acquireMany('hosts', hosts, spec)).rejects.toMatchObject({
        code: 'ERR_LOCK_TIMEOUT',
        message: expect.stringMatching(new RegExp(`lock hosts/${hosts[3]!.replace(/\./g, '\\.')} is busy[^]*holder-run`)),
      });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      expect((await keysOf(hosts)).map((k) => k.runId)).toEqual(['holder-run']);
      for (const h of hosts) expect(s.holds('hosts', h)).toBe(false);
      // a dry-run reports the busy one and writes nothing
      const d = locks.session('dry', { dryRun: true });
      const rs = await d.acquireMany('hosts', hosts, spec);
      expect(rs.map((r) => r.busy)).toEqual([false, false, false, true]);
      expect(rs[3]!.holders.map((h) => h.runId)).toEqual(['holder-run']);
      expect((await keysOf(hosts)).map((k) => k.runId)).toEqual(['holder-run']);
      await d.close();
    } finally {
      await s.close();
      await other.close();
    }
  }, 30000);

  it('an interrupt while waiting stops the wait; nothing of it is left', async () => {
    const hosts = hostsOf(uniq(), 3);
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 30 });
    const other = locks.session('holder');
    await other.acquire('hosts', hosts[0]!, spec);
    const s = locks.session('waiter');
    const ac = new AbortController();
    try {
      const t0 = Date.now();
      await expect(
        s.acquireMany('hosts', hosts, { ...spec, signal: ac.signal, onWait: () => setTimeout(() => ac.abort(new Error('SIGINT')), 50) }),
      ).rejects.toThrow('SIGINT');
      expect(Date.now() - t0).toBeLessThan(5000);
      expect((await keysOf(hosts)).map((k) => k.runId)).toEqual(['holder']);
    } finally {
      await s.close();
      await other.close();
    }
  }, 30000);

  it('two runs taking overlapping sets in opposite orders, again and again, both finish and never hold a host at once', async () => {
    const hosts = hostsOf(uniq(), 6);
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 20 });
    const holding = new Map<string, string>();
    let overlap = 0;
    const run = async (who: string, set: string[]) => {
      for (let i = 0; i < 4; i++) {
        const s = locks.session(`${who}-${i}`);
        await s.acquireMany('hosts', set, spec);
        for (const h of set) {
          if (holding.has(h)) overlap++;
          holding.set(h, who);
        }
        await new Promise((r) => setTimeout(r, 30));
        for (const h of set) holding.delete(h);
        await s.close();
      }
      return who;
    };
    const a = hosts.slice(0, 4);
    const b = hosts.slice(2).reverse();
    await expect(Promise.all([run('a', a), run('b', b)])).resolves.toEqual(['a', 'b']);
    expect(overlap).toBe(0);
    expect(await keysOf(hosts)).toEqual([]);
  }, 60000);

  it('keeps the slot rule of acquire(): with concurrency 2, a name with one holder is free, one with two is waited for', async () => {
    const hosts = hostsOf(uniq(), 2);
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 1 });
    const c2 = { concurrency: 2, ttlSeconds: 60 };
    const x = locks.session('x');
    const y = locks.session('y');
    const s = locks.session('s');
    try {
      await x.acquire('hosts', hosts[0]!, c2);
      await s.acquireMany('hosts', hosts, c2);
      expect((await keysOf(hosts)).map((k) => `${k.host}:${k.runId}`).sort()).toEqual(
        [`${hosts[0]}:s`, `${hosts[0]}:x`, `${hosts[1]}:s`].sort(),
      );
      // a concurrency-1 holder already there makes it full for anyone, whatever their concurrency
      const t = locks.session('t');
      await y.acquire('hosts', `${hosts[1]}-one`, spec);
      await expect(t.acquireMany('hosts', [`${hosts[1]}-one`], c2)).rejects.toMatchObject({ code: 'ERR_LOCK_TIMEOUT' });
      // full at 2: waited for
      await expect(t.acquireMany('hosts', [hosts[0]!], c2)).rejects.toMatchObject({ code: 'ERR_LOCK_TIMEOUT' });
      await t.close();
    } finally {
      await s.close();
      await x.close();
      await y.close();
    }
  }, 30000);

  it('a lost lease: the next check refuses (ERR_LOCK_LOST), and a fenced write of a host taken this way is rejected', async () => {
    const lab = await sharedLab();
    const conftool = new Conftool(etcd, { namespace: lab.info.namespace });
    const [node] = await conftool.get({});
    expect(node).toBeDefined();
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 1 });
    const s = locks.session('revoked-many');
    try {
      await s.acquire('cookbooks', `test.many-${uniq()}`, spec);
      await s.acquireMany('hosts', [node!.tags.name, `${node!.tags.name}-b.test`], spec);
      expect(s.fence([node!.tags.name])).toHaveLength(2);
      const fenced = conftool.with({ fence: (tags) => s.fence([tags.name]), beforeWrite: () => s.verify() });
      const sel = { name: node!.tags.name, dc: node!.tags.dc, cluster: node!.tags.cluster, service: node!.tags.service };
      await fenced.update(sel, { weight: node!.weight + 1 });
      await etcd.leaseClient.leaseRevoke({ ID: s.fence()[0]!.value });
      await expect(fenced.update(sel, { weight: node!.weight })).rejects.toMatchObject({ code: 'ERR_LOCK_LOST' });
      // even a write that skips the check is rejected by the fence compare on the host key
      const unchecked = conftool.with({ fence: (tags) => s.fence([tags.name]) });
      await expect(unchecked.update(sel, { weight: node!.weight })).rejects.toMatchObject({ code: 'ERR_CONFCTL_FENCED' });
      expect((await conftool.get(sel))[0]!.weight).toBe(node!.weight + 1);
    } finally {
      await s.close();
      await conftool.update(
        { name: node!.tags.name, dc: node!.tags.dc, cluster: node!.tags.cluster, service: node!.tags.service },
        { weight: node!.weight },
      );
    }
  }, 30000);
});

describe('lock checks of steps that run at the same time', () => {
  it('concurrent verify() calls share one txn of Lease compares; a call made after the lease went still fails', async () => {
    let txns = 0;
    // etcd3's client with its txn builder counted (everything else is the real client)
    const counted = Object.create(etcd) as Etcd3;
    counted.if = (...a: Parameters<Etcd3['if']>) => {
      txns++;
      return etcd.if(...a);
    };
    const locks = new EtcdLocks(counted, { leaseTtlSeconds: 5, waitTimeoutSeconds: 5 });
    const s = locks.session('checks');
    try {
      await s.acquire('cookbooks', `test.checks-${uniq()}`, spec);
      await s.acquireMany('hosts', hostsOf(uniq(), 8), spec);
      const before = txns;
      // 8 steps checking at once: one txn answers them (at most one more for the ones that came
      // while the first was already sent)
      await Promise.all(Array.from({ length: 8 }, () => s.verify()));
      expect(txns - before).toBeLessThanOrEqual(2);
      // each call is answered by a check sent after it: one made after the revoke fails, even
      // while an earlier check is still in flight
      const early = s.verify();
      await etcd.leaseClient.leaseRevoke({ ID: s.fence()[0]!.value });
      await expect(Promise.all([early.catch(() => undefined), s.verify()])).rejects.toMatchObject({ code: 'ERR_LOCK_LOST' });
      expect(s.lost.aborted).toBe(true);
    } finally {
      await s.close();
    }
  }, 30000);
});
