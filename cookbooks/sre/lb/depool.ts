import { defineCookbook } from '@galley/core';
import { poolOrDepool } from '@galley/lb';

/**
 * The depool-<service> script for deployment hooks: depool only objects that are pooled=yes,
 * refuse when a pool would breach its depool threshold, verify on every LB; exit 0 with
 * "nothing to do" when already depooled.
 */
export default defineCookbook({
  title: 'Depool a host (objects at pooled=yes only) and verify on every load balancer',
  args: {
    host: { type: 'string', demandOption: true, describe: 'host FQDN' },
    service: { type: 'string', describe: 'only this conftool service (default: all of the host)' },
    'verify-timeout': { type: 'string', describe: 'deadline for every load balancer to agree' },
  },
  reason: 'optional',
  task: 'optional',
  lock: (args) => ({ suffix: args.host, concurrency: 1, ttlSeconds: 600 }),
  async run(ctx) {
    return poolOrDepool(ctx, ctx.args, 'depool');
  },
});
