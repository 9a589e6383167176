/**
 * The PoolStore contract: run against the in-memory fake (unit) and against the confctl adapter on
 * real etcd (integration), so the fake the algorithm is tested with behaves like the real thing.
 */
import { describe, expect, it, beforeEach, afterEach } from '@jest/globals';
import type { PoolStore, Pooled } from '../ports.js';

export interface PoolStoreFixture {
  store: PoolStore;
  /** dc and cluster of the seeded objects (service nginx, hosts a/b/c below). */
  dc: string;
  cluster: string;
  /** Three hosts: hosts[0] yes, hosts[1] no, hosts[2] inactive for service nginx. */
  hosts: [string, string, string];
  /** Read the current value directly (not through the store). */
  read(host: string): Promise<Pooled | undefined>;
  /** Someone else's write (not through the store). */
  write(host: string, pooled: Pooled): Promise<void>;
  close(): Promise<void>;
}

export function describePoolStoreContract(name: string, factory: () => Promise<PoolStoreFixture>): void {
  describe(`PoolStore contract: ${name}`, () => {
    let f: PoolStoreFixture;
    beforeEach(async () => {
      f = await factory();
    });
    afterEach(async () => {
      await f.close();
    });

    const sel = (): { dc: string; cluster: string; service: string } => ({ dc: f.dc.replace(/\./g, '\\.'), cluster: f.cluster, service: 'nginx' });

    it('selects the objects with their tags and pooled state, anchored', async () => {
      const objs = await f.store.select(sel());
      const mine = objs.filter((o) => f.hosts.includes(o.tags.name));
      expect(mine.map((o) => [o.tags.name, o.pooled]).sort()).toEqual(
        [
          [f.hosts[0], 'yes'],
          [f.hosts[1], 'no'],
          [f.hosts[2], 'inactive'],
        ].sort(),
      );
      expect(mine.every((o) => o.tags.dc === f.dc && o.tags.cluster === f.cluster && o.tags.service === 'nginx')).toBe(true);
      // nothing matching is an empty selection, not an error (conftool's no-match is mapped by the adapter)
      await expect(f.store.select({ ...sel(), service: 'ngin' })).resolves.toEqual([]);
    });

    it('sets yes → no only where the value is yes; no and inactive are not written', async () => {
      const objs = (await f.store.select(sel())).filter((o) => f.hosts.includes(o.tags.name));
      const res = await f.store.set(objs, 'yes', 'no');
      expect(res.changed.map((c) => [c.tags.name, c.from, c.to])).toEqual([[f.hosts[0], 'yes', 'no']]);
      expect(res.failed).toEqual([]);
      expect(res.already).toEqual([objs.find((o) => o.tags.name === f.hosts[1])!.key]);
      expect(res.skipped.map((s) => s.key)).toEqual([objs.find((o) => o.tags.name === f.hosts[2])!.key]);
      expect(await f.read(f.hosts[0])).toBe('no');
      expect(await f.read(f.hosts[1])).toBe('no');
      expect(await f.read(f.hosts[2])).toBe('inactive');
    });

    it('restores exactly what it changed, and never clobbers a later change by someone else', async () => {
      const objs = (await f.store.select(sel())).filter((o) => o.tags.name === f.hosts[0]);
      const { changed } = await f.store.set(objs, 'yes', 'no');
      expect(changed).toHaveLength(1);
      const back = await f.store.restore(changed);
      expect(back.changed.map((c) => [c.tags.name, c.from, c.to])).toEqual([[f.hosts[0], 'no', 'yes']]);
      expect(await f.read(f.hosts[0])).toBe('yes');
      // a second restore is a no-op
      const again = await f.store.restore(changed);
      expect(again.changed).toEqual([]);
      expect(again.already).toEqual([changed[0]!.key]);
      // someone else sets it inactive while we have it out: restore leaves it
      const { changed: c2 } = await f.store.set(objs, 'yes', 'no');
      await f.write(f.hosts[0], 'inactive');
      const res = await f.store.restore(c2);
      expect(res.changed).toEqual([]);
      expect(res.skipped.map((s) => s.key)).toEqual([c2[0]!.key]);
      expect(await f.read(f.hosts[0])).toBe('inactive');
    });

    it('does not write an object someone else changed since it was read', async () => {
      const objs = (await f.store.select(sel())).filter((o) => o.tags.name === f.hosts[0]);
      await f.write(f.hosts[0], 'no');
      const res = await f.store.set(objs, 'yes', 'no');
      expect(res.changed).toEqual([]);
      expect(res.already).toEqual([objs[0]!.key]);
      await f.write(f.hosts[0], 'inactive');
      const res2 = await f.store.set(objs, 'yes', 'no');
      expect(res2.changed).toEqual([]);
      expect(res2.skipped).toHaveLength(1);
      expect(await f.read(f.hosts[0])).toBe('inactive');
    });
  });
}
