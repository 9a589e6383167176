import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Etcd3 } from 'etcd3';
import { Conftool, connectEtcd } from '@galley/confctl';
import { loadConfig } from '@galley/config';
import type { SshConfig } from '@galley/remote';
import { sharedLab } from '@galley/lab/testing';
import { Remote } from '@galley/remote';
import { defineCookbook } from '../../src/cookbook.js';
import { executeCookbook } from '../../src/execute.js';
import { EtcdLocks } from '../../src/locks/etcd.js';
import type { RunnerDeps } from '../../src/execute.js';
import { MemoryJournal } from '../../src/testing/index.js';

let etcd: Etcd3;
let endpoint: string;
const uniq = () => `test.locks-${Math.random().toString(16).slice(2, 8)}`;

beforeAll(async () => {
  const lab = await sharedLab();
  endpoint = lab.info.etcd.endpoints[0]!;
  etcd = connectEtcd({ endpoints: lab.info.etcd.endpoints, dialTimeoutMs: 3000, requestTimeoutMs: 5000 });
});
afterAll(() => etcd.close());

describe('etcd counting semaphore', () => {
  it('6 contenders with concurrency 2 never exceed 2 holders (etcd watcher on holder markers)', async () => {
    const name = uniq();
    const markers = `/galley-test/holding/${name}/`;
    const live = new Set<string>();
    let max = 0;
    const watcher = await etcd.watch().prefix(markers).create();
    watcher.on('put', (kv) => {
      live.add(kv.key.toString());
      max = Math.max(max, live.size);
    });
    watcher.on('delete', (kv) => live.delete(kv.key.toString()));
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 30 });
    const order: number[] = [];
    const revs = new Map<number, bigint>();
    await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const s = locks.session(`run-${i}`);
        const { key } = await s.acquire('cookbooks', name, { concurrency: 2, ttlSeconds: 60 });
        order.push(i);
        revs.set(i, BigInt((await etcd.get(key).exec()).kvs[0]!.create_revision));
        await etcd.put(`${markers}${i}`).value('x');
        await new Promise((r) => setTimeout(r, 250));
        await etcd.delete().key(`${markers}${i}`);
        await s.close();
      }),
    );
    await new Promise((r) => setTimeout(r, 100));
    await watcher.cancel();
    expect(order).toHaveLength(6);
    expect(max).toBe(2);
    // fair: the two queue keys created first got the two slots first (the others waited for a release)
    const byRevision = [...revs.entries()].sort((a, b) => (a[1] < b[1] ? -1 : 1)).map(([i]) => i);
    expect(new Set(order.slice(0, 2))).toEqual(new Set(byRevision.slice(0, 2)));
    expect(await locks.list(`cookbooks/${name}/`)).toEqual([]);
  }, 30000);

  it("a kill -9'd holder's slot frees within its lease TTL", async () => {
    const name = uniq();
    const ttl = 3;
    const child = spawn(process.execPath, [path.join(import.meta.dirname, '../fixtures/hold-lock.mjs'), endpoint, name, String(ttl)], {
      cwd: path.join(import.meta.dirname, '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('acquired') && resolve());
      child.on('exit', (code) => reject(new Error(`holder exited early (${code})`)));
    });
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 20 });
    const holders = await locks.list(`cookbooks/${name}/`);
    expect(holders).toHaveLength(1);
    expect(holders[0]!.owner).toMatch(/^.+@.+ \[\d+\]$/);
    child.kill('SIGKILL');
    const killedAt = Date.now();
    const s = locks.session('waiter');
    const waits: number[] = [];
    await s.acquire('cookbooks', name, { concurrency: 1, ttlSeconds: 60, onWait: (h) => waits.push(h.length) });
    const freedAfter = Date.now() - killedAt;
    await s.close();
    expect(waits[0]).toBe(1);
    expect(freedAfter).toBeLessThanOrEqual(ttl * 1000 + 1500);
  }, 30000);

  it('waiting gives up after waitTimeoutSeconds with ERR_LOCK_TIMEOUT listing the holders', async () => {
    const name = uniq();
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 1 });
    const a = locks.session('holder-run');
    await a.acquire('cookbooks', name, { concurrency: 1, ttlSeconds: 60 });
    const b = locks.session('late-run');
    const t0 = Date.now();
    await expect(b.acquire('cookbooks', name, { concurrency: 1, ttlSeconds: 60 })).rejects.toMatchObject({
      code: 'ERR_LOCK_TIMEOUT',
      message: expect.stringContaining('holder-run'),
    });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    // the loser's queue key is gone, the holder's stays
    expect((await locks.list(`cookbooks/${name}/`)).map((e) => e.runId)).toEqual(['holder-run']);
    // dry-run only reports the busy lock and writes nothing
    const rev0 = (await etcd.get('x').exec()).header.revision;
    const d = locks.session('dry', { dryRun: true });
    const r = await d.acquire('cookbooks', name, { concurrency: 1, ttlSeconds: 60 });
    expect(r.busy).toBe(true);
    expect(r.holders.map((h) => h.runId)).toEqual(['holder-run']);
    expect((await etcd.get('x').exec()).header.revision).toBe(rev0);
    await a.close();
    await b.close();
  }, 30000);

  it('an interrupt while waiting stops the wait and removes the queue key', async () => {
    const name = uniq();
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 30 });
    const a = locks.session('holder');
    await a.acquire('cookbooks', name, { concurrency: 1, ttlSeconds: 60 });
    const ac = new AbortController();
    const b = locks.session('waiter');
    const t0 = Date.now();
    const p = b.acquire('cookbooks', name, {
      concurrency: 1,
      ttlSeconds: 60,
      signal: ac.signal,
      onWait: () => ac.abort(new Error('SIGINT')),
    });
    await expect(p).rejects.toThrow('SIGINT');
    expect(Date.now() - t0).toBeLessThan(10000);
    expect((await locks.list(`cookbooks/${name}/`)).map((e) => e.runId)).toEqual(['holder']);
    await a.close();
    await b.close();
  }, 30000);

  it('re-entrant within a session', async () => {
    const name = uniq();
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 1 });
    const s = locks.session('r');
    await s.acquire('cookbooks', name, { concurrency: 1, ttlSeconds: 60 });
    const again = await s.acquire('cookbooks', name, { concurrency: 1, ttlSeconds: 60 });
    expect(again.reentrant).toBe(true);
    expect(await locks.list(`cookbooks/${name}/`)).toHaveLength(1);
    await s.close();
  });

  it('a run whose lease is revoked stops before its next write, and its fenced write is rejected', async () => {
    const lab = await sharedLab();
    const conftool = new Conftool(etcd, { namespace: lab.info.namespace });
    const [node] = await conftool.get({});
    expect(node).toBeDefined();
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 1 });
    const s = locks.session('revoked');
    await s.acquire('cookbooks', uniq(), { concurrency: 1, ttlSeconds: 60 });
    await s.acquire('hosts', node!.tags.name, { concurrency: 1, ttlSeconds: 60 });
    const fenced = conftool.with({ fence: (tags) => s.fence([tags.name]), beforeWrite: () => s.verify() });
    expect(s.fence([node!.tags.name])).toHaveLength(2);
    // a write while the lease is alive goes through
    await fenced.update([node!], { weight: node!.weight + 1 });
    await etcd.leaseClient.leaseRevoke({ ID: s.fence()[0]!.value });
    const rev = (await etcd.get('x').exec()).header.revision;
    // next step: refused before writing
    await expect(
      fenced.update(
        { name: node!.tags.name, dc: node!.tags.dc, cluster: node!.tags.cluster, service: node!.tags.service },
        { weight: node!.weight },
      ),
    ).rejects.toMatchObject({ code: 'ERR_LOCK_LOST' });
    expect(s.lost.aborted).toBe(true);
    // even a write that skips the check is rejected by the fence compare
    const unchecked = conftool.with({ fence: (tags) => s.fence([tags.name]) });
    await expect(
      unchecked.update(
        { name: node!.tags.name, dc: node!.tags.dc, cluster: node!.tags.cluster, service: node!.tags.service },
        { weight: node!.weight },
      ),
    ).rejects.toMatchObject({ code: 'ERR_CONFCTL_FENCED' });
    expect((await etcd.get('x').exec()).header.revision).toBe(rev);
    await s.close();
    // put the object back
    await conftool.update(
      { name: node!.tags.name, dc: node!.tags.dc, cluster: node!.tags.cluster, service: node!.tags.service },
      { weight: node!.weight },
    );
  }, 30000);

  it('through the runner: after the lease is revoked the next write step is refused (ERR_LOCK_LOST), no rollback, nothing written', async () => {
    const lab = await sharedLab();
    const conftool = new Conftool(etcd, { namespace: lab.info.namespace });
    const nodes = (await conftool.get({})).filter((n) => n.pooled === 'yes').slice(0, 2);
    expect(nodes).toHaveLength(2);
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 5 });
    const session = locks.session('runner-revoked');
    let revAfterRevoke = '';
    let rolledBack = false;
    const events: { type: string; [k: string]: unknown }[] = [];
    const c = defineCookbook({
      title: 'writes twice',
      async run(ctx) {
        await ctx.clients.confctl.update([nodes[0]!], { weight: nodes[0]!.weight + 1 });
        await etcd.leaseClient.leaseRevoke({ ID: session.fence()[0]!.value });
        revAfterRevoke = (await etcd.get('x').exec()).header.revision;
        await ctx.clients.confctl.update([nodes[1]!], { weight: nodes[1]!.weight + 1 });
      },
      async rollback() {
        rolledBack = true;
      },
    });
    const r = await executeCookbook(
      { name: 'test.revoked', cookbook: c, argv: [], parsed: { args: {} }, dryRun: false },
      {
        sink: { event: (e) => events.push(e as unknown as { type: string; [k: string]: unknown }) },
        makeClients: (hooks) =>
          ({ confctl: conftool.with({ fence: hooks.fence, beforeWrite: hooks.beforeWrite, onChange: hooks.onChange }) }) as never,
        locks: session,
        journal: new MemoryJournal(),
        resolve: async () => undefined,
        parseArgs: async () => ({ args: {} }),
        confirm: async () => true,
        signal: new AbortController().signal,
        user: 'test@localhost',
      },
    );
    await session.close();
    // a lost lock is an operational failure (exit 1), not an uncaught bug (99)
    expect(r.exitCode).toBe(1);
    expect(events.find((e) => e.type === 'error')).toMatchObject({ phase: 'run', code: 'ERR_LOCK_LOST' });
    expect(rolledBack).toBe(false);
    expect(events.some((e) => e.type === 'log' && String(e.msg).includes('not rolling back: the lock is lost'))).toBe(true);
    expect((await etcd.get('x').exec()).header.revision).toBe(revAfterRevoke);
    expect(r.summary.plan).toHaveLength(1);
    // put the first object back
    await conftool.update(
      [
        (
          await conftool.get({
            name: nodes[0]!.tags.name,
            dc: nodes[0]!.tags.dc,
            cluster: nodes[0]!.tags.cluster,
            service: nodes[0]!.tags.service,
          })
        )[0]!,
      ],
      { weight: nodes[0]!.weight },
    );
  }, 60000);

  describe('a run whose lock key is removed (--break-lock, or another run)', () => {
    let remote: Remote;
    let host: string;
    const absent = () => `galley-test-absent-${Math.random().toString(16).slice(2, 8)}`;
    beforeAll(async () => {
      const lab = await sharedLab();
      const ssh = (await loadConfig({ file: lab.info.config, require: ['ssh'] })).config.ssh as SshConfig;
      remote = new Remote(ssh);
      host = lab.info.hosts[0]!.name;
    });
    afterAll(() => remote.close());

    const deps = (session: RunnerDeps['locks'], events: { type: string; [k: string]: unknown }[]): RunnerDeps => ({
      sink: { event: (e) => events.push(e as unknown as { type: string; [k: string]: unknown }) },
      makeClients: (hooks) => ({ remote: remote.with({ beforeRun: hooks.beforeRun, onCommand: hooks.onCommand }) }) as never,
      locks: session,
      journal: new MemoryJournal(),
      resolve: async () => undefined,
      parseArgs: async () => ({ args: {} }),
      confirm: async () => true,
      signal: new AbortController().signal,
      user: 'test@localhost',
    });

    for (const when of ['right away', 'after the delete was seen']) {
      it(`a non-safe command ${when} is refused with ERR_LOCK_LOST, exit 1, and nothing runs on the host`, async () => {
        const lab = await sharedLab();
        const name = uniq();
        const unit = absent();
        const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 5 });
        const session = locks.session(`broken-${name}`);
        const events: { type: string; [k: string]: unknown }[] = [];
        let ranBefore = false;
        const c = defineCookbook({
          title: 'restarts after its lock was broken',
          async run(ctx) {
            // a non-safe command while the lock is ours runs (and takes the host lock)
            await ctx.clients.remote.run([host], [{ argv: ['systemctl', 'restart', `${unit}-ok`] }], { successThreshold: 0 });
            ranBefore = true;
            const [mine] = await locks.list(`cookbooks/${name}/`);
            // what `cookbook --yes --break-lock KEY` does
            expect(await locks.breakLock(mine!.key)).toBe(true);
            if (when !== 'right away') {
              const deadline = Date.now() + 10000;
              while (!ctx.signal.aborted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
              expect(ctx.signal.aborted).toBe(true);
            }
            await ctx.clients.remote.run([host], [{ argv: ['systemctl', 'restart', unit] }], { successThreshold: 0 });
          },
        });
        const r = await executeCookbook({ name, cookbook: c, argv: [], parsed: { args: {} }, dryRun: false }, deps(session, events));
        await session.close();
        expect(ranBefore).toBe(true);
        expect(r.exitCode).toBe(1);
        const err = events.find((e) => e.type === 'error');
        expect(err).toMatchObject({ phase: 'run', code: 'ERR_LOCK_LOST' });
        expect(String(err!.message)).toContain(`/galley/locks/cookbooks/${name}/`);
        const log = await lab.systemctlLog(host);
        expect(log.some((l) => l.endsWith(`restart ${unit}-ok`))).toBe(true);
        expect(log.filter((l) => l.endsWith(`restart ${unit}`))).toEqual([]);
      }, 60000);
    }

    it('a cookbook that reacts to the lost lock with its own error still exits 1 (the lock is the cause), not 99', async () => {
      const name = uniq();
      const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 5 });
      const session = locks.session(`broken-${name}`);
      const events: { type: string; [k: string]: unknown }[] = [];
      const c = defineCookbook({
        title: 'gives up on abort',
        async run(ctx) {
          const [mine] = await locks.list(`cookbooks/${name}/`);
          await locks.breakLock(mine!.key);
          const deadline = Date.now() + 10000;
          while (!ctx.signal.aborted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
          throw new Error('wait aborted');
        },
      });
      const r = await executeCookbook({ name, cookbook: c, argv: [], parsed: { args: {} }, dryRun: false }, deps(session, events));
      await session.close();
      expect(r.exitCode).toBe(1);
      expect(events.some((e) => e.type === 'log' && String(e.msg).includes("the run's lock was lost"))).toBe(true);
    }, 30000);

    it('a host lock key removed: the next non-safe command on that host is refused too', async () => {
      const lab = await sharedLab();
      const unit = absent();
      const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 5 });
      const name = uniq();
      const session = locks.session(`broken-host-${name}`);
      await session.acquire('cookbooks', name, { concurrency: 1, ttlSeconds: 60 });
      const run = remote.with({ beforeRun: () => session.verify() });
      await session.acquire('hosts', host, { concurrency: 1, ttlSeconds: 60 });
      const hostKey = (await locks.list(`hosts/${host}/`)).find((e) => e.runId === `broken-host-${name}`)!.key;
      expect(await locks.breakLock(hostKey)).toBe(true);
      await expect(run.run([host], [{ argv: ['systemctl', 'restart', unit] }], { successThreshold: 0 })).rejects.toMatchObject({
        code: 'ERR_LOCK_LOST',
        message: expect.stringContaining(hostKey),
      });
      await session.close();
      expect((await lab.systemctlLog(host)).filter((l) => l.endsWith(`restart ${unit}`))).toEqual([]);
    }, 30000);
  });

  it('max hold counts from acquisition: a holder that had to wait is not expired early by others', async () => {
    const name = uniq();
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 10 });
    const a = locks.session('first');
    await a.acquire('cookbooks', name, { concurrency: 1, ttlSeconds: 60 });
    const b = locks.session('waited');
    const got = b.acquire('cookbooks', name, { concurrency: 1, ttlSeconds: 4 });
    // b queues (its key is created now), waits 4 s, then gets the slot with a 4 s max hold
    await new Promise((r) => setTimeout(r, 4000));
    await a.close();
    await got;
    const acquiredAt = Date.now();
    // 1 s later: 5 s after b's key was created, only 1 s after b got the slot
    await new Promise((r) => setTimeout(r, 1000));
    const c = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 1 }).session('late');
    await expect(c.acquire('cookbooks', name, { concurrency: 1, ttlSeconds: 60 })).rejects.toMatchObject({ code: 'ERR_LOCK_TIMEOUT' });
    expect(Date.now() - acquiredAt).toBeLessThan(4000);
    expect((await locks.list(`cookbooks/${name}/`)).map((e) => e.runId)).toEqual(['waited']);
    expect(b.lost.aborted).toBe(false);
    await b.close();
    await c.close();
  }, 30000);

  it('through the runner: a first SIGINT stops a host-lock wait (exit 97, queue key removed), not after waitTimeoutSeconds', async () => {
    const name = uniq();
    const host = `${name}.eqiad.wmnet`;
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 30 });
    const holder = locks.session('host-holder');
    await holder.acquire('hosts', host, { concurrency: 1, ttlSeconds: 60 });
    const session = locks.session('host-waiter');
    const ac = new AbortController();
    const c = defineCookbook({
      title: 'locks a busy host',
      async run(ctx) {
        await ctx.lockHosts([host]);
      },
    });
    const t0 = Date.now();
    const r = await executeCookbook(
      { name, cookbook: c, argv: [], parsed: { args: {} }, dryRun: false },
      {
        sink: {
          event: (e) => {
            if (e.type === 'lock' && (e as { status?: string }).status === 'waiting') ac.abort(new Error('SIGINT'));
          },
        },
        makeClients: () => ({}) as never,
        locks: session,
        journal: new MemoryJournal(),
        resolve: async () => undefined,
        parseArgs: async () => ({ args: {} }),
        confirm: async () => true,
        signal: ac.signal,
        user: 'test@localhost',
      },
    );
    expect(r.exitCode).toBe(97);
    expect(Date.now() - t0).toBeLessThan(10000);
    expect((await locks.list(`hosts/${host}/`)).map((e) => e.runId)).toEqual(['host-holder']);
    await session.close();
    await holder.close();
  }, 60000);

  it('a held lock past its max-hold TTL: the run is told (ERR_LOCK_EXPIRED, signal aborted) and its key is removed', async () => {
    const name = uniq();
    const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 5 });
    const s = locks.session('overrun');
    await s.acquire('cookbooks', name, { concurrency: 1, ttlSeconds: 1 });
    const deadline = Date.now() + 10000;
    while (!s.lost.aborted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(s.lost.aborted).toBe(true);
    expect(() => s.check()).toThrow(expect.objectContaining({ code: 'ERR_LOCK_EXPIRED' }));
    await expect(s.verify()).rejects.toMatchObject({ code: 'ERR_LOCK_EXPIRED' });
    const gone = Date.now() + 5000;
    while ((await locks.list(`cookbooks/${name}/`)).length > 0 && Date.now() < gone) await new Promise((r) => setTimeout(r, 50));
    expect(await locks.list(`cookbooks/${name}/`)).toEqual([]);
    await s.close();
  }, 30000);

  describe('named locks (ctx.lock) through the runner', () => {
    const runnerDeps = (
      session: RunnerDeps['locks'],
      events: { type: string; [k: string]: unknown }[],
      makeClients: RunnerDeps['makeClients'] = () => ({}) as never,
    ): RunnerDeps => ({
      sink: { event: (e) => events.push(e as unknown as { type: string; [k: string]: unknown }) },
      makeClients,
      locks: session,
      journal: new MemoryJournal(),
      resolve: async () => undefined,
      parseArgs: async () => ({ args: {} }),
      confirm: async () => true,
      signal: new AbortController().signal,
      user: 'test@localhost',
    });

    it('held at /galley/locks/<kind>/<name>/ until the run ends: a second run waits, shown with the holder, then takes it; nothing left after', async () => {
      const name = uniq().replace('test.locks-', 'eqiad-');
      const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 20 });
      let release: () => void = () => undefined;
      const released = new Promise<void>((r) => (release = r));
      let holding: () => void = () => undefined;
      const held = new Promise<void>((r) => (holding = r));
      const first = defineCookbook({
        title: 'holds',
        async run(ctx) {
          await ctx.lock('test-cluster', name, { concurrency: 1 });
          holding();
          await released;
        },
      });
      let secondGot = 0;
      const second = defineCookbook({
        title: 'waits',
        async run(ctx) {
          await ctx.lock('test-cluster', name, { concurrency: 1 });
          if (!ctx.dryRun) secondGot = Date.now();
        },
      });
      const s1 = locks.session('named-first');
      const e1: { type: string; [k: string]: unknown }[] = [];
      const r1 = executeCookbook(
        { name: 'test.named-1', cookbook: first, argv: [], parsed: { args: {} }, dryRun: false },
        runnerDeps(s1, e1),
      ).finally(() => s1.close());
      await held;
      const listed = await locks.list(`test-cluster/${name}/`);
      expect(listed.map((l) => [l.lock, l.runId, l.concurrency])).toEqual([[`test-cluster/${name}`, 'named-first', 1]]);
      expect(e1.filter((e) => e.type === 'lock' && e.status === 'acquired').map((e) => e.key)).toEqual(
        expect.arrayContaining([listed[0]!.key]),
      );
      // the dry-run of another run reports it busy, waits for nothing
      const sd = locks.session('named-dry', { dryRun: true });
      const ed: { type: string; [k: string]: unknown }[] = [];
      expect(
        (
          await executeCookbook(
            { name: 'test.named-d', cookbook: second, argv: [], parsed: { args: {} }, dryRun: true },
            runnerDeps(sd, ed),
          )
        ).exitCode,
      ).toBe(0);
      await sd.close();
      expect(ed.find((e) => e.type === 'lock' && e.status === 'busy')).toMatchObject({
        key: `test-cluster/${name}`,
        message: `lock test-cluster/${name} is held by another run`,
        holders: [expect.objectContaining({ runId: 'named-first' })],
      });
      const s2 = locks.session('named-second');
      const e2: { type: string; [k: string]: unknown }[] = [];
      const r2 = executeCookbook(
        { name: 'test.named-2', cookbook: second, argv: [], parsed: { args: {} }, dryRun: false },
        runnerDeps(s2, e2),
      ).finally(() => s2.close());
      const until = Date.now() + 10000;
      while (!e2.some((e) => e.type === 'lock' && e.status === 'waiting') && Date.now() < until)
        await new Promise((r) => setTimeout(r, 50));
      expect(e2.find((e) => e.type === 'lock' && e.status === 'waiting')).toMatchObject({
        key: `test-cluster/${name}`,
        holders: [expect.objectContaining({ runId: 'named-first' })],
      });
      expect(secondGot).toBe(0);
      const releasedAt = Date.now();
      release();
      expect((await r1).exitCode).toBe(0);
      expect((await r2).exitCode).toBe(0);
      expect(secondGot).toBeGreaterThanOrEqual(releasedAt);
      expect(await locks.list(`test-cluster/${name}/`)).toEqual([]);
    }, 60000);

    it('fences every write of the run, as the cookbook lock does: its key removed, a write is rejected by etcd and nothing is written', async () => {
      const lab = await sharedLab();
      const conftool = new Conftool(etcd, { namespace: lab.info.namespace });
      const [node] = await conftool.get({});
      const name = uniq().replace('test.locks-', 'eqiad-');
      const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 5, waitTimeoutSeconds: 5 });
      const session = locks.session('named-fenced');
      const events: { type: string; [k: string]: unknown }[] = [];
      let rev = '';
      let fencedKeys: string[] = [];
      const c = defineCookbook({
        title: 'named lock fences',
        async run(ctx) {
          await ctx.lock('test-cluster', name, { concurrency: 1 });
          fencedKeys = session.fence([]).map((f) => f.key);
          await ctx.clients.confctl.update([node!], { weight: node!.weight + 1 });
          const [mine] = await locks.list(`test-cluster/${name}/`);
          await etcd.delete().key(mine!.key).exec();
          rev = (await etcd.get('x').exec()).header.revision;
          await ctx.clients.confctl.update(
            { name: node!.tags.name, dc: node!.tags.dc, cluster: node!.tags.cluster, service: node!.tags.service },
            { weight: node!.weight },
          );
        },
      });
      // only the fence (no beforeWrite check): what stops the write is etcd's compare on the named lock's key
      const r = await executeCookbook(
        { name: 'test.named-fence', cookbook: c, argv: [], parsed: { args: {} }, dryRun: false },
        runnerDeps(session, events, (hooks) => ({ confctl: conftool.with({ fence: hooks.fence, onChange: hooks.onChange }) }) as never),
      );
      expect((await etcd.get('x').exec()).header.revision).toBe(rev);
      await session.close();
      expect(fencedKeys.some((k) => k.startsWith(`/galley/locks/test-cluster/${name}/`))).toBe(true);
      expect(r.exitCode).toBe(1);
      expect(events.find((e) => e.type === 'error')).toMatchObject({ phase: 'run', code: 'ERR_CONFCTL_FENCED' });
      await conftool.update(
        { name: node!.tags.name, dc: node!.tags.dc, cluster: node!.tags.cluster, service: node!.tags.service },
        { weight: node!.weight },
      );
    }, 30000);
  });
});
