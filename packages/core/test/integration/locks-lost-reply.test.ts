import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Etcd3 } from 'etcd3';
import { connectEtcd } from '@galley/confctl';
import { replyEatingProxy, sharedLab, type ReplyEatingProxy } from '@galley/lab/testing';
import { EtcdLocks } from '../../src/locks/etcd.js';

let raw: Etcd3;
let endpoint: string;
const uniq = () => `test.locks-lost-reply-${Math.random().toString(16).slice(2, 8)}`;

beforeAll(async () => {
  const lab = await sharedLab();
  endpoint = lab.info.etcd.endpoints[0]!;
  // Observes etcd directly, not through the proxy.
  raw = new Etcd3({ hosts: lab.info.etcd.endpoints });
});
afterAll(() => raw.close());

/**
 * Lose the reply to the next request containing `needle`: hold etcd's replies from the moment it
 * passes until `applied()` sees the write in etcd, then cut the connection.
 */
async function loseReply(proxy: ReplyEatingProxy, needle: string, applied: () => Promise<boolean>): Promise<void> {
  await proxy.holdOnce(needle);
  const end = Date.now() + 20000;
  while (!(await applied())) {
    if (Date.now() > end) throw new Error('the write never reached etcd');
    await new Promise((r) => setTimeout(r, 20));
  }
  proxy.hold = false;
  proxy.drop();
}

describe('lock writes whose reply is lost (real etcd behind a reply-eating proxy)', () => {
  it('acquire: the applied `acquired` txn is not resent; the run holds its own key and its fence holds', async () => {
    const name = uniq();
    const proxy = await replyEatingProxy(endpoint);
    const etcd = connectEtcd({ endpoints: [proxy.url], dialTimeoutMs: 1000, requestTimeoutMs: 10000 });
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 10, waitTimeoutSeconds: 20 });
    const s = locks.session('lost-reply-run');
    let stamped = false;
    try {
      // Only the txn that stamps `acquired` on our queue key carries that word.
      const lost = loseReply(proxy, '"acquired":', async () => {
        const kvs = await raw.getAll().prefix(`/galley/locks/cookbooks/${name}/`).strings();
        return (stamped = Object.values(kvs).some((v) => 'acquired' in JSON.parse(v)));
      });
      const res = await s.acquire('cookbooks', name, { concurrency: 1, ttlSeconds: 60 });
      await lost;
      expect(stamped).toBe(true);
      expect(s.holds('cookbooks', name)).toBe(true);
      const kv = (await raw.get(res.key).exec()).kvs[0]!;
      expect(String(kv.lease)).toBe(s.lease_);
      expect(JSON.parse(kv.value.toString())).toMatchObject({ runId: 'lost-reply-run', acquired: expect.any(String) });
      // Written twice, the queue put and one `acquired` stamp: etcd3 did not resend the txn.
      expect(String(kv.version)).toBe('2');
      await s.verify();
      const fenced = await etcd
        .if(s.fence()[0]!.key, 'Lease', '==', s.lease_!)
        .then(etcd.put(`/galley-test/lost-reply/${name}`).value('x'))
        .commit();
      expect(fenced.succeeded).toBe(true);
      expect((await locks.list(`cookbooks/${name}/`)).map((e) => e.runId)).toEqual(['lost-reply-run']);
    } finally {
      await s.close();
      etcd.close();
      await proxy.close();
      await raw.delete().key(`/galley-test/lost-reply/${name}`);
    }
    expect(await raw.getAll().prefix(`/galley/locks/cookbooks/${name}/`).keys()).toEqual([]);
  }, 60000);

  it('--break-lock: a delete applied whose reply is lost is reported removed, not "already gone"', async () => {
    const name = uniq();
    const holderClient = connectEtcd({ endpoints: [endpoint], dialTimeoutMs: 1000, requestTimeoutMs: 10000 });
    const holder = new EtcdLocks(holderClient, { leaseTtlSeconds: 10 }).session('victim');
    const proxy = await replyEatingProxy(endpoint);
    const admin = connectEtcd({ endpoints: [proxy.url], dialTimeoutMs: 1000, requestTimeoutMs: 10000 });
    try {
      const { key } = await holder.acquire('cookbooks', name, { concurrency: 1, ttlSeconds: 60 });
      const locks = new EtcdLocks(admin);
      expect((await locks.list(`cookbooks/${name}/`)).map((e) => e.key)).toEqual([key]);
      // The list above asked for the prefix only: the next request naming the full key is the delete.
      const lost = loseReply(proxy, key, async () => (await raw.get(key).exec()).kvs.length === 0);
      expect(await locks.breakLock(key)).toBe(true);
      await lost;
      expect((await raw.get(key).exec()).kvs).toEqual([]);
      // The holder is told at once (its key watch), as for any break.
      const end = Date.now() + 10000;
      while (!holder.lost.aborted && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect((holder.lost.reason as { code?: string }).code).toBe('ERR_LOCK_LOST');
    } finally {
      await holder.close();
      holderClient.close();
      admin.close();
      await proxy.close();
    }
  }, 60000);
});
