import { defineCookbook } from '@galley/core';
import { restartService, restartServiceArgs, restartServiceLock } from '@galley/lb';

/**
 * The restart-<service> script: depool the host from every pool of the service, verify on every
 * LB, restart, repool only what was pooled before, verify again. Fails closed.
 */
export default defineCookbook({
  title: 'Restart one service on one host safely: depool, verify on every LB, restart, repool, verify',
  args: restartServiceArgs,
  reason: 'optional',
  task: 'optional',
  lock: restartServiceLock,
  async run(ctx) {
    return restartService(ctx, ctx.args);
  },
});
