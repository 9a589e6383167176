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
  write(host: string, pooled: Pooled, weight?: number): Promise<void>;
  /** Someone else writes garbage (not conftool JSON) to the host's nginx object. */
  corrupt(host: string): Promise<void>;
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

    const sel = (): { dc: string; cluster: string; service: string } => ({
      dc: f.dc.replace(/\./g, '\\.'),
      cluster: f.cluster,
      service: 'nginx',
    });

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

    const marker = (runId: string) => ({ runId, user: 'tester', reason: 'contract', time: '2026-12-04T00:00:00.000Z' });
    const mine = async (i: 0 | 1 | 2) => (await f.store.select(sel())).filter((o) => o.tags.name === f.hosts[i]);

    it('takes out yes → no with the owner marker, in the same write; no and inactive are conflicts, not writes', async () => {
      const objs = (await f.store.select(sel())).filter((o) => f.hosts.includes(o.tags.name));
      const res = await f.store.transition(
        objs.map((o) => ({ object: o, to: 'no', expect: { pooled: 'yes' }, owner: { set: marker('run-a') } })),
      );
      const by = new Map(objs.map((o, i) => [o.tags.name, res[i]!]));
      expect(by.get(f.hosts[0])).toMatchObject({ status: 'changed', change: { from: 'yes', to: 'no' } });
      expect(by.get(f.hosts[1])).toMatchObject({ status: 'changed-by-someone-else', found: { pooled: 'no' } });
      expect(by.get(f.hosts[2])).toMatchObject({ status: 'changed-by-someone-else', found: { pooled: 'inactive' } });
      expect(await f.read(f.hosts[0])).toBe('no');
      expect(await f.read(f.hosts[1])).toBe('no');
      expect(await f.read(f.hosts[2])).toBe('inactive');
      const owners = await f.store.owners(objs);
      expect([...owners.keys()]).toEqual([objs.find((o) => o.tags.name === f.hosts[0])!.key]);
      expect([...owners.values()][0]).toMatchObject({ runId: 'run-a', reason: 'contract' });
    });

    it('puts back only while the object holds what we wrote and carries our marker, and clears the marker', async () => {
      const objs = await mine(0);
      const [out] = await f.store.transition([{ object: objs[0]!, to: 'no', expect: { pooled: 'yes' }, owner: { set: marker('run-a') } }]);
      if (out?.status !== 'changed') throw new Error(`expected changed, got ${JSON.stringify(out)}`);
      const c = out.change;
      const back = {
        object: { key: c.key, tags: c.tags, pooled: 'no' as const, weight: c.weight ?? 0 },
        to: 'yes' as const,
        expect: { pooled: 'no' as const, weight: c.weight! },
        owner: { mustBe: 'run-a' },
      };
      // another run's id is not ours: hands off
      expect((await f.store.transition([{ ...back, owner: { mustBe: 'run-b' } }]))[0]).toMatchObject({
        status: 'changed-by-someone-else',
        foundOwner: { runId: 'run-a' },
      });
      expect(await f.read(f.hosts[0])).toBe('no');
      expect((await f.store.transition([back]))[0]).toMatchObject({ status: 'changed', change: { from: 'no', to: 'yes' } });
      expect(await f.read(f.hosts[0])).toBe('yes');
      expect((await f.store.owners(objs)).size).toBe(0);
      // a second put-back finds it at yes: a conflict, nothing written
      expect((await f.store.transition([back]))[0]).toMatchObject({ status: 'changed-by-someone-else', found: { pooled: 'yes' } });
    });

    it("an operator's marker on an object we hold out makes it theirs: our put-back leaves it", async () => {
      const objs = await mine(0);
      const [out] = await f.store.transition([{ object: objs[0]!, to: 'no', expect: { pooled: 'yes' }, owner: { set: marker('run-a') } }]);
      if (out?.status !== 'changed') throw new Error('expected changed');
      const [now] = await mine(0);
      // the operator depools what is already out: only the marker changes hands
      expect(
        (await f.store.transition([{ object: now!, to: 'no', expect: { pooled: 'no' }, owner: { set: marker('operator:alice') } }]))[0],
      ).toMatchObject({ status: 'already' });
      const c = out.change;
      const res = await f.store.transition([
        {
          object: { key: c.key, tags: c.tags, pooled: 'no', weight: c.weight ?? 0 },
          to: 'yes',
          expect: { pooled: 'no' },
          owner: { mustBe: 'run-a' },
        },
      ]);
      expect(res[0]).toMatchObject({ status: 'changed-by-someone-else', found: { pooled: 'no' }, foundOwner: { runId: 'operator:alice' } });
      expect(await f.read(f.hosts[0])).toBe('no');
    });

    it('never clobbers a change by someone else: inactive, a new weight, a deleted or corrupt value', async () => {
      const objs = await mine(0);
      const [out] = await f.store.transition([{ object: objs[0]!, to: 'no', expect: { pooled: 'yes' }, owner: { set: marker('run-a') } }]);
      if (out?.status !== 'changed') throw new Error('expected changed');
      const c = out.change;
      const back = {
        object: { key: c.key, tags: c.tags, pooled: 'no' as const, weight: c.weight ?? 0 },
        to: 'yes' as const,
        expect: { pooled: 'no' as const, weight: c.weight! },
        owner: { mustBe: 'run-a' },
      };
      await f.write(f.hosts[0], 'no', 42);
      expect((await f.store.transition([back]))[0]).toMatchObject({
        status: 'changed-by-someone-else',
        found: { pooled: 'no', weight: 42 },
      });
      await f.write(f.hosts[0], 'inactive');
      expect((await f.store.transition([back]))[0]).toMatchObject({ status: 'changed-by-someone-else', found: { pooled: 'inactive' } });
      expect(await f.read(f.hosts[0])).toBe('inactive');
      await f.corrupt(f.hosts[0]);
      expect((await f.store.transition([back]))[0]).toMatchObject({ status: 'invalid' });
      const rb = await f.store.readBack(objs);
      expect(rb.get(objs[0]!.key)).toMatchObject({ invalid: expect.any(String) });
    });

    it('does not write an object someone else changed since it was read; reads back what is stored', async () => {
      const objs = await mine(0);
      await f.write(f.hosts[0], 'no');
      expect(
        (await f.store.transition([{ object: objs[0]!, to: 'no', expect: { pooled: 'yes' }, owner: { set: marker('run-a') } }]))[0],
      ).toMatchObject({ status: 'changed-by-someone-else', found: { pooled: 'no' } });
      expect((await f.store.owners(objs)).size).toBe(0);
      const rb = await f.store.readBack(objs);
      expect(rb.get(objs[0]!.key)).toMatchObject({ pooled: 'no', tags: { name: f.hosts[0] } });
    });
  });
}
