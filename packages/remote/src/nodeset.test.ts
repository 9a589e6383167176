import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { Groups, type ConftoolLookup } from './groups.js';
import { MAX_NODESET_SIZE, NodeSet } from './nodeset.js';

// ClusterShell's answers for the syntax itself are checked by nodeset.differential.test.ts against
// the real library; these tests cover what galley adds around it.

const codeOf = (f: () => unknown): { code?: string; message?: string; position?: number } => {
  try {
    f();
  } catch (err) {
    return err as { code?: string; message?: string; position?: number };
  }
  return {};
};

describe('NodeSet', () => {
  it("reads the issue's examples as ClusterShell does: operators are operators, not host-name characters", () => {
    expect(NodeSet.parse('mw[1001-1010].eqiad.wmnet!mw1005.eqiad.wmnet').toString()).toBe('mw[1001-1004,1006-1010].eqiad.wmnet');
    expect(NodeSet.parse('a[1-10]&a[5-15]').toString()).toBe('a[5-10]');
    expect(NodeSet.parse('db[1001-1002].eqiad1.wmnet').toString()).toBe('db[1001-1002].eqiad1.wmnet');
    expect(NodeSet.fromHosts(['db1001.eqiad1.wmnet', 'db1002.eqiad1.wmnet']).toString()).toBe('db[1001-1002].eqiad1.wmnet');
  });

  it('refuses what ClusterShell refuses with ERR_REMOTE_NODESET_SYNTAX and the position', () => {
    const cases: [string, number][] = [
      ['a1,,a2', 3],
      ['db[01-100]', 3],
      ['a[1-2][3-4]', 6],
      ['a[1-', 1],
      ['a[1-3]&', 6],
    ];
    for (const [expr, pos] of cases) {
      const e = codeOf(() => NodeSet.parse(expr));
      expect(e.code).toBe('ERR_REMOTE_NODESET_SYNTAX');
      expect(e.message).toContain(expr);
      expect(e.position).toBe(pos);
    }
  });

  it('refuses a set over the size limit with a clear error instead of a stack overflow', () => {
    for (const expr of ['a[1-1000000]', `a[1-${MAX_NODESET_SIZE}],b`, 'a[1-1000]b[1-1000]', 'x,a[1-999999]']) {
      const e = codeOf(() => NodeSet.parse(expr));
      expect(e.code).toBe('ERR_REMOTE_NODESET_TOO_LARGE');
    }
    expect(NodeSet.parse(`a[1-${MAX_NODESET_SIZE}]`).size).toBe(MAX_NODESET_SIZE);
  });

  it('refuses groups and wildcards in the synchronous parse (they need a group source)', () => {
    for (const expr of ['@web', 'a,@site:web', 'mw*', '@@site'])
      expect(codeOf(() => NodeSet.parse(expr)).code).toBe('ERR_REMOTE_NODESET_GROUP');
  });

  it('unions several expressions and offers the set operations', () => {
    const a = NodeSet.parse('h[1-5]', 'h[4-8]');
    expect(a.toString()).toBe('h[1-8]');
    const b = NodeSet.parse('h[5-10]');
    expect(a.intersection(b).toString()).toBe('h[5-8]');
    expect(a.difference(b).toString()).toBe('h[1-4]');
    expect(a.symmetricDifference(b).toString()).toBe('h[1-4,9-10]');
    expect(a.union(b).size).toBe(10);
    expect(a.has('h3')).toBe(true);
    expect(a.has('h9')).toBe(false);
  });

  it('splits into near-equal slices, first ones larger, like ClusterShell', () => {
    const parts = NodeSet.parse('h[1-10]').split(3);
    expect(parts.map((p) => p.toString())).toEqual(['h[1-4]', 'h[5-7]', 'h[8-10]']);
    expect(
      NodeSet.parse('h[1-2]')
        .split(5)
        .map((p) => p.size),
    ).toEqual([1, 1]);
    expect(() => NodeSet.parse('h1').split(0)).toThrow();
  });
});

/** A conftool stand-in with the lookup contract (the lab test uses the real one). */
function fakeConftool(objects: Record<string, string[]>): () => Promise<ConftoolLookup> {
  return () =>
    Promise.resolve({
      hostsOf: (sel) => Promise.resolve(objects[sel] ?? []),
      allHosts: () => Promise.resolve([...new Set(Object.values(objects).flat())]),
    });
}

describe('Groups', () => {
  const groups = () =>
    new Groups(
      {
        sources: { site: { web: 'mw[1001-1004].eqiad.wmnet', loop: '@loop2', loop2: '@loop' } },
        files: [],
        aliases: {},
      },
      { conftool: fakeConftool({ 'dc=eqiad,cluster=jobrunner': ['mw1301.eqiad.wmnet', 'mw1302.eqiad.wmnet'] }) },
    );

  it('resolves @group, @source:group and @conftool:selector (a selector keeps its commas)', async () => {
    const g = groups();
    expect((await NodeSet.resolve('@web!mw1002.eqiad.wmnet', g)).toString()).toBe('mw[1001,1003-1004].eqiad.wmnet');
    expect((await NodeSet.resolve('@conftool:dc=eqiad,cluster=jobrunner', g)).toString()).toBe('mw[1301-1302].eqiad.wmnet');
    expect(
      (await NodeSet.resolve('@conftool:dc=eqiad,cluster=jobrunner!mw1302.eqiad.wmnet,@site:web&mw1001.eqiad.wmnet', g)).toString(),
    ).toBe('mw1001.eqiad.wmnet');
    expect((await NodeSet.resolve('@conftool:dc=eqiad,cluster=jobrunner , db1', g)).toString()).toBe('db1,mw[1301-1302].eqiad.wmnet');
  });

  it('refuses an unknown group, an unknown source, an empty conftool selection and a group loop', async () => {
    const g = groups();
    for (const expr of ['@typo', '@nosuch:web', '@conftool:dc=eqiad,cluster=nothing', '@loop', '@@conftool']) {
      await expect(NodeSet.resolve(expr, g)).rejects.toMatchObject({ code: 'ERR_REMOTE_NODESET_GROUP' });
    }
    await expect(NodeSet.resolve('@conftool:dc=eqiad junk', g)).rejects.toMatchObject({ code: 'ERR_REMOTE_NODESET_SYNTAX' });
  });

  it('reads ClusterShell groups.d YAML files on first use, the first source being the default', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-groups-'));
    try {
      const file = path.join(dir, 'site.yaml');
      fs.writeFileSync(file, 'local:\n  web: "mw[1001-1002].eqiad.wmnet"\n  db: [db1001, "db[1002-1003]"]\n');
      const g = new Groups({ sources: {}, files: [file], aliases: {} });
      expect((await NodeSet.resolve('@web,@local:db', g)).hosts()).toEqual([
        'db1001',
        'db1002',
        'db1003',
        'mw1001.eqiad.wmnet',
        'mw1002.eqiad.wmnet',
      ]);
      expect(await g.sources()).toEqual(['local']);
      fs.writeFileSync(file, 'local: [1, 2]\n');
      await expect(NodeSet.resolve('@web', new Groups({ sources: {}, files: [file], aliases: {} }))).rejects.toMatchObject({
        code: 'ERR_REMOTE_NODESET_GROUP',
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
