import { defineCookbook, NodeSet } from '@galley/core';
import { escapeRegex, readBack, verifyOut, writeOut, type EngineDeps, type Hold, type ObjectState, type OwnerMarker } from '@galley/lb';
import {
  checkCapacity,
  checkFqdn,
  checkLockBudget,
  confirmed,
  engineFor,
  errMessage,
  expand,
  holdFor,
  hostObjects,
  HostsError,
  hostPatternArg,
  leftText,
  lifecycleReady,
  lockTtlSeconds,
  need,
  notConfirmed,
  nowText,
  ownerMarker,
  planTakeOut,
  recordedOf,
  restoreCommands,
  short,
  STEP_MS,
  stepsText,
  unverifiedNote,
  type Ctx,
  type RecordedObject,
  type Step,
} from './_common.js';

/**
 * Decommission hosts (Spicerack's sre.hosts.decommission): per host, under its lock, out of every
 * pool and verified (lb's engine: its pooled objects to inactive with this run's owner marker; a
 * host leaving the fleet is never put back), downtimed, services stopped and disks wiped over SSH, powered off, removed
 * from conftool and marked decommissioned in the inventory. An unreachable host is still removed
 * from conftool and the inventory (with a warning); one host's failure does not stop the others.
 */

const SOFT_LIMIT = 5;
const HARD_LIMIT = 20;

interface State {
  hosts: string[];
  force: boolean;
}

/** How many hosts the pattern names, for the lock budget (a bad pattern is refused by prepare). */
function hostCount(pattern: string): number {
  try {
    return Math.min(NodeSet.parse(pattern).size, HARD_LIMIT);
  } catch {
    return HARD_LIMIT;
  }
}

interface HostReport {
  host: string;
  status: 'decommissioned' | 'failed' | 'planned';
  steps: Step[];
  warnings: string[];
  recorded: RecordedObject[];
  downtime?: string;
  error?: string;
  /** A failed host: each of its objects as conftool has it now (read back). */
  conftoolNow?: ObjectState[];
}

export default defineCookbook({
  title: 'Decommission hosts: out of every pool, downtime, stop, wipe, power off, remove from conftool, inventory',
  args: {
    host: {
      type: 'string',
      demandOption: true,
      describe: 'host FQDN or ClusterShell NodeSet expression, e.g. mw[1301-1303].eqiad.wmnet',
      check: hostPatternArg,
    },
    force: {
      type: 'boolean',
      default: false,
      describe: `allow up to ${HARD_LIMIT} hosts (default limit ${SOFT_LIMIT}), and taking pools below PyBal's depool threshold`,
    },
  },
  task: 'required',
  reason: 'optional',
  // Hosts are handled one after the other, each up to its step deadlines (a wipe alone may take an
  // hour): the cookbook and host locks must be held that long (see lockTtlSeconds).
  lock: (args) => ({ ttlSeconds: lockTtlSeconds('decommission', hostCount(args.host)) }),

  async prepare(ctx): Promise<State> {
    const hosts = NodeSet.parse(ctx.args.host).hosts();
    if (hosts.length === 0) throw new HostsError('ERR_HOSTS_NONE', `host=${ctx.args.host} matches no host`);
    for (const h of hosts) checkFqdn(h);
    if (hosts.length > HARD_LIMIT) {
      throw new HostsError(
        'ERR_HOSTS_TOO_MANY',
        `${hosts.length} hosts match ${ctx.args.host}: at most ${HARD_LIMIT} can be decommissioned in one run`,
        { hint: 'split the run' },
      );
    }
    if (hosts.length > SOFT_LIMIT && !ctx.args.force) {
      throw new HostsError('ERR_HOSTS_OVER_LIMIT', `${hosts.length} hosts match ${ctx.args.host}: more than ${SOFT_LIMIT} needs --force`, {
        hint: `check the list, then add --force (at most ${HARD_LIMIT})`,
      });
    }
    need(ctx.clients, 'provisioner');
    need(ctx.clients, 'inventory');
    await lifecycleReady(ctx.clients);
    checkLockBudget(ctx.clients);
    const engine = engineFor(ctx);
    const unknown: string[] = [];
    const all: { host: string; objects: Awaited<ReturnType<typeof hostObjects>> }[] = [];
    for (const h of hosts) {
      const objects = await hostObjects(engine, h);
      all.push({ host: h, objects });
      const inInventory = (await ctx.clients.inventory!.get(h)) !== undefined;
      if (!objects.length && !inInventory) unknown.push(h);
    }
    if (unknown.length)
      throw new HostsError('ERR_HOSTS_UNKNOWN', `not in conftool nor in the inventory: ${unknown.join(', ')}`, {
        hint: 'check the host names',
      });
    // Counted over all the hosts of the run against the pools as they are now: once a host is
    // inactive it has left PyBal's totals, so a per-host check later would no longer see the loss.
    await checkCapacity(ctx, engine, all, ctx.args.force);
    return { hosts, force: ctx.args.force };
  },

  async run(ctx, st) {
    return decommission(ctx, st);
  },
});

async function decommission(ctx: Ctx, st: State): Promise<number> {
  if (
    !ctx.dryRun &&
    !(await confirmed(ctx, `ATTENTION: destructive action for ${st.hosts.length} hosts: ${st.hosts.join(', ')}\nAre you sure to proceed?`))
  ) {
    return notConfirmed(ctx, `Decommission of ${st.hosts.join(', ')}`, { hosts: [], failed: [], notAttempted: st.hosts });
  }
  const engine = engineFor(ctx);
  const owner = ownerMarker(ctx, `sre.hosts.decommission-host`);
  // The pools may have lost servers while the prompt waited: checked again before any write.
  if (!ctx.dryRun) {
    try {
      const all = await Promise.all(st.hosts.map(async (host) => ({ host, objects: await hostObjects(engine, host) })));
      await checkCapacity(ctx, engine, all, st.force);
    } catch (err) {
      const text = `Decommission of ${st.hosts.join(', ')}: refused, nothing changed: ${errMessage(err)}`;
      ctx.log.error(text);
      ctx.output({ hosts: [], failed: [], notAttempted: st.hosts, error: errMessage(err) }, text);
      return 1;
    }
  }
  const reports: HostReport[] = [];
  const task = ctx.progress.task(`Decommission ${st.hosts.length} hosts`);
  for (const host of st.hosts) {
    if (ctx.signal.aborted) break;
    reports.push(await one(ctx, { engine, owner, host }, task.subtask(`${host}: decommissioning`)));
  }
  const failed = reports.filter((r) => r.status === 'failed');
  const notAttempted = st.hosts.filter((h) => !reports.some((r) => r.host === h));
  if (failed.length || notAttempted.length) task.fail(`${failed.length} failed, ${notAttempted.length} not attempted`);
  else task.succeed();
  const text = [
    ...reports.map((r) =>
      [
        `${r.host}: ${r.status.toUpperCase()}${r.error ? ` — ${r.error}` : ''}`,
        stepsText(r.steps),
        ...r.warnings.map((w) => `  WARNING: ${w}`),
        ...(r.conftoolNow ? [`  conftool now: ${nowText(r.conftoolNow)}`] : []),
        ...(r.status === 'failed' && r.recorded.length
          ? ['  conftool state before the run (to restore by hand if needed):', ...restoreCommands(r.recorded).map((l) => `    ${l}`)]
          : []),
      ].join('\n'),
    ),
    ...(notAttempted.length ? [`not attempted: ${notAttempted.join(', ')}`] : []),
    `${reports.length - failed.length}/${st.hosts.length} hosts ${ctx.dryRun ? 'planned (dry-run)' : 'decommissioned'}${failed.length ? `; FAILED: ${failed.map((r) => r.host).join(', ')}` : ''}`,
  ].join('\n');
  ctx.output({ hosts: reports, failed: failed.map((r) => r.host), notAttempted }, text);
  return failed.length || notAttempted.length ? 1 : 0;
}

async function one(
  ctx: Ctx,
  o: { engine: EngineDeps; owner: OwnerMarker; host: string },
  sub: ReturnType<Ctx['progress']['task']>,
): Promise<HostReport> {
  const { engine, owner, host } = o;
  const c = ctx.clients;
  const provisioner = need(c, 'provisioner');
  const inventory = need(c, 'inventory');
  const settings = c.hosts ?? {};
  const rep: HostReport = { host, status: ctx.dryRun ? 'planned' : 'decommissioned', steps: [], warnings: [], recorded: [] };
  const warn = (w: string) => {
    rep.warnings.push(w);
    ctx.log.warn(`${host}: ${w}`);
  };
  const step = async <T>(name: string, fn: () => Promise<T>, detail?: (v: T) => string | undefined): Promise<T> => {
    sub.update(`${host}: ${name}`);
    ctx.emit({ type: 'host-phase', host, phase: name });
    try {
      const v = await fn();
      const d = detail?.(v);
      rep.steps.push({ step: name, ok: true, ...(d ? { detail: d } : {}) });
      return v;
    } catch (err) {
      rep.steps.push({ step: name, ok: false, detail: errMessage(err) });
      throw err;
    }
  };
  let hold: Hold | undefined;
  try {
    // The host lock before anything is read: what is taken out is the state the holder left.
    await step('lock host', () => ctx.lockHosts([host]));
    const objects = await step(
      'record conftool state',
      () => hostObjects(engine, host),
      (r) => r.map((x) => `${short(x)}=${x.pooled}`).join(' ') || 'no objects',
    );
    rep.recorded = recordedOf(objects);
    if ((await inventory.get(host)) !== undefined)
      await step('inventory: decommissioning', () => inventory.setStatus(host, 'decommissioning'));
    else warn('not in the inventory');
    if (objects.length) {
      const h = holdFor(host, objects, 'inactive');
      hold = h;
      await step('set pooled=inactive and verify gone from every LB', () =>
        ctx.dryRun ? Promise.resolve(planTakeOut(ctx, h, owner)) : takeOutForGood(engine, h, owner),
      );
    }
    if (c.monitoring) {
      ctx.change({ kind: 'monitoring', host, object: 'downtime', to: 'set' });
      rep.downtime = await step(
        'downtime',
        () =>
          c.monitoring!.downtime(host, {
            durationMs: settings.downtimeMs ?? 2 * 3600_000,
            reason: `decommission${ctx.taskId ? ` (${ctx.taskId})` : ''}`,
            createdBy: owner.user,
            runId: ctx.runId,
          }),
        (id) => id,
      );
    } else warn('no monitoring configured: not downtimed');
    const reachable = await step(
      'check SSH',
      async () => {
        const r = await c.remote.run([host], [{ argv: ['true'], timeoutMs: STEP_MS.sshProbe }], { isSafe: true, successThreshold: 0 });
        return r.results[0]?.ok === true ? true : (r.results[0]?.message ?? 'unreachable');
      },
      (v) => (v === true ? 'reachable' : `unreachable: ${String(v)}`),
    );
    if (reachable === true) {
      const services = [...new Set(rep.recorded.map((o) => o.tags.service))];
      if (services.length) {
        await step(`stop services: ${services.join(' ')}`, async () => {
          const r = await c.remote.run([host], [{ argv: ['systemctl', 'stop', ...services], timeoutMs: STEP_MS.stopServices }]);
          if (!r.results[0]?.ok)
            throw new HostsError(
              'ERR_HOSTS_STOP_FAILED',
              `stopping ${services.join(' ')} on ${host} failed: ${(r.results[0]?.stderr || r.results[0]?.message || '').trim()}`,
            );
        });
      }
      if (settings.wipe?.length) {
        const argv = expand(settings.wipe, { host });
        await step(`wipe: ${argv.join(' ')}`, async () => {
          const r = await c.remote.run([host], [{ argv, timeoutMs: STEP_MS.wipe }]);
          if (!r.results[0]?.ok)
            throw new HostsError(
              'ERR_HOSTS_WIPE_FAILED',
              `wipe on ${host} failed (exit ${r.results[0]?.exitCode ?? '?'}): ${(r.results[0]?.stderr || r.results[0]?.message || '').trim()}`,
            );
        });
      } else warn('no hosts.wipe configured: disks not wiped');
    } else {
      warn(`unreachable over SSH (${String(reachable)}): services not stopped, disks not wiped`);
    }
    ctx.change({ kind: 'provisioner', host, object: 'power', to: 'off' });
    await step(
      'power off',
      async () => {
        if (!ctx.dryRun && (await provisioner.powerStatus(host)) === 'off') return 'already off';
        await provisioner.powerOff(host);
        return 'off';
      },
      (v) => v,
    );
    if (rep.recorded.length) {
      await step(
        'delete conftool objects',
        async () => {
          const nodes = await c.confctl.get({ name: escapeRegex(host) });
          return c.confctl.remove(nodes);
        },
        (keys) => `${keys.length} deleted`,
      );
    }
    if ((await inventory.get(host)) !== undefined)
      await step('inventory: decommissioned', () => inventory.setStatus(host, 'decommissioned'));
    sub.succeed(`${host}: ${ctx.dryRun ? 'planned' : 'decommissioned'}${rep.warnings.length ? ` (${rep.warnings.length} warnings)` : ''}`);
  } catch (err) {
    rep.status = 'failed';
    rep.error = errMessage(err);
    ctx.log.error(`${host}: decommission failed: ${rep.error}`);
    // What conftool holds now, never what the run meant to leave.
    if (hold && !ctx.dryRun) rep.conftoolNow = await readBack(engine, rep.recorded);
    ctx.leftover({
      object: host,
      state: `decommission incomplete (failed at: ${rep.steps.find((s) => !s.ok)?.step ?? '?'})${rep.conftoolNow ? `; conftool now: ${nowText(rep.conftoolNow)}` : ''}`,
    });
    sub.fail(`${host}: FAILED — ${rep.error}`);
  }
  return rep;
}

/**
 * Take the host out for good (lb's writeOut and verifyOut): its pooled objects to inactive, this
 * run's marker with each, verified gone from every LB. Never put back, whatever happens: the host is
 * leaving the fleet, and a host not verified out stops here (nothing is stopped or wiped on it).
 */
async function takeOutForGood(engine: EngineDeps, hold: Hold, owner: OwnerMarker): Promise<string> {
  const w = await writeOut(engine, [hold], owner);
  if (w.failed.length) {
    throw new HostsError(
      'ERR_HOSTS_DEPOOL_FAILED',
      `setting pooled=${hold.to} on ${hold.host} failed: ${w.failed.map((f) => `${f.key}: ${errMessage(f.error)}`).join('; ')}`,
      {
        hint: 'check etcd; the conftool state read back is below, nothing was done to the host',
      },
    );
  }
  const v = await verifyOut(engine, [hold]);
  const left = leftText(hold);
  if (v.reason !== undefined) {
    throw new HostsError('ERR_HOSTS_NOT_DEPOOLED', `${hold.host} is still pooled on a load balancer after pooled=${hold.to}: ${v.reason}`, {
      hint: `see which load balancer disagrees; the host was left at pooled=${hold.to}`,
    });
  }
  const base = hold.take.length
    ? `set pooled=${hold.to} on ${hold.changes.map((ch) => short(ch)).join(', ') || 'nothing (changed meanwhile)'}, owner ${owner.runId}`
    : 'nothing pooled to take out';
  return `${base}; ${v.report ?? 'every LB has it out'}${unverifiedNote(engine, hold.mustBeOut)}${left.length ? `; left as found: ${left.join('; ')}` : ''}`;
}
