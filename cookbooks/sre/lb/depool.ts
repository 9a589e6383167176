import { defineCookbook } from '@galley/core';
import { poolArgs, poolLock, poolOrDepool } from '@galley/lb';

/**
 * The depool-<service> script for deployment hooks: depool only objects that are pooled=yes,
 * refuse when a pool would breach its depool threshold, verify on every LB; exit 0 with
 * "nothing to do" when already depooled. Args and lock are sre.lb.pool's (@galley/lb).
 */
export default defineCookbook({
  title: 'Depool a host (objects at pooled=yes only) and verify on every load balancer',
  args: poolArgs,
  reason: 'optional',
  task: 'optional',
  lock: poolLock,
  async run(ctx) {
    return poolOrDepool(ctx, ctx.args, 'depool');
  },
});
