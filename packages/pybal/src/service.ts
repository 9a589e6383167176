import { setTimeout as sleep } from 'node:timers/promises';
import { CheckError, isGalleyError } from '@galley/errors';
import type { LoadBalancerRef, PybalClient } from './client.js';
import { PybalErrorCode } from './errors.js';
import { hostList, renderStatus, renderVerification } from './render.js';
import type { Alerts, LbServerView } from './parse.js';
import { canDepool, canTakeOut, countsFromView, explainKeptPooled, minUpEnabled, type ConftoolPooled, type PoolCounts } from './rules.js';
import type { NodeTagsLike, PoolRef, PybalTopology } from './topology.js';

/** What the service needs from a conftool object; @galley/confctl's ConftoolNode fits. */
export interface NodeLike {
  tags: NodeTagsLike;
  pooled?: ConftoolPooled;
  weight?: number;
}

/** What a verification waits for; `at weight 0`: pooled at weight 0 or not pooled (conftool's drain). */
export type Expected = 'pooled' | 'depooled' | 'at weight 0';
export type Seen = LbServerView | null | { error: string };

export interface Disagreement {
  lb: string;
  pool: string;
  host: string;
  expected: Expected;
  /** The LB's view of the host; null = not listed in the pool; {error} = no usable answer. */
  saw: Seen;
  why?: string;
}

/** What one LB showed for one host at its last answer in a verification. */
export interface HostSeen {
  host: string;
  /** The LB's view; null = not listed in the pool (an LB without the server sends it nothing); {error} = no usable answer. */
  seen: Seen;
  /** The state asked for (see `verifyDepooled` / `verifyPooled`). */
  ok: boolean;
  /** Why not, naming the LB, what it has and why (absent when ok). */
  why?: string;
}

/** One (pool, LB) pair of a verification, as its last answer left it. */
export interface LbCheck {
  pool: string;
  lb: string;
  /** Every verified host of the pool is in the state asked for in this LB's last answer. */
  ok: boolean;
  /** The last answer was no usable answer (unreachable, HTTP error, a body that is not PyBal's). */
  error?: string;
  /** Each verified host of the pool as the LB last showed it (each `{ error }` with `error`; empty if it never answered). */
  hosts: HostSeen[];
  /** Rounds in which this LB was asked about this pool: one that agreed is not asked while others catch up. */
  asked: number;
  /**
   * The pool in this LB's last answer (when it answered): its up+enabled servers, its total, and
   * whether that is below its depool threshold (PyBal's canDepool() false). PyBal's own
   * coordinator.py never refuses an admin depool, so "out on every LB" alone does not say the
   * pool kept its threshold.
   */
  capacity?: { upEnabled: number; total: number; threshold: number; below: boolean };
}

export interface Verification {
  ok: boolean;
  expected: Expected;
  /** The hosts verified (those with a PyBal pool). */
  hosts: string[];
  /** Every (pool, LB) pair of the affected pools, in config order, with what its last answer showed. */
  lbs: LbCheck[];
  /** The hosts of `lbs` not in the state asked for, one per (LB, pool, host); an LB without an answer, one per host. */
  disagreements: Disagreement[];
  /** The deadline the polling had. */
  deadlineMs: number;
  /** From the start to the verdict (a slow last answer can take it past the deadline: this is the real wait). */
  elapsedMs: number;
  /** Polling rounds: each asks every pair that has not agreed yet once; a confirming round asks every pair. */
  rounds: number;
  /** Human text (render.ts): what was verified, or each LB that disagrees, what it said and why. */
  report: string;
  /** Dry-run: not polled to a conclusion (the conftool change was not made). */
  dryRun?: boolean;
  /** The caller's signal stopped the polling before agreement. */
  aborted?: boolean;
  /** Nodes whose (dc, cluster, service) maps to no PyBal pool: nothing to verify for them. */
  unmapped: string[];
}

export interface VerifyOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * verifyPooled only (default true): the host must also be up (health checks pass) on every LB.
   * PyBal force-pools a down server to keep a pool above its depool threshold, so "enabled and
   * pooled" alone can be a host that serves errors. false accepts enabled+pooled whatever the health.
   */
  requireUp?: boolean;
}

export interface CapacityPerLb {
  lb: string;
  total: number;
  upEnabled: number;
  pooled: number;
  threshold: number;
  canTakeOut: number;
  error?: string;
}
export interface Capacity {
  pool: string;
  /** Worst case across LBs; an LB without an answer counts as 0. */
  canTakeOut: number;
  perLb: CapacityPerLb[];
}

export type FlagKind =
  'unmapped' | 'lb-error' | 'missing-on-lb' | 'not-pooled-on-lb' | 'kept-pooled' | 'pooled-down' | 'lagging' | 'listed-while-inactive';

export interface ComparisonFlag {
  kind: FlagKind;
  lb?: string;
  message: string;
}

export interface ComparisonRow {
  dc: string;
  cluster: string;
  service: string;
  host: string;
  pool: string | null;
  conftool: { pooled: ConftoolPooled | undefined; weight: number | undefined };
  lbs: { lb: string; view: LbServerView | null; error?: string }[];
  flags: ComparisonFlag[];
}

export interface PoolStatus {
  pool: PoolRef;
  rows: ComparisonRow[];
  capacity: Capacity;
  /** Per LB, the parts of its /alerts that name this pool ('ok' when none do). */
  alerts: LbAlerts[];
  /** Servers an LB lists in the pool that conftool does not have (or has as inactive). */
  extraOnLb: { lb: string; host: string; view: LbServerView }[];
}

export interface StatusReport {
  pools: PoolStatus[];
  unmapped: ComparisonRow[];
  /** Each LB's /alerts as served (PyBal's alerts cover all its pools); `pools[].alerts` holds the parts about that pool. */
  alerts: LbAlerts[];
  /**
   * Set when conftool could not be read (why): the rows are the servers the LBs list, with
   * conftool unknown (`conftool.pooled` undefined). See `statusWithoutConftool`.
   */
  conftoolUnknown?: string;
}

export interface LbAlerts {
  lb: string;
  status?: Alerts['status'];
  msg?: string;
  error?: string;
}

export interface PybalServiceOptions {
  topology: PybalTopology;
  client: PybalClient;
  dryRun?: boolean;
  log?: (line: string) => void;
  verifyTimeoutMs?: number;
  /** Verification: first pause between rounds; grows 1.5× per round up to `maxPollIntervalMs` (equal: a fixed pause). */
  pollIntervalMs?: number;
  maxPollIntervalMs?: number;
}

type PoolFetch = { ok: true; view: Map<string, LbServerView> } | { ok: false; error: string; code?: string };

interface PairState {
  pool: PoolRef;
  lb: LoadBalancerRef;
  hosts: string[];
  done: boolean;
  asked: number;
  last?: PoolFetch;
}

/** The contract @galley/lb and cookbooks use: PyBal's own view, on every load balancer of a pool. */
export class PybalService {
  readonly topology: PybalTopology;
  readonly client: PybalClient;
  readonly dryRun: boolean;
  readonly verifyTimeoutMs: number;
  readonly pollIntervalMs: number;
  readonly maxPollIntervalMs: number;
  private readonly log: (line: string) => void;

  constructor(opts: PybalServiceOptions) {
    this.topology = opts.topology;
    this.client = opts.client;
    this.dryRun = opts.dryRun ?? false;
    this.log = opts.log ?? (() => undefined);
    this.verifyTimeoutMs = opts.verifyTimeoutMs ?? 30000;
    // PyBal applies a conftool change within ~1 s (etcd watch); polling tightly at first keeps a
    // batch's verification close to the real propagation delay without hammering a slow LB.
    this.pollIntervalMs = opts.pollIntervalMs ?? 50;
    this.maxPollIntervalMs = opts.maxPollIntervalMs ?? 500;
  }

  /**
   * A cheap view sharing topology and client: the runner binds dry-run and logging this way, and
   * a caller its own poll settings (lb polls every 25 ms: PyBal's delay is most of a batch).
   */
  with(
    opts: Partial<Pick<PybalServiceOptions, 'dryRun' | 'log' | 'verifyTimeoutMs' | 'pollIntervalMs' | 'maxPollIntervalMs'>>,
  ): PybalService {
    return new PybalService({
      topology: this.topology,
      client: this.client,
      dryRun: opts.dryRun ?? this.dryRun,
      log: opts.log ?? this.log,
      verifyTimeoutMs: opts.verifyTimeoutMs ?? this.verifyTimeoutMs,
      pollIntervalMs: opts.pollIntervalMs ?? this.pollIntervalMs,
      maxPollIntervalMs: opts.maxPollIntervalMs ?? this.maxPollIntervalMs,
    });
  }

  /**
   * Poll every LB of every affected pool until each of the nodes' hosts is disabled and not pooled
   * there (or not listed at all), or the deadline. Enabled-but-not-pooled is not out: that LB has
   * not applied the change, the host is merely down, and PyBal pools it again when it comes back.
   */
  verifyDepooled(nodes: readonly NodeLike[], opts: Omit<VerifyOptions, 'requireUp'> = {}): Promise<Verification> {
    return this.verify(nodes, 'depooled', opts);
  }

  /**
   * Poll every LB of every affected pool until all of the nodes' hosts are enabled, pooled and
   * (unless `requireUp: false`) up, or the deadline.
   */
  verifyPooled(nodes: readonly NodeLike[], opts: VerifyOptions = {}): Promise<Verification> {
    return this.verify(nodes, 'pooled', opts);
  }

  /**
   * Poll every LB of every affected pool until each of the nodes' hosts has weight 0 there, or is
   * not pooled: the host still pooled gets no new connections (conftool's `drain`, before a depool).
   */
  verifyWeightZero(nodes: readonly NodeLike[], opts: Omit<VerifyOptions, 'requireUp'> = {}): Promise<Verification> {
    return this.verify(nodes, 'at weight 0', opts);
  }

  /** Throws ERR_PYBAL_NOT_VERIFIED (a CheckError) with the verification's report unless it passed. */
  static assertVerified(v: Verification): void {
    if (v.ok) return;
    throw new CheckError(PybalErrorCode.NOT_VERIFIED, v.report, {
      hint: 'see which load balancer disagrees above; the conftool change may need to be reverted or retried',
      details: { disagreements: v.disagreements, rounds: v.rounds, elapsedMs: v.elapsedMs, deadlineMs: v.deadlineMs },
    });
  }

  async capacity(pool: PoolRef): Promise<Capacity> {
    const perLb = await Promise.all(
      pool.loadBalancers.map(async (lb): Promise<CapacityPerLb> => {
        const f = await this.fetchPool(pool, lb);
        const threshold = pool.depoolThreshold;
        if (!f.ok) return { lb: lb.name, total: 0, upEnabled: 0, pooled: 0, threshold, canTakeOut: 0, error: f.error };
        const c = countsFromView(f.view);
        return { lb: lb.name, total: c.total, upEnabled: c.upEnabled, pooled: c.pooled, threshold, canTakeOut: canTakeOut(c, threshold) };
      }),
    );
    const worst = perLb.length === 0 ? 0 : Math.min(...perLb.map((p) => p.canTakeOut));
    return { pool: pool.pool, canTakeOut: worst, perLb };
  }

  /** Conftool state side by side with every LB's view, with what looks wrong flagged. */
  async compare(nodes: readonly NodeLike[]): Promise<ComparisonRow[]> {
    const views = await this.fetchAll(this.topology.poolsForNodes(nodes));
    return nodes.map((n) => this.compareRow(n, views));
  }

  /** Everything `sre.lb.status` shows: per pool, the comparison rows, capacity and alerts. */
  async status(nodes: readonly NodeLike[]): Promise<StatusReport> {
    const pools = this.topology.poolsForNodes(nodes);
    const views = await this.fetchAll(pools);
    const rows = nodes.map((n) => this.compareRow(n, views));
    return this.assembleStatus(
      pools,
      views,
      rows,
      rows.filter((r) => r.pool === null),
      true,
    );
  }

  /**
   * The status of these pools from the load balancers alone, for when conftool cannot be read
   * (etcd down): PyBal keeps serving its last known state then, and that is what on-call needs to
   * see. One row per server any LB lists, conftool unknown; flags only what needs no conftool
   * (an LB without an answer, a server one LB lists and another does not, pooled while down).
   */
  async statusWithoutConftool(pools: readonly PoolRef[], reason: string): Promise<StatusReport> {
    const views = await this.fetchAll(pools);
    const rows = pools.flatMap((pool) => {
      const hosts = new Set<string>();
      for (const lb of pool.loadBalancers) {
        const f = views.get(pairKey(pool, lb));
        if (f?.ok) for (const h of f.view.keys()) hosts.add(h);
      }
      return [...hosts].sort().map((host) => this.lbOnlyRow(pool, host, views));
    });
    return { ...(await this.assembleStatus(pools, views, rows, [], false)), conftoolUnknown: reason };
  }

  private async assembleStatus(
    pools: readonly PoolRef[],
    views: Map<string, PoolFetch>,
    rows: ComparisonRow[],
    unmapped: ComparisonRow[],
    conftoolKnown: boolean,
  ): Promise<StatusReport> {
    const lbs = new Map<string, LoadBalancerRef>();
    for (const p of pools) for (const lb of p.loadBalancers) lbs.set(lb.name, lb);
    const alertsByLb = new Map<string, LbAlerts>();
    await Promise.all(
      [...lbs.values()].map(async (lb) => {
        try {
          const a = await this.client.alerts(lb, this.reqOpts());
          alertsByLb.set(lb.name, { lb: lb.name, status: a.status, msg: a.msg });
        } catch (err) {
          if (!isGalleyError(err)) throw err;
          alertsByLb.set(lb.name, { lb: lb.name, error: err.message });
        }
      }),
    );
    const out: PoolStatus[] = pools.map((pool) => {
      const k = poolKey(pool);
      const poolRows = rows.filter((r) => r.pool !== null && poolKey(r) === k);
      const known = new Set(poolRows.filter((r) => r.conftool.pooled !== 'inactive').map((r) => r.host));
      const extraOnLb: PoolStatus['extraOnLb'] = [];
      const perLb: CapacityPerLb[] = pool.loadBalancers.map((lb) => {
        const f = views.get(pairKey(pool, lb));
        const threshold = pool.depoolThreshold;
        if (!f?.ok)
          return {
            lb: lb.name,
            total: 0,
            upEnabled: 0,
            pooled: 0,
            threshold,
            canTakeOut: 0,
            error: f?.ok === false ? f.error : 'not fetched',
          };
        if (conftoolKnown) for (const [host, view] of f.view) if (!known.has(host)) extraOnLb.push({ lb: lb.name, host, view });
        const c = countsFromView(f.view);
        return { lb: lb.name, total: c.total, upEnabled: c.upEnabled, pooled: c.pooled, threshold, canTakeOut: canTakeOut(c, threshold) };
      });
      const capacity: Capacity = { pool: pool.pool, canTakeOut: perLb.length ? Math.min(...perLb.map((p) => p.canTakeOut)) : 0, perLb };
      const alerts = pool.loadBalancers.map((lb) =>
        alertsForPool(alertsByLb.get(lb.name) ?? { lb: lb.name, error: 'not fetched' }, pool.pool),
      );
      return { pool, rows: poolRows, capacity, alerts, extraOnLb };
    });
    const alerts = [...lbs.keys()].map((name) => alertsByLb.get(name) ?? { lb: name, error: 'not fetched' });
    return { pools: out, unmapped, alerts };
  }

  /** Text form of a status report (a method so cookbooks need not import this package). */
  render(report: StatusReport): string {
    return renderStatus(report);
  }

  // --- internals -------------------------------------------------------------------------------

  private reqOpts(signal?: AbortSignal): { retries?: number; signal?: AbortSignal } {
    // Dry-run drops retries to one try, like Spicerack's @retry; reads still happen.
    const o: { retries?: number; signal?: AbortSignal } = {};
    if (this.dryRun) o.retries = 0;
    if (signal) o.signal = signal;
    return o;
  }

  private async fetchPool(
    pool: PoolRef,
    lb: LoadBalancerRef,
    opts: { retries?: number; signal?: AbortSignal } = this.reqOpts(),
  ): Promise<PoolFetch> {
    try {
      return { ok: true, view: await this.client.pool(lb, pool.pool, opts) };
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      if (!isGalleyError(err)) throw err;
      return { ok: false, error: err.message, code: err.code };
    }
  }

  private async fetchAll(pools: readonly PoolRef[]): Promise<Map<string, PoolFetch>> {
    const out = new Map<string, PoolFetch>();
    await Promise.all(pools.flatMap((p) => p.loadBalancers.map(async (lb) => out.set(pairKey(p, lb), await this.fetchPool(p, lb)))));
    return out;
  }

  private compareRow(n: NodeLike, views: Map<string, PoolFetch>): ComparisonRow {
    const { dc, cluster, service, name } = n.tags;
    const pool = this.topology.poolFor(dc, cluster, service);
    const row: ComparisonRow = {
      dc,
      cluster,
      service,
      host: name,
      pool: pool?.pool ?? null,
      conftool: { pooled: n.pooled, weight: n.weight },
      lbs: [],
      flags: [],
    };
    if (!pool) {
      row.flags.push({ kind: 'unmapped', message: `${dc}/${cluster}/${service} maps to no PyBal pool in the config` });
      return row;
    }
    this.fillLbCells(row, pool, views, (lb, v, view) =>
      flagsFor(n.pooled, v, { lb: lb.name, host: name, pool, counts: countsFromView(view) }),
    );
    return row;
  }

  /**
   * One cell per LB of the pool: the LB's view of `row.host`, or the error that kept us from
   * reading it (flagged `lb-error`); `flag` adds the flags of a view that was read.
   */
  private fillLbCells(
    row: ComparisonRow,
    pool: PoolRef,
    views: Map<string, PoolFetch>,
    flag: (lb: PoolRef['loadBalancers'][number], v: LbServerView | null, view: Map<string, LbServerView>) => ComparisonRow['flags'],
  ): void {
    for (const lb of pool.loadBalancers) {
      const f = views.get(pairKey(pool, lb));
      if (!f?.ok) {
        const error = f?.ok === false ? f.error : 'not fetched';
        row.lbs.push({ lb: lb.name, view: null, error });
        row.flags.push({ kind: 'lb-error', lb: lb.name, message: error });
        continue;
      }
      const v = f.view.get(row.host) ?? null;
      row.lbs.push({ lb: lb.name, view: v });
      row.flags.push(...flag(lb, v, f.view));
    }
  }

  private lbOnlyRow(pool: PoolRef, host: string, views: Map<string, PoolFetch>): ComparisonRow {
    const row: ComparisonRow = {
      dc: pool.dc,
      cluster: pool.cluster,
      service: pool.service,
      host,
      pool: pool.pool,
      conftool: { pooled: undefined, weight: undefined },
      lbs: [],
      flags: [],
    };
    const listing = pool.loadBalancers.filter((lb) => {
      const f = views.get(pairKey(pool, lb));
      return f?.ok === true && f.view.has(host);
    });
    this.fillLbCells(row, pool, views, (lb, v, view) => {
      if (v === null) {
        return [
          {
            kind: 'missing-on-lb',
            lb: lb.name,
            message: `${lb.name} does not list ${host} in pool ${pool.pool} (${listing.map((l) => l.name).join(', ')} does)`,
          },
        ];
      }
      if (!(v.pooled && v.enabled && !v.up)) return [];
      const counts = countsFromView(view);
      const need = minUpEnabled(counts.total, pool.depoolThreshold);
      return [
        {
          kind: 'pooled-down',
          lb: lb.name,
          message: `${lb.name} keeps ${host} pooled although it is down (${counts.upEnabled} of ${counts.total} up and enabled, ${need} needed)`,
        },
      ];
    });
    return row;
  }

  private async verify(nodes: readonly NodeLike[], expected: Expected, opts: VerifyOptions): Promise<Verification> {
    const started = Date.now();
    const deadlineMs = opts.timeoutMs ?? this.verifyTimeoutMs;
    const ok = okFor(expected, opts.requireUp ?? true);
    const unmapped = this.topology.unmapped(nodes).map((n) => `${n.tags.dc}/${n.tags.cluster}/${n.tags.service}/${n.tags.name}`);
    const pairs: PairState[] = [];
    for (const pool of this.topology.poolsForNodes(nodes)) {
      const hosts = [...new Set(nodes.filter((n) => sameService(n.tags, pool)).map((n) => n.tags.name))];
      for (const lb of pool.loadBalancers) pairs.push({ pool, lb, hosts, done: false, asked: 0 });
    }
    const hosts = [...new Set(pairs.flatMap((p) => p.hosts))];
    if (unmapped.length) this.log(`PyBal: ${unmapped.length} object(s) map to no pool, not verified: ${hostList(unmapped)}`);

    let rounds = 0;
    let interval = this.pollIntervalMs;
    const deadline = started + deadlineMs;
    // One GET of /pools/<pool> per (pool, LB) not yet agreed, all at once, one try each: the next
    // round is the retry, and a retry's back-off would only overshoot the propagation delay.
    const poll = async (): Promise<void> => {
      rounds++;
      const ro = { retries: 0, ...(opts.signal ? { signal: opts.signal } : {}) };
      await Promise.all(
        pairs
          .filter((p) => !p.done)
          .map(async (p) => {
            p.asked++;
            const f = await this.fetchPool(p.pool, p.lb, ro);
            p.last = f;
            p.done = f.ok && p.hosts.every((h) => ok(f.view.get(h)));
          }),
      );
    };
    const result = (passed: boolean, extra: Pick<Verification, 'dryRun' | 'aborted'> = {}): Verification => {
      const lbs = pairs.map((p) => checkOf(p, pairs, expected, ok));
      // A dry-run passes without the change made: what disagrees now is in `lbs` (and the report), not a failure.
      const disagreements = passed
        ? []
        : lbs.flatMap((l) =>
            l.hosts
              .filter((h) => !h.ok)
              .map((h): Disagreement => ({
                lb: l.lb,
                pool: l.pool,
                host: h.host,
                expected,
                saw: h.seen,
                ...(h.why !== undefined ? { why: h.why } : {}),
              })),
          );
      const v: Verification = {
        ok: passed,
        expected,
        hosts,
        lbs,
        disagreements,
        deadlineMs,
        elapsedMs: Date.now() - started,
        rounds,
        report: '',
        unmapped,
        ...extra,
      };
      return { ...v, report: renderVerification(v) };
    };

    if (pairs.length === 0) return result(true);

    if (this.dryRun) {
      // The conftool change was not made, so polling for it would only time out: read once to show where things stand.
      await poll();
      return result(true, { dryRun: true });
    }

    this.log(
      `PyBal: verifying ${hostList(hosts)} ${expected} on ${[...new Set(pairs.map((p) => p.lb.name))].join(', ')} (deadline ${deadlineMs} ms)`,
    );
    try {
      for (;;) {
        // An LB that agreed is not asked again while the others catch up; so when they did not all
        // agree in the same round, one more round asks every LB at once: the verdict is a moment at
        // which all of them agreed (one may have flipped back meanwhile).
        const askingAll = pairs.every((p) => !p.done);
        await poll();
        if (pairs.every((p) => p.done)) {
          if (askingAll) return result(true);
          for (const p of pairs) p.done = false;
          continue;
        }
        const left = deadline - Date.now();
        if (left <= 0) return result(false);
        await sleep(Math.min(interval, left), undefined, opts.signal ? { signal: opts.signal } : {});
        interval = Math.min(this.maxPollIntervalMs, Math.ceil(interval * 1.5));
      }
    } catch (err) {
      if (opts.signal?.aborted) return result(false, { aborted: true });
      throw err;
    }
  }
}

/** A pair's last answer, per host: what the LB showed, whether that is the state asked for, and why not. */
function checkOf(p: PairState, pairs: readonly PairState[], expected: Expected, ok: (v: LbServerView | undefined) => boolean): LbCheck {
  const base = { pool: p.pool.pool, lb: p.lb.name, asked: p.asked };
  if (!p.last) return { ...base, ok: false, hosts: [] };
  if (!p.last.ok) {
    const error = p.last.error;
    return { ...base, ok: false, error, hosts: p.hosts.map((host) => ({ host, seen: { error }, ok: false, why: error })) };
  }
  const view = p.last.view;
  const counts = countsFromView(view);
  const hosts = p.hosts.map((host): HostSeen => {
    const v = view.get(host) ?? null;
    if (ok(v ?? undefined)) return { host, seen: v, ok: true };
    const agreeing = pairs.filter((q) => q !== p && q.pool === p.pool && q.last?.ok && ok(q.last.view.get(host))).map((q) => q.lb.name);
    return { host, seen: v, ok: false, why: whyNot(expected, v, { lb: p.lb.name, host, pool: p.pool, counts, agreeing }) };
  });
  const threshold = p.pool.depoolThreshold;
  const capacity = {
    upEnabled: counts.upEnabled,
    total: counts.total,
    threshold,
    below: !canDepool(counts.upEnabled, counts.total, threshold),
  };
  return { ...base, ok: hosts.every((h) => h.ok), hosts, capacity };
}

/**
 * PyBal joins per-pool alert messages with "; " (critical ones start "<pool>: ", warnings read
 * "Pool <pool> is too small…"); keep the parts about one pool.
 */
function alertsForPool(a: LbAlerts, pool: string): LbAlerts {
  if (a.error !== undefined || a.status === undefined || a.status === 'ok') return a;
  const parts = (a.msg ?? '')
    .split('; ')
    .map((p) => p.trim())
    .filter((p) => p.startsWith(`${pool}:`) || p.startsWith(`Pool ${pool} `));
  return parts.length ? { lb: a.lb, status: a.status, msg: parts.join('; ') } : { lb: a.lb, status: 'ok', msg: '' };
}

function poolKey(p: { dc: string; cluster: string; service: string }): string {
  return `${p.dc}/${p.cluster}/${p.service}`;
}
function pairKey(p: PoolRef, lb: LoadBalancerRef): string {
  return `${poolKey(p)}\0${lb.name}`;
}
function sameService(t: NodeTagsLike, p: PoolRef): boolean {
  return t.dc === p.dc && t.cluster === p.cluster && t.service === p.service;
}

/**
 * Depooled: disabled and not pooled on the LB, or not listed (an LB without the server sends it
 * nothing). Enabled-but-not-pooled does not count: the LB has not applied the change and pools
 * the host again as soon as its health checks pass.
 * Pooled: enabled and pooled, and up unless the caller said otherwise (PyBal force-pools down
 * servers to stay above the depool threshold).
 */
function okFor(expected: Expected, requireUp: boolean): (v: LbServerView | undefined) => boolean {
  if (expected === 'depooled') return (v) => v === undefined || (!v.enabled && !v.pooled);
  if (expected === 'at weight 0') return (v) => v === undefined || !v.pooled || v.weight === 0;
  return (v) => v !== undefined && v.enabled && v.pooled && (!requireUp || v.up);
}

function whyNot(
  expected: Expected,
  v: LbServerView | null,
  c: { lb: string; host: string; pool: PoolRef; counts: PoolCounts; agreeing: string[] },
): string {
  const lagging = c.agreeing.length ? ` (${c.agreeing.join(', ')} already did: ${c.lb} is lagging)` : ' (lagging, or not watching etcd)';
  const poolName = `pool ${c.pool.pool}`;
  if (expected === 'at weight 0') {
    if (v?.weight === undefined) return `${c.lb} pools ${c.host} in ${poolName} but its answer gives no weight: cannot tell it is at 0`;
    return `${c.lb} still has ${c.host} pooled at weight ${v.weight} in ${poolName}: it has not applied the conftool change${lagging}`;
  }
  if (expected === 'depooled') {
    if (v?.enabled && v.pooled)
      return `${c.lb} still has ${c.host} enabled and pooled in ${poolName}: it has not applied the conftool change${lagging}`;
    if (v?.enabled) {
      return `${c.lb} still has ${c.host} enabled in ${poolName} (not pooled only because its health checks fail): it has not applied the conftool change${lagging}, and pools it again once the host is up`;
    }
    return explainKeptPooled({ lb: c.lb, host: c.host, pool: c.pool.pool, counts: c.counts, threshold: c.pool.depoolThreshold });
  }
  if (v === null)
    return `${c.lb} does not list ${c.host} in ${poolName}: it has not applied the conftool change${lagging}, or the object is inactive`;
  if (!v.enabled) return `${c.lb} still has ${c.host} disabled in ${poolName}: it has not applied the conftool change${lagging}`;
  if (!v.up && v.pooled) {
    const need = minUpEnabled(c.counts.total, c.pool.depoolThreshold);
    return `${c.lb} has ${c.host} enabled but down in ${poolName}: its health checks fail, and PyBal keeps it pooled only to stay above the depool threshold ${c.pool.depoolThreshold} (${c.counts.upEnabled} of ${c.counts.total} up and enabled, ${need} needed)`;
  }
  if (!v.up) return `${c.lb} has ${c.host} enabled but down in ${poolName}: its health checks fail, PyBal pools it when they pass`;
  return `${c.lb} has ${c.host} enabled and up but not yet pooled in ${poolName}`;
}

function flagsFor(
  pooled: ConftoolPooled | undefined,
  v: LbServerView | null,
  c: { lb: string; host: string; pool: PoolRef; counts: PoolCounts },
): ComparisonFlag[] {
  const lb = c.lb;
  const flags: ComparisonFlag[] = [];
  if (pooled === 'inactive') {
    if (v)
      flags.push({
        kind: 'listed-while-inactive',
        lb,
        message: `${lb} still lists ${c.host} although it is inactive in conftool (lagging)`,
      });
    return flags;
  }
  if (v === null) {
    flags.push({ kind: 'missing-on-lb', lb, message: `${lb} does not list ${c.host} in pool ${c.pool.pool}` });
    return flags;
  }
  if (pooled === 'yes') {
    if (!v.enabled) flags.push({ kind: 'lagging', lb, message: `${lb} has ${c.host} disabled although conftool says pooled=yes` });
    else if (!v.pooled)
      flags.push({ kind: 'not-pooled-on-lb', lb, message: `${lb} does not pool ${c.host}${v.up ? '' : ': its health checks fail'}` });
  } else if (pooled === 'no') {
    if (v.enabled) flags.push({ kind: 'lagging', lb, message: `${lb} has ${c.host} enabled although conftool says pooled=no` });
    else if (v.pooled)
      flags.push({
        kind: 'kept-pooled',
        lb,
        message: explainKeptPooled({ lb, host: c.host, pool: c.pool.pool, counts: c.counts, threshold: c.pool.depoolThreshold }),
      });
  }
  if (v.pooled && v.enabled && !v.up) {
    const need = minUpEnabled(c.counts.total, c.pool.depoolThreshold);
    flags.push({
      kind: 'pooled-down',
      lb,
      message: `${lb} keeps ${c.host} pooled although it is down (${c.counts.upEnabled} of ${c.counts.total} up and enabled, ${need} needed)`,
    });
  }
  return flags;
}
