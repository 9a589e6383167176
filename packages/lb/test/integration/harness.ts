/**
 * Real clients from a lab's generated config, bound to the lb ports, plus watchers that check the
 * safety invariants while a run goes on: an etcd watch (never more hosts depooled by the run than
 * the batch; objects that were no/inactive never written) and LB checks at the two moments that
 * matter (before an action: every LB has the host out; when a host is reported done: every LB has
 * it back in).
 */
import { Conftool, connectEtcd, type ConftoolNode } from '@galley/confctl';
import { loadConfig } from '@galley/config';
import type { Lab } from '@galley/lab';
import {
  conftoolStore,
  pybalCapacity,
  pybalVerifier,
  realClock,
  remoteExecutor,
  type JournalEntry,
  type LbEvent,
  type LbPorts,
  type PoolObject,
} from '@galley/lb';
import { PybalClient, PybalService, PybalTopology } from '@galley/pybal';
import { Remote } from '@galley/remote';

export interface Harness {
  ports: LbPorts;
  confctl: Conftool;
  events: LbEvent[];
  journal: JournalEntry[];
  violations: string[];
  /** Highest number of cluster hosts with an object moved off `yes` at once, seen by the etcd watch. */
  maxDepooled(): number;
  /** Every put the watch saw on an object that was not `yes` when the harness started. */
  writesToNonYes: string[];
  initial: Map<string, ConftoolNode>;
  lbPooled(o: PoolObject): Promise<boolean[]>;
  close(): Promise<void>;
}

export async function harness(lab: Lab, opts: { dc: string; cluster: string; verifyTimeoutMs?: number }): Promise<Harness> {
  const { config } = await loadConfig({ file: lab.info.config });
  if (!config.etcd || !config.pybal || !config.ssh) throw new Error(`lab config ${lab.info.config} lacks etcd/pybal/ssh`);
  const etcd = connectEtcd(config.etcd);
  const confctl = new Conftool(etcd, { namespace: lab.info.namespace });
  const remote = new Remote(config.ssh);
  const client = new PybalClient({ requestTimeoutMs: 1000, retries: 1 });
  const topology = new PybalTopology(config.pybal);
  const pybal = new PybalService({ topology, client, verifyTimeoutMs: opts.verifyTimeoutMs ?? 5000 });
  const initial = new Map((await confctl.select({ dc: opts.dc, cluster: opts.cluster })).map((n) => [n.key, n]));
  // Start from a settled fleet: after a lab reset the LBs take a health-check round to see healed hosts up.
  const settleBy = Date.now() + 15_000;
  for (;;) {
    const views = await Promise.all(
      [...initial.values()]
        .filter((n) => n.pooled === 'yes')
        .map(async (n) => {
          const ref = topology.poolFor(n.tags.dc, n.tags.cluster, n.tags.service);
          if (!ref) return [true];
          return Promise.all(
            ref.loadBalancers.map(async (lb) => {
              const v = await client.host(lb, ref.pool, n.tags.name).catch(() => null);
              return !!v && v.pooled && v.up && v.enabled;
            }),
          );
        }),
    );
    if (views.flat().every(Boolean)) break;
    if (Date.now() > settleBy) throw new Error('the lab did not settle (every pooled=yes host pooled and up on every LB) within 15 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const current = new Map([...initial].map(([k, n]) => [k, n.pooled]));
  const writesToNonYes: string[] = [];
  const violations: string[] = [];
  let max = 0;
  const watch = await confctl.watch({ dc: opts.dc, cluster: opts.cluster }, (e) => {
    if (e.type !== 'put' || !e.node) return;
    if (initial.get(e.key)?.pooled !== 'yes') writesToNonYes.push(`${e.key} → ${e.node.pooled}`);
    current.set(e.key, e.node.pooled);
    const out = new Set<string>();
    for (const [k, p] of current) if (initial.get(k)?.pooled === 'yes' && p !== 'yes') out.add(initial.get(k)!.tags.name);
    max = Math.max(max, out.size);
  });

  const lbPooled = async (o: PoolObject): Promise<boolean[]> => {
    const ref = topology.poolFor(o.tags.dc, o.tags.cluster, o.tags.service);
    if (!ref) return [];
    return Promise.all(
      ref.loadBalancers.map(async (lb) => (await client.host(lb, ref.pool, o.tags.name).catch(() => null))?.pooled ?? false),
    );
  };
  const objectsOf = (host: string): PoolObject[] => [...initial.values()].filter((n) => n.tags.name === host && n.pooled === 'yes');
  // At action time every object of the host that is not inactive must be out, `no` ones included
  // (PyBal keeps a `no` server pooled when depooling it would breach the threshold).
  const notInactiveOf = (host: string): PoolObject[] =>
    [...initial.values()].filter((n) => n.tags.name === host && n.pooled !== 'inactive');

  const executor = remoteExecutor(remote);
  const events: LbEvent[] = [];
  const journal: JournalEntry[] = [];
  const ports: LbPorts = {
    store: conftoolStore(confctl),
    executor: {
      run: async (hosts, commands, o) => {
        // Health checks are read-only; only the action is gated on the LBs.
        const isHealth = commands.length === 1 && 'shell' in commands[0]! && commands[0].shell.startsWith('systemctl is-active');
        if (!isHealth) {
          for (const h of hosts) {
            for (const obj of notInactiveOf(h)) {
              const views = await lbPooled(obj);
              if (views.some(Boolean)) violations.push(`action on ${h} while an LB still has ${obj.tags.service} pooled`);
            }
          }
        }
        return executor.run(hosts, commands, o);
      },
    },
    verifier: pybalVerifier(pybal),
    capacity: pybalCapacity(pybal),
    journal: {
      append: async (e) => {
        journal.push(e);
        if (e.type === 'lb-host-phase' && e.phase === 'done' && e.host) {
          for (const obj of objectsOf(e.host)) {
            const views = await lbPooled(obj);
            if (!views.every(Boolean)) violations.push(`${e.host} done while an LB has ${obj.tags.service} out`);
          }
        }
      },
    },
    clock: realClock,
    emit: (e) => events.push(e),
  };
  return {
    ports,
    confctl,
    events,
    journal,
    violations,
    maxDepooled: () => max,
    writesToNonYes,
    initial,
    lbPooled,
    close: async () => {
      await watch.close();
      await remote.close();
      await client.close();
      confctl.close();
    },
  };
}

const logMarks = new Map<string, number>();

/** Remember where each host's fake systemctl log ends now; restartsOn reports what came after. */
export async function markLogs(lab: Lab): Promise<void> {
  for (const h of lab.info.hosts) logMarks.set(h.name, (await lab.systemctlLog(h.name)).length);
}

/** Restarts the host saw since markLogs, from the lab's fake systemctl log. */
export async function restartsOn(lab: Lab, host: string): Promise<string[]> {
  return (await lab.systemctlLog(host))
    .slice(logMarks.get(host) ?? 0)
    .filter((l) => / restart /.test(l))
    .map((l) => l.split(' ').slice(1).join(' '));
}
