/**
 * Cumin queries and the conftool group source against the lab's real etcd: the hosts each query
 * selects are computed from the lab's fleet (dc, cluster of each host), never written out. galley-exec
 * on such a query: packages/cli/test/integration/galley-exec-query.test.ts.
 */
import fs from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { parseConfig } from '@galley/config';
import { hostLookup } from '@galley/confctl/lookup';
import { sharedLab } from '@galley/lab/testing';
import { Groups, NodeSet, resolveHostQuery } from '@galley/remote';
import { parse } from 'yaml';

describe('host queries against the lab (conftool group source, aliases)', () => {
  it('selects by conftool selector, alias and boolean query exactly the hosts the fleet says', async () => {
    const lab = await sharedLab();
    const file = lab.info.config;
    const cfg = parseConfig(parse(fs.readFileSync(file, 'utf8')), file);
    const hosts = lab.info.hosts;
    const first = hosts[0]!;
    const same = hosts.filter((h) => h.dc === first.dc && h.cluster === first.cluster).map((h) => h.name);
    const inDc = hosts.filter((h) => h.dc === first.dc).map((h) => h.name);
    expect(same.length).toBeGreaterThan(1);
    const groups = new Groups(
      { sources: {}, files: [], aliases: { cluster: `D{@conftool:dc=${first.dc},cluster=${first.cluster}}`, one: `D{${first.name}}` } },
      { conftool: hostLookup(cfg.etcd!, cfg.conftool.namespace) },
    );
    try {
      const sel = async (q: string) => (await resolveHostQuery(q, { groups, aliases: groups.aliases })).hosts();
      const ns = (names: string[]) => NodeSet.fromHosts(names).hosts();
      const table: [string, string[]][] = [
        [`@conftool:dc=${first.dc},cluster=${first.cluster}`, same],
        [`D{@conftool:dc=${first.dc},cluster=${first.cluster}} and not D{${first.name}}`, same.filter((n) => n !== first.name)],
        [`D{@conftool:dc=${first.dc}} and not A:cluster`, inDc.filter((n) => !same.includes(n))],
        ['A:cluster xor A:one', same.filter((n) => n !== first.name)],
        [`(A:one or D{@conftool:dc=${first.dc}}) and A:cluster`, same],
        [`@conftool:name=${first.name.replace(/\./g, '\\.')}`, [first.name]],
      ];
      for (const [q, want] of table) expect({ q, hosts: await sel(q) }).toEqual({ q, hosts: ns(want) });
      await expect(sel('@conftool:dc=nowhere')).rejects.toMatchObject({ code: 'ERR_REMOTE_NODESET_GROUP' });
    } finally {
      await groups.close();
    }
  });
});
