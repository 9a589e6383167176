import { describe, expect, it } from '@jest/globals';
import type { ConftoolOptions } from '../conftool.js';
import { inverseOf, isTransitionConflict, type ChangedOutcome, type OwnerMarker, type TransitionOutcome } from '../transition.js';
import type { Change, ConftoolNode } from '../types.js';
import type { ContractEnv } from './contract.js';

let nsCounter = 0;
const uniqueNs = (): string => `/transition-${process.pid}-${Date.now().toString(36)}-${nsCounter++}`;

const marker = (runId: string, reason = 'rolling restart'): OwnerMarker => ({
  runId,
  user: 'alice',
  reason,
  time: '2026-12-02T08:00:00.000Z',
});
const changed = (o: TransitionOutcome | undefined): ChangedOutcome => {
  if (o?.status !== 'changed') throw new Error(`expected a changed outcome, got ${JSON.stringify(o)}`);
  return o;
};

/**
 * The transition primitive's contract (Conftool.transition, owners, inverseOf), run inside
 * describeConftoolContract against the in-memory store and the real etcd.
 */
export function describeTransitionContract(getEnv: () => ContractEnv): void {
  describe('transition', () => {
    const setup = async (objects: Record<string, unknown>, opts: ConftoolOptions = {}) => {
      const env = getEnv();
      const ns = uniqueNs();
      const key = (spec: string): string => `${ns}/v1/pools/${spec}`;
      for (const [spec, v] of Object.entries(objects)) await env.put(key(spec), typeof v === 'string' ? v : JSON.stringify(v));
      const ct = env.conftool({ namespace: ns, log: () => undefined, ...opts });
      const node = async (spec: string): Promise<ConftoolNode> =>
        (await ct.select({ name: spec.split('/')[3]!, service: spec.split('/')[2]! }))[0]!;
      const raw = async (spec: string): Promise<unknown> => {
        const v = await env.getRaw(key(spec));
        return v === undefined ? undefined : JSON.parse(v);
      };
      const ownerRaw = async (spec: string): Promise<unknown> => {
        const [dc, cluster, service, name] = spec.split('/') as [string, string, string, string];
        const v = await env.getRaw(ct.ownerKeyFor({ dc, cluster, service, name }));
        return v === undefined ? undefined : JSON.parse(v);
      };
      return { env, ns, key, ct, node, raw, ownerRaw };
    };
    const yes10 = { pooled: 'yes', weight: 10 };
    const A = 'eqiad/appserver/nginx/mw1001';
    const B = 'eqiad/appserver/nginx/mw1002';

    it('changed: one txn writes the value and the owner marker; the outcome carries before, after and the written node', async () => {
      const seen: Change[] = [];
      const { ct, node, raw, ownerRaw, key, env } = await setup(
        { [A]: { ...yes10, note: 'kept' }, [B]: yes10 },
        { onChange: (c) => seen.push(c) },
      );
      const n = await node(A);
      const before = await env.revision();
      const [o] = await ct.transition([{ node: n, change: { pooled: 'no' }, owner: { set: marker('run-1') } }]);
      const c = changed(o);
      expect(c).toMatchObject({ key: key(A), before: { pooled: 'yes', weight: 10 }, after: { pooled: 'no', weight: 10 } });
      expect(c.dryRun).toBeUndefined();
      // value and marker in the same txn: exactly one store revision
      expect(BigInt(await env.revision())).toBe(BigInt(before) + 1n);
      expect(c.node.modRevision).toBe(await env.revision());
      expect(c.node).toMatchObject({ key: key(A), pooled: 'no', weight: 10, extra: { note: 'kept' } });
      expect(await raw(A)).toEqual({ pooled: 'no', weight: 10, note: 'kept' });
      expect(await ownerRaw(A)).toEqual(marker('run-1'));
      expect(await raw(B)).toEqual(yes10);
      expect(seen.map((s) => [s.key, s.field, s.from, s.to])).toEqual([[key(A), 'pooled', 'yes', 'no']]);
      expect((await ct.owners({ cluster: 'appserver' })).get(key(A))).toEqual(marker('run-1'));
      expect([...(await ct.owners([await node(B), await node(A)])).keys()]).toEqual([key(A)]);
    });

    it('the inverse transition puts back exactly what it changed and clears our marker (mustBe)', async () => {
      const { ct, node, raw, ownerRaw, env } = await setup({ [A]: yes10 });
      const out = changed(
        (await ct.transition([{ node: await node(A), change: { pooled: 'no', weight: 0 }, owner: { set: marker('run-1') } }]))[0],
      );
      const inv = inverseOf(out, { mustBe: 'run-1' });
      expect(inv.change).toEqual({ pooled: 'yes', weight: 10 });
      const before = await env.revision();
      const back = changed((await ct.transition([inv]))[0]);
      expect(back).toMatchObject({ before: { pooled: 'no', weight: 0 }, after: { pooled: 'yes', weight: 10 } });
      expect(BigInt(await env.revision())).toBe(BigInt(before) + 1n);
      expect(await raw(A)).toEqual(yes10);
      expect(await ownerRaw(A)).toBeUndefined();
      expect((await ct.owners({})).size).toBe(0);
    });

    it('already: nothing written without an owner op; with one, only the marker (an operator recording intent on an object already out)', async () => {
      const { ct, node, ownerRaw, env } = await setup({ [A]: { pooled: 'no', weight: 10 } });
      const n = await node(A);
      const before = await env.revision();
      const [o] = await ct.transition([{ node: n, change: { pooled: 'no' } }]);
      expect(o).toEqual({ status: 'already', key: n.key, value: { pooled: 'no', weight: 10 }, node: n });
      expect(await env.revision()).toBe(before);
      const [o2] = await ct.transition([{ node: n, change: { pooled: 'no' }, owner: { set: marker('operator:bob', 'debugging') } }]);
      expect(o2).toMatchObject({ status: 'already', node: { modRevision: n.modRevision } });
      expect(await ownerRaw(A)).toEqual(marker('operator:bob', 'debugging'));
      // clear on an object already back: the marker goes, the value stays
      const [o3] = await ct.transition([{ node: n, change: { pooled: 'no' }, owner: { clear: true } }]);
      expect(o3?.status).toBe('already');
      expect(await ownerRaw(A)).toBeUndefined();
    });

    it('changed-by-someone-else: a writer between our read and our transition wins; its value and marker are reported, nothing is written', async () => {
      const { ct, node, raw, ownerRaw, env, key, ns } = await setup({ [A]: yes10, [B]: yes10 });
      const [a, b] = [await node(A), await node(B)];
      // An operator depools A (with a marker), someone changes B's weight by hand.
      const operator = env.conftool({ namespace: ns, log: () => undefined });
      expect(
        changed((await operator.transition([{ node: a, change: { pooled: 'no' }, owner: { set: marker('operator:bob', 'debug') } }]))[0])
          .after.pooled,
      ).toBe('no');
      await env.put(key(B), JSON.stringify({ pooled: 'yes', weight: 20 }));
      const before = await env.revision();
      const outs = await ct.transition([
        { node: a, change: { pooled: 'no' }, owner: { set: marker('run-1') } },
        { node: b, change: { pooled: 'no' }, owner: { set: marker('run-1') } },
      ]);
      expect(outs).toEqual([
        {
          status: 'changed-by-someone-else',
          key: key(A),
          expected: { pooled: 'yes', weight: 10 },
          found: { pooled: 'no', weight: 10 },
          foundOwner: marker('operator:bob', 'debug'),
        },
        {
          status: 'changed-by-someone-else',
          key: key(B),
          expected: { pooled: 'yes', weight: 10 },
          found: { pooled: 'yes', weight: 20 },
          foundOwner: null,
        },
      ]);
      expect(outs.every(isTransitionConflict)).toBe(true);
      expect(await env.revision()).toBe(before);
      expect(await ownerRaw(A)).toEqual(marker('operator:bob', 'debug'));
      expect(await raw(B)).toEqual({ pooled: 'yes', weight: 20 });
    });

    it("two runs transitioning the same object from the same read: exactly one changes it, the other sees the first one's marker", async () => {
      const { ct, node, ownerRaw, env, ns } = await setup({ [A]: yes10 });
      const other = env.conftool({ namespace: ns, log: () => undefined });
      const n = await node(A);
      const outs = await Promise.all([
        ct.transition([{ node: n, change: { pooled: 'no' }, owner: { set: marker('run-1') } }]),
        other.transition([{ node: n, change: { pooled: 'no' }, owner: { set: marker('run-2') } }]),
      ]);
      const statuses = outs.map((o) => o[0]!.status).sort();
      expect(statuses).toEqual(['changed', 'changed-by-someone-else']);
      const winner = outs.findIndex((o) => o[0]!.status === 'changed') === 0 ? 'run-1' : 'run-2';
      const loser = outs.find((o) => o[0]!.status !== 'changed')![0]!;
      expect(loser).toMatchObject({ found: { pooled: 'no', weight: 10 }, foundOwner: { runId: winner } });
      expect(await ownerRaw(A)).toMatchObject({ runId: winner });
    });

    it('with expect {} a concurrent change of other fields is re-read and the write retried', async () => {
      const { ct, node, raw, env, key } = await setup({ [A]: yes10 });
      const n = await node(A);
      await env.put(key(A), JSON.stringify({ pooled: 'yes', weight: 30 }));
      const c = changed((await ct.transition([{ node: n, change: { pooled: 'no' }, expect: { pooled: 'yes' } }]))[0]);
      expect(c.before).toEqual({ pooled: 'yes', weight: 30 });
      expect(await raw(A)).toEqual({ pooled: 'no', weight: 30 });
      // and a concurrent change to the very value asked for, with no expectation, is `already`
      const m = await node(A);
      await env.put(key(A), JSON.stringify({ pooled: 'yes', weight: 30 }));
      expect((await ct.transition([{ node: m, change: { pooled: 'yes' }, expect: {} }]))[0]).toMatchObject({
        status: 'already',
        value: { pooled: 'yes', weight: 30 },
      });
    });

    it('a deleted object is changed-by-someone-else with found null; a corrupt one is invalid, left as it is', async () => {
      const { ct, node, env, key } = await setup({ [A]: yes10, [B]: yes10 });
      const [a, b] = [await node(A), await node(B)];
      await env.del(key(A));
      await env.put(key(B), '{"pooled": "yes", "weight": ');
      const before = await env.revision();
      const [oa, ob] = await ct.transition([
        { node: a, change: { pooled: 'no' }, owner: { set: marker('run-1') } },
        { node: b, change: { pooled: 'no' }, owner: { set: marker('run-1') } },
      ]);
      expect(oa).toEqual({
        status: 'changed-by-someone-else',
        key: key(A),
        expected: { pooled: 'yes', weight: 10 },
        found: null,
        foundOwner: null,
      });
      expect(ob).toMatchObject({ status: 'invalid', key: key(B), error: { code: 'ERR_CONFCTL_INVALID_VALUE' } });
      expect((ob as { error: Error }).error.message).toContain(key(B));
      expect(await env.revision()).toBe(before);
      expect(await env.getRaw(key(B))).toBe('{"pooled": "yes", "weight": ');
    });

    it("mustBe: another owner's marker, or none, means the object is not ours to put back", async () => {
      const { ct, node, raw, ownerRaw, env, ns } = await setup({ [A]: yes10, [B]: yes10 });
      const outs = await ct.transition([
        { node: await node(A), change: { pooled: 'no' }, owner: { set: marker('run-1') } },
        { node: await node(B), change: { pooled: 'no' }, owner: { set: marker('run-1') } },
      ]);
      const [ta, tb] = outs.map(changed);
      // While run-1 holds them out, an operator takes A over (depool of an object already out) and
      // someone clears B's marker by hand.
      const operator = env.conftool({ namespace: ns, log: () => undefined });
      expect(
        (
          await operator.transition([
            { node: ta!.node, change: { pooled: 'no' }, expect: {}, owner: { set: marker('operator:bob', 'keep it out') } },
          ])
        )[0]!.status,
      ).toBe('already');
      await env.del(ct.ownerKeyFor(tb!.node.tags));
      const before = await env.revision();
      const back = await ct.transition([inverseOf(ta!, { mustBe: 'run-1' }), inverseOf(tb!, { mustBe: 'run-1' })]);
      expect(back).toEqual([
        {
          status: 'changed-by-someone-else',
          key: ta!.key,
          expected: { pooled: 'no', weight: 10 },
          found: { pooled: 'no', weight: 10 },
          foundOwner: marker('operator:bob', 'keep it out'),
        },
        {
          status: 'changed-by-someone-else',
          key: tb!.key,
          expected: { pooled: 'no', weight: 10 },
          found: { pooled: 'no', weight: 10 },
          foundOwner: null,
        },
      ]);
      expect(await env.revision()).toBe(before);
      expect(await raw(A)).toEqual({ pooled: 'no', weight: 10 });
      expect(await ownerRaw(A)).toEqual(marker('operator:bob', 'keep it out'));
    });

    it('a failed fence is `failed` (ERR_CONFCTL_FENCED) for every object and writes nothing; beforeWrite is awaited once per call', async () => {
      const lockKey = `${uniqueNs()}/lock`;
      const calls: string[][] = [];
      const { ct, node, ownerRaw, env } = await setup(
        { [A]: yes10, [B]: yes10 },
        {
          fence: () => [{ key: lockKey, target: 'Create', op: '>', value: 0 }],
          beforeWrite: async (nodes) => void calls.push(nodes.map((n) => n.tags.name)),
        },
      );
      const before = await env.revision();
      const outs = await ct.transition([
        { node: await node(A), change: { pooled: 'no' }, owner: { set: marker('run-1') } },
        { node: await node(B), change: { pooled: 'no' }, owner: { set: marker('run-1') } },
      ]);
      expect(outs.map((o) => [o.status, (o as { error?: { code?: string } }).error?.code])).toEqual([
        ['failed', 'ERR_CONFCTL_FENCED'],
        ['failed', 'ERR_CONFCTL_FENCED'],
      ]);
      expect(outs.some(isTransitionConflict)).toBe(false);
      expect(await env.revision()).toBe(before);
      expect(await ownerRaw(A)).toBeUndefined();
      expect(calls).toEqual([['mw1001', 'mw1002']]);
      await env.put(lockKey, 'held');
      expect((await ct.transition([{ node: await node(A), change: { pooled: 'no' } }]))[0]!.status).toBe('changed');
      expect(calls).toHaveLength(2);
    });

    it('a refused lock check (beforeWrite) throws before anything is sent; so does an invalid requested value', async () => {
      const { ct, node, env } = await setup({ [A]: yes10 }, { beforeWrite: () => Promise.reject(new Error('lock lost')) });
      const n = await node(A);
      const before = await env.revision();
      await expect(ct.transition([{ node: n, change: { pooled: 'no' } }])).rejects.toThrow('lock lost');
      await expect(
        ct.with({ beforeWrite: async () => undefined }).transition([{ node: n, change: { pooled: 'maybe' as 'no' } }]),
      ).rejects.toMatchObject({ code: 'ERR_CONFCTL_INVALID_VALUE' });
      expect(await env.revision()).toBe(before);
    });

    it('dry-run reads, writes nothing, and says what it would do (a chained dry-run put-back included)', async () => {
      const logs: string[] = [];
      const { ct, node, env, ns } = await setup(
        { [A]: yes10, [B]: { pooled: 'no', weight: 10 } },
        { dryRun: true, log: (l) => logs.push(l), beforeWrite: () => Promise.reject(new Error('no writes in dry-run')) },
      );
      const before = await env.revision();
      const [oa, ob] = await ct.transition([
        { node: await node(A), change: { pooled: 'no' }, owner: { set: marker('run-1') } },
        { node: await node(B), change: { pooled: 'no' }, owner: { set: marker('run-1') } },
      ]);
      const ca = changed(oa);
      expect(ca).toMatchObject({ dryRun: true, before: { pooled: 'yes', weight: 10 }, after: { pooled: 'no', weight: 10 } });
      expect(ob).toMatchObject({ status: 'already', dryRun: true });
      expect(logs).toContain('DRY-RUN: would set pooled=no on eqiad/appserver/nginx/mw1001');
      expect(logs).toContain('DRY-RUN: would record run-1 as the owner of eqiad/appserver/nginx/mw1001');
      // the put-back of a dry-run take-out: no marker was written, and that is fine in dry-run
      expect((await ct.transition([inverseOf(ca, { mustBe: 'run-1' })]))[0]).toMatchObject({
        status: 'changed',
        dryRun: true,
        after: { pooled: 'yes' },
      });
      // another owner's marker still stops it
      const real = env.conftool({ namespace: ns, log: () => undefined });
      await real.transition([{ node: await node(B), change: { pooled: 'no' }, owner: { set: marker('operator:bob') } }]);
      expect((await ct.transition([{ node: await node(B), change: { pooled: 'yes' }, owner: { mustBe: 'run-1' } }]))[0]).toMatchObject({
        status: 'changed-by-someone-else',
        foundOwner: { runId: 'operator:bob' },
      });
      expect(BigInt(await env.revision())).toBe(BigInt(before) + 1n); // only the real marker write above
    });

    it('remove() deletes the owner marker with its object', async () => {
      const { ct, node, ownerRaw } = await setup({ [A]: yes10 });
      await ct.transition([{ node: await node(A), change: { pooled: 'no' }, owner: { set: marker('run-1') } }]);
      expect(await ownerRaw(A)).toBeDefined();
      await ct.remove({ name: 'mw1001' });
      expect(await ownerRaw(A)).toBeUndefined();
    });
  });
}
