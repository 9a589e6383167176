import { defineCookbook } from '@galley/core';
import { rebootHost, rebootHostArgs, rebootHostLock } from '@galley/lb';

/**
 * Reboot one host safely: out of traffic and verified on every LB, rebooted, back with a new boot
 * id and its services active, health-checked, put back exactly as it was, verified. The same
 * engine as sre.lb.rolling-reboot. A host in no LB pool (no conftool object, or only inactive ones)
 * has nothing to take out: it is simply rebooted and waited for.
 */
export default defineCookbook({
  title: 'Reboot one host: depool, verify, reboot, wait for the new boot and its services, repool, verify',
  args: rebootHostArgs,
  reason: 'optional',
  task: 'optional',
  lock: rebootHostLock,
  async run(ctx) {
    return rebootHost(ctx, ctx.args);
  },
});
