import { defineCookbook } from '@galley/core';
import { rollingLock, rollingReboot, rollingRebootArgs } from '@galley/lb';

/**
 * Kernel updates, the most common fleet-wide maintenance: batch by batch, take out what is pooled,
 * wait until every LB has the hosts out, reboot, wait for each host to come back with a new boot id
 * and its services active, health-check, put back exactly what was taken out, wait until every LB
 * has them back. Every rolling option of rolling-restart applies. A host that does not come back
 * stays depooled and is reported.
 */
export default defineCookbook({
  title: 'Rolling reboot of a load-balanced cluster (depool, verify, reboot, wait for the new boot, repool, verify)',
  args: rollingRebootArgs,
  reason: 'required',
  task: 'optional',
  lock: (args) => rollingLock(args),
  async run(ctx) {
    return rollingReboot(ctx, ctx.args);
  },
});
