/**
 * Shared by sre.hosts.reimage and sre.hosts.decommission-host (the `_` prefix keeps discovery
 * from taking it for a cookbook).
 */
import { type ArgCheck, isConfirmationError, NodeSet, type RunContext } from '@galley/core';
import { GalleyError } from '@galley/errors';
import {
  capacityMessage,
  depoolsPerPool,
  escapeRegex,
  EXIT_NOT_CONFIRMED,
  judgeCapacity,
  newHold,
  operatorUser,
  portsFor,
  shortKey,
  stateText,
  type EngineDeps,
  type Hold,
  type LbEvent,
  type ObjectState,
  type OutValue,
  type OwnerMarker,
  type PoolCapacity,
  type PoolObject,
} from '@galley/lb';

export type Ctx = RunContext<Record<string, unknown>>;
type Clients = Ctx['clients'];
export type Pooled = 'yes' | 'no' | 'inactive';

/** A conftool object of the host as it was before we touched it. */
export interface RecordedObject {
  key: string;
  tags: { dc: string; cluster: string; service: string; name: string };
  pooled: Pooled;
  weight: number;
}

export interface Step {
  step: string;
  ok: boolean;
  detail?: string;
}

export class HostsError extends GalleyError {}

const HOST_RE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;

export function checkFqdn(host: string): void {
  if (!HOST_RE.test(host)) {
    throw new HostsError('ERR_HOSTS_BAD_HOST', `host=${JSON.stringify(host)} is not a fully qualified host name`, {
      hint: 'pass the FQDN, e.g. host=mw1301.eqiad.wmnet',
    });
  }
}

/** Runs a check that throws, as an argument check (`check:` next to the option) says it: the message, or undefined. */
function problemOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return errMessage(err);
  }
}

/** `host=`: one fully qualified host name (checked before any lock, client or announcement). */
export const fqdnArg: ArgCheck = {
  accepts: 'a fully qualified host name, e.g. mw1301.eqiad.wmnet',
  check: (v) => problemOf(() => checkFqdn(String(v))),
};

/** `host=` of decommission: a pattern naming at least one fully qualified host. */
export const hostPatternArg: ArgCheck = {
  accepts: 'FQDNs or a pattern, e.g. mw[1301-1303].eqiad.wmnet,db1001.eqiad.wmnet',
  check: (v, name) =>
    problemOf(() => {
      const hosts = NodeSet.parse(String(v)).hosts();
      if (hosts.length === 0) throw new Error(`${name}=${String(v)} names no host`);
      for (const h of hosts) checkFqdn(h);
    }),
};

export function need<K extends 'provisioner' | 'inventory' | 'monitoring'>(c: Clients, what: K): NonNullable<Clients[K]> {
  const v = c[what];
  if (!v) {
    throw new HostsError('ERR_HOSTS_CLIENT_MISSING', `this cookbook needs a ${what}, and the config has no "${what}:" section`, {
      hint: `add ${what}: to the config (\`galley-lab up\` generates an example)`,
    });
  }
  return v;
}

/**
 * Every configured lifecycle client is usable: a `type: plugin` module that does not load or does
 * not implement its interface is refused here, in prepare, before anything is locked or changed
 * (not at the reinstall, with the host already out of its pools); so is a monitoring system that
 * does not answer (`check()`: Alertmanager's status, a read), rather than at the downtime step.
 */
export async function lifecycleReady(c: Clients): Promise<void> {
  for (const x of [c.provisioner, c.inventory, c.monitoring]) await x?.ready?.();
  await c.monitoring?.check?.();
}

/**
 * The lb engine over this run's clients: every take-out and put-back of these cookbooks goes through
 * @galley/lb's `takeOut`/`writeOut`/`verifyOut`/`putBack` (ARCHITECTURE §4a), never a copy here.
 */
export function engineFor(ctx: Ctx): EngineDeps {
  const emit = (e: LbEvent): void => ctx.emit({ ...e });
  const p = portsFor(ctx, emit);
  return { store: p.store, verifier: p.verifier, capacity: p.capacity, clock: p.clock, emit };
}

/** The host's conftool objects (exact name match), as conftool has them now. */
export function hostObjects(engine: EngineDeps, host: string): Promise<PoolObject[]> {
  return engine.store.select({ name: escapeRegex(host) });
}

/** `confctl select 'dc=…,cluster=…,service=…,name=…' set/pooled=…:weight=…`, one per object. */
export function restoreCommands(objs: readonly RecordedObject[]): string[] {
  return objs.map(
    (o) =>
      `confctl select 'dc=${o.tags.dc},cluster=${o.tags.cluster},service=${o.tags.service},name=${o.tags.name}' set/pooled=${o.pooled}:weight=${o.weight}`,
  );
}

export const short = (o: { tags: RecordedObject['tags'] }): string => `${o.tags.dc}/${o.tags.cluster}/${o.tags.service}`;

/** The values of these objects, for the report (without the fields conftool carries besides them). */
export function recordedOf(objs: readonly PoolObject[]): RecordedObject[] {
  return objs.map((o) => ({ key: o.key, tags: { ...o.tags }, pooled: o.pooled, weight: o.weight }));
}

/** This run's owner marker, stored next to every object it takes out (who holds the host out, and why). */
export function ownerMarker(ctx: Ctx, what: string): OwnerMarker {
  return {
    runId: ctx.runId,
    user: operatorUser(),
    reason: ctx.reason ?? `${what}${ctx.taskId ? ` (${ctx.taskId})` : ''}`,
    time: new Date().toISOString(),
  };
}

/**
 * What taking the host out means: its `pooled=yes` objects go to `to` (nothing else is ever written:
 * a `no` object stays `no`, an `inactive` one `inactive`), and every object that is not inactive
 * must be out of every LB before anything is done to the host.
 */
export function holdFor(host: string, objs: readonly PoolObject[], to: OutValue): Hold {
  return newHold(
    host,
    objs.filter((o) => o.pooled === 'yes'),
    objs.filter((o) => o.pooled !== 'inactive'),
    { to },
  );
}

/** What taking out would write, for a dry-run (nothing is written, so nothing can be verified). */
export function planTakeOut(ctx: Ctx, hold: Hold, owner: OwnerMarker): string {
  for (const o of hold.take) ctx.change({ kind: 'conftool', host: hold.host, object: shortKey(o.key), from: 'yes', to: hold.to });
  const text = hold.take.length
    ? `would set pooled=${hold.to} on ${hold.take.map(short).join(', ')} (owner ${owner.runId}) and verify on every LB`
    : 'nothing pooled to take out';
  ctx.log.info(`DRY-RUN: ${hold.host}: ${text}`);
  return text;
}

/** Objects the engine cannot verify on any LB (no PyBal pool configured for them), said as such. */
export function unverifiedNote(engine: EngineDeps, objs: readonly PoolObject[]): string {
  const none = objs.filter((o) => engine.capacity.poolOf(o) === undefined);
  return none.length ? `; not verified (no PyBal pool configured): ${none.map(short).join(', ')}` : '';
}

/**
 * Refuse (ERR_HOSTS_CAPACITY) when taking these hosts' `pooled=yes` objects out would breach a
 * pool's depool threshold, counted over all of them against the pools as they are now (lb's
 * `depoolsPerPool`/`judgeCapacity`: per pool, what is taken out must fit in `canTakeOut`, worst LB;
 * a pool whose capacity is unknown refuses). `inactive` leaves PyBal's totals, so once it is written
 * PyBal's threshold no longer protects the pool: this check, before anything is written, is what
 * does. `no` objects carry no traffic and need no room. With `force`, or in dry-run, a warning.
 */
export async function checkCapacity(
  ctx: Ctx,
  engine: EngineDeps,
  hosts: readonly { host: string; objects: readonly PoolObject[] }[],
  force: boolean,
): Promise<string> {
  const taking = hosts.map((h) => ({ host: h.host, depool: h.objects.filter((o) => o.pooled === 'yes') }));
  const need = depoolsPerPool(engine, taking);
  const rows = judgeCapacity(need, need.size ? await engine.capacity.capacity([...need.keys()]) : new Map<string, PoolCapacity>());
  const report =
    rows.map((r) => `${r.pool}: taking out ${r.depool}, room for ${r.canTakeOut} (${r.detail})`).join('\n') ||
    'no pooled object: no pool loses capacity';
  const bad = rows.filter((r) => !r.ok);
  if (bad.length === 0) return report;
  const what = bad
    .map(
      (r) =>
        `${capacityMessage(undefined, [r])}; it would take out ${taking
          .filter((t) => t.depool.some((o) => engine.capacity.poolOf(o) === r.pool))
          .map((t) => t.host)
          .join(', ')}`,
    )
    .join('; ');
  if (force) {
    ctx.log.warn(`--force: going below capacity: ${what}`);
    return `FORCED below capacity: ${what}`;
  }
  if (ctx.dryRun) {
    ctx.log.warn(`a real run would refuse (add --force to override): ${what}`);
    return `would refuse: ${what}`;
  }
  throw new HostsError('ERR_HOSTS_CAPACITY', `not enough capacity left: ${what}`, {
    hint: 'nothing was changed; wait until the pool has more healthy pooled servers, take fewer hosts at once, or add --force if the pool may really go below its threshold',
  });
}

/** Each object as conftool has it now, for reports (`ObjectState` read back, never what the run wrote). */
export function nowText(now: readonly ObjectState[]): string {
  return now.length ? now.map(stateText).join(', ') : 'no conftool objects';
}

/** What the engine left as found, one line each. */
export function leftText(hold: Hold | undefined): string[] {
  return (hold?.leftAsFound ?? []).map((l) => `${shortKey(l.key)}: ${l.why}`);
}

/** Deadlines of the steps the cookbooks run; the lock budget below is built from the same numbers. */
export const STEP_MS = {
  sshProbe: 15_000,
  stopServices: 120_000,
  wipe: 3600_000,
  osCheck: 30_000,
  postInstall: 3 * 3600_000,
  /** The health check retries for 60 s, each try bounded by 30 s. */
  healthCheck: 90_000,
  /** An inventory or monitoring call (HTTP). */
  apiCall: 60_000,
  /** Waiting for a host lock (runner's locks.waitTimeoutSeconds), bounded generously. */
  hostLockWait: 600_000,
} as const;

/** Configurable timeouts the lock budget assumes at most; prepare refuses a config above them. */
export const LOCK_BUDGET_CAPS = {
  installTimeoutMs: 4 * 3600_000,
  verifyTimeoutMs: 5 * 60_000,
  provisionerCallMs: 30 * 60_000,
} as const;

export interface TimeoutSettings {
  installTimeoutMs: number;
  verifyTimeoutMs: number;
  provisionerCallMs: number;
}

const MARGIN_MS = 15 * 60_000;

/**
 * Worst-case wall time of one host's reimage: every step at its deadline (verify out, downtime,
 * reinstall and host key, the wait for the new boot, OS check, post-install, health check, verify
 * in, put back out and verify, remove the downtime).
 */
export function reimageHostMs(t: TimeoutSettings): number {
  return (
    STEP_MS.hostLockWait +
    3 * t.verifyTimeoutMs +
    t.verifyTimeoutMs +
    2 * STEP_MS.apiCall +
    2 * t.provisionerCallMs +
    t.installTimeoutMs +
    10_000 +
    STEP_MS.osCheck +
    STEP_MS.postInstall +
    STEP_MS.healthCheck
  );
}

/** Worst-case wall time of one host's decommission (inventory, verify out, downtime, SSH, stop, wipe, power, delete). */
export function decommissionHostMs(t: TimeoutSettings): number {
  return (
    STEP_MS.hostLockWait +
    4 * STEP_MS.apiCall +
    t.verifyTimeoutMs +
    STEP_MS.sshProbe +
    STEP_MS.stopServices +
    STEP_MS.wipe +
    2 * t.provisionerCallMs +
    STEP_MS.apiCall
  );
}

/**
 * The cookbook and host lock max-hold time (seconds) for a run over `hostCount` hosts, hosts
 * handled one after the other: the locks must outlive the longest run the step deadlines allow,
 * or a slow but healthy run loses them part-way. The runner resolves the lock spec from the
 * arguments alone, so the configurable timeouts enter at their caps (LOCK_BUDGET_CAPS); prepare
 * refuses a config whose timeouts exceed them (checkLockBudget).
 */
export function lockTtlSeconds(kind: 'reimage' | 'decommission', hostCount: number): number {
  const perHost = kind === 'reimage' ? reimageHostMs(LOCK_BUDGET_CAPS) : decommissionHostMs(LOCK_BUDGET_CAPS);
  return Math.ceil((Math.max(1, hostCount) * perHost + MARGIN_MS) / 1000);
}

/** The timeouts this run will use, from the config the clients were built with (defaults as the clients apply them). */
export function configuredTimeouts(c: Clients): TimeoutSettings {
  return {
    installTimeoutMs: c.hosts?.installTimeoutMs ?? DEFAULT_INSTALL_TIMEOUT_MS,
    verifyTimeoutMs: c.pybal.verifyTimeoutMs,
    provisionerCallMs: c.provisioner?.callTimeoutMs ?? 0,
  };
}

export const DEFAULT_INSTALL_TIMEOUT_MS = 40 * 60_000;

/** Refuse (ERR_HOSTS_LOCK_TTL) before anything runs when a configured timeout is above what the lock budget covers. */
export function checkLockBudget(c: Clients): void {
  const t = configuredTimeouts(c);
  const over = [
    t.installTimeoutMs > LOCK_BUDGET_CAPS.installTimeoutMs
      ? `hosts.installTimeoutMs=${t.installTimeoutMs} (at most ${LOCK_BUDGET_CAPS.installTimeoutMs})`
      : '',
    t.verifyTimeoutMs > LOCK_BUDGET_CAPS.verifyTimeoutMs
      ? `pybal.verifyTimeoutMs=${t.verifyTimeoutMs} (at most ${LOCK_BUDGET_CAPS.verifyTimeoutMs})`
      : '',
    t.provisionerCallMs > LOCK_BUDGET_CAPS.provisionerCallMs
      ? `provisioner.timeoutMs=${t.provisionerCallMs} (at most ${LOCK_BUDGET_CAPS.provisionerCallMs})`
      : '',
  ].filter(Boolean);
  if (over.length) {
    throw new HostsError(
      'ERR_HOSTS_LOCK_TTL',
      `configured timeouts exceed what this cookbook's lock hold time covers: ${over.join(', ')}; the run could outlive its locks`,
      {
        hint: 'lower them in the config; nothing was changed',
      },
    );
  }
}

/** Exit code of a run that was not confirmed: nothing was changed (documented in packages/lifecycle/README.md). */
export { EXIT_NOT_CONFIRMED };

/**
 * Ask before a destructive action. No TTY and no --yes (the runner's ERR_CONFIRM_NO_TTY) counts
 * as "no" — a refusal the SRE can act on, not a crash.
 */
export async function confirmed(ctx: Ctx, message: string): Promise<boolean> {
  try {
    return await ctx.confirm(message);
  } catch (err) {
    if (isConfirmationError(err)) {
      ctx.log.error(err.message);
      return false;
    }
    throw err;
  }
}

/** Report a run that was not confirmed and return its exit code. */
export function notConfirmed(ctx: Ctx, what: string, data: Record<string, unknown>): number {
  const text = `${what}: not confirmed, nothing changed (answer "go" at the prompt, or pass --yes when not on a terminal)`;
  ctx.log.error(text);
  ctx.output({ ...data, status: 'not-confirmed' }, text);
  return EXIT_NOT_CONFIRMED;
}

/** argv template → argv: `{host}`/`{os}` substituted inside single elements. */
export function expand(template: readonly string[], vars: Record<string, string>): string[] {
  return template.map((el) => el.replace(/\{(host|os)\}/g, (_w, k: string) => vars[k] ?? ''));
}

export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function stepsText(steps: readonly Step[]): string {
  return steps.map((s) => `  ${s.ok ? 'ok  ' : 'FAIL'} ${s.step}${s.detail ? `: ${s.detail}` : ''}`).join('\n');
}
