/**
 * PyBal's coordinator for one pool (pybal/coordinator.py), as pure logic: no I/O, no clock. The
 * simulator feeds it conftool changes and health-check results; the pybal package's capacity
 * tests can drive it directly.
 *
 * Faithful to spicerack-model.md §6 — canDepool = upServerCount ≥ totalServerCount × threshold,
 * evaluated after the change; pooledDownServers; repool drains pooledDownServers while canDepool;
 * _ensureDepoolThreshold after every config change — with ONE deliberate difference, the seed's
 * semantics: an administrative disable (pooled=no) goes through the same canDepool() check as a
 * monitor-driven depool. If depooling it would breach the threshold it STAYS POOLED (tracked in
 * pooledDownServers, so /alerts reports it) and is depooled later by the same drain loop.
 * Upstream PyBal depools admin-disabled servers unconditionally.
 */

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

export interface ServerConfig {
  weight: number;
  enabled: boolean;
}

export type AlertLevel = 'ok' | 'warning' | 'critical';

export class PoolCoordinator {
  readonly pool: string;
  readonly threshold: number;
  readonly servers = new Map<string, ServerState>();
  /** Pooled although down (or disabled): could not be depooled without breaching the threshold. */
  readonly pooledDownServers = new Set<string>();
  couldNotDepoolTotal = 0;
  /** The pool could not be brought up to the threshold with enabled & ready servers. */
  thresholdUnmet = false;
  readonly #log: (line: string) => void;

  constructor(pool: string, threshold: number, opts: { log?: (line: string) => void } = {}) {
    this.pool = pool;
    this.threshold = threshold;
    this.#log = opts.log ?? (() => undefined);
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
  }

  /** The whole pool's config at once (initial load, re-list after compaction). */
  setAll(cfgs: Map<string, ServerConfig>, health: (host: string) => boolean): void {
    for (const host of [...this.servers.keys()]) if (!cfgs.has(host)) this.#apply(host, undefined, false);
    for (const [host, cfg] of cfgs) this.#apply(host, cfg, health(host));
    this.ensureDepoolThreshold();
  }

  #apply(host: string, cfg: ServerConfig | undefined, up: boolean): void {
    const s = this.servers.get(host);
    if (cfg === undefined) {
      if (s) {
        this.servers.delete(host);
        this.pooledDownServers.delete(host);
        this.#log(`Removing server ${host} (inactive or deleted)`);
      }
      return;
    }
    if (!s) {
      const n: ServerState = { host, weight: cfg.weight, enabled: cfg.enabled, up, pooled: false, ready: true };
      this.servers.set(host, n);
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
      this.#log(`Depooling server ${host}`);
    } else {
      this.pooledDownServers.add(host);
      this.couldNotDepoolTotal++;
      this.#log(`Could not depool server ${host} because of too many down!`);
    }
  }

  repool(host: string): void {
    const s = this.servers.get(host);
    if (!s) return;
    if (!s.pooled) {
      s.pooled = true;
      this.#log(`Repooling server ${host}`);
    } else {
      this.#log(`Leaving previously pooled but down server ${host} pooled`);
    }
    this.pooledDownServers.delete(host);
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
    if (this.pooledDownServers.size > 0) {
      return { level: 'critical', msg: `${this.pool}: Servers ${[...this.pooledDownServers].join(', ')} are marked down but pooled` };
    }
    const total = this.totalServerCount;
    if (total > 1 && total < total * this.threshold + 1) {
      return { level: 'warning', msg: `Pool ${this.pool} is too small to allow depooling. ` };
    }
    return { level: 'ok' };
  }
}

export function serverText(s: ServerState): string {
  return `${s.enabled ? 'enabled' : 'disabled'}/${s.up ? 'up' : 'down'}/${s.pooled ? 'pooled' : 'not pooled'}`;
}

export function serverJson(s: ServerState): { pooled: boolean; weight: number; up: boolean; enabled: boolean } {
  return { pooled: s.pooled, weight: s.weight, up: s.up, enabled: s.enabled };
}

/** Combine the pools' alerts the way PyBal's /alerts does: critical overrides warning. */
export function combineAlerts(pools: PoolCoordinator[]): { status: AlertLevel; msg: string } {
  const alerts = pools.map((p) => p.alert());
  const crit = alerts.filter((a) => a.level === 'critical').map((a) => a.msg!);
  if (crit.length > 0) return { status: 'critical', msg: crit.join('; ') };
  const warn = alerts.filter((a) => a.level === 'warning').map((a) => a.msg!);
  if (warn.length > 0) return { status: 'warning', msg: warn.join('; ') };
  return { status: 'ok', msg: 'All pools are healthy' };
}
