import { describe, expect, it } from '@jest/globals';
import { GalleyError } from '@galley/errors';
import type { ClientHooks } from './clients.js';
import { defineCookbook, InitSuccess } from './cookbook.js';
import { MemoryJournal, MemoryLocks, runCookbookForTest } from './testing/index.js';

const ok = defineCookbook({ title: 'ok', async run() {} });

describe('executeCookbook outcomes (through runCookbookForTest)', () => {
  const table: { name: string; cookbook: Parameters<typeof runCookbookForTest>[0]; exit: number; rolledBack?: boolean }[] = [
    { name: 'success', cookbook: ok, exit: 0 },
    {
      name: 'non-zero',
      cookbook: defineCookbook({
        title: 'n',
        async run() {
          return 3;
        },
      }),
      exit: 3,
    },
    {
      name: 'throw',
      cookbook: defineCookbook({
        title: 't',
        async run() {
          throw new Error('boom');
        },
      }),
      exit: 99,
    },
    {
      // An error the user can act on (stable code, hint) is an operational failure, not a bug.
      name: 'throw a GalleyError',
      cookbook: defineCookbook({
        title: 't',
        async run() {
          throw new GalleyError('ERR_ETCD_UNAVAILABLE', 'etcd at 127.0.0.1:2379 is unreachable', { hint: 'check etcd' });
        },
      }),
      exit: 1,
    },
    {
      name: 'rollback after throw',
      cookbook: defineCookbook({
        title: 'r',
        async run() {
          throw new Error('boom');
        },
        async rollback() {},
      }),
      exit: 99,
      rolledBack: true,
    },
    {
      name: 'throwing rollback',
      cookbook: defineCookbook({
        title: 'r',
        async run() {
          return 2;
        },
        async rollback() {
          throw new Error('rb');
        },
      }),
      exit: 93,
      rolledBack: false,
    },
    {
      name: 'prepare throws',
      cookbook: defineCookbook({
        title: 'p',
        async prepare() {
          throw new Error('bad');
        },
        async run() {},
      }),
      exit: 94,
    },
    {
      name: 'init success',
      cookbook: defineCookbook({
        title: 'i',
        async prepare() {
          throw new InitSuccess('nothing to do');
        },
        async run() {
          return 5;
        },
      }),
      exit: 0,
    },
  ];
  for (const t of table) {
    it(`${t.name} → exit ${t.exit}`, async () => {
      const r = await runCookbookForTest(t.cookbook);
      expect(r.exitCode).toBe(t.exit);
      const fin = r.events.find((e) => e.type === 'run-finished') as unknown as { exitCode: number; summary: { rolledBack: boolean } };
      expect(fin.exitCode).toBe(t.exit);
      if (t.rolledBack !== undefined) expect(fin.summary.rolledBack).toBe(t.rolledBack);
    });
  }

  it('bad args → 96 naming the argument and the accepted values', async () => {
    const c = defineCookbook({ title: 'a', args: { dc: { choices: ['eqiad', 'codfw'] as const, demandOption: true } }, async run() {} });
    const r = await runCookbookForTest(c, { args: ['dc=esams'] });
    expect(r.exitCode).toBe(96);
    const err = r.events.find((e) => e.type === 'error') as unknown as { message: string };
    expect(err.message).toContain('dc');
    expect(err.message).toContain('"eqiad", "codfw"');
  });

  it('reason and task are validated', async () => {
    const c = defineCookbook({
      title: 'a',
      reason: 'required',
      task: 'optional',
      async run(ctx) {
        ctx.output({ r: ctx.reason, t: ctx.taskId });
      },
    });
    expect((await runCookbookForTest(c, { args: ['reason=has "quotes"'] })).exitCode).toBe(96);
    expect((await runCookbookForTest(c, { args: [] })).exitCode).toBe(96);
    expect((await runCookbookForTest(c, { args: ['-r', 'x', '-t', '12'] })).exitCode).toBe(96);
    const r = await runCookbookForTest(c, { args: ['reason=maintenance', 'task=T123'] });
    expect(r.exitCode).toBe(0);
    expect(r.output).toEqual({ r: 'maintenance', t: 'T123' });
  });

  it('interrupted run → 97 and rollback runs', async () => {
    const ac = new AbortController();
    let rolled = false;
    const c = defineCookbook({
      title: 'i',
      async run(ctx) {
        ac.abort();
        expect(ctx.signal.aborted).toBe(true);
      },
      async rollback() {
        rolled = true;
      },
    });
    const r = await runCookbookForTest(c, { signal: ac.signal });
    expect(r.exitCode).toBe(97);
    expect(rolled).toBe(true);
  });

  it('nested cookbooks share dry-run, take re-entrant locks and return their own exit code', async () => {
    const child = defineCookbook({
      title: 'c',
      lock: { concurrency: 1 },
      args: { n: { type: 'number' } },
      async run(ctx) {
        return ctx.dryRun ? (ctx.args.n ?? 0) : 50;
      },
    });
    const parent = defineCookbook({
      title: 'p',
      lock: { concurrency: 1 },
      async run(ctx) {
        ctx.output([
          await ctx.runCookbook('x.child', ['n=7']),
          await ctx.runCookbook('x.child', ['n=8']),
          await ctx.runCookbook('x.missing'),
        ]);
      },
    });
    const r = await runCookbookForTest(parent, { dryRun: true, cookbooks: { 'x.child': child } });
    expect(r.exitCode).toBe(0);
    expect(r.output).toEqual([7, 8, 98]);
  });

  it('a busy cookbook lock fails with exit 1 and lists the holders; dry-run only reports it', async () => {
    const locks = new MemoryLocks();
    const c = defineCookbook({ title: 'l', lock: { concurrency: 1 }, async run() {} });
    const holder = locks.session('other-run');
    await holder.acquire('cookbooks', 'test.cookbook', { concurrency: 1, ttlSeconds: 60 });
    const r = await runCookbookForTest(c, { locks });
    expect(r.exitCode).toBe(1);
    const err = r.events.find((e) => e.type === 'error') as unknown as { code: string; message: string };
    expect(err.code).toBe('ERR_LOCK_TIMEOUT');
    expect(err.message).toContain('other-run');
    const d = await runCookbookForTest(c, { locks, dryRun: true });
    expect(d.exitCode).toBe(0);
    expect(d.events.some((e) => e.type === 'lock' && e.status === 'busy')).toBe(true);
    await holder.close();
  });

  it('journal entries are stored (not in dry-run) and resume is refused for another cookbook', async () => {
    const journal = new MemoryJournal();
    const w = defineCookbook({
      title: 'w',
      async run(ctx) {
        await ctx.journal.append({ type: 'host-done', host: 'a' });
      },
    });
    const r1 = await runCookbookForTest(w, { journal, name: 'x.w' });
    expect(journal.runs.get(r1.runId)?.entries).toEqual([expect.objectContaining({ type: 'host-done', host: 'a', seq: 1 })]);
    const resumed = defineCookbook({
      title: 'w',
      async run(ctx) {
        ctx.output(ctx.resume?.entries.length);
      },
    });
    const r2 = await runCookbookForTest(resumed, { journal, name: 'x.w', resumeRunId: r1.runId });
    expect(r2.output).toBe(1);
    const r3 = await runCookbookForTest(resumed, { journal, name: 'x.other', resumeRunId: r1.runId });
    expect(r3.exitCode).toBe(96);
    const d = await runCookbookForTest(w, { journal, name: 'x.w', dryRun: true });
    expect(journal.runs.has(d.runId)).toBe(false);
  });

  it('a busy host lock inside run() exits 1 (not 99) with ERR_LOCK_TIMEOUT naming the holder', async () => {
    const locks = new MemoryLocks();
    const holder = locks.session('host-holder-run');
    await holder.acquire('hosts', 'mw1001.eqiad.wmnet', { concurrency: 1, ttlSeconds: 60 });
    const c = defineCookbook({
      title: 'h',
      async run(ctx) {
        await ctx.lockHosts(['mw1001.eqiad.wmnet']);
      },
    });
    const r = await runCookbookForTest(c, { locks });
    expect(r.exitCode).toBe(1);
    expect(r.events.find((e) => e.type === 'error')).toMatchObject({
      phase: 'run',
      code: 'ERR_LOCK_TIMEOUT',
      message: expect.stringContaining('host-holder-run'),
    });
    await holder.close();
  });

  describe('ctx.lock: named locks', () => {
    const named = defineCookbook({
      title: 'n',
      async run(ctx) {
        await ctx.lock('lb-cluster', 'eqiad-jobrunner', { concurrency: 1 });
        await ctx.lock('lb-cluster', 'eqiad-jobrunner', { concurrency: 1 });
        ctx.output('held');
      },
    });

    it('is held under <kind>/<name> until the run ends, announced once (idempotent), and released at the end', async () => {
      const locks = new MemoryLocks();
      let during: string[] = [];
      const c = defineCookbook({
        title: 'n',
        async run(ctx) {
          await ctx.lock('lb-cluster', 'eqiad-jobrunner', { concurrency: 1 });
          await ctx.lock('lb-cluster', 'eqiad-jobrunner', { concurrency: 1 });
          during = [...locks.held.keys()];
        },
      });
      const r = await runCookbookForTest(c, { locks });
      expect(r.exitCode).toBe(0);
      expect(during).toContain('lb-cluster/eqiad-jobrunner');
      expect(r.events.filter((e) => e.type === 'lock' && e.status === 'acquired' && e.key === 'lb-cluster/eqiad-jobrunner')).toHaveLength(
        1,
      );
      expect(locks.held.has('lb-cluster/eqiad-jobrunner')).toBe(false);
    });

    it('held by another run: the run fails with exit 1 and ERR_LOCK_TIMEOUT naming the holder; dry-run reports it busy and goes on', async () => {
      const locks = new MemoryLocks();
      const holder = locks.session('cluster-holder-run');
      await holder.acquire('lb-cluster', 'eqiad-jobrunner', { concurrency: 1, ttlSeconds: 60 });
      const r = await runCookbookForTest(named, { locks });
      expect(r.exitCode).toBe(1);
      expect(r.events.find((e) => e.type === 'error')).toMatchObject({
        phase: 'run',
        code: 'ERR_LOCK_TIMEOUT',
        message: expect.stringContaining('cluster-holder-run'),
      });
      expect(r.output).toBeUndefined();
      const d = await runCookbookForTest(named, { locks, dryRun: true });
      expect(d.exitCode).toBe(0);
      expect(d.events.find((e) => e.type === 'lock' && e.status === 'busy')).toMatchObject({
        key: 'lb-cluster/eqiad-jobrunner',
        message: 'lock lb-cluster/eqiad-jobrunner is held by another run',
      });
      expect(d.output).toBe('held');
      await holder.close();
    });

    it('concurrency N lets N runs hold it', async () => {
      const locks = new MemoryLocks();
      const holder = locks.session('first');
      await holder.acquire('deploy-window', 'eqiad', { concurrency: 2, ttlSeconds: 60 });
      const c = defineCookbook({
        title: 'w',
        async run(ctx) {
          await ctx.lock('deploy-window', 'eqiad', { concurrency: 2 });
        },
      });
      expect((await runCookbookForTest(c, { locks })).exitCode).toBe(0);
      await holder.close();
    });

    it('is re-entrant in a nested run', async () => {
      const locks = new MemoryLocks();
      const child = defineCookbook({
        title: 'c',
        async run(ctx) {
          await ctx.lock('lb-cluster', 'eqiad-jobrunner', { concurrency: 1 });
        },
      });
      const parent = defineCookbook({
        title: 'p',
        async run(ctx) {
          await ctx.lock('lb-cluster', 'eqiad-jobrunner', { concurrency: 1 });
          return ctx.runCookbook('x.child');
        },
      });
      expect((await runCookbookForTest(parent, { locks, cookbooks: { 'x.child': child } })).exitCode).toBe(0);
    });

    const bad: [string, string, string, number, RegExp][] = [
      ['a runner kind (hosts)', 'hosts', 'mw1001.eqiad.wmnet', 1, /lock kind hosts is the runner's own \(use ctx.lockHosts\)/],
      ['a runner kind (cookbooks)', 'cookbooks', 'sre.x', 1, /lock kind cookbooks is the runner's own/],
      ['a kind that is not a plain word', 'lb/cluster', 'x', 1, /lock kind "lb\/cluster" must be lowercase letters/],
      [
        'a name with a /',
        'lb-cluster',
        'eqiad/jobrunner',
        1,
        /lock name "eqiad\/jobrunner" \(kind lb-cluster\) must be non-empty, without '\/'/,
      ],
      ['an empty name', 'lb-cluster', '', 1, /lock name "" \(kind lb-cluster\)/],
      ['concurrency 0', 'lb-cluster', 'x', 0, /concurrency must be a whole number ≥ 1, got 0/],
    ];
    for (const [what, kind, lockName, concurrency, message] of bad) {
      it(`${what} is the cookbook's bug: exit 99 naming it, nothing taken`, async () => {
        const locks = new MemoryLocks();
        const c = defineCookbook({
          title: 'b',
          async run(ctx) {
            await ctx.lock(kind, lockName, { concurrency });
          },
        });
        const r = await runCookbookForTest(c, { locks });
        expect(r.exitCode).toBe(99);
        expect(r.events.find((e) => e.type === 'error')).toMatchObject({ phase: 'run', message: expect.stringMatching(message) });
        expect(r.events.some((e) => e.type === 'lock' && e.status === 'acquired' && e.key !== 'cookbooks/test.cookbook')).toBe(false);
      });
    }
  });

  describe('prepare() may only read', () => {
    // Each attempt goes through the same hooks the real clients call (see ClientHooks).
    const attempts: [
      string,
      (ctx: Parameters<NonNullable<Parameters<typeof defineCookbook>[0]['prepare']>>[0], hooks: ClientHooks) => Promise<unknown>,
    ][] = [
      [
        'a conftool write',
        (_ctx, h) => h.beforeWrite([{ tags: { name: 'mw1001.eqiad.wmnet', dc: 'eqiad', cluster: 'appserver', service: 'apache2' } }]),
      ],
      ['a non-safe command', (_ctx, h) => h.beforeRun(['mw1001.eqiad.wmnet'], [])],
      ['a host lock', (ctx) => ctx.lockHosts(['mw1001.eqiad.wmnet'])],
      ['a named lock', (ctx) => ctx.lock('lb-cluster', 'eqiad-jobrunner', { concurrency: 1 })],
      ['a nested run', (ctx) => ctx.runCookbook('x.child')],
      [
        'a lifecycle write',
        async (_ctx, h) => h.onAction({ client: 'provisioner', action: 'reinstall', host: 'mw1001.eqiad.wmnet', dryRun: false }),
      ],
    ];
    for (const [what, attempt] of attempts) {
      it(`${what} in prepare → exit 94 with ERR_WRITE_IN_PREPARE; no lock taken, run() never starts`, async () => {
        const locks = new MemoryLocks();
        let hooks: ClientHooks | undefined;
        let ran = false;
        let childRan = false;
        const c = defineCookbook({
          title: 'p',
          async prepare(ctx) {
            await attempt(ctx, hooks!);
          },
          async run() {
            ran = true;
          },
        });
        const child = defineCookbook({
          title: 'c',
          async run() {
            childRan = true;
          },
        });
        const r = await runCookbookForTest(c, { locks, clients: (h) => ((hooks = h), {}), cookbooks: { 'x.child': child } });
        expect(r.exitCode).toBe(94);
        expect(r.events.find((e) => e.type === 'error')).toMatchObject({ phase: 'prepare', code: 'ERR_WRITE_IN_PREPARE' });
        expect(ran || childRan).toBe(false);
        expect(locks.held.size).toBe(0);
      });
    }
    it('dry-run: an intended conftool change or non-safe command in prepare is refused the same way', async () => {
      for (const attempt of [
        (h: ClientHooks) =>
          h.onChange({ key: 'k', tags: { name: 'h', dc: 'd', cluster: 'c', service: 's' }, field: 'pooled', from: 'yes', to: 'no' }),
        (h: ClientHooks) => h.onCommand({ hosts: ['h'], cmd: 'systemctl restart x', dryRun: true }),
      ]) {
        let hooks: ClientHooks | undefined;
        const c = defineCookbook({
          title: 'p',
          async prepare() {
            attempt(hooks!);
          },
          async run() {},
        });
        const r = await runCookbookForTest(c, { dryRun: true, clients: (h) => ((hooks = h), {}) });
        expect(r.exitCode).toBe(94);
        expect(r.plan).toEqual([]);
      }
    });
    it('the same hooks work once run() has started, and a safe command in prepare is fine', async () => {
      let hooks: ClientHooks | undefined;
      const c = defineCookbook({
        title: 'p',
        async prepare() {
          hooks!.onCommand({ hosts: ['h'], cmd: 'hostname -f', dryRun: false });
        },
        async run(ctx) {
          await hooks!.beforeRun(['mw1001.eqiad.wmnet'], []);
          await ctx.lockHosts(['mw1002.eqiad.wmnet']);
        },
      });
      const locks = new MemoryLocks();
      const r = await runCookbookForTest(c, { locks, clients: (h) => ((hooks = h), {}) });
      expect(r.exitCode).toBe(0);
    });
  });

  describe('lifecycle writes (provisioner, inventory, monitoring) need the host lock', () => {
    const act = (h: ClientHooks, dryRun = false) =>
      h.onAction({ client: 'provisioner', action: 'reinstall', host: 'mw1001.eqiad.wmnet', dryRun });
    it('without ctx.lockHosts a real run refuses the write (fail closed)', async () => {
      let hooks: ClientHooks | undefined;
      let acted = false;
      const c = defineCookbook({
        title: 'l',
        async run() {
          act(hooks!);
          acted = true;
        },
      });
      const r = await runCookbookForTest(c, { clients: (h) => ((hooks = h), {}) });
      expect(acted).toBe(false);
      expect(r.exitCode).toBe(99);
      expect(r.events.find((e) => e.type === 'error')).toMatchObject({
        phase: 'run',
        message: expect.stringContaining('host lock hosts/mw1001.eqiad.wmnet'),
      });
    });
    it('after ctx.lockHosts it goes through; in dry-run no lock is needed', async () => {
      let hooks: ClientHooks | undefined;
      const locked = defineCookbook({
        title: 'l',
        async run(ctx) {
          await ctx.lockHosts(['mw1001.eqiad.wmnet']);
          act(hooks!);
        },
      });
      expect((await runCookbookForTest(locked, { clients: (h) => ((hooks = h), {}) })).exitCode).toBe(0);
      const dry = defineCookbook({
        title: 'd',
        async run() {
          act(hooks!, true);
        },
      });
      expect((await runCookbookForTest(dry, { dryRun: true, clients: (h) => ((hooks = h), {}) })).exitCode).toBe(0);
    });
  });
});
