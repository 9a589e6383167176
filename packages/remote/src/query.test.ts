import { describe, expect, it } from '@jest/globals';
import { Groups } from './groups.js';
import { NodeSet } from './nodeset.js';
import { parseHostQuery, resolveHostQuery } from './query.js';

// Cumin's grammar (cumin/grammar.py, backends/direct.py): booleans applied strictly left to
// right, parentheses, D{…}, A:alias; galley's default backend is the direct one.
const groups = new Groups({
  sources: { site: { web: 'mw[1301-1304].eqiad.wmnet', canary: 'mw1301.eqiad.wmnet' } },
  files: [],
  aliases: {
    canaries: 'D{@canary}',
    'web-no-canary': 'D{@web} and not A:canaries',
    loop1: 'A:loop2',
    loop2: 'A:loop1',
    app: 'D{mw[1301-1306].eqiad.wmnet}',
  },
});
const sel = (q: string) => resolveHostQuery(q, { groups, aliases: groups.aliases });

describe('Cumin query grammar', () => {
  const table: [string, string][] = [
    ['D{mw[1301-1304].eqiad.wmnet} and not D{mw1302.eqiad.wmnet}', 'mw[1301,1303-1304].eqiad.wmnet'],
    ['mw[1301-1304].eqiad.wmnet and not mw1302.eqiad.wmnet', 'mw[1301,1303-1304].eqiad.wmnet'],
    ['D{mw1301.eqiad.wmnet or mw1302.eqiad.wmnet}', 'mw[1301-1302].eqiad.wmnet'],
    ['D{a[1-5]} and D{a[3-9]}', 'a[3-5]'],
    ['D{a[1-5]} xor D{a[3-9]}', 'a[1-2,6-9]'],
    ['D{a[1-5]} AND NOT D{a2} Or D{b1}', 'a[1,3-5],b1'],
    // no precedence: ((a1 or a2) and a2), not a1 or (a2 and a2)
    ['D{a1} or D{a2} and D{a2}', 'a2'],
    ['D{a1} or (D{a2} and D{a2})', 'a[1-2]'],
    ['(D{a[1-9]} and not (D{a[2-8]} xor D{a5})) or D{z}', 'a[1,5,9],z'],
    ['D{(a[1-3] or b1) and not a2}', 'a[1,3],b1'],
    ['A:app and not A:web-no-canary', 'mw1301.eqiad.wmnet,mw[1305-1306].eqiad.wmnet'],
    ['A:canaries', 'mw1301.eqiad.wmnet'],
    ['a:canaries or d{a1}', 'a1,mw1301.eqiad.wmnet'],
    // host expressions keep their own operators, groups and whitespace
    ['D{@web!mw1304.eqiad.wmnet} and D{mw[1302-1310].eqiad.wmnet}', 'mw[1302-1303].eqiad.wmnet'],
    ['mw1301.eqiad.wmnet, mw1302.eqiad.wmnet', 'mw[1301-1302].eqiad.wmnet'],
    ['android1 or orchid1', 'android1,orchid1'],
  ];
  it.each(table)('%s selects %s', async (query, hosts) => {
    expect((await sel(query)).hosts()).toEqual(NodeSet.parse(hosts).hosts());
  });

  it('refuses malformed queries with ERR_REMOTE_HOST_QUERY, and bad host expressions with their own error', async () => {
    for (const q of ['D{a1} and', '(D{a1}', 'D{a1', 'D{a1} D{a2}', 'and D{a1}', 'D{a1} or )', 'D{a1 and}', 'D{P{x}}']) {
      await expect(sel(q)).rejects.toMatchObject({ code: 'ERR_REMOTE_HOST_QUERY' });
    }
    await expect(sel('D{a[1-}')).rejects.toMatchObject({ code: 'ERR_REMOTE_NODESET_SYNTAX' });
    await expect(sel('a1,,a2')).rejects.toMatchObject({ code: 'ERR_REMOTE_NODESET_SYNTAX' });
    await expect(sel('A:nosuch')).rejects.toMatchObject({ code: 'ERR_REMOTE_HOST_ALIAS' });
    await expect(sel('A:loop1')).rejects.toMatchObject({ code: 'ERR_REMOTE_HOST_ALIAS' });
  });

  it('parses into items with their operators', () => {
    expect(parseHostQuery('D{a} and not A:b')).toEqual({
      kind: 'group',
      items: [
        { op: null, node: { kind: 'group', items: [{ op: null, node: { kind: 'hosts', expr: 'a' } }] } },
        { op: 'and not', node: { kind: 'alias', name: 'b' } },
      ],
    });
  });
});
