import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { CONFCTL_EXIT, formatChange, formatGetLine, parseSetAction, runConfctl, type CliIo } from './cli.js';
import { FakeConftool } from './testing/index.js';

function fleet(n: number): FakeConftool {
  const ct = new FakeConftool();
  const objects: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) objects[`eqiad/appserver/nginx/mw${1001 + i}.eqiad.wmnet`] = { pooled: 'yes', weight: 10 };
  return ct.seed(objects);
}

function io(ct: FakeConftool, opts: { isTTY?: boolean; answer?: string } = {}): CliIo & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    isTTY: opts.isTTY ?? false,
    ask: async (text, prompt) => {
      asked.push(text + prompt);
      return opts.answer ?? '';
    },
    fqdn: async () => 'mw1001.eqiad.wmnet',
    // runConfctl closes the Conftool it was given; hand out a view so the fake stays usable.
    conftool: async ({ dryRun, log }) => ct.with({ dryRun, log }),
  };
}

describe('confctl command handlers (in-memory store)', () => {
  it('asks "Ok to continue? [y/N]" on a terminal before a write on more than one object, and changes nothing unless the answer is y', async () => {
    const ct = fleet(3);
    const before = await ct.revision();
    for (const answer of ['', 'n', 'yes']) {
      const declined = io(ct, { isTTY: true, answer });
      const r = await runConfctl(['select', 'cluster=appserver', 'set/pooled=no'], declined);
      expect(r.exitCode).toBe(CONFCTL_EXIT.FAILED);
      // conftool's question: the objects by dc/cluster/service, as json.dumps prints them
      expect(declined.asked).toEqual([
        'The selector you chose has selected the following objects:\n' +
          '{"/eqiad/appserver/nginx": ["mw1001.eqiad.wmnet", "mw1002.eqiad.wmnet", "mw1003.eqiad.wmnet"]}\n' +
          'Ok to continue? [y/N]\nconfctl>',
      ]);
      expect(r.stdout).toEqual(['Aborting']);
      expect(r.stderr.join('\n')).toContain('not confirmed');
    }
    expect(await ct.revision()).toBe(before);

    const accepted = io(ct, { isTTY: true, answer: 'Y' });
    const ok = await runConfctl(['select', 'cluster=appserver', 'set/pooled=no'], accepted);
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toHaveLength(3);
    expect((await ct.filter({ cluster: 'appserver' }, { pooled: 'no' })).length).toBe(3);
  });

  it('does not ask for one object, nor in dry-run, nor with --yes; the shortcuts never ask', async () => {
    const ct = fleet(3);
    const q = io(ct, { isTTY: true });
    expect((await runConfctl(['select', 'name=mw1001.eqiad.wmnet', 'set/weight=3'], q)).exitCode).toBe(0);
    expect((await runConfctl(['--yes', 'select', 'cluster=appserver', 'set/weight=4'], q)).exitCode).toBe(0);
    expect((await runConfctl(['depool'], q)).stdout).toEqual(['eqiad/appserver/nginx/mw1001.eqiad.wmnet: pooled changed yes => no']);
    expect(q.asked).toEqual([]);
    const big = fleet(12);
    const before = await big.revision();
    const dry = await runConfctl(['--dry-run', 'select', 'cluster=appserver', 'set/weight=3'], io(big));
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toHaveLength(12);
    expect(dry.stdout[0]).toBe('DRY-RUN: would set weight=3 on eqiad/appserver/nginx/mw1001.eqiad.wmnet');
    expect(await big.revision()).toBe(before);
  });

  it('reports "nothing to change" when every object already has the value', async () => {
    const ct = fleet(2);
    const r = await runConfctl(['select', 'name=mw1001.*', 'set/pooled=yes'], io(ct));
    expect(r).toMatchObject({ exitCode: 0, stdout: [] });
    expect(r.stderr).toEqual(['nothing to change: all 1 selected objects already have pooled=yes']);
  });

  it('--json set prints one change per line', async () => {
    const ct = fleet(1);
    const r = await runConfctl(['--json', 'depool', 'mw1001.eqiad.wmnet'], io(ct));
    expect(r.exitCode).toBe(0);
    expect(r.stdout.map((l) => JSON.parse(l) as unknown)).toEqual([
      {
        key: '/conftool/v1/pools/eqiad/appserver/nginx/mw1001.eqiad.wmnet',
        tags: { dc: 'eqiad', cluster: 'appserver', service: 'nginx', name: 'mw1001.eqiad.wmnet' },
        field: 'pooled',
        from: 'yes',
        to: 'no',
        dryRun: false,
      },
    ]);
  });

  it('parses set actions strictly', () => {
    expect(parseSetAction('set/pooled=no:weight=10')).toEqual({ pooled: 'no', weight: 10 });
    expect(parseSetAction('set/weight=0')).toEqual({ weight: 0 });
    for (const bad of [
      'set/',
      'set/pooled',
      'set/pooled=maybe',
      'set/weight=1.5',
      'set/weight=-1',
      'set/colour=red',
      'set/pooled=no=yes',
    ]) {
      expect(() => parseSetAction(bad)).toThrow(expect.objectContaining({ code: 'ERR_CONFCTL_BAD_ACTION' }));
    }
  });

  it("a pooled= change by hand records the operator's intent in the same txn: depool (also of an object already at no) makes them the owner, pool clears it", async () => {
    const ct = fleet(2);
    const k1 = '/conftool/v1/pools/eqiad/appserver/nginx/mw1001.eqiad.wmnet';
    const k2 = '/conftool/v1/pools/eqiad/appserver/nginx/mw1002.eqiad.wmnet';
    // a run holds mw1002 out (its marker); the operator depools both by hand
    const [n2] = await ct.select({ name: 'mw1002\\.eqiad\\.wmnet' });
    await ct.transition([
      {
        node: n2!,
        change: { pooled: 'no' },
        owner: { set: { runId: 'run-1', user: 'bot', reason: 'rolling', time: '2026-12-04T00:00:00.000Z' } },
      },
    ]);
    expect((await runConfctl(['depool', 'mw1001.eqiad.wmnet'], io(ct))).exitCode).toBe(0);
    expect((await runConfctl(['--yes', 'select', 'name=mw1002.eqiad.wmnet', 'set/pooled=no'], io(ct))).exitCode).toBe(0);
    const owners = await ct.owners({});
    expect(owners.get(k1)).toMatchObject({ runId: expect.stringMatching(/^operator:/), reason: 'confctl depool by hand' });
    expect(owners.get(k2)).toMatchObject({ runId: expect.stringMatching(/^operator:/) });
    // the run's put-back (marker must be its own) now finds the operator's: hands off
    const [back] = await ct.transition([
      {
        node: (await ct.select({ name: 'mw1002\\.eqiad\\.wmnet' }))[0]!,
        change: { pooled: 'yes' },
        expect: { pooled: 'no' },
        owner: { mustBe: 'run-1' },
      },
    ]);
    expect(back).toMatchObject({ status: 'changed-by-someone-else', foundOwner: { runId: expect.stringMatching(/^operator:/) } });
    expect((await runConfctl(['pool', 'mw1001.eqiad.wmnet'], io(ct))).exitCode).toBe(0);
    expect((await ct.owners({})).has(k1)).toBe(false);
    expect((await ct.select({ name: 'mw1001\\.eqiad\\.wmnet' }))[0]!.pooled).toBe('yes');
  });

  it('the shortcuts warn that they act on etcd only and point to the cookbook that verifies with PyBal', async () => {
    const ct = fleet(1);
    const decom = await runConfctl(['decommission', 'mw1001.eqiad.wmnet'], io(ct));
    expect(decom.exitCode).toBe(0);
    expect(decom.stderr.join('\n')).toContain('does not verify with PyBal');
    expect(decom.stderr.join('\n')).toContain('`cookbook sre.hosts.decommission-host host=HOST task-id=T…`');
    expect(decom.stderr.join('\n')).not.toContain('sre.lb.depool');
    const depool = await runConfctl(['depool', 'mw1001.eqiad.wmnet'], io(ct));
    expect(depool.stderr.join('\n')).toContain('`cookbook sre.lb.depool`');
  });

  it('a change whose etcd reply was lost (read back as written) says so', () => {
    const tags = { dc: 'eqiad', cluster: 'appserver', service: 'nginx', name: 'mw1001.eqiad.wmnet' };
    expect(formatChange({ key: 'k', tags, field: 'pooled', from: 'yes', to: 'no' })).toBe(
      'eqiad/appserver/nginx/mw1001.eqiad.wmnet: pooled changed yes => no',
    );
    expect(formatChange({ key: 'k', tags, field: 'pooled', from: 'yes', to: 'no', ambiguous: true })).toBe(
      "eqiad/appserver/nginx/mw1001.eqiad.wmnet: pooled changed yes => no (etcd's reply was lost; read back as written)",
    );
  });

  it('formats get lines like conftool, extra fields after the schema ones', () => {
    expect(
      formatGetLine({
        key: 'k',
        tags: { dc: 'eqiad', cluster: 'appserver', service: 'nginx', name: 'mw1001.eqiad.wmnet' },
        pooled: 'yes',
        weight: 10,
        extra: { note: 'x' },
        modRevision: '5',
      }),
    ).toBe('{"mw1001.eqiad.wmnet": {"weight": 10, "pooled": "yes", "note": "x"}, "tags": "dc=eqiad,cluster=appserver,service=nginx"}');
  });

  it('set prints every change already written when another object fails, and ends with "K of N changed before the failure"', async () => {
    const ct = fleet(6);
    const stuck = '/conftool/v1/pools/eqiad/appserver/nginx/mw1003.eqiad.wmnet';
    let weight = 10;
    // Another writer changes mw1003 before each of our attempts: it never settles.
    ct.memory.beforeTxn = (compares) => {
      if (compares[0]?.key === stuck) ct.memory.put(stuck, JSON.stringify({ pooled: 'yes', weight: ++weight }));
    };
    const r = await runConfctl(['--yes', 'select', 'cluster=appserver', 'set/pooled=no'], io(ct));
    expect(r.exitCode).toBe(CONFCTL_EXIT.FAILED);
    const written = (await ct.filter({ cluster: 'appserver' }, { pooled: 'no' })).map((n) => n.tags.name);
    expect(written.length).toBeGreaterThan(0);
    expect(written).not.toContain('mw1003.eqiad.wmnet');
    // Every object really written is on stdout, and nothing else.
    expect([...r.stdout].sort()).toEqual(written.map((n) => `eqiad/appserver/nginx/${n}: pooled changed yes => no`).sort());
    expect(r.stderr.join('\n')).toContain(`could not update ${stuck}: it was modified concurrently`);
    expect(r.stderr.at(-1)).toBe(`${written.length} of 6 changed before the failure (listed on stdout)`);

    // --json: the same, one change object per line.
    const again = fleet(3);
    again.memory.beforeTxn = (compares) => {
      if (compares[0]?.key === stuck) again.memory.put(stuck, JSON.stringify({ pooled: 'yes', weight: ++weight }));
    };
    const j = await runConfctl(['--json', '--yes', 'select', 'cluster=appserver', 'set/weight=1'], io(again));
    expect(j.exitCode).toBe(CONFCTL_EXIT.FAILED);
    expect(j.stdout.map((l) => (JSON.parse(l) as { tags: { name: string }; to: unknown }).tags.name).sort()).toEqual([
      'mw1001.eqiad.wmnet',
      'mw1002.eqiad.wmnet',
    ]);
    expect(j.stderr.at(-1)).toBe('2 of 3 changed before the failure (listed on stdout)');
  });

  it('set meeting a schema-breaking value on a retry reports a conflict and what was written before it', async () => {
    const ct = fleet(20);
    const broken = '/conftool/v1/pools/eqiad/appserver/nginx/mw1001.eqiad.wmnet';
    let planted = false;
    ct.memory.beforeTxn = (compares) => {
      if (compares[0]?.key === broken && !planted) {
        planted = true;
        ct.memory.put(broken, 'not json');
      }
    };
    const r = await runConfctl(['--yes', 'select', 'cluster=appserver', 'set/pooled=no'], io(ct));
    expect(r.exitCode).toBe(CONFCTL_EXIT.FAILED);
    const err = r.stderr.join('\n');
    expect(err).toContain(`could not update ${broken}: it was changed concurrently to a value that breaks the schema`);
    expect(err).toContain('[ERR_CONFCTL_CONFLICT]');
    expect(err).not.toContain('nothing was written');
    const written = (await ct.selectRaw({ cluster: 'appserver' })).filter((o) => o.value.includes('"no"'));
    // With 16 writes in flight most others are written before the failure is seen: all are listed.
    expect(written.length).toBeGreaterThan(0);
    expect(r.stdout).toHaveLength(written.length);
    expect(r.stderr.at(-1)).toBe(`${written.length} of 20 changed before the failure (listed on stdout)`);
  });

  it('del with --dry-run deletes nothing and says what it would delete; --json prints one object per deletion', async () => {
    const ct = fleet(2).seed({ 'eqiad/appserver/nginx/broken.eqiad.wmnet': 'not json' });
    const before = await ct.revision();
    const dry = await runConfctl(['--dry-run', 'select', 'name=mw1001.*|broken.*', 'del'], io(ct));
    expect(dry).toMatchObject({
      exitCode: 0,
      stdout: [
        'DRY-RUN: would delete eqiad/appserver/nginx/broken.eqiad.wmnet',
        'DRY-RUN: would delete eqiad/appserver/nginx/mw1001.eqiad.wmnet',
      ],
    });
    expect(await ct.revision()).toBe(before);
    const dryJson = await runConfctl(['--dry-run', '--json', 'select', 'name=broken.*', 'del'], io(ct));
    expect(dryJson).toMatchObject({ exitCode: 0, stdout: [] });
    expect(await ct.revision()).toBe(before);

    const j = await runConfctl(['--json', '--yes', 'select', 'name=mw1001.*|broken.*', 'del'], io(ct));
    expect(j.exitCode).toBe(0);
    expect(j.stdout.map((l) => JSON.parse(l) as unknown)).toEqual([
      {
        deleted: '/conftool/v1/pools/eqiad/appserver/nginx/broken.eqiad.wmnet',
        tags: { dc: 'eqiad', cluster: 'appserver', service: 'nginx', name: 'broken.eqiad.wmnet' },
      },
      {
        deleted: '/conftool/v1/pools/eqiad/appserver/nginx/mw1001.eqiad.wmnet',
        tags: { dc: 'eqiad', cluster: 'appserver', service: 'nginx', name: 'mw1001.eqiad.wmnet' },
      },
    ]);
    expect((await ct.selectRaw({})).map((o) => o.tags.name)).toEqual(['mw1002.eqiad.wmnet']);
  });

  it('sync with --dry-run writes nothing and prints the plan; --json prints one summary object', async () => {
    const ct = fleet(2).seed({ 'codfw/appserver/nginx/mw2001.codfw.wmnet': { pooled: 'yes', weight: 1 } });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confctl-cli-unit-'));
    try {
      const file = path.join(dir, 'fleet.yaml');
      fs.writeFileSync(
        file,
        'eqiad:\n  appserver:\n    mw1001.eqiad.wmnet: [nginx]\n    mw1002.eqiad.wmnet: [nginx]\n    mw1003.eqiad.wmnet:\n      nginx: {pooled: "yes", weight: 5}\n',
      );
      const before = await ct.revision();
      const dry = await runConfctl(['--dry-run', 'sync', file, '--delete'], io(ct));
      expect(dry.exitCode).toBe(0);
      expect(dry.stdout).toEqual([
        'DRY-RUN: would create eqiad/appserver/nginx/mw1003.eqiad.wmnet {"pooled":"yes","weight":5}',
        'DRY-RUN: would delete codfw/appserver/nginx/mw2001.codfw.wmnet',
        `DRY-RUN: sync ${file}: 1 created, 1 deleted, 2 unchanged, 0 stale`,
      ]);
      const dryJson = await runConfctl(['--dry-run', '--json', 'sync', file], io(ct));
      expect(dryJson.exitCode).toBe(0);
      expect(dryJson.stdout.map((l) => JSON.parse(l) as unknown)).toEqual([
        {
          created: ['/conftool/v1/pools/eqiad/appserver/nginx/mw1003.eqiad.wmnet'],
          removed: [],
          kept: 2,
          stale: ['/conftool/v1/pools/codfw/appserver/nginx/mw2001.codfw.wmnet'],
          dryRun: true,
        },
      ]);
      expect(await ct.revision()).toBe(before);

      const j = await runConfctl(['--json', '--yes', 'sync', file, '--delete'], io(ct));
      expect(j.exitCode).toBe(0);
      expect(j.stdout.map((l) => JSON.parse(l) as unknown)).toEqual([
        {
          created: ['/conftool/v1/pools/eqiad/appserver/nginx/mw1003.eqiad.wmnet'],
          removed: ['/conftool/v1/pools/codfw/appserver/nginx/mw2001.codfw.wmnet'],
          kept: 2,
          stale: ['/conftool/v1/pools/codfw/appserver/nginx/mw2001.codfw.wmnet'],
          dryRun: false,
        },
      ]);
      expect((await ct.select({ name: 'mw1003.*' }))[0]).toMatchObject({ pooled: 'yes', weight: 5 });
      expect(await ct.get({ dc: 'codfw' })).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
