import { defineCookbook } from '@galley/core';

/**
 * The smallest real cookbook: reads conftool (no writes) and reports how many objects match.
 * Useful to check a config end to end: `cookbook sre.ping cluster=jobrunner`.
 */
export default defineCookbook({
  title: 'Check that the runner reaches conftool: count the objects of a cluster',
  args: {
    cluster: { type: 'string', demandOption: true, describe: 'conftool cluster' },
    dc: { type: 'string', describe: 'datacenter (default: all)' },
  },
  lock: { concurrency: 50, ttlSeconds: 60 },
  async run(ctx) {
    const sel = ctx.args.dc === undefined ? { cluster: ctx.args.cluster } : { cluster: ctx.args.cluster, dc: ctx.args.dc };
    const nodes = await ctx.clients.confctl.get(sel);
    const pooled = nodes.filter((n) => n.pooled === 'yes').length;
    ctx.output(
      { cluster: ctx.args.cluster, objects: nodes.length, pooled },
      `${ctx.args.cluster}: ${nodes.length} objects, ${pooled} pooled`,
    );
    return nodes.length > 0 ? 0 : 1;
  },
});
