import { defineCookbook, isRebootTimeoutError } from '@galley/core';
import {
  checkCapacity, checkFqdn, checkLockBudget, confirmed, conftoolNow, DEFAULT_INSTALL_TIMEOUT_MS, errMessage, expand, fqdnArg, HostsError, lifecycleReady, lockTtlSeconds, need, notConfirmed,
  recordConftool, restoreAndVerify, restoreCommands, setOutAndVerify, short, STEP_MS, stepsText,
  type Ctx, type RecordedObject, type Step,
} from './_common.js';

/**
 * Reinstall one host (Spicerack's sre.hosts.reimage): out of traffic and verified, downtimed,
 * reinstalled by the provisioner, back with a new boot id and a host key vouched for by the
 * provisioner, configured, health-checked, and put back exactly as it was. A failure leaves the
 * host out of traffic and prints the commands that restore it by hand.
 */

interface State {
  host: string;
  os: string;
  isNew: boolean;
  value: 'inactive' | 'no';
  force: boolean;
}

const PLAIN = /^[a-z0-9][a-z0-9._-]*$/;

export default defineCookbook({
  title: 'Reimage a host: depool, downtime, reinstall, verify, configure, repool exactly as before',
  args: {
    host: { type: 'string', demandOption: true, describe: 'host FQDN, e.g. mw1301.eqiad.wmnet', check: fqdnArg },
    os: { type: 'string', demandOption: true, describe: 'OS codename to install, e.g. bookworm' },
    'conftool-value': { type: 'string', choices: ['inactive', 'no'], default: 'inactive', describe: 'pooled value while the host is reimaged (inactive: PyBal drops it from the pool totals)' },
    new: { type: 'boolean', default: false, describe: 'the host is not in conftool yet: skip the conftool steps' },
    force: { type: 'boolean', default: false, describe: "take the host out even when its pools would go below PyBal's depool threshold" },
  },
  task: 'optional',
  reason: 'optional',
  // Max hold sized from the step deadlines (install, post-install, verifications…): see lockTtlSeconds.
  lock: (args) => ({ suffix: args.host, concurrency: 1, ttlSeconds: lockTtlSeconds('reimage', 1) }),

  async prepare(ctx): Promise<State> {
    const { host, os } = ctx.args;
    checkFqdn(host);
    if (!PLAIN.test(os)) throw new HostsError('ERR_HOSTS_BAD_OS', `os=${JSON.stringify(os)} is not an OS codename`, { hint: 'e.g. os=bookworm' });
    need(ctx.clients, 'provisioner');
    await lifecycleReady(ctx.clients);
    checkLockBudget(ctx.clients);
    const objs = await recordConftool(ctx.clients, host);
    if (!ctx.args.new && objs.length === 0) {
      throw new HostsError('ERR_HOSTS_NOT_IN_CONFTOOL', `${host} has no conftool objects`, { hint: 'check the name; for a host not in conftool yet, add `new`' });
    }
    if (ctx.args.new && objs.length > 0) {
      throw new HostsError('ERR_HOSTS_NEW_BUT_KNOWN', `${host} has ${objs.length} conftool objects (${objs.map(short).join(', ')}), so it is not new`, { hint: 'drop `new`: its pooled state will be recorded and restored' });
    }
    const inv = await ctx.clients.inventory?.get(host);
    if (inv && (inv.status === 'decommissioned' || inv.status === 'decommissioning' || inv.status === 'offline')) {
      throw new HostsError('ERR_HOSTS_DECOMMISSIONED', `${host} is ${inv.status} in the inventory`, { hint: 'a decommissioned host is not reimaged; fix the inventory first if this is wrong' });
    }
    // Refused here, before the confirmation prompt and with nothing changed; checked again under the host lock.
    if (!ctx.args.new) await checkCapacity(ctx, [host], ctx.args.force);
    return { host, os, isNew: ctx.args.new, value: ctx.args['conftool-value'] as 'inactive' | 'no', force: ctx.args.force };
  },

  async run(ctx, st) {
    return reimage(ctx, st);
  },
});

async function reimage(ctx: Ctx, st: State): Promise<number> {
  const { host, os } = st;
  const c = ctx.clients;
  const provisioner = need(c, 'provisioner');
  const settings = c.hosts ?? {};
  const steps: Step[] = [];
  let recorded: RecordedObject[] = [];
  let outOfTraffic = false;
  let downtimeId: string | undefined;
  let newKey: string | undefined;
  const task = ctx.progress.task(`Reimage ${host} with ${os}`);

  const step = async <T>(name: string, fn: () => Promise<T>, detail?: (v: T) => string | undefined): Promise<T> => {
    const sub = task.subtask(`${host}: ${name}`);
    ctx.emit({ type: 'host-phase', host, phase: name });
    try {
      const v = await fn();
      const d = detail?.(v);
      steps.push({ step: name, ok: true, ...(d ? { detail: d } : {}) });
      sub.succeed(`${host}: ${name}${d ? ` — ${d}` : ''}`);
      return v;
    } catch (err) {
      steps.push({ step: name, ok: false, detail: errMessage(err) });
      sub.fail(`${host}: ${name} FAILED — ${errMessage(err)}`);
      throw err;
    }
  };

  // Asked before anything is locked or written: a refusal changes nothing.
  if (!ctx.dryRun && !(await confirmed(ctx, `ATTENTION: destructive action for ${host}: reinstall with ${os}. Proceed?`))) {
    task.fail(`${host}: not confirmed`);
    return notConfirmed(ctx, `Reimage of ${host} with ${os}`, { host, os, steps });
  }
  try {
    await step('lock host', () => ctx.lockHosts([host]));
    if (!st.isNew) {
      // The pools may have lost servers while the prompt waited: checked again before writing.
      if (!ctx.dryRun) await step('check pool capacity', () => checkCapacity(ctx, [host], st.force));
      // Recorded under the host lock: nobody else changes it from here on.
      recorded = await step('record conftool state', () => recordConftool(c, host), (r) => r.map((o) => `${short(o)}=${o.pooled}/${o.weight}`).join(' '));
      outOfTraffic = true;
      await step(`set pooled=${st.value} and verify on every LB`, () => setOutAndVerify(ctx, host, recorded, st.value));
    }
    const bootBefore = await step('read boot id', async () => (await c.remote.bootIds([host])).get(host), (b) => b ?? 'unreachable: will wait for a fresh boot');
    const startedAt = new Date();
    if (c.monitoring) {
      ctx.change({ kind: 'monitoring', host, object: 'downtime', to: 'set (removed at the end)' });
      downtimeId = await step('downtime', () => c.monitoring!.downtime(host, { durationMs: settings.downtimeMs ?? 2 * 3600_000, reason: `reimage with ${os}${ctx.taskId ? ` (${ctx.taskId})` : ''}` }), (id) => id);
    } else ctx.log.warn('no monitoring configured: the host is not downtimed');
    ctx.change({ kind: 'provisioner', host, object: 'reinstall', to: os });
    await step(`reinstall with ${os}`, () => provisioner.reinstall(host, os));
    newKey = await step('wait for the new boot', () => waitForBoot(ctx, host, bootBefore !== undefined ? new Map([[host, bootBefore]]) : startedAt, settings.installTimeoutMs ?? DEFAULT_INSTALL_TIMEOUT_MS), (k) => `host key trusted (from the provisioner): ${k.slice(0, 60)}…`);
    if (!ctx.dryRun) {
      await step('verify the OS', async () => {
        const r = await c.remote.run([host], [{ argv: ['lsb_release', '-sc'], timeoutMs: STEP_MS.osCheck }], { isSafe: true });
        const got = r.results[0]?.stdout.trim() ?? '';
        if (got !== os) throw new HostsError('ERR_HOSTS_WRONG_OS', `${host} runs "${got || r.results[0]?.message || '?'}" after the reinstall, expected ${os}`, { hint: 'check the provisioner (install media / boot order)' });
        return got;
      }, (g) => g);
    } else ctx.log.info(`DRY-RUN: would verify that ${host} runs ${os} (lsb_release -sc)`);
    if (settings.postInstall?.length) {
      const argv = expand(settings.postInstall, { host, os });
      await step(`post-install: ${argv.join(' ')}`, async () => {
        const r = await c.remote.run([host], [{ argv, timeoutMs: STEP_MS.postInstall }]);
        const h = r.results[0];
        if (!h?.ok) throw new HostsError('ERR_HOSTS_POST_INSTALL', `post-install on ${host} failed (exit ${h?.exitCode ?? '?'}): ${(h?.stderr || h?.stdout || h?.message || '').trim().slice(0, 500)}`, { hint: 'fix the host\'s configuration and run the post-install command by hand' });
      });
    } else ctx.log.warn('no hosts.postInstall configured: the host is not configured after the reinstall');
    await step('health check', () => healthCheck(ctx, host, recorded, settings.healthCheck));
    if (!st.isNew) {
      await step('restore the recorded conftool state and verify on every LB', () => restoreAndVerify(ctx, host, recorded, st.value));
      outOfTraffic = false;
    }
    if (downtimeId !== undefined) {
      const id = downtimeId;
      await step('remove the downtime', () => c.monitoring!.removeDowntime(id));
      downtimeId = undefined;
    }
  } catch (err) {
    ctx.log.error(`reimage of ${host} failed: ${errMessage(err)}`);
    const failed = steps.find((s) => !s.ok)?.step ?? 'before the first step';
    const commands = outOfTraffic ? restoreCommands(recorded) : [];
    // What etcd holds now, not what the run meant to leave: a failed repool has put the host back
    // out, but a failure on the way could leave anything.
    const now = outOfTraffic && !ctx.dryRun ? await conftoolNow(c, host) : undefined;
    const where = now !== undefined ? `conftool now: ${now}` : `pooled=${st.value}`;
    if (outOfTraffic) ctx.leftover({ object: host, state: `out of traffic (${where})`, why: `failed at: ${failed}` });
    if (downtimeId) ctx.leftover({ object: host, state: `downtime ${downtimeId} still set` });
    const text = [
      `Reimage of ${host} with ${os}: FAILED at step "${failed}"`,
      stepsText(steps),
      ...(outOfTraffic
        ? ['', `The host stays out of traffic (${where}). To restore its recorded state by hand:`, ...commands.map((l) => `  ${l}`)]
        : []),
      ...(downtimeId ? ['', `Downtime ${downtimeId} is left in place.`] : []),
    ].join('\n');
    ctx.output({ host, os, status: 'failed', failedStep: failed, error: errMessage(err), steps, recorded, conftoolNow: now ?? null, restoreCommands: commands, downtime: downtimeId ?? null }, text);
    return 1;
  }
  const text = [
    `Reimage of ${host} with ${os}: ${ctx.dryRun ? 'planned (dry-run)' : 'done'}`,
    stepsText(steps),
    ...(recorded.length ? ['', `conftool state restored: ${recorded.map((o) => `${short(o)}=${o.pooled}`).join(', ')}`] : []),
    ...(newKey ? [`host key trusted: ${newKey.split(' ')[0] ?? ''} (from the provisioner)`] : []),
  ].join('\n');
  ctx.output({ host, os, status: ctx.dryRun ? 'planned' : 'succeeded', steps, recorded, hostKey: newKey ?? null }, text);
  return 0;
}

/** How long one wait for the boot runs before the provisioner is asked for the host key again. */
const KEY_RECHECK_MS = 5000;

/**
 * Wait for the reinstalled host's new boot, trusting only the host key the provisioner vouches
 * for. A real provisioner's reinstall returns once the install has *started*: the key the site
 * publishes then is still the old one (or none), so the key is asked for again every few seconds
 * until the host is back with the key the provisioner names. Whatever the host itself offers is
 * never trusted: a host whose key the provisioner never vouches for counts as not back.
 */
async function waitForBoot(ctx: Ctx, host: string, since: Map<string, string> | Date, timeoutMs: number): Promise<string> {
  const c = ctx.clients;
  const provisioner = need(c, 'provisioner');
  const deadline = Date.now() + timeoutMs;
  let trusted: string | undefined;
  let keyError: unknown;
  for (;;) {
    try {
      const key = await provisioner.hostKey(host);
      if (key !== trusted) {
        c.remote.trustHostKey(host, key);
        if (trusted !== undefined) ctx.log.info(`${host}: the provisioner now vouches for another host key; trusting that one`);
        trusted = key;
      }
      keyError = undefined;
    } catch (err) {
      // Not published yet, or the provisioner is briefly unavailable: asked again below.
      keyError = err;
      if (ctx.dryRun) throw err;
    }
    const left = deadline - Date.now();
    if (trusted !== undefined) {
      try {
        await c.remote.waitRebootSince([host], since, { timeoutMs: Math.max(1000, Math.min(KEY_RECHECK_MS, left)), pollMs: 1000 });
        return trusted;
      } catch (err) {
        if (!isRebootTimeoutError(err) || Date.now() >= deadline) return notBack(ctx, host, err);
      }
    } else if (left <= 0) {
      throw new HostsError('ERR_HOSTS_NO_HOST_KEY', `the provisioner vouched for no host key of ${host} within ${Math.round(timeoutMs / 1000)} s: ${errMessage(keyError)}`, {
        hint: 'the host is NOT trusted; check the provisioner\'s key records (provisioner.hostKey)',
        cause: keyError,
      });
    } else await new Promise((r) => setTimeout(r, Math.min(1000, left)));
  }
}

/** The host did not come back in time: say why when it answers with a key nobody vouched for. */
async function notBack(ctx: Ctx, host: string, err: unknown): Promise<never> {
  const probe = await ctx.clients.remote.run([host], [{ argv: ['true'], timeoutMs: 10_000 }], { isSafe: true, successThreshold: 0 }).catch(() => undefined);
  const why = probe?.results[0]?.message ?? '';
  if (/host key/i.test(why)) throw new HostsError('ERR_HOSTS_HOST_KEY', `${host} came back with a host key the provisioner does not vouch for: ${why}`, { hint: 'the host is NOT trusted; check the provisioner\'s key records before anything else', cause: err });
  throw err;
}

/** The configured check, or `systemctl is-active` on the host's conftool services; retried up to 60 s. */
async function healthCheck(ctx: Ctx, host: string, objs: readonly RecordedObject[], argv: string[] | undefined): Promise<string> {
  const services = [...new Set(objs.map((o) => o.tags.service))];
  const cmd = argv?.length ? expand(argv, { host }) : services.length ? ['systemctl', 'is-active', ...services] : undefined;
  if (!cmd) return 'nothing to check (no services known, no hosts.healthCheck)';
  if (ctx.dryRun) {
    ctx.log.info(`DRY-RUN: would run the health check '${cmd.join(' ')}' on ${host}`);
    return 'dry-run';
  }
  const end = Date.now() + 60_000;
  let last = '';
  for (;;) {
    const r = await ctx.clients.remote.run([host], [{ argv: cmd, timeoutMs: 30_000 }], { isSafe: true });
    const h = r.results[0];
    if (h?.ok) return cmd.join(' ');
    last = (h?.stdout || h?.stderr || h?.message || '').trim().replace(/\n/g, ' ');
    if (Date.now() > end) throw new HostsError('ERR_HOSTS_UNHEALTHY', `${host} fails its health check '${cmd.join(' ')}': ${last}`, { hint: 'look at the services on the host; it stays out of traffic' });
    await new Promise((r2) => setTimeout(r2, 1000));
  }
}
