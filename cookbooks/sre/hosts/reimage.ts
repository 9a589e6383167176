import { defineCookbook, isRebootTimeoutError } from '@galley/core';
import {
  putBack,
  readBack,
  shortKey,
  takeOut,
  type EngineDeps,
  type Hold,
  type ObjectState,
  type OwnerMarker,
  type PoolObject,
} from '@galley/lb';
import {
  checkCapacity,
  checkFqdn,
  checkLockBudget,
  confirmed,
  DEFAULT_INSTALL_TIMEOUT_MS,
  engineFor,
  errMessage,
  expand,
  fqdnArg,
  holdFor,
  hostObjects,
  HostsError,
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
  type Step,
} from './_common.js';

/**
 * Reinstall one host (Spicerack's sre.hosts.reimage): out of traffic and verified, downtimed,
 * reinstalled by the provisioner, back with a new boot id and a host key vouched for by the
 * provisioner, configured, health-checked, and put back: exactly what it took out, through the lb
 * engine (only what still carries this run's owner marker; what an operator took over meanwhile is
 * theirs). A failure leaves the host out of traffic and prints the commands that put it back by hand.
 * Every report of conftool is read back.
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
    'conftool-value': {
      type: 'string',
      choices: ['inactive', 'no'],
      default: 'inactive',
      describe: 'pooled value while the host is reimaged (inactive: PyBal drops it from the pool totals)',
    },
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
    if (!PLAIN.test(os))
      throw new HostsError('ERR_HOSTS_BAD_OS', `os=${JSON.stringify(os)} is not an OS codename`, { hint: 'e.g. os=bookworm' });
    need(ctx.clients, 'provisioner');
    await lifecycleReady(ctx.clients);
    checkLockBudget(ctx.clients);
    const engine = engineFor(ctx);
    const objs = await hostObjects(engine, host);
    if (!ctx.args.new && objs.length === 0) {
      throw new HostsError('ERR_HOSTS_NOT_IN_CONFTOOL', `${host} has no conftool objects`, {
        hint: 'check the name; for a host not in conftool yet, add `new`',
      });
    }
    if (ctx.args.new && objs.length > 0) {
      throw new HostsError(
        'ERR_HOSTS_NEW_BUT_KNOWN',
        `${host} has ${objs.length} conftool objects (${objs.map(short).join(', ')}), so it is not new`,
        { hint: 'drop `new`: its pooled state will be recorded and restored' },
      );
    }
    const inv = await ctx.clients.inventory?.get(host);
    if (inv && (inv.status === 'decommissioned' || inv.status === 'decommissioning' || inv.status === 'offline')) {
      throw new HostsError('ERR_HOSTS_DECOMMISSIONED', `${host} is ${inv.status} in the inventory`, {
        hint: 'a decommissioned host is not reimaged; fix the inventory first if this is wrong',
      });
    }
    // Refused here, before the confirmation prompt and with nothing changed; checked again under the host lock.
    if (!ctx.args.new) await checkCapacity(ctx, engine, [{ host, objects: objs }], ctx.args.force);
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
  const engine = engineFor(ctx);
  const owner = ownerMarker(ctx, `sre.hosts.reimage of ${host} with ${os}`);
  const steps: Step[] = [];
  /** The host's objects as read under the host lock (what the run may take out). */
  let objects: PoolObject[] = [];
  /** What the run takes out and still holds (the engine's record); undefined until the host is read. */
  let hold: Hold | undefined;
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
    // The host lock first: a run holding the host (a rolling restart) is waited for, and what is
    // read below is the state it left, not its transient one.
    await step('lock host', () => ctx.lockHosts([host]));
    if (!st.isNew) {
      objects = await step(
        'record conftool state',
        () => hostObjects(engine, host),
        (r) => r.map((o) => `${short(o)}=${o.pooled}/${o.weight}`).join(' '),
      );
      // The pools may have lost servers while the prompt waited: checked again before writing.
      if (!ctx.dryRun) await step('check pool capacity', () => checkCapacity(ctx, engine, [{ host, objects }], st.force));
      const h = holdFor(host, objects, st.value);
      hold = h;
      await step(`set pooled=${st.value} and verify on every LB`, () =>
        ctx.dryRun ? Promise.resolve(planTakeOut(ctx, h, owner)) : takeOutHost(engine, h, owner),
      );
    }
    const bootBefore = await step(
      'read boot id',
      async () => (await c.remote.bootIds([host])).get(host),
      (b) => b ?? 'unreachable: will wait for a fresh boot',
    );
    const startedAt = new Date();
    if (c.monitoring) {
      ctx.change({ kind: 'monitoring', host, object: 'downtime', to: 'set (removed at the end)' });
      downtimeId = await step(
        'downtime',
        () =>
          c.monitoring!.downtime(host, {
            durationMs: settings.downtimeMs ?? 2 * 3600_000,
            reason: `reimage with ${os}${ctx.taskId ? ` (${ctx.taskId})` : ''}`,
            createdBy: owner.user,
            runId: ctx.runId,
          }),
        (id) => id,
      );
    } else ctx.log.warn('no monitoring configured: the host is not downtimed');
    ctx.change({ kind: 'provisioner', host, object: 'reinstall', to: os });
    await step(`reinstall with ${os}`, () => provisioner.reinstall(host, os));
    newKey = await step(
      'wait for the new boot',
      () =>
        waitForBoot(
          ctx,
          host,
          bootBefore !== undefined ? new Map([[host, bootBefore]]) : startedAt,
          settings.installTimeoutMs ?? DEFAULT_INSTALL_TIMEOUT_MS,
        ),
      (k) => `host key trusted (from the provisioner): ${k.slice(0, 60)}…`,
    );
    if (!ctx.dryRun) {
      await step(
        'verify the OS',
        async () => {
          const r = await c.remote.run([host], [{ argv: ['lsb_release', '-sc'], timeoutMs: STEP_MS.osCheck }], { isSafe: true });
          const got = r.results[0]?.stdout.trim() ?? '';
          if (got !== os)
            throw new HostsError(
              'ERR_HOSTS_WRONG_OS',
              `${host} runs "${got || r.results[0]?.message || '?'}" after the reinstall, expected ${os}`,
              { hint: 'check the provisioner (install media / boot order)' },
            );
          return got;
        },
        (g) => g,
      );
    } else ctx.log.info(`DRY-RUN: would verify that ${host} runs ${os} (lsb_release -sc)`);
    if (settings.postInstall?.length) {
      const argv = expand(settings.postInstall, { host, os });
      await step(`post-install: ${argv.join(' ')}`, async () => {
        const r = await c.remote.run([host], [{ argv, timeoutMs: STEP_MS.postInstall }]);
        const h = r.results[0];
        if (!h?.ok)
          throw new HostsError(
            'ERR_HOSTS_POST_INSTALL',
            `post-install on ${host} failed (exit ${h?.exitCode ?? '?'}): ${(h?.stderr || h?.stdout || h?.message || '').trim().slice(0, 500)}`,
            { hint: "fix the host's configuration and run the post-install command by hand" },
          );
      });
    } else ctx.log.warn('no hosts.postInstall configured: the host is not configured after the reinstall');
    await step('health check', () => healthCheck(ctx, host, objects, settings.healthCheck));
    if (hold) {
      const h = hold;
      await step('put back what it took out and verify on every LB', () =>
        ctx.dryRun ? Promise.resolve(planPutBack(ctx, h)) : putBackHost(engine, h, owner),
      );
    }
    if (downtimeId !== undefined) {
      const id = downtimeId;
      await step('remove the downtime', () => c.monitoring!.removeDowntime(id));
      downtimeId = undefined;
    }
  } catch (err) {
    ctx.log.error(`reimage of ${host} failed: ${errMessage(err)}`);
    const failed = steps.find((s) => !s.ok)?.step ?? 'before the first step';
    // What conftool holds now, not what the run meant to leave: a failed put-back has taken the
    // host out again, an operator may hold it, a failure on the way could leave anything.
    const now = hold ? await readBack(engine, objects) : undefined;
    const ours = now && hold ? heldByRun(objects, now, hold, owner) : [];
    const commands = restoreCommands(recordedOf(objects.filter((o) => ours.includes(o.key))));
    const where = now ? `conftool now: ${nowText(now)}` : '';
    if (ours.length) ctx.leftover({ object: host, state: `out of traffic (${where})`, why: `failed at: ${failed}` });
    if (downtimeId) ctx.leftover({ object: `${host} downtime ${downtimeId}`, state: 'still set' });
    const left = leftText(hold);
    const text = [
      `Reimage of ${host} with ${os}: FAILED at step "${failed}"`,
      stepsText(steps),
      ...(now && !ours.length ? ['', `Nothing of ${host} is held out by this run (${where}).`] : []),
      ...(ours.length
        ? ['', `The host stays out of traffic (${where}). To put back by hand what this run took out:`, ...commands.map((l) => `  ${l}`)]
        : []),
      ...left.map((l) => `Left as found: ${l}`),
      ...(downtimeId ? ['', `Downtime ${downtimeId} is left in place.`] : []),
    ].join('\n');
    ctx.output(
      {
        host,
        os,
        status: 'failed',
        failedStep: failed,
        error: errMessage(err),
        steps,
        recorded: recordedOf(objects),
        conftoolNow: now ?? null,
        restoreCommands: commands,
        leftAsFound: left,
        downtime: downtimeId ?? null,
      },
      text,
    );
    return 1;
  }
  const now = objects.length ? await readBack(engine, objects) : [];
  const left = leftText(hold);
  const text = [
    `Reimage of ${host} with ${os}: ${ctx.dryRun ? 'planned (dry-run)' : 'done'}`,
    stepsText(steps),
    ...(objects.length ? ['', `conftool now (read back): ${nowText(now)}`] : []),
    ...left.map((l) => `Left as found (not put back by this run): ${l}`),
    ...(newKey ? [`host key trusted: ${newKey.split(' ')[0] ?? ''} (from the provisioner)`] : []),
  ].join('\n');
  ctx.output(
    {
      host,
      os,
      status: ctx.dryRun ? 'planned' : 'succeeded',
      steps,
      recorded: recordedOf(objects),
      conftoolNow: now,
      leftAsFound: left,
      hostKey: newKey ?? null,
    },
    text,
  );
  return 0;
}

/**
 * Keys of the objects this run still holds out, read back: out, and carrying its marker (or no
 * marker that could be read, on an object the engine knows it holds). When conftool could not be
 * read at all, what the engine last knew it holds (the states say `unknown`).
 */
function heldByRun(objects: readonly PoolObject[], now: readonly ObjectState[], hold: Hold, owner: OwnerMarker): string[] {
  if (now.some((s) => s.pooled === 'unknown')) return hold.changes.map((c) => c.key);
  const held = new Set(hold.changes.map((c) => c.key));
  // readBack answers in the order it was asked
  return objects
    .filter((o, i) => {
      const s = now[i]!;
      return (s.pooled === 'no' || s.pooled === 'inactive') && (s.owner ? s.owner.runId === owner.runId : held.has(o.key));
    })
    .map((o) => o.key);
}

/** Take the host out (lb's takeOut): verified out on every LB, or what it took put back (verified) and the reason thrown. */
async function takeOutHost(engine: EngineDeps, hold: Hold, owner: OwnerMarker): Promise<string> {
  const r = await takeOut(engine, [hold], { owner });
  const left = leftText(hold);
  if (!r.ok) {
    const back = r.putBack[0];
    const after =
      back?.status === 'out-again'
        ? `what it took out could not be put back in, so it is out again (verified): ${back.reason ?? ''}`
        : back?.status === 'stuck'
          ? `putting back what it took out failed: ${back.reason ?? ''}`
          : 'nothing of it is held out by this run now (what it took out is back in, verified)';
    throw new HostsError(
      'ERR_HOSTS_NOT_DEPOOLED',
      `${hold.host} is not out of every load balancer after pooled=${hold.to}: ${r.reason}; ${after}`,
      { hint: 'see which load balancer disagrees; nothing was done to the host' },
    );
  }
  const base = hold.take.length
    ? `set pooled=${hold.to} on ${hold.changes.map((ch) => short(ch)).join(', ') || 'nothing (changed meanwhile)'}, owner ${owner.runId}`
    : 'nothing pooled to take out';
  return `${base}; ${r.report ?? 'every LB has it out'}${unverifiedNote(engine, hold.mustBeOut)}${left.length ? `; left as found: ${left.join('; ')}` : ''}`;
}

/**
 * Put back what the run took out (lb's putBack): only what still holds what it wrote and carries its
 * marker; verified in (pooled, enabled AND up) on every LB, else taken out again and verified out.
 * An object someone else now holds out (their owner marker: an operator's sre.lb.depool) is theirs:
 * reported, and the reimage still succeeds. Any other change meanwhile (a hand edit, a corrupt or
 * deleted object) is left as found too, but the step fails: the host is not as the run promised.
 */
async function putBackHost(engine: EngineDeps, hold: Hold, owner: OwnerMarker): Promise<string> {
  const taken = [...hold.changes];
  const before = hold.leftAsFound.length;
  const res = await putBack(engine, [hold], { ownerId: owner.runId, owner });
  const r = res.hosts[0]!;
  const left = leftText(hold);
  if (r.status === 'in') {
    const back = taken.filter((ch) => !hold.leftAsFound.some((l) => l.key === ch.key)).map((ch) => short(ch));
    const done = `${back.length ? `put back ${back.join(', ')}; ${res.report ?? 'every LB has it in'}` : 'nothing put back'}${left.length ? `; left as found: ${left.join('; ')}` : ''}`;
    const found = hold.leftAsFound.slice(before);
    const objs = taken.filter((ch) => found.some((l) => l.key === ch.key));
    const now = objs.length ? await readBack(engine, objs) : [];
    const notHeld = objs.filter((_, i) => {
      const x = now[i]!;
      return !((x.pooled === 'no' || x.pooled === 'inactive') && x.owner && x.owner.runId !== owner.runId);
    });
    if (notHeld.length) {
      const why = found.filter((l) => notHeld.some((ch) => ch.key === l.key)).map((l) => `${shortKey(l.key)}: ${l.why}`);
      throw new HostsError(
        'ERR_HOSTS_CHANGED_MEANWHILE',
        `${hold.host}: ${done}; not put back, changed by someone else while the host was out: ${why.join('; ')}`,
        {
          hint: 'see conftool now below; set those objects by hand once you know who changed them and why',
        },
      );
    }
    return done;
  }
  if (r.status === 'out-again') {
    throw new HostsError(
      'ERR_HOSTS_NOT_REPOOLED',
      `${hold.host} is not back in on every load balancer, so it was taken out again (pooled=${hold.to}) and verified out: ${r.reason ?? ''}`,
      {
        hint: 'check the host health on the load balancers, then put it back with the commands below',
      },
    );
  }
  // stuck: a write failed, an object cannot be put back, or the second take-out is not verified
  throw new HostsError(
    'ERR_HOSTS_NOT_REPOOLED',
    `${hold.host} is not put back as it was taken out: ${r.reason ?? ''}${left.length ? `; left as found: ${left.join('; ')}` : ''}`,
    {
      hint: 'see conftool now below (read back); put back by hand what this run still holds with the commands below',
    },
  );
}

/** Dry-run: what putting back would write (nothing was taken out, so nothing can be verified). */
function planPutBack(ctx: Ctx, hold: Hold): string {
  for (const o of hold.take) ctx.change({ kind: 'conftool', host: hold.host, object: `${o.key} pooled`, from: `(${hold.to})`, to: 'yes' });
  const text = hold.take.length
    ? `would put back ${hold.take.map(short).join(', ')} to pooled=yes and verify on every LB`
    : 'nothing to put back';
  ctx.log.info(`DRY-RUN: ${hold.host}: ${text}`);
  return text;
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
      throw new HostsError(
        'ERR_HOSTS_NO_HOST_KEY',
        `the provisioner vouched for no host key of ${host} within ${Math.round(timeoutMs / 1000)} s: ${errMessage(keyError)}`,
        {
          hint: "the host is NOT trusted; check the provisioner's key records (provisioner.hostKey)",
          cause: keyError,
        },
      );
    } else await new Promise((r) => setTimeout(r, Math.min(1000, left)));
  }
}

/** The host did not come back in time: say why when it answers with a key nobody vouched for. */
async function notBack(ctx: Ctx, host: string, err: unknown): Promise<never> {
  const probe = await ctx.clients.remote
    .run([host], [{ argv: ['true'], timeoutMs: 10_000 }], { isSafe: true, successThreshold: 0 })
    .catch(() => undefined);
  const why = probe?.results[0]?.message ?? '';
  if (/host key/i.test(why))
    throw new HostsError('ERR_HOSTS_HOST_KEY', `${host} came back with a host key the provisioner does not vouch for: ${why}`, {
      hint: "the host is NOT trusted; check the provisioner's key records before anything else",
      cause: err,
    });
  throw err;
}

/** The configured check, or `systemctl is-active` on the host's conftool services; retried up to 60 s. */
async function healthCheck(ctx: Ctx, host: string, objs: readonly PoolObject[], argv: string[] | undefined): Promise<string> {
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
    if (Date.now() > end)
      throw new HostsError('ERR_HOSTS_UNHEALTHY', `${host} fails its health check '${cmd.join(' ')}': ${last}`, {
        hint: 'look at the services on the host; it stays out of traffic',
      });
    await new Promise((r2) => setTimeout(r2, 1000));
  }
}
