/**
 * sre.lb.rolling-reboot and sre.hosts.reboot: the rolling operation (operations.ts, the same
 * runRolling path as rolling-restart, so every rolling option applies) with the reboot action
 * (reboot.ts) in place of commands.
 */
import type { ArgCheck } from '@galley/core';
import { durationArg, formatDuration, nameListArg } from './args.js';
import { parseDuration } from './batches.js';
import { errorText } from './engine.js';
import { LbArgumentError } from './errors.js';
import {
  list,
  refusing,
  rollingArgs,
  rollingOperation,
  portsFor,
  ROLLING_LOCK_TTL_S,
  selectFromArgs,
  type LbContext,
  type RollingArgs,
} from './operations.js';
import { rebootAction } from './reboot.js';
import { escapeRegex, mustBeOut, selectHosts, type Selection } from './select.js';
import type { HostAction } from './action.js';

/** wait-services=: units, or `none` alone. */
const waitServicesArg: ArgCheck = {
  accepts: 'comma-separated systemd units, e.g. nginx,php-fpm, or none',
  check: (v, name) => {
    const bad = nameListArg.check(v, name);
    if (bad !== undefined) return bad;
    const parts = String(v)
      .split(',')
      .map((s) => s.trim());
    return parts.includes('none') && parts.length > 1 ? `${name}=${String(v)}: \`none\` cannot be combined with units` : undefined;
  },
};

const WAIT_ARGS = (ttlS: number) =>
  ({
    'boot-timeout': {
      type: 'string',
      default: '10m',
      describe: 'give up on a host that has not come back with a new boot id after this long (it stays depooled)',
      check: durationArg({ positive: true, lockTtlSeconds: ttlS }),
    },
    'services-timeout': {
      type: 'string',
      default: '2m',
      describe: 'once a host is back, how long its services may take to be active (systemctl is-active)',
      check: durationArg({ positive: true, lockTtlSeconds: ttlS }),
    },
    'wait-services': {
      type: 'string',
      describe: "systemd units that must be active after the boot (default: the host's conftool services; `none`: no check)",
      check: waitServicesArg,
    },
  }) as const;

// command-timeout= is the commands' (rolling-restart/run): the reboot has its own waits instead.
const { 'command-timeout': _commandTimeout, ...rollingOptions } = rollingArgs;

/** The args of sre.lb.rolling-reboot: every rolling option (but command-timeout=), and the reboot's waits. */
export const rollingRebootArgs = { ...rollingOptions, ...WAIT_ARGS(ROLLING_LOCK_TTL_S) } as const;

export interface RebootWaitArgs {
  'boot-timeout'?: string | number | undefined;
  'services-timeout'?: string | number | undefined;
  'wait-services'?: string | undefined;
}

/** Poll interval of the boot-id and services waits. */
const POLL_MS = 1000;

/** wait-services= as given: units, [] for `none`, undefined when not given (each host's conftool services). */
function fixedServices(a: RebootWaitArgs): string[] | undefined {
  const waitFor = list(a['wait-services']);
  const bad = a['wait-services'] !== undefined ? waitServicesArg.check(a['wait-services'], 'wait-services') : undefined;
  if (bad !== undefined) throw new LbArgumentError(bad, { hint: 'wait-services=none, or a list of units' });
  return waitFor?.includes('none') ? [] : waitFor;
}

/** The reboot action for these hosts: each waits for its own services (the selected conftool ones, or wait-services=). */
function actionFor(ctx: LbContext, a: RebootWaitArgs, selection: Selection | undefined): HostAction {
  const fixed = fixedServices(a);
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
    const args: RollingArgs = {
      cluster: '',
      batch: '1',
      sleep: 0,
      'health-check': a['health-check'],
      'health-timeout': a['health-timeout'],
      'verify-timeout': a['verify-timeout'],
    };
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
  // monitoring: alertmanager: one silence of the host (its wait-services=, or every alert of it) over the whole step, as a rolling run does.
  const silencer = portsFor(ctx).silencer;
  const silenceFor = {
    services: fixedServices(a) ?? [],
    durationMs: (action.maxMs ?? 0) + (hc ? hcTimeoutMs + 30_000 : 0) + 60_000,
    reason: ctx.reason ?? `sre.hosts.reboot of ${host}`,
  };
  const silenceText = silencer
    ? `; silenced in ${silencer.where} (${silenceFor.services.join(', ') || 'every alert'}) for up to ${formatDuration(silenceFor.durationMs)}, expired once back, kept ${formatDuration(silencer.keepFailedForMs)} if it fails`
    : '';
  const plan = `${host} is in no LB pool (${why}): nothing to take out; ${action.describe()}${hc ? `, then health check \`${hc}\` (up to ${hcTimeoutMs} ms)` : ''}${silenceText}`;
  // Monitoring unreachable: refused before any lock or reboot, as a rolling run is (in dry-run: said in the plan).
  let monitoringProblem: string | undefined;
  try {
    await silencer?.check();
  } catch (err) {
    if (!ctx.dryRun) throw err;
    monitoringProblem = `the real run would stop here: ${errorText(err)}`;
  }
  if (ctx.dryRun) {
    ctx.change?.({ kind: 'rebooting', host, object: 'action', to: action.describe() });
    ctx.output(
      { host, inPool: false, status: 'plan', plan, ...(monitoringProblem ? { monitoringProblem } : {}) },
      `would reboot: ${plan}${monitoringProblem ? `\nmonitoring: ${monitoringProblem}` : ''}`,
    );
    return 0;
  }
  await ctx.lockHosts([host]);
  let silence: { id: string; until?: string; state: 'active' | 'expired' | 'kept' | 'left'; why?: string } | undefined;
  if (silencer) {
    try {
      silence = { id: await silencer.silence(host, silenceFor), state: 'active' };
    } catch (err) {
      const msg = `cannot silence ${host} in ${silencer.where} (${errorText(err)}); it was not rebooted`;
      ctx.output({ host, inPool: false, status: 'refused', stopReason: msg }, `REFUSED: ${msg}`);
      return 1;
    }
  }
  const task = ctx.progress.task(`reboot ${host} (in no LB pool)`);
  const [r] = await action.run([host], {
    record: async (entries) => {
      for (const [h, data] of entries)
        await ctx.journal.append({ type: 'lb-host-phase', host: h, phase: 'acting', batch: 1, action: data });
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
  if (silence && silencer) {
    try {
      if (ok) {
        await silencer.expire(silence.id);
        silence.state = 'expired';
      } else {
        const k = await silencer.keep(silence.id, {
          durationMs: silencer.keepFailedForMs,
          reason: `reboot failed: ${reason ?? 'unknown'}`,
        });
        silence = { id: k.id, until: k.endsAt, state: 'kept' };
      }
    } catch (err) {
      silence.state = 'left';
      silence.why = errorText(err);
      ctx.log.warn(
        `${host}: its silence ${silence.id} in ${silencer.where} could not be ${ok ? 'expired' : 'kept'} (${silence.why}); it ends at its deadline`,
      );
    }
  }
  const data = {
    host,
    inPool: false,
    status: ok ? 'succeeded' : 'failed',
    ...(reason ? { reason } : {}),
    ...(silence ? { silence } : {}),
    outputs: r?.outputs ?? [],
  };
  if (ok) {
    task.succeed();
    ctx.output(data, `rebooted ${host} (in no LB pool: ${why}); back with a new boot id${hc ? ', health check passed' : ''}`);
    return 0;
  }
  task.fail(reason);
  ctx.output(
    data,
    `FAILED: reboot of ${host} (in no LB pool: ${why}): ${reason ?? 'unknown'}${silence?.state === 'kept' ? `; silence ${silence.id} kept until ${silence.until ?? '?'}` : ''}`,
  );
  return 1;
}
