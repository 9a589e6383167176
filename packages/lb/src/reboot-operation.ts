/**
 * sre.lb.rolling-reboot and sre.hosts.reboot: the rolling operation (operations.ts, the same
 * runRolling path as rolling-restart, so every rolling option applies) with the reboot action
 * (reboot.ts) in place of commands.
 */
import type { ArgCheck } from '@galley/core';
import { durationArg, nameListArg } from './args.js';
import { parseDuration } from './batches.js';
import { errorText } from './engine.js';
import { LbArgumentError } from './errors.js';
import { list, refusing, rollingArgs, rollingOperation, portsFor, ROLLING_LOCK_TTL_S, selectFromArgs, type LbContext, type RollingArgs } from './operations.js';
import { rebootAction } from './reboot.js';
import { escapeRegex, mustBeOut, selectHosts, type Selection } from './select.js';
import type { HostAction } from './action.js';

/** wait-services=: units, or `none` alone. */
const waitServicesArg: ArgCheck = {
  accepts: 'comma-separated systemd units, e.g. nginx,php-fpm, or none',
  check: (v, name) => {
    const bad = nameListArg.check(v, name);
    if (bad !== undefined) return bad;
    const parts = String(v).split(',').map((s) => s.trim());
    return parts.includes('none') && parts.length > 1 ? `${name}=${String(v)}: \`none\` cannot be combined with units` : undefined;
  },
};

const WAIT_ARGS = (ttlS: number) =>
  ({
    'boot-timeout': { type: 'string', default: '10m', describe: 'give up on a host that has not come back with a new boot id after this long (it stays depooled)', check: durationArg({ positive: true, lockTtlSeconds: ttlS }) },
    'services-timeout': { type: 'string', default: '2m', describe: 'once a host is back, how long its services may take to be active (systemctl is-active)', check: durationArg({ positive: true, lockTtlSeconds: ttlS }) },
    'wait-services': { type: 'string', describe: "systemd units that must be active after the boot (default: the host's conftool services; `none`: no check)", check: waitServicesArg },
  }) as const;

/** The args of sre.lb.rolling-reboot: every rolling option, and the reboot's waits. */
export const rollingRebootArgs = { ...rollingArgs, ...WAIT_ARGS(ROLLING_LOCK_TTL_S) } as const;

export interface RebootWaitArgs {
  'boot-timeout'?: string | number | undefined;
  'services-timeout'?: string | number | undefined;
  'wait-services'?: string | undefined;
}

/** Poll interval of the boot-id and services waits. */
const POLL_MS = 1000;

/** The reboot action for these hosts: each waits for its own services (the selected conftool ones, or wait-services=). */
function actionFor(ctx: LbContext, a: RebootWaitArgs, selection: Selection | undefined): HostAction {
  const waitFor = list(a['wait-services']);
  const bad = a['wait-services'] !== undefined ? waitServicesArg.check(a['wait-services'], 'wait-services') : undefined;
  if (bad !== undefined) throw new LbArgumentError(bad, { hint: 'wait-services=none, or a list of units' });
  const fixed = waitFor?.includes('none') ? [] : waitFor;
  const perHost = new Map((selection?.hosts ?? []).map((h) => [h.host, [...new Set(mustBeOut(h).map((o) => o.tags.service))].sort()]));
  return rebootAction(ctx.clients.remote, {
    services: (host) => fixed ?? perHost.get(host) ?? [],
    bootTimeoutMs: parseDuration(a['boot-timeout'] ?? '10m', 'boot-timeout'),
    servicesTimeoutMs: parseDuration(a['services-timeout'] ?? '2m', 'services-timeout'),
    pollMs: POLL_MS,
    clock: portsFor(ctx).clock,
  });
}

/** sre.lb.rolling-reboot: reboot a cluster batch by batch, each host out of traffic and verified while it reboots. */
export async function rollingReboot(ctx: LbContext, a: RollingArgs & RebootWaitArgs): Promise<number> {
  return refusing(ctx, async () => {
    const select = selectFromArgs(a);
    const selection = await selectHosts(portsFor(ctx).store, select);
    return rollingOperation(ctx, { select, commands: [], action: actionFor(ctx, a, selection), label: 'rebooting', args: a }, selection);
  });
}

/** The max hold of sre.hosts.reboot's lock (`rebootHostLock`). */
export const REBOOT_HOST_LOCK_TTL_S = 3 * 3600;

/** The args of sre.hosts.reboot. */
export const rebootHostArgs = {
  host: { type: 'string', demandOption: true, describe: 'host FQDN, e.g. mw1001.eqiad.wmnet' },
  ...WAIT_ARGS(REBOOT_HOST_LOCK_TTL_S),
  'health-check': rollingArgs['health-check'],
  'health-timeout': { ...rollingArgs['health-timeout'], check: durationArg({ positive: true, lockTtlSeconds: REBOOT_HOST_LOCK_TTL_S }) },
  'verify-timeout': { ...rollingArgs['verify-timeout'], check: durationArg({ positive: true, lockTtlSeconds: REBOOT_HOST_LOCK_TTL_S }) },
} as const;

/** sre.hosts.reboot: one reboot per host at a time (the cookbook lock, per host). */
export function rebootHostLock(args: { host: string }): { suffix: string; concurrency: number; ttlSeconds: number } {
  return { suffix: args.host, concurrency: 1, ttlSeconds: REBOOT_HOST_LOCK_TTL_S };
}

export interface RebootHostArgs extends RebootWaitArgs {
  host: string;
  'health-check'?: string | undefined;
  'health-timeout'?: string | number | undefined;
  'verify-timeout'?: string | number | undefined;
}

/**
 * sre.hosts.reboot: one host through the same rolling operation (taken out, verified, rebooted,
 * waited for, health-checked, put back, verified). A host with no conftool object that is not
 * inactive is in no LB pool: nothing to take out, it is simply rebooted and waited for.
 */
export async function rebootHost(ctx: LbContext, a: RebootHostArgs): Promise<number> {
  return refusing(ctx, async () => {
    const store = portsFor(ctx).store;
    const objects = await store.select({ name: escapeRegex(a.host) });
    const args: RollingArgs = { cluster: '', batch: '1', sleep: 0, 'health-check': a['health-check'], 'health-timeout': a['health-timeout'], 'verify-timeout': a['verify-timeout'] };
    if (objects.some((o) => o.pooled !== 'inactive')) {
      const select = { hosts: new Set([a.host]) };
      const selection = await selectHosts(store, select);
      return rollingOperation(ctx, { select, commands: [], action: actionFor(ctx, a, selection), label: 'rebooting', args }, selection);
    }
    return rebootOutOfPools(ctx, a, objects.length ? 'every conftool object of it is inactive' : 'conftool has no object for it');
  });
}

/** A host in no LB pool: reboot, wait for the new boot id and the services, health check; nothing to take out or put back. */
async function rebootOutOfPools(ctx: LbContext, a: RebootHostArgs, why: string): Promise<number> {
  const { host } = a;
  const action = actionFor(ctx, a, undefined);
  const hc = a['health-check'];
  const hcTimeoutMs = parseDuration(a['health-timeout'] ?? '60s', 'health-timeout');
  const plan = `${host} is in no LB pool (${why}): nothing to take out; ${action.describe()}${hc ? `, then health check \`${hc}\` (up to ${hcTimeoutMs} ms)` : ''}`;
  if (ctx.dryRun) {
    ctx.change?.({ kind: 'rebooting', host, object: 'action', to: action.describe() });
    ctx.output({ host, inPool: false, status: 'plan', plan }, `would reboot: ${plan}`);
    return 0;
  }
  await ctx.lockHosts([host]);
  const task = ctx.progress.task(`reboot ${host} (in no LB pool)`);
  const [r] = await action.run([host], {
    record: async (entries) => {
      for (const [h, data] of entries) await ctx.journal.append({ type: 'lb-host-phase', host: h, phase: 'acting', batch: 1, action: data });
    },
    step: (_h, text) => task.update(`reboot ${host}: ${text}`),
  });
  let ok = r?.ok === true;
  let reason = r?.message;
  if (ok && hc) {
    const deadline = Date.now() + hcTimeoutMs;
    task.update(`reboot ${host}: health check`);
    for (;;) {
      const res = (await ctx.clients.remote.run([host], [{ shell: hc, timeoutMs: 30_000 }], { successThreshold: 0 })).results[0];
      if (res?.ok) break;
      if (Date.now() >= deadline) {
        ok = false;
        reason = `health check \`${hc}\` did not pass within ${hcTimeoutMs} ms: ${errorText(res?.message ?? res?.stderr ?? '')}`;
        break;
      }
      await new Promise((res2) => setTimeout(res2, POLL_MS));
    }
  }
  const data = { host, inPool: false, status: ok ? 'succeeded' : 'failed', ...(reason ? { reason } : {}), outputs: r?.outputs ?? [] };
  if (ok) {
    task.succeed();
    ctx.output(data, `rebooted ${host} (in no LB pool: ${why}); back with a new boot id${hc ? ', health check passed' : ''}`);
    return 0;
  }
  task.fail(reason);
  ctx.output(data, `FAILED: reboot of ${host} (in no LB pool: ${why}): ${reason ?? 'unknown'}`);
  return 1;
}
