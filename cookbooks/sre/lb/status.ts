import { defineCookbook, isEtcdError } from '@galley/core';
import { isGalleyError } from '@galley/errors';
import { ownerText } from '@galley/lb';

/**
 * What on-call looks at before and after maintenance: per PyBal pool, each host's conftool state
 * next to every load balancer's view, the capacity left and the LBs' alerts. Read-only.
 *
 * Exit codes: 0 the report was produced (disagreements, an LB down or alerting are its content);
 * 1 nothing matched, or neither conftool nor any configured pool could be shown; 2 etcd could not
 * be read: every configured pool of the selection is shown from the load balancers alone, with
 * conftool "unknown" (that is when on-call needs the LB view most). With etcd down the run's lock
 * cannot be taken either: run it with `--no-locks` then.
 */
export default defineCookbook({
  title: "Show a cluster's pool state: conftool next to every load balancer's view, capacity left, alerts",
  args: {
    cluster: { type: 'string', demandOption: true, describe: 'conftool cluster, e.g. jobrunner' },
    dc: { type: 'string', describe: 'datacenter (default: all)' },
    service: { type: 'string', describe: 'conftool service (default: all of the cluster)' },
  },
  lock: { concurrency: 50, ttlSeconds: 120 },
  async run(ctx) {
    const { cluster, dc, service } = ctx.args;
    const sel: { cluster: string; dc?: string; service?: string } = { cluster };
    if (dc !== undefined) sel.dc = dc;
    if (service !== undefined) sel.service = service;
    const pybal = ctx.clients.pybal;
    let report: Awaited<ReturnType<typeof pybal.status>>;
    let exitCode = 0;
    let nodes: Awaited<ReturnType<typeof ctx.clients.confctl.select>> = [];
    try {
      nodes = await ctx.clients.confctl.select(sel);
      report = await pybal.status(nodes);
    } catch (err) {
      // Nothing matched, bad config: the user's to fix, so a plain failure, not "uncaught exception".
      if (!isGalleyError(err)) throw err;
      ctx.log.error(`${err.message}${err.hint ? ` (hint: ${err.hint})` : ''}`);
      if (!isEtcdError(err)) return 1;
      // etcd is unreachable (or refuses us): PyBal still serves its last known state; show it.
      const pools = pybal.topology
        .all()
        .filter((p) => p.cluster === cluster && (dc === undefined || p.dc === dc) && (service === undefined || p.service === service));
      if (pools.length === 0) {
        ctx.log.error(
          `conftool cannot be read and no PyBal pool is configured for ${Object.entries(sel)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}: nothing to show`,
        );
        return 1;
      }
      ctx.log.warn(`conftool state UNKNOWN: showing ${pools.length} configured pool(s) as the load balancers serve them`);
      report = await pybal.statusWithoutConftool(pools, err.message);
      exitCode = 2;
    }
    const problems = report.pools.reduce((n, p) => n + p.rows.filter((r) => r.flags.length > 0).length + p.extraOnLb.length, 0);
    const alerting = report.pools
      .flatMap((p) => p.alerts)
      .filter((a) => a.error !== undefined || (a.status !== undefined && a.status !== 'ok')).length;
    if (problems > 0 || alerting > 0)
      ctx.log.warn(
        `${problems} object(s) where conftool and the load balancers disagree or look unhealthy; ${alerting} LB alert(s) not OK`,
      );
    // Who holds each host out and why: the owner markers galley writes with every depool (a run's
    // or an operator's), next to conftool's value. Unknown without etcd.
    const pooledOf = new Map(nodes.map((n) => [n.key, n]));
    const markers = exitCode === 0 ? await ctx.clients.confctl.owners(sel).catch(() => new Map<string, never>()) : new Map<string, never>();
    const heldOut = [...markers].flatMap(([key, m]) => {
      const n = pooledOf.get(key);
      return n ? [{ object: `${n.tags.dc}/${n.tags.cluster}/${n.tags.service}/${n.tags.name}`, pooled: n.pooled, owner: m }] : [];
    });
    const held = heldOut.length
      ? `\n\nHeld out (owner markers):\n${heldOut.map((h) => `  ${h.object}=${h.pooled}: ${ownerText(h.owner, { since: true })}`).join('\n')}`
      : '';
    ctx.output({ ...report, heldOut }, pybal.render(report) + held);
    // A status report succeeds whenever it could be produced: disagreements are its content, not a
    // failure. Without conftool it is only half a report: 2 says so to scripts.
    return exitCode;
  },
});
