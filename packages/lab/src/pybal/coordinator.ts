/**
 * PyBal's coordinator for one pool (pybal/coordinator.py), as pure logic: no I/O, no clock. The
 * simulator feeds it conftool changes and health-check results; the pybal package's capacity
 * tests can drive it directly. Two modes (`--pybal-mode`): this file is `wikitech`, the lab's
 * default; `upstream` (upstream.ts) follows PyBal's own coordinator.py step by step.
 *
 * wikitech: faithful to spicerack-model.md §6 — canDepool = upServerCount ≥ totalServerCount × threshold,
 * evaluated after the change; pooledDownServers; repool drains pooledDownServers while canDepool;
 * _ensureDepoolThreshold after every config change — with ONE deliberate difference, the seed's
 * semantics: an administrative disable (pooled=no) goes through the same canDepool() check as a
 * monitor-driven depool. If depooling it would breach the threshold it STAYS POOLED (tracked in
 * pooledDownServers, so /alerts reports it) and is depooled later by the same drain loop.
 * Upstream PyBal depools admin-disabled servers unconditionally.
 */

import { PybalMetrics, type MonitorMetrics, type ServiceMetrics } from './metrics.js';

/** How the simulator's PyBal behaves: the Wikitech page's semantics, or upstream coordinator.py. */
export type PybalMode = 'wikitech' | 'upstream';
export const PYBAL_MODES: readonly PybalMode[] = ['wikitech', 'upstream'];

/** The one monitor each simulated server has (the label PyBal's monitor metrics carry). */
export const MONITOR_NAME = 'ProxyFetch';

/**
 * What the simulator (and the API) needs from a pool's coordinator, in either mode.
 * `checkResult` is every health-check result, as a PyBal monitor produces them; the monitor
 * tells the coordinator on a change or on its first check (monitor.py).
 */
export interface Coordinator {
  readonly mode: PybalMode;
  readonly pool: string;
  readonly threshold: number;
  readonly servers: ReadonlyMap<string, ServerState>;
  /** The servers /alerts names as "marked down but pooled", in PyBal's set order. */
  readonly pooledDownHosts: string[];
  setServer(host: string, cfg: ServerConfig | undefined, up?: boolean): void;
  /** The whole pool as read from conftool; `undefined` = listed as pooled=inactive. */
  setAll(cfgs: ReadonlyMap<string, ServerConfig | undefined>, health: (host: string) => boolean): void;
  checkResult(host: string, up: boolean): void;
  canDepool(): boolean;
  alert(): { level: AlertLevel; msg?: string };
}

export interface CoordinatorOptions {
  log?: (line: string) => void;
  /** The simulator's metrics (one registry per PyBal process); a private one by default. */
  metrics?: PybalMetrics;
}

/**
 * monitor.py's MonitoringProtocol bookkeeping: every result counts, the coordinator is told only
 * on a transition or on the first check; `up` is null until the first result. If telling the
 * coordinator throws, the rest (firstCheck cleared, transition counted) does not happen, as in
 * monitor.py.
 */
export class Monitor {
  up: boolean | null = null;
  firstCheck = true;
  active = true;
  readonly #m: MonitorMetrics;

  constructor(metrics: MonitorMetrics) {
    this.#m = metrics;
  }

  result(up: boolean, tell: (firstCheck: boolean) => void): void {
    if (up) {
      this.#m.upResults.inc();
      if ((this.active && this.up === false) || this.firstCheck) {
        this.up = true;
        tell(this.firstCheck);
        this.firstCheck = false;
        this.#m.upTransitions.inc();
        this.#m.status.set(1);
      }
    } else {
      this.#m.downResults.inc();
      if ((this.active && this.up === true) || this.firstCheck) {
        this.up = false;
        tell(this.firstCheck);
        this.firstCheck = false;
        this.#m.downTransitions.inc();
        this.#m.status.set(0);
      }
    }
  }
}

export interface ServerState {
  host: string;
  weight: number;
  /** conftool pooled=yes (true) / no (false); inactive servers are not in the pool at all. */
  enabled: boolean;
  /** Health checks pass. */
  up: boolean;
  /** In the LVS pool: receives traffic. */
  pooled: boolean;
  ready: boolean;
}

/**
 * A conftool value as the mode decodes it. wikitech: both always set (pooled yes/no, weight or 0).
 * upstream (etcd.py): `enabled` only when the value has `pooled` (yes → true, anything else →
 * false); `weight` only when it is an integer (server.py ignores other types).
 */
export interface ServerConfig {
  weight?: number;
  enabled?: boolean;
}

export type AlertLevel = 'ok' | 'warning' | 'critical';

export class PoolCoordinator implements Coordinator {
  readonly mode = 'wikitech' as const;
  readonly pool: string;
  readonly threshold: number;
  readonly servers = new Map<string, ServerState>();
  /** Pooled although down (or disabled): could not be depooled without breaching the threshold. */
  readonly pooledDownServers = new Set<string>();
  couldNotDepoolTotal = 0;
  /** The pool could not be brought up to the threshold with enabled & ready servers. */
  thresholdUnmet = false;
  readonly #log: (line: string) => void;
  readonly #pm: PybalMetrics;
  readonly #m: ServiceMetrics;
  readonly #monitors = new Map<string, Monitor>();

  constructor(pool: string, threshold: number, opts: CoordinatorOptions = {}) {
    this.pool = pool;
    this.threshold = threshold;
    this.#log = opts.log ?? (() => undefined);
    this.#pm = opts.metrics ?? new PybalMetrics();
    this.#m = this.#pm.service(pool);
    this.#m.threshold.set(threshold);
  }

  get pooledDownHosts(): string[] {
    return [...this.pooledDownServers];
  }

  /** One health-check result: the server's monitor tells resultUp/resultDown when PyBal's would. */
  checkResult(host: string, up: boolean): void {
    const m = this.#monitors.get(host);
    if (!m) return;
    m.result(up, () => (up ? this.resultUp(host) : this.resultDown(host)));
  }

  /** The gauges PyBal sets after a config change (coordinator.py's _updateServerMetrics and friends). */
  #configMetrics(): void {
    const all = [...this.servers.values()];
    this.#m.servers.set(all.length);
    this.#m.enabled.set(all.filter((s) => s.enabled).length);
    this.#m.up.set(all.filter((s) => s.up).length);
    this.#m.pooled.set(this.pooledCount);
    this.#pooledDownMetrics();
  }

  #pooledDownMetrics(): void {
    this.#m.pooledDown.set(this.pooledDownServers.size);
    this.#m.canDepool.set(this.canDepool() ? 1 : 0);
  }

  get upServerCount(): number {
    let n = 0;
    for (const s of this.servers.values()) if (s.up && s.enabled) n++;
    return n;
  }

  get totalServerCount(): number {
    return this.servers.size;
  }

  get pooledCount(): number {
    let n = 0;
    for (const s of this.servers.values()) if (s.pooled) n++;
    return n;
  }

  canDepool(): boolean {
    return this.upServerCount >= this.totalServerCount * this.threshold;
  }

  /**
   * One conftool object changed. `undefined` = deleted or pooled=inactive: removed from the pool
   * and from the totals. `up` is the current health of a server that is new to the pool.
   */
  setServer(host: string, cfg: ServerConfig | undefined, up = true): void {
    this.#apply(host, cfg, up);
    this.ensureDepoolThreshold();
    this.#configMetrics();
  }

  /** The whole pool's config at once (initial load, re-list after compaction). */
  setAll(cfgs: ReadonlyMap<string, ServerConfig | undefined>, health: (host: string) => boolean): void {
    for (const host of [...this.servers.keys()]) if (cfgs.get(host) === undefined) this.#apply(host, undefined, false);
    for (const [host, cfg] of cfgs) if (cfg !== undefined) this.#apply(host, cfg, health(host));
    this.ensureDepoolThreshold();
    this.#configMetrics();
  }

  #apply(host: string, raw: ServerConfig | undefined, up: boolean): void {
    const s = this.servers.get(host);
    const cfg = raw === undefined ? undefined : { weight: raw.weight ?? 0, enabled: raw.enabled ?? false };
    if (cfg === undefined) {
      if (s) {
        this.servers.delete(host);
        this.#monitors.delete(host);
        this.pooledDownServers.delete(host);
        this.#log(`Removing server ${host} (inactive or deleted)`);
      }
      return;
    }
    if (!s) {
      const n: ServerState = { host, weight: cfg.weight, enabled: cfg.enabled, up, pooled: false, ready: true };
      this.servers.set(host, n);
      this.#monitors.set(host, new Monitor(this.#pm.monitor(this.pool, host, MONITOR_NAME)));
      if (n.enabled && n.up) this.repool(host);
      return;
    }
    s.weight = cfg.weight;
    if (s.enabled === cfg.enabled) return;
    s.enabled = cfg.enabled;
    if (!s.enabled) {
      // The seed's semantics: an admin disable is a depool like any other (threshold-checked).
      if (s.pooled) this.depool(host);
    } else if (s.up && s.ready) {
      this.repool(host);
    }
  }

  depool(host: string): void {
    const s = this.servers.get(host);
    if (!s) return;
    if (this.canDepool()) {
      s.pooled = false;
      this.pooledDownServers.delete(host);
      this.#m.pooled.dec();
      this.#log(`Depooling server ${host}`);
    } else {
      this.pooledDownServers.add(host);
      this.couldNotDepoolTotal++;
      this.#m.couldNotDepool.inc();
      this.#log(`Could not depool server ${host} because of too many down!`);
    }
    this.#pooledDownMetrics();
  }

  repool(host: string): void {
    const s = this.servers.get(host);
    if (!s) return;
    if (!s.pooled) {
      s.pooled = true;
      this.#m.pooled.inc();
      this.#log(`Repooling server ${host}`);
    } else {
      this.#log(`Leaving previously pooled but down server ${host} pooled`);
    }
    this.pooledDownServers.delete(host);
    this.#pooledDownMetrics();
    this.drain();
  }

  /** Depool servers that could not be depooled before, while capacity allows. */
  drain(): void {
    while (this.pooledDownServers.size > 0 && this.canDepool()) {
      const next = this.pooledDownServers.values().next().value as string;
      this.pooledDownServers.delete(next);
      this.depool(next);
    }
  }

  /** Health check failed (the monitor's resultDown). */
  resultDown(host: string): void {
    const s = this.servers.get(host);
    if (!s || !s.up) return;
    s.up = false;
    if (s.pooled) this.depool(host);
  }

  /** Health check passed again (resultUp). */
  resultUp(host: string): void {
    const s = this.servers.get(host);
    if (!s || s.up) return;
    s.up = true;
    if (s.enabled && s.ready) this.repool(host);
  }

  ensureDepoolThreshold(): void {
    const threshold = this.servers.size * this.threshold;
    let pooled = this.pooledCount;
    for (const s of this.servers.values()) {
      if (pooled >= threshold) break;
      if (!s.pooled && s.enabled && s.ready) {
        s.pooled = true;
        this.pooledDownServers.add(s.host);
        pooled++;
        this.#log(`Forcing ${s.host} to be pooled to meet depool threshold`);
      }
    }
    this.thresholdUnmet = pooled < threshold;
    if (this.thresholdUnmet) this.#log('Could not ensure depool threshold; insufficient enabled & ready servers.');
  }

  /** PyBal's /alerts rule for this pool. */
  alert(): { level: AlertLevel; msg?: string } {
    return poolAlert(this.pool, this.pooledDownHosts, this.totalServerCount, this.threshold);
  }
}

export function serverText(s: ServerState): string {
  return `${s.enabled ? 'enabled' : 'disabled'}/${s.up ? 'up' : 'down'}/${s.pooled ? 'pooled' : 'not pooled'}`;
}

export function serverJson(s: ServerState): { pooled: boolean; weight: number; up: boolean; enabled: boolean } {
  return { pooled: s.pooled, weight: s.weight, up: s.up, enabled: s.enabled };
}

/**
 * Combine the pools' alerts the way PyBal's /alerts does (instrumentation.py): critical ones
 * ("<pool>: Servers … are marked down but pooled") joined by "; " override the warnings, which
 * are simply concatenated (each ends in ". ").
 */
export function combineAlerts(pools: readonly Pick<Coordinator, 'alert'>[]): { status: AlertLevel; msg: string } {
  const alerts = pools.map((p) => p.alert());
  const crit = alerts.filter((a) => a.level === 'critical').map((a) => a.msg!);
  if (crit.length > 0) return { status: 'critical', msg: crit.join('; ') };
  const warn = alerts.filter((a) => a.level === 'warning').map((a) => a.msg!);
  if (warn.length > 0) return { status: 'warning', msg: warn.join('') };
  return { status: 'ok', msg: 'All pools are healthy' };
}

/** PyBal's /alerts rule for one pool, from its pooled-down servers and its size (both modes). */
export function poolAlert(
  pool: string,
  pooledDown: readonly string[],
  total: number,
  threshold: number,
): { level: AlertLevel; msg?: string } {
  if (pooledDown.length > 0) return { level: 'critical', msg: `${pool}: Servers ${pooledDown.join(', ')} are marked down but pooled` };
  if (total > 1 && total < total * threshold + 1) return { level: 'warning', msg: `Pool ${pool} is too small to allow depooling. ` };
  return { level: 'ok' };
}
