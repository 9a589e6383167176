/**
 * galley-exec (the built binary) on a Cumin query over the conftool group source, against the lab's
 * real etcd: the hosts are computed from the lab's fleet, never written out. The queries themselves:
 * packages/remote/test/integration/host-query.test.ts.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { sharedLab } from '@galley/lab/testing';
import { NodeSet } from '@galley/remote';

const BIN = path.resolve(import.meta.dirname, '../../dist/galley-exec-bin.js');

describe('galley-exec host queries against the lab (conftool group source)', () => {
  it('galley-exec --dry-run targets the hosts of a Cumin query over a conftool group', async () => {
    const lab = await sharedLab();
    const first = lab.info.hosts[0]!;
    const same = lab.info.hosts
      .filter((h) => h.dc === first.dc && h.cluster === first.cluster)
      .map((h) => h.name)
      .filter((n) => n !== first.name);
    const r = spawnSync(
      process.execPath,
      [BIN, '-c', lab.info.config, '--dry-run', `D{@conftool:dc=${first.dc},cluster=${first.cluster}} and not D{${first.name}}`, 'uptime'],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`DRY-RUN: would run 'uptime' on ${same.length} hosts: ${NodeSet.fromHosts(same).toString()}`);
  });
});
