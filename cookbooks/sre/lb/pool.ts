import { defineCookbook } from '@galley/core';
import { poolOrDepool } from '@galley/lb';

/**
 * The pool-<service> script for deployment hooks: pool only objects that are pooled=no (never
 * inactive), verified on every LB; exit 0 with "nothing to do" when already pooled.
 */
export default defineCookbook({
  title: 'Pool a host (objects at pooled=no only) and verify on every load balancer',
  args: {
    host: { type: 'string', demandOption: true, describe: 'host FQDN' },
    service: { type: 'string', describe: 'only this conftool service (default: all of the host)' },
    'verify-timeout': { type: 'string', describe: 'deadline for every load balancer to agree' },
  },
  reason: 'optional',
  task: 'optional',
  lock: (args) => ({ suffix: args.host, concurrency: 1, ttlSeconds: 600 }),
  async run(ctx) {
    return poolOrDepool(ctx, ctx.args, 'pool');
  },
});
