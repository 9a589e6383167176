#!/usr/bin/env node
/* global process, console */
// `pnpm bench locks`: the host locks of one batch against the lab's etcd (imports from dist).
// For 4, 10 and 40 hosts: one acquire per host in name order (what lockHosts did) next to one
// acquireMany (all of them in one txn), interleaved, each on a fresh session (lease granted before
// the clock starts: a run has its lease from the cookbook lock). Prints medians.
//
// Options: --runs N (per size and way, default 9), --sizes 4,10,40.
import { connectEtcd } from '@galley/confctl';
import { EtcdLocks } from '@galley/core/locks';
import { startLab } from '@galley/lab';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt('runs', '9'));
const SIZES = opt('sizes', '4,10,40').split(',').map(Number);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spec = { concurrency: 1, ttlSeconds: 600 };

const t0 = Date.now();
const lab = await startLab({ hosts: 1, lbs: 1, ssh: false });
console.log(`lab etcd up in ${Date.now() - t0} ms (${lab.info.etcd.endpoints.join(',')})`);
const etcd = connectEtcd({ endpoints: lab.info.etcd.endpoints, dialTimeoutMs: 3000, requestTimeoutMs: 10_000 });
const locks = new EtcdLocks(etcd, { leaseTtlSeconds: 10, waitTimeoutSeconds: 30 });
try {
  let seq = 0;
  const once = async (n, way) => {
    const hosts = Array.from({ length: n }, (_, i) => `bench${seq}-${String(i).padStart(3, '0')}.eqiad.wmnet`);
    seq++;
    const s = locks.session(`bench-${seq}`);
    // the lease, as the run's cookbook lock would have granted it
    await s.acquire('cookbooks', `bench.locks-${seq}`, spec);
    const start = process.hrtime.bigint();
    if (way === 'many') await s.acquireMany('hosts', hosts, spec);
    else for (const h of [...hosts].sort()) await s.acquire('hosts', h, spec);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    await s.close();
    return ms;
  };
  // warm-up: connections, the watch stream
  await once(4, 'one');
  await once(4, 'many');
  for (const n of SIZES) {
    const one = [];
    const many = [];
    for (let r = 0; r < RUNS; r++) {
      one.push(await once(n, 'one'));
      many.push(await once(n, 'many'));
    }
    const a = median(one);
    const b = median(many);
    console.log(
      `LOCKS: ${String(n).padStart(2)} hosts: one by one ${a.toFixed(1)} ms (${(a / n).toFixed(1)} ms/host), one txn ${b.toFixed(1)} ms; ${(a / b).toFixed(1)}× faster (medians of ${RUNS}, interleaved)`,
    );
  }
} finally {
  etcd.close();
  await lab.stop();
}
