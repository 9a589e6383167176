import { defineCookbook } from '@galley/core';
import { nameListArg, rollingArgs, rollingLock, rollingRestart } from '@galley/lb';

/**
 * The everyday rolling restart behind the load balancers: batch by batch, depool what is pooled,
 * wait until every LB has the hosts out, restart, health-check, repool exactly what was depooled,
 * wait until every LB has them back. Hosts that fail stay depooled and are reported.
 */
export default defineCookbook({
  title: 'Rolling restart of services across a load-balanced cluster (depool, verify, restart, repool, verify)',
  args: {
    ...rollingArgs,
    restart: {
      type: 'string',
      describe: 'comma-separated systemd services to restart (default: the conftool services depooled)',
      check: nameListArg,
    },
  },
  reason: 'required',
  task: 'optional',
  lock: (args) => rollingLock(args),
  async run(ctx) {
    return rollingRestart(ctx, ctx.args);
  },
});
