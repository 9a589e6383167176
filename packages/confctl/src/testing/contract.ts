import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Conftool, ConftoolOptions } from '../conftool.js';
import type { Change, ConftoolNode, NodeTags, WatchEvent } from '../types.js';
import { describeTransitionContract } from './transition-contract.js';

/** What a Conftool implementation under test provides: a store plus raw access, like etcdctl. */
export interface ContractEnv {
  conftool(opts?: ConftoolOptions): Conftool;
  /** Unconditional raw put / get / delete, bypassing Conftool (a concurrent writer, a bad value). */
  put(key: string, value: string): Promise<void>;
  getRaw(key: string): Promise<string | undefined>;
  del(key: string): Promise<void>;
  revision(): Promise<string>;
  /** Make running watches fail as after a compaction, if the store can do that on demand. */
  breakWatches?(): Promise<void>;
  close(): Promise<void>;
}

let nsCounter = 0;
const uniqueNs = (): string => `/contract-${process.pid}-${Date.now().toString(36)}-${nsCounter++}`;

const tagsOf = (spec: string): NodeTags => {
  const [dc, cluster, service, name] = spec.split('/') as [string, string, string, string];
  return { dc, cluster, service, name };
};

const waitFor = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

/**
 * One behavioural contract for Conftool, run against the in-memory store (unit) and against real
 * etcd (integration). Each test works in its own namespace, so a shared etcd is fine.
 */
export function describeConftoolContract(name: string, factory: () => Promise<ContractEnv>): void {
  describe(`Conftool contract: ${name}`, () => {
    let env: ContractEnv;
    beforeAll(async () => {
      env = await factory();
    });
    afterAll(async () => {
      await env.close();
    });

    describeTransitionContract(() => env);

    const seed = async (objects: Record<string, unknown>, ns = uniqueNs()): Promise<{ ns: string; key: (spec: string) => string }> => {
      const key = (spec: string): string => `${ns}/v1/pools/${spec}`;
      for (const [spec, v] of Object.entries(objects)) await env.put(key(spec), typeof v === 'string' ? v : JSON.stringify(v));
      return { ns, key };
    };
    const yes10 = { pooled: 'yes', weight: 10 };
    const rawValue = async (k: string): Promise<Record<string, unknown>> =>
      JSON.parse((await env.getRaw(k)) ?? 'null') as Record<string, unknown>;

    it('anchors each tag regex and groups alternations', async () => {
      const { ns } = await seed({
        'eqiad/jobrunner/nginx/mw1001': yes10,
        'eqiad/jobrunner/nginx/mw1002': yes10,
        'eqiad/jobrunner/nginx/mw10010': yes10,
        'eqiad/jobrunner/nginx/xmw1001': yes10,
        'eqiad2/jobrunner/nginx/mw1001': yes10,
      });
      const ct = env.conftool({ namespace: ns });
      const names = (nodes: ConftoolNode[]): string[] => nodes.map((n) => `${n.tags.dc}/${n.tags.name}`).sort();
      expect(names(await ct.select({ dc: 'eqiad', name: 'mw1001|mw1002' }))).toEqual(['eqiad/mw1001', 'eqiad/mw1002']);
      expect(names(await ct.select({ name: 'mw100' + '1' }))).toEqual(['eqiad/mw1001', 'eqiad2/mw1001']);
      expect(names(await ct.select({ dc: 'eqiad' }))).toHaveLength(4);
      expect(names(await ct.select({ dc: 'eq.*', name: 'mw1001' }))).toEqual(['eqiad/mw1001', 'eqiad2/mw1001']);
      const n = (await ct.select({ dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', name: 'mw1002' }))[0]!;
      expect(n).toMatchObject({
        key: `${ns}/v1/pools/eqiad/jobrunner/nginx/mw1002`,
        tags: tagsOf('eqiad/jobrunner/nginx/mw1002'),
        pooled: 'yes',
        weight: 10,
      });
      expect(Number(n.modRevision)).toBeGreaterThan(0);
    });

    it('a selection that matches nothing is ERR_CONFCTL_NO_MATCH naming the selector; get() returns []', async () => {
      const { ns } = await seed({ 'eqiad/appserver/nginx/mw1001': yes10 });
      const ct = env.conftool({ namespace: ns });
      await expect(ct.select({ cluster: 'jobrunner', name: 'mw1001' })).rejects.toMatchObject({
        code: 'ERR_CONFCTL_NO_MATCH',
        message: expect.stringContaining('cluster=jobrunner,name=mw1001'),
      });
      await expect(ct.update({ name: 'nope' }, { pooled: 'no' })).rejects.toMatchObject({ code: 'ERR_CONFCTL_NO_MATCH' });
      expect(await ct.get({ name: 'nope' })).toEqual([]);
    });

    it('rejects invalid stored values on read (naming key and value) and writes nothing in that operation', async () => {
      const { ns, key } = await seed({
        'eqiad/appserver/nginx/mw1001': yes10,
        'eqiad/appserver/nginx/mw1002': '{"pooled": "yes", "weight": ',
        'eqiad/appserver/nginx/mw1003': { pooled: 'maybe', weight: 1 },
        'eqiad/appserver/nginx/mw1004': { pooled: 'no', weight: -3 },
      });
      const ct = env.conftool({ namespace: ns });
      const cases: [string, string][] = [
        ['mw1002', 'not valid JSON'],
        ['mw1003', 'pooled must be one of yes|no|inactive'],
        ['mw1004', 'weight must be an integer >= 0'],
      ];
      for (const [host, problem] of cases) {
        const err = await ct.select({ name: host }).then(
          () => new Error('no error'),
          (e: unknown) => e as Error,
        );
        expect(err).toMatchObject({ code: 'ERR_CONFCTL_INVALID_VALUE' });
        expect(err.message).toContain(key(`eqiad/appserver/nginx/${host}`));
        expect(err.message).toContain(problem);
        expect(err.message).toContain((await env.getRaw(key(`eqiad/appserver/nginx/${host}`)))!);
      }
      const before = await env.revision();
      await expect(ct.update({ name: 'mw100[12]' }, { pooled: 'no' })).rejects.toMatchObject({ code: 'ERR_CONFCTL_INVALID_VALUE' });
      expect(await env.revision()).toBe(before);
      expect(JSON.parse((await env.getRaw(key('eqiad/appserver/nginx/mw1001')))!)).toEqual(yes10);
    });

    it('rejects invalid values on write before sending anything', async () => {
      const { ns } = await seed({ 'eqiad/appserver/nginx/mw1001': yes10 });
      const ct = env.conftool({ namespace: ns });
      const before = await env.revision();
      for (const bad of [{ pooled: 'maybe' }, { weight: -1 }, { weight: 1.5 }, { pooled: 'yes', weight: '10' }]) {
        await expect(ct.update({ name: 'mw1001' }, bad as never)).rejects.toMatchObject({ code: 'ERR_CONFCTL_INVALID_VALUE' });
      }
      expect(await env.revision()).toBe(before);
    });

    it('updates with one txn per object, preserves unknown fields, and skips objects already at the value', async () => {
      const { ns, key } = await seed({
        'eqiad/appserver/nginx/mw1001': { pooled: 'yes', weight: 10, comment: 'keep me', nested: { a: 1 } },
        'eqiad/appserver/nginx/mw1002': { pooled: 'no', weight: 10 },
      });
      const seen: Change[] = [];
      const ct = env.conftool({ namespace: ns, onChange: (c) => seen.push(c) });
      const changes = await ct.update({ name: 'mw100.*' }, { pooled: 'no', weight: 10 });
      expect(changes).toEqual([
        { key: key('eqiad/appserver/nginx/mw1001'), tags: tagsOf(`eqiad/appserver/nginx/mw1001`), field: 'pooled', from: 'yes', to: 'no' },
      ]);
      expect(seen).toEqual(changes);
      expect(JSON.parse((await env.getRaw(key('eqiad/appserver/nginx/mw1001')))!)).toEqual({
        pooled: 'no',
        weight: 10,
        comment: 'keep me',
        nested: { a: 1 },
      });
      const before = await env.revision();
      expect(await ct.update({ name: 'mw100.*' }, { pooled: 'no' })).toEqual([]);
      expect(await env.revision()).toBe(before);
    });

    it('update() of objects read before an earlier write acts on their current values (no silent no-op)', async () => {
      const { ns, key } = await seed({ 'eqiad/appserver/nginx/mw1001': yes10 });
      const ct = env.conftool({ namespace: ns });
      const stale = await ct.select({ name: 'mw1001' });
      expect(await ct.update(stale, { pooled: 'no' })).toHaveLength(1);
      const back = await ct.update(stale, { pooled: 'yes' });
      expect(back.map((c) => [c.field, c.from, c.to])).toEqual([['pooled', 'no', 'yes']]);
      expect(await rawValue(key('eqiad/appserver/nginx/mw1001'))).toEqual(yes10);
    });

    it('detects a concurrent writer between read and write: re-reads, retries, loses no update', async () => {
      const { ns, key } = await seed({ 'eqiad/appserver/nginx/mw1001': { pooled: 'yes', weight: 10, note: 'x' } });
      const k = key('eqiad/appserver/nginx/mw1001');
      const logs: string[] = [];
      const ct = env.conftool({
        namespace: ns,
        log: (l) => logs.push(l),
        beforeWrite: async () => {
          await env.put(k, JSON.stringify({ pooled: 'yes', weight: 5, note: 'y' }));
        },
      });
      const changes = await ct.update({ name: 'mw1001' }, { pooled: 'no' });
      expect(changes.map((c) => [c.field, c.from, c.to])).toEqual([['pooled', 'yes', 'no']]);
      expect(JSON.parse((await env.getRaw(k))!)).toEqual({ pooled: 'no', weight: 5, note: 'y' });
      expect(logs.join('\n')).toContain('changed concurrently');

      const strict = env.conftool({
        namespace: ns,
        maxRetries: 0,
        beforeWrite: async () => {
          await env.put(k, JSON.stringify({ pooled: 'inactive', weight: 7 }));
        },
      });
      await expect(strict.update({ name: 'mw1001' }, { pooled: 'yes' })).rejects.toMatchObject({
        code: 'ERR_CONFCTL_CONFLICT',
        message: expect.stringContaining(k),
      });
      expect(JSON.parse((await env.getRaw(k))!)).toEqual({ pooled: 'inactive', weight: 7 });
    });

    it('dry-run reads for real, writes nothing, logs and returns the intended changes', async () => {
      const { ns, key } = await seed({
        'eqiad/jobrunner/nginx/mw1001.eqiad.wmnet': yes10,
        'eqiad/jobrunner/nginx/mw1002.eqiad.wmnet': yes10,
      });
      const logs: string[] = [];
      const seen: Change[] = [];
      const ct = env.conftool({
        namespace: ns,
        dryRun: true,
        log: (l) => logs.push(l),
        onChange: (c) => seen.push(c),
        beforeWrite: () => Promise.reject(new Error('no writes in dry-run')),
      });
      expect(ct.dryRun).toBe(true);
      const before = await env.revision();
      const changes = await ct.update({ name: 'mw1001.eqiad.wmnet' }, { pooled: 'no', weight: 0 });
      expect(await env.revision()).toBe(before);
      expect(changes).toEqual([
        {
          key: key('eqiad/jobrunner/nginx/mw1001.eqiad.wmnet'),
          tags: tagsOf('eqiad/jobrunner/nginx/mw1001.eqiad.wmnet'),
          field: 'pooled',
          from: 'yes',
          to: 'no',
        },
        {
          key: key('eqiad/jobrunner/nginx/mw1001.eqiad.wmnet'),
          tags: tagsOf('eqiad/jobrunner/nginx/mw1001.eqiad.wmnet'),
          field: 'weight',
          from: 10,
          to: 0,
        },
      ]);
      expect(logs).toEqual([
        'DRY-RUN: would set pooled=no on eqiad/jobrunner/nginx/mw1001.eqiad.wmnet',
        'DRY-RUN: would set weight=0 on eqiad/jobrunner/nginx/mw1001.eqiad.wmnet',
      ]);
      expect(seen).toEqual(changes);
      await expect(ct.select({ name: 'nothing' })).rejects.toMatchObject({ code: 'ERR_CONFCTL_NO_MATCH' });
      expect(await ct.update({ name: 'mw1002.*' }, { pooled: 'no' })).toHaveLength(1);
      expect(await ct.remove({ name: 'mw1002.*' })).toEqual([key('eqiad/jobrunner/nginx/mw1002.eqiad.wmnet')]);
      expect(await env.revision()).toBe(before);
      expect(seen.map((c) => `${c.tags.name} ${c.field} ${String(c.to)}`)).toEqual([
        'mw1001.eqiad.wmnet pooled no',
        'mw1001.eqiad.wmnet weight 0',
        'mw1002.eqiad.wmnet pooled no',
      ]);
    });

    it('adds the fence compares to every write: a failed fence is ERR_CONFCTL_FENCED and nothing is written', async () => {
      const lockKey = `${uniqueNs()}/lock`;
      const { ns, key } = await seed({ 'eqiad/appserver/nginx/mw1001': yes10, 'eqiad/appserver/nginx/mw1002': yes10 });
      const fenced: NodeTags[] = [];
      const ct = env.conftool({
        namespace: ns,
        fence: (tags) => {
          fenced.push(tags);
          return [{ key: lockKey, target: 'Create', op: '>', value: 0 }];
        },
      });
      const before = await env.revision();
      await expect(ct.update({ name: 'mw1001' }, { pooled: 'no' })).rejects.toMatchObject({
        code: 'ERR_CONFCTL_FENCED',
        message: expect.stringContaining(key('eqiad/appserver/nginx/mw1001')),
      });
      expect(await env.revision()).toBe(before);
      await expect(ct.remove({ name: 'mw1001' })).rejects.toMatchObject({ code: 'ERR_CONFCTL_FENCED' });
      await expect(ct.sync({ eqiad: { appserver: { mw1003: { nginx: null } } } })).rejects.toMatchObject({ code: 'ERR_CONFCTL_FENCED' });
      expect(await env.revision()).toBe(before);
      expect(fenced[0]).toEqual(tagsOf('eqiad/appserver/nginx/mw1001'));
      await env.put(lockKey, 'held');
      expect(await ct.update({ name: 'mw1001' }, { pooled: 'no' })).toHaveLength(1);
      expect((await rawValue(key('eqiad/appserver/nginx/mw1001'))).pooled).toBe('no');
    });

    it('filter, and an update read back', async () => {
      const { ns } = await seed({ 'eqiad/appserver/nginx/mw1001': yes10, 'eqiad/appserver/nginx/mw1002': { pooled: 'no', weight: 3 } });
      const ct = env.conftool({ namespace: ns });
      expect((await ct.filter({ cluster: 'appserver' }, { pooled: 'yes' })).map((n) => n.tags.name)).toEqual(['mw1001']);
      expect((await ct.filter({ cluster: 'appserver' }, { weight: 3 })).map((n) => n.tags.name)).toEqual(['mw1002']);
      expect(await ct.update({ cluster: 'appserver' }, { weight: 20 })).toHaveLength(2);
      expect((await ct.select({ cluster: 'appserver' })).map((n) => n.weight)).toEqual([20, 20]);
    });

    it('sync creates missing objects with defaults or given values, never changes existing ones, deletes only when asked', async () => {
      const { ns, key } = await seed({ 'eqiad/appserver/nginx/mw1001': { pooled: 'no', weight: 3 }, 'eqiad/appserver/nginx/old1': yes10 });
      const ct = env.conftool({ namespace: ns });
      const desired = {
        eqiad: {
          appserver: { mw1001: { nginx: { pooled: 'yes' as const, weight: 10 } }, mw1002: { nginx: null, 'php-fpm': { weight: 5 } } },
        },
        codfw: { jobrunner: { mw2001: { nginx: { pooled: 'yes' as const } } } },
      };
      const dry = ct.with({ dryRun: true });
      const before = await env.revision();
      const plan = await dry.sync(desired, { delete: true });
      expect(await env.revision()).toBe(before);
      expect(plan.created).toHaveLength(3);
      expect(plan.removed).toEqual([key('eqiad/appserver/nginx/old1')]);

      const r = await ct.sync(desired);
      expect(r.created.map((n) => [n.key, n.pooled, n.weight])).toEqual([
        [key('codfw/jobrunner/nginx/mw2001'), 'yes', 0],
        [key('eqiad/appserver/nginx/mw1002'), 'inactive', 0],
        [key('eqiad/appserver/php-fpm/mw1002'), 'inactive', 5],
      ]);
      expect(r.kept).toBe(1);
      expect(r.removed).toEqual([]);
      expect(r.stale).toEqual([key('eqiad/appserver/nginx/old1')]);
      expect(JSON.parse((await env.getRaw(key('eqiad/appserver/nginx/mw1001')))!)).toEqual({ pooled: 'no', weight: 3 });
      expect(await env.getRaw(key('eqiad/appserver/nginx/old1'))).toBeDefined();

      const r2 = await ct.sync(desired, { delete: true });
      expect(r2).toMatchObject({ created: [], removed: [key('eqiad/appserver/nginx/old1')], kept: 4 });
      expect(await env.getRaw(key('eqiad/appserver/nginx/old1'))).toBeUndefined();
    });

    it('remove deletes the selected objects, including ones with a broken value', async () => {
      const { ns, key } = await seed({
        'eqiad/appserver/nginx/mw1001': yes10,
        'eqiad/appserver/nginx/mw1002': yes10,
        'eqiad/appserver/nginx/broken': '{"pooled"',
      });
      const ct = env.conftool({ namespace: ns });
      expect(await ct.remove({ name: 'mw1001' })).toEqual([key('eqiad/appserver/nginx/mw1001')]);
      expect(await env.getRaw(key('eqiad/appserver/nginx/mw1001'))).toBeUndefined();
      expect(await env.getRaw(key('eqiad/appserver/nginx/mw1002'))).toBeDefined();
      expect((await ct.selectRaw({ name: 'broken' })).map((o) => o.value)).toEqual(['{"pooled"']);
      expect(await ct.remove({ name: 'broken' })).toEqual([key('eqiad/appserver/nginx/broken')]);
      await expect(ct.remove({ name: 'broken' })).rejects.toMatchObject({ code: 'ERR_CONFCTL_NO_MATCH' });
    });

    it('watch lists, then streams put/delete events of the selection only', async () => {
      const { ns, key } = await seed({ 'eqiad/appserver/nginx/mw1001': yes10, 'eqiad/jobrunner/nginx/mw1101': yes10 });
      const ct = env.conftool({ namespace: ns, log: () => undefined });
      const events: WatchEvent[] = [];
      const resyncs: string[][] = [];
      const w = await ct.watch({ cluster: 'appserver' }, (e) => events.push(e), {
        onResync: (nodes) => resyncs.push(nodes.map((n) => n.tags.name)),
      });
      try {
        expect(resyncs).toEqual([['mw1001']]);
        await env.put(key('eqiad/jobrunner/nginx/mw1101'), JSON.stringify({ pooled: 'no', weight: 10 }));
        await ct.update({ name: 'mw1001' }, { pooled: 'no' });
        await env.put(key('eqiad/appserver/nginx/mw1002'), 'not json');
        await env.del(key('eqiad/appserver/nginx/mw1001'));
        await waitFor(() => events.length >= 3);
        expect(events.map((e) => [e.type, e.key, e.node?.pooled])).toEqual([
          ['put', key('eqiad/appserver/nginx/mw1001'), 'no'],
          ['put', key('eqiad/appserver/nginx/mw1002'), undefined],
          ['delete', key('eqiad/appserver/nginx/mw1001'), undefined],
        ]);
        if (env.breakWatches) {
          await env.put(key('eqiad/appserver/nginx/mw1003'), JSON.stringify(yes10));
          await waitFor(() => events.length >= 4);
          await env.breakWatches();
          await waitFor(() => resyncs.length >= 2);
          expect(resyncs[1]).toEqual(['mw1003']);
          await env.put(key('eqiad/appserver/nginx/mw1004'), JSON.stringify(yes10));
          await waitFor(() => events.some((e) => e.key.endsWith('mw1004')));
        }
      } finally {
        await w.close();
      }
    });

    it('with() gives views that share the connection, each with its own dry-run', async () => {
      const { ns } = await seed({ 'eqiad/appserver/nginx/mw1001': yes10 });
      const root = env.conftool({ namespace: ns });
      const dry = root.with({ dryRun: true });
      expect(root.dryRun).toBe(false);
      expect(dry.dryRun).toBe(true);
      expect(await dry.update({ name: 'mw1001' }, { weight: 1 })).toMatchObject([{ field: 'weight', from: 10, to: 1 }]);
      expect((await root.select({ name: 'mw1001' }))[0]!.weight).toBe(10);
    });
  });
}
