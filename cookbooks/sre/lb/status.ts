import { defineCookbook } from '@galley/core';
import { isGalleyError } from '@galley/errors';

/**
 * What on-call looks at before and after maintenance: per PyBal pool, each host's conftool state
 * next to every load balancer's view, the capacity left and the LBs' alerts. Read-only.
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
    try {
      report = await pybal.status(await ctx.clients.confctl.select(sel));
    } catch (err) {
      // Nothing matched, etcd down, bad config: the user's to fix, so a plain failure, not "uncaught exception".
      if (!isGalleyError(err)) throw err;
      ctx.log.error(`${err.message}${err.hint ? ` (hint: ${err.hint})` : ''}`);
      return 1;
    }
    const problems = report.pools.reduce((n, p) => n + p.rows.filter((r) => r.flags.length > 0).length + p.extraOnLb.length, 0);
    const alerting = report.pools.flatMap((p) => p.alerts).filter((a) => a.error !== undefined || (a.status !== undefined && a.status !== 'ok')).length;
    if (problems > 0 || alerting > 0) ctx.log.warn(`${problems} object(s) where conftool and the load balancers disagree or look unhealthy; ${alerting} LB alert(s) not OK`);
    ctx.output(report, pybal.render(report));
    // A status report succeeds whenever it could be produced: disagreements are its content, not a failure.
    return 0;
  },
});
