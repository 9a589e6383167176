/**
 * Shared by sre.hosts.reimage and sre.hosts.decommission-host (the `_` prefix keeps discovery
 * from taking it for a cookbook).
 */
import { type ArgCheck, isConfirmationError, NodeSet, type RunContext } from '@galley/core';
import { GalleyError } from '@galley/errors';
import { EXIT_NOT_CONFIRMED, escapeRegex, pybalVerifier } from '@galley/lb';

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
    throw new HostsError('ERR_HOSTS_BAD_HOST', `host=${JSON.stringify(host)} is not a fully qualified host name`, { hint: 'pass the FQDN, e.g. host=mw1301.eqiad.wmnet' });
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
 * (not at the reinstall, with the host already out of its pools).
 */
export async function lifecycleReady(c: Clients): Promise<void> {
  for (const x of [c.provisioner, c.inventory, c.monitoring]) await x?.ready?.();
}

/** The host's conftool objects (exact name match), as recorded values. */
export async function recordConftool(c: Clients, host: string): Promise<RecordedObject[]> {
  const nodes = await c.confctl.get({ name: escapeRegex(host) });
  return nodes.map((n) => ({ key: n.key, tags: { ...n.tags }, pooled: n.pooled, weight: n.weight }));
}

/** `confctl select 'dc=…,cluster=…,service=…,name=…' set/pooled=…:weight=…`, one per object. */
export function restoreCommands(objs: readonly RecordedObject[]): string[] {
  return objs.map((o) => `confctl select 'dc=${o.tags.dc},cluster=${o.tags.cluster},service=${o.tags.service},name=${o.tags.name}' set/pooled=${o.pooled}:weight=${o.weight}`);
}

export const short = (o: RecordedObject) => `${o.tags.dc}/${o.tags.cluster}/${o.tags.service}`;

/** Current values of these keys (undefined: deleted). */
export async function currentState(c: Clients, host: string): Promise<Map<string, { pooled: Pooled; weight: number }>> {
  const nodes = await c.confctl.get({ name: escapeRegex(host) });
  return new Map(nodes.map((n) => [n.key, { pooled: n.pooled, weight: n.weight }]));
}

/**
 * The objects of the host that taking it out writes: `yes` → value, and with `inactive` also
 * `no` → `inactive`. Never `inactive` → `no`: that would put a server back into PyBal's pool
 * totals (and into the threshold's arithmetic) that the operator had taken out of them.
 */
export function objectsToTakeOut<T extends { pooled: Pooled }>(nodes: readonly T[], value: 'inactive' | 'no'): T[] {
  return nodes.filter((n) => n.pooled === 'yes' || (value === 'inactive' && n.pooled === 'no'));
}

/** Set the host's objects out (see objectsToTakeOut) and verify it is out of every LB that carries it. */
export async function setOutAndVerify(ctx: Ctx, host: string, objs: readonly RecordedObject[], value: 'inactive' | 'no'): Promise<string> {
  const c = ctx.clients;
  const nodes = await c.confctl.get({ name: escapeRegex(host) });
  const toChange = objectsToTakeOut(nodes, value);
  if (toChange.length > 0) await c.confctl.update(toChange, { pooled: value });
  if (objs.length === 0) return 'no conftool objects';
  const after = nodes.map((n) => (toChange.includes(n) ? { ...n, pooled: value } : n));
  const v = await c.pybal.verifyDepooled(after, { signal: ctx.signal });
  if (!v.ok) throw new HostsError('ERR_HOSTS_NOT_DEPOOLED', `${host} is still pooled on a load balancer after pooled=${value}: ${v.report}`, { hint: 'see which load balancer disagrees; the host was left at pooled=' + value });
  return v.report;
}

/**
 * Pooled back = every LB has the server enabled, pooled AND up (lb's verifier): PyBal force-pools
 * a server whose health checks fail to keep a pool above its threshold, so enabled+pooled alone
 * would call a broken host back in. Dry-run: pybal's own read-once verification (the change was
 * not made, so polling for it could only time out).
 */
async function verifyIn(ctx: Ctx, objs: readonly RecordedObject[]): Promise<{ ok: boolean; report: string }> {
  const nodes = objs.map((o) => ({ key: o.key, tags: o.tags, pooled: 'yes' as const, weight: o.weight }));
  const pybal = ctx.clients.pybal;
  if (ctx.dryRun) return pybal.verifyPooled(nodes, { signal: ctx.signal });
  // Objects without a PyBal pool cannot be verified by any LB (as in setOutAndVerify: not verified, named).
  const unmapped = pybal.topology.unmapped(nodes);
  const mapped = nodes.filter((n) => !unmapped.includes(n));
  const note = unmapped.length ? `; not verified (no PyBal pool configured): ${unmapped.map((n) => `${n.tags.dc}/${n.tags.cluster}/${n.tags.service}`).join(', ')}` : '';
  if (mapped.length === 0) return { ok: true, report: `nothing to verify pooled${note}` };
  const v = await pybalVerifier(pybal).verifyIn(mapped, { signal: ctx.signal });
  return { ok: v.ok, report: v.report + note };
}

/**
 * Put back exactly the recorded pooled/weight values, then verify each object's state on every LB.
 * When an LB does not take the host back in (pooled, enabled and up), the objects just set to `yes`
 * go back to `outValue` and are verified out again: the host fails closed, and the error says
 * where conftool really is.
 */
export async function restoreAndVerify(ctx: Ctx, host: string, objs: readonly RecordedObject[], outValue: 'inactive' | 'no' = 'inactive'): Promise<string> {
  const c = ctx.clients;
  const nodes = await c.confctl.get({ name: escapeRegex(host) });
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  const missing = objs.filter((o) => !byKey.has(o.key));
  if (missing.length) throw new HostsError('ERR_HOSTS_OBJECT_GONE', `conftool objects of ${host} disappeared during the run: ${missing.map(short).join(', ')}`, { hint: 'recreate them (confctl sync) and set them by hand with the commands below' });
  for (const o of objs) {
    const n = byKey.get(o.key)!;
    const change: { pooled?: Pooled; weight?: number } = {};
    if (n.pooled !== o.pooled) change.pooled = o.pooled;
    if (n.weight !== o.weight) change.weight = o.weight;
    if (ctx.dryRun && change.pooled === undefined && o.pooled !== 'inactive') {
      // In dry-run the set-out was not written: show the restore that would follow it.
      ctx.change({ kind: 'conftool', host, object: `${o.key} pooled`, from: '(set out)', to: o.pooled });
    }
    if (Object.keys(change).length) await c.confctl.update([n], change);
  }
  const pooled = objs.filter((o) => o.pooled === 'yes');
  const out = objs.filter((o) => o.pooled !== 'yes');
  const reports: string[] = [];
  if (pooled.length) {
    const v = await verifyIn(ctx, pooled);
    if (!v.ok) {
      const back = await putBackOut(ctx, host, pooled, outValue);
      throw new HostsError('ERR_HOSTS_NOT_REPOOLED', `${host} is not pooled back on every load balancer: ${v.report}\n${back}`, {
        hint: 'check the host health on the load balancers, then restore the recorded state with the commands below',
      });
    }
    reports.push(v.report);
  }
  if (out.length) {
    const v = await c.pybal.verifyDepooled(out.map((o) => ({ ...byKey.get(o.key)!, pooled: o.pooled })), { signal: ctx.signal });
    if (!v.ok) throw new HostsError('ERR_HOSTS_NOT_DEPOOLED', `${host}: objects recorded as no/inactive are pooled on a load balancer: ${v.report}`);
    reports.push(v.report);
  }
  return reports.join('; ');
}

/** After a failed repool: the objects set to `yes` go back to `outValue`, verified out. Never throws: says what happened. */
async function putBackOut(ctx: Ctx, host: string, objs: readonly RecordedObject[], outValue: 'inactive' | 'no'): Promise<string> {
  const c = ctx.clients;
  try {
    const keys = new Set(objs.map((o) => o.key));
    const nodes = (await c.confctl.get({ name: escapeRegex(host) })).filter((n) => keys.has(n.key));
    const toChange = nodes.filter((n) => n.pooled === 'yes');
    if (toChange.length) await c.confctl.update(toChange, { pooled: outValue });
    const v = await c.pybal.verifyDepooled(nodes.map((n) => ({ ...n, pooled: outValue })), { signal: ctx.signal });
    if (!v.ok) return `set back to pooled=${outValue}, but NOT verified out on every load balancer: ${v.report}`;
    return `set back to pooled=${outValue} and verified out on every load balancer`;
  } catch (err) {
    return `setting it back to pooled=${outValue} FAILED: ${errMessage(err)}`;
  }
}

/** `service=pooled/weight` of every conftool object of the host as etcd has it now (for reports after a failure). */
export async function conftoolNow(c: Clients, host: string): Promise<string> {
  try {
    const nodes = await c.confctl.get({ name: escapeRegex(host) });
    if (nodes.length === 0) return 'no conftool objects';
    return nodes.map((n) => `${n.tags.service}=${n.pooled}/${n.weight}`).sort().join(' ');
  } catch (err) {
    return `unknown (could not read conftool: ${errMessage(err)})`;
  }
}

/** One pool the hosts being taken out would leave short of PyBal's depool threshold. */
export interface CapacityShortfall {
  pool: string;
  takingOut: string[];
  canTakeOut: number;
  detail: string;
}

/**
 * Would taking these hosts out leave each affected pool at or above its depool threshold, counted
 * against the pool as it is now? `inactive` leaves PyBal's totals, so once it is written PyBal's
 * threshold no longer protects the pool: this check, done before anything is written, is what does.
 * Only `yes` objects count (a `no` server carries no traffic). Per pool, the hosts taken out must
 * fit in pybal's `canTakeOut` (worst LB; an LB without an answer counts as 0: fail closed).
 */
export async function capacityShortfalls(c: Clients, hosts: readonly string[]): Promise<{ shortfalls: CapacityShortfall[]; report: string }> {
  const byPool = new Map<string, { ref: NonNullable<ReturnType<Clients['pybal']['topology']['poolFor']>>; hosts: Set<string> }>();
  for (const host of hosts) {
    for (const n of await c.confctl.get({ name: escapeRegex(host) })) {
      if (n.pooled !== 'yes') continue;
      const ref = c.pybal.topology.poolFor(n.tags.dc, n.tags.cluster, n.tags.service);
      if (!ref) continue;
      const e = byPool.get(ref.pool) ?? { ref, hosts: new Set<string>() };
      e.hosts.add(host);
      byPool.set(ref.pool, e);
    }
  }
  const shortfalls: CapacityShortfall[] = [];
  const lines: string[] = [];
  for (const { ref, hosts: hs } of byPool.values()) {
    const cap = await c.pybal.capacity(ref);
    const detail = cap.perLb.map((p) => (p.error !== undefined ? `${p.lb}: no answer (${p.error})` : `${p.lb}: ${p.upEnabled} of ${p.total} up and enabled, threshold ${p.threshold}`)).join('; ');
    lines.push(`${ref.pool}: taking out ${hs.size}, room for ${cap.canTakeOut} (${detail})`);
    if (hs.size > cap.canTakeOut) shortfalls.push({ pool: ref.pool, takingOut: [...hs].sort(), canTakeOut: cap.canTakeOut, detail });
  }
  return { shortfalls, report: lines.join('\n') || 'no pooled object: no pool loses capacity' };
}

/**
 * Refuse (ERR_HOSTS_CAPACITY) when taking the hosts out would breach a pool's threshold, unless
 * `force`; with `force`, or in dry-run, say so as a warning instead.
 */
export async function checkCapacity(ctx: Ctx, hosts: readonly string[], force: boolean): Promise<string> {
  const { shortfalls, report } = await capacityShortfalls(ctx.clients, hosts);
  if (shortfalls.length === 0) return report;
  const what = shortfalls
    .map((s) => `pool ${s.pool} can lose ${s.canTakeOut} more server(s) without going below its depool threshold, and this would take out ${s.takingOut.length} (${s.takingOut.join(', ')}): ${s.detail}`)
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
  return STEP_MS.hostLockWait + 3 * t.verifyTimeoutMs + t.verifyTimeoutMs + 2 * STEP_MS.apiCall + 2 * t.provisionerCallMs + t.installTimeoutMs + 10_000 + STEP_MS.osCheck + STEP_MS.postInstall + STEP_MS.healthCheck;
}

/** Worst-case wall time of one host's decommission (inventory, verify out, downtime, SSH, stop, wipe, power, delete). */
export function decommissionHostMs(t: TimeoutSettings): number {
  return STEP_MS.hostLockWait + 4 * STEP_MS.apiCall + t.verifyTimeoutMs + STEP_MS.sshProbe + STEP_MS.stopServices + STEP_MS.wipe + 2 * t.provisionerCallMs + STEP_MS.apiCall;
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
    t.installTimeoutMs > LOCK_BUDGET_CAPS.installTimeoutMs ? `hosts.installTimeoutMs=${t.installTimeoutMs} (at most ${LOCK_BUDGET_CAPS.installTimeoutMs})` : '',
    t.verifyTimeoutMs > LOCK_BUDGET_CAPS.verifyTimeoutMs ? `pybal.verifyTimeoutMs=${t.verifyTimeoutMs} (at most ${LOCK_BUDGET_CAPS.verifyTimeoutMs})` : '',
    t.provisionerCallMs > LOCK_BUDGET_CAPS.provisionerCallMs ? `provisioner.timeoutMs=${t.provisionerCallMs} (at most ${LOCK_BUDGET_CAPS.provisionerCallMs})` : '',
  ].filter(Boolean);
  if (over.length) {
    throw new HostsError('ERR_HOSTS_LOCK_TTL', `configured timeouts exceed what this cookbook's lock hold time covers: ${over.join(', ')}; the run could outlive its locks`, {
      hint: 'lower them in the config; nothing was changed',
    });
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
