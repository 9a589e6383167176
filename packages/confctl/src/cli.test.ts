import { describe, expect, it } from '@jest/globals';
import { CONFCTL_EXIT, formatGetLine, parseSetAction, runConfctl, type CliIo } from './cli.js';
import { FakeConftool } from './testing/index.js';

function fleet(n: number): FakeConftool {
  const ct = new FakeConftool();
  const objects: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) objects[`eqiad/appserver/nginx/mw${1001 + i}.eqiad.wmnet`] = { pooled: 'yes', weight: 10 };
  return ct.seed(objects);
}

function io(ct: FakeConftool, opts: { isTTY?: boolean; answer?: boolean } = {}): CliIo & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    isTTY: opts.isTTY ?? false,
    confirm: async (q) => {
      asked.push(q);
      return opts.answer ?? false;
    },
    // runConfctl closes the Conftool it was given; hand out a view so the fake stays usable.
    conftool: async ({ dryRun, log }) => ct.with({ dryRun, log }),
  };
}

describe('confctl command handlers (in-memory store)', () => {
  it('asks on a terminal before changing more than 10 objects, and changes nothing when declined', async () => {
    const ct = fleet(11);
    const before = await ct.revision();
    const declined = io(ct, { isTTY: true, answer: false });
    const r = await runConfctl(['select', 'cluster=appserver', 'set/pooled=no'], declined);
    expect(r.exitCode).toBe(CONFCTL_EXIT.FAILED);
    expect(declined.asked).toHaveLength(1);
    expect(declined.asked[0]).toContain('eqiad/appserver/nginx/mw1011.eqiad.wmnet');
    expect(declined.asked[0]).toContain('Ok to set pooled=no on these 11 objects? [y/N]');
    expect(r.stderr.join('\n')).toContain('not confirmed');
    expect(await ct.revision()).toBe(before);

    const accepted = io(ct, { isTTY: true, answer: true });
    const ok = await runConfctl(['select', 'cluster=appserver', 'set/pooled=no'], accepted);
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toHaveLength(11);
    expect((await ct.filter({ cluster: 'appserver' }, { pooled: 'no' })).length).toBe(11);
  });

  it('does not ask for 10 objects or fewer, nor in dry-run', async () => {
    const ct = fleet(10);
    const q = io(ct, { isTTY: true });
    expect((await runConfctl(['select', 'cluster=appserver', 'set/weight=3'], q)).exitCode).toBe(0);
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
      { key: '/conftool/v1/pools/eqiad/appserver/nginx/mw1001.eqiad.wmnet', tags: { dc: 'eqiad', cluster: 'appserver', service: 'nginx', name: 'mw1001.eqiad.wmnet' }, field: 'pooled', from: 'yes', to: 'no', dryRun: false },
    ]);
  });

  it('parses set actions strictly', () => {
    expect(parseSetAction('set/pooled=no:weight=10')).toEqual({ pooled: 'no', weight: 10 });
    expect(parseSetAction('set/weight=0')).toEqual({ weight: 0 });
    for (const bad of ['set/', 'set/pooled', 'set/pooled=maybe', 'set/weight=1.5', 'set/weight=-1', 'set/colour=red', 'set/pooled=no=yes']) {
      expect(() => parseSetAction(bad)).toThrow(expect.objectContaining({ code: 'ERR_CONFCTL_BAD_ACTION' }));
    }
  });

  it('formats get lines like conftool, extra fields after the schema ones', () => {
    expect(
      formatGetLine({ key: 'k', tags: { dc: 'eqiad', cluster: 'appserver', service: 'nginx', name: 'mw1001.eqiad.wmnet' }, pooled: 'yes', weight: 10, extra: { note: 'x' }, modRevision: '5' }),
    ).toBe('{"mw1001.eqiad.wmnet": {"weight": 10, "pooled": "yes", "note": "x"}, "tags": "dc=eqiad,cluster=appserver,service=nginx"}');
  });
});
