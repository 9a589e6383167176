import path from 'node:path';
import { describe, expect, it, jest } from '@jest/globals';
import { conftoolKey } from '@galley/lab';
import { privateLab } from '@galley/lab/testing';
import { labEtcd } from '../../src/etcd-client.js';
import { freePort, waitFor } from '../../src/procs.js';
import { Simulator } from '../../src/pybal/sim.js';

// jest's testTimeout is a global option: the integration project's 60 s does not reach here.
jest.setTimeout(60000);

const p = privateLab({ hosts: 6, ssh: false, pybal: false });

describe('PyBal simulator and etcd compaction', () => {
  it('a watch from a compacted revision is cancelled; the simulator re-lists and keeps following conftool', async () => {
    const { lab } = p;
    const pool = lab.info.pools.length > 0 ? lab.info.pools : lab.plan.pools;
    const jr = pool.find((x) => x.pool === 'jobrunner-nginx_eqiad')!;
    const sim = new Simulator({
      name: 'lvs-test',
      port: await freePort(),
      endpoints: lab.info.etcd.endpoints,
      namespace: lab.info.namespace,
      pools: [{ pool: jr.pool, dc: jr.dc, cluster: jr.cluster, service: jr.service, depoolThreshold: 0.5 }],
      hostState: Object.fromEntries(lab.plan.hosts.map((h) => [h.name, path.join(lab.dir, 'hosts', h.name, 'state')])),
      delayMs: 0,
      checkIntervalMs: 200,
      faultFile: path.join(lab.dir, 'no-such-fault.json'),
    });
    const etcd = labEtcd(lab.info.etcd.endpoints);
    try {
      await sim.start();
      expect(sim.relists).toBe(1);
      const hosts = lab.plan.hosts.filter((h) => h.dc === jr.dc && h.cluster === jr.cluster).map((h) => h.name);
      const key = (h: string) => conftoolKey(lab.info.namespace, { dc: jr.dc, cluster: jr.cluster, service: jr.service, name: h });
      const put = async (h: string, pooled: string) =>
        BigInt(
          (
            await etcd
              .put(key(h))
              .value(JSON.stringify({ pooled, weight: 10 }))
              .exec()
          ).header.revision,
        );
      const old = await put(hosts[0]!, 'no');
      await put(hosts[0]!, 'yes');
      const head = await put(hosts[1]!, 'no');
      await etcd.kv.compact({ revision: head.toString(), physical: true });
      // A watch resuming from before the compaction (what a reconnect after an outage does).
      await sim.watchFrom(old);
      await waitFor('the simulator to re-list', async () => (sim.relists >= 2 ? true : undefined), { timeoutMs: 10000 });
      const c = sim.pools.get(jr.pool)!;
      await waitFor(
        `${hosts[1]!} disabled after the re-list`,
        async () => (c.servers.get(hosts[1]!)?.enabled === false ? true : undefined),
        { timeoutMs: 10000 },
      );
      expect(c.servers.get(hosts[0]!)?.enabled).toBe(true);
      // The new watch follows later changes.
      await put(hosts[2]!, 'inactive');
      await waitFor(`${hosts[2]!} removed`, async () => (c.servers.has(hosts[2]!) ? undefined : true), { timeoutMs: 10000 });
    } finally {
      await sim.close();
      etcd.close();
      await lab.reset();
    }
  });
});
