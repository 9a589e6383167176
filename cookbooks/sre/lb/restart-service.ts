import { defineCookbook } from '@galley/core';
import { durationArg, restartService } from '@galley/lb';

/**
 * The restart-<service> script: depool the host from every pool of the service, verify on every
 * LB, restart, repool only what was pooled before, verify again. Fails closed.
 */
export default defineCookbook({
  title: 'Restart one service on one host safely: depool, verify on every LB, restart, repool, verify',
  args: {
    host: { type: 'string', demandOption: true, describe: 'host FQDN, e.g. mw1001.eqiad.wmnet' },
    service: { type: 'string', demandOption: true, describe: 'conftool service, also the systemd unit restarted' },
    'command-timeout': { type: 'string', default: '120s', describe: 'timeout of the restart', check: durationArg({ positive: true }) },
    'verify-timeout': { type: 'string', describe: 'deadline for every load balancer to agree (default: the pybal config)', check: durationArg({ positive: true }) },
  },
  reason: 'optional',
  task: 'optional',
  lock: (args) => ({ suffix: args.host, concurrency: 1, ttlSeconds: 3600 }),
  async run(ctx) {
    return restartService(ctx, ctx.args);
  },
});
