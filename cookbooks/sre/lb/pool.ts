import { defineCookbook } from '@galley/core';
import { poolArgs, poolLock, poolOrDepool } from '@galley/lb';

/**
 * The pool-<service> script for deployment hooks: pool only objects that are pooled=no (never
 * inactive), verified on every LB; exit 0 with "nothing to do" when already pooled. Args and lock
 * are sre.lb.depool's (@galley/lb).
 */
export default defineCookbook({
  title: 'Pool a host (objects at pooled=no only) and verify on every load balancer',
  args: poolArgs,
  reason: 'optional',
  task: 'optional',
  lock: poolLock,
  async run(ctx) {
    return poolOrDepool(ctx, ctx.args, 'pool');
  },
});
