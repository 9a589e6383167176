/**
 * `--pybal-mode upstream`: one pool as PyBal's own code runs it, step by step: coordinator.py
 * (Coordinator), server.py (Server.merge / maintainState / _ready), monitor.py (first check) and
 * etcd.py (the observer that hands the coordinator the whole pool on every change), as of
 * github.com/wikimedia/PyBal master b331a4a (2019-05, setup.py version 1.15). Read for
 * behaviour; none of it is copied.
 *
 * Where it differs from the lab's default (wikitech) semantics:
 * - An admin disable (pooled=no) is not a depool: Server.merge's invariant P0 clears `pool` at
 *   once, whatever the threshold (refreshPreexistingServer pools only enabled servers). Then
 *   _ensureDepoolThreshold force-pools enabled & ready servers (down ones too) until
 *   pooled >= total × threshold; disabled servers still count in that total.
 * - A re-enable (no → yes) is never pooled by refreshPreexistingServer: merge's invariant P1 has
 *   just marked the server down. If its monitor says down, the update goes through and the
 *   monitor's next up result pools it (resultUp → repool, which drains pooledDownServers); if it
 *   says up (or has not reported yet), the assert below fails. Only the monitor's last result
 *   counts: while disabled the server's `up` follows its monitor (resultDown / resultUp, no
 *   repool), so a restart it saw down and then up again leaves it up when the yes comes.
 *   `inactive` → yes is a new server instead (no assert).
 * - Every conftool change re-merges every server of the pool (etcd.py passes the full config);
 *   a change that leaves the config equal does nothing.
 * - A new server is pooled and taken as up before its first check (server.py's DEF_STATE); its
 *   first check result is always reported (monitor.py's firstCheck) and, when up, repools it
 *   (c2857f2), which also drains pooledDownServers.
 * - The asserts are real: merge's invariant P1 marks a re-enabled server that was not pooled as
 *   down, and refreshPreexistingServer then asserts `up == calcStatus()`. For a server whose
 *   health checks pass that assert FAILS: the update stops at that server (servers after it in
 *   the config are not merged, removals and _ensureDepoolThreshold do not run, IPVS is not
 *   re-assigned; servers before it ARE merged, so a depool of one of them shows it out on /pools,
 *   Server.dumpState, while IPVS still sends it traffic) and etcd.py drops it (its lastConfig keeps the old value), so the next change
 *   again meets the server whose `up` is now wrong. The server stays enabled/down/not pooled
 *   until its monitor flips down and up again. Logged as `AssertionError: … up status
 *   inconsistent`.
 * - A server removed (inactive or deleted) while in pooledDownServers stays there (alerts name
 *   it); a disabled one too (and the next drain's depool() then fails its assert).
 * Python's sets and dicts have no useful order; here the config order (first seen first) stands
 * in for it: which server _ensureDepoolThreshold force-pools, which pooled-down server a drain
 * depools first, and at which server an update stops.
 */
import {
  Monitor,
  MONITOR_NAME,
  poolAlert,
  type AlertLevel,
  type Coordinator,
  type CoordinatorOptions,
  type ServerConfig,
  type ServerState,
} from './coordinator.js';
import { PybalMetrics, type ServiceMetrics } from './metrics.js';

/** A failed `assert` in PyBal's code (a bug the simulation reproduces, not one of ours). */
export class PybalAssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssertionError';
  }
}

function pyAssert(cond: boolean, message: string): void {
  if (!cond) throw new PybalAssertionError(message);
}

interface UServer extends ServerState {
  /** server.py's monitors: one per server here; created at _ready. */
  monitor?: Monitor;
}

const DEF_WEIGHT = 10;

export class UpstreamCoordinator implements Coordinator {
  readonly mode = 'upstream' as const;
  readonly pool: string;
  readonly threshold: number;
  readonly servers = new Map<string, UServer>();
  /** coordinator.py's pooledDownServers: server objects (a removed server may stay in it). */
  readonly pooledDown = new Set<UServer>();
  /** What the LVS service (IPVS) holds: assignServers / addServer / removeServer. */
  readonly ipvs = new Set<string>();
  /** etcd.py's lastConfig: the pool as last handed to onConfigUpdate without an error. */
  readonly lastConfig = new Map<string, ServerConfig>();
  /** Every AssertionError the simulated code raised (also logged). */
  readonly assertionErrors: string[] = [];
  couldNotDepoolTotal = 0;
  readonly #log: (line: string) => void;
  readonly #pm: PybalMetrics;
  readonly #m: ServiceMetrics;

  constructor(pool: string, threshold: number, opts: CoordinatorOptions = {}) {
    this.pool = pool;
    this.threshold = threshold;
    this.#log = opts.log ?? (() => undefined);
    this.#pm = opts.metrics ?? new PybalMetrics();
    this.#m = this.#pm.service(pool);
    this.#m.threshold.set(threshold);
  }

  get pooledDownHosts(): string[] {
    return [...this.pooledDown].map((s) => s.host);
  }

  // --- etcd.py: the observer --------------------------------------------------------------------

  /** One watch event: `undefined` = deleted or pooled=inactive (etcd.py drops the key). */
  setServer(host: string, cfg: ServerConfig | undefined): void {
    this.#observe([[host, cfg]]);
  }

  /**
   * A full read of the pool's directory (start, or a re-read after the watch index was lost):
   * etcd.py updates lastConfig with what it read, so a key deleted meanwhile is NOT removed.
   */
  setAll(cfgs: ReadonlyMap<string, ServerConfig | undefined>): void {
    this.#observe([...cfgs]);
  }

  #observe(changes: readonly (readonly [string, ServerConfig | undefined])[]): void {
    const next = new Map(this.lastConfig);
    for (const [host, cfg] of changes) {
      if (cfg === undefined) next.delete(host);
      else next.set(host, { ...cfg });
    }
    if (sameConfig(next, this.lastConfig)) return;
    try {
      this.onConfigUpdate(next);
    } catch (err) {
      if (!(err instanceof PybalAssertionError)) throw err;
      // etcd.py's handleResponse catches it (onFailure logs it); lastConfig stays as it was.
      this.#assertion(err, 'config update dropped');
      return;
    }
    this.lastConfig.clear();
    for (const [h, c] of next) this.lastConfig.set(h, c);
  }

  #assertion(err: PybalAssertionError, what: string): void {
    this.assertionErrors.push(err.message);
    this.#log(`AssertionError: ${err.message} (${what})`);
  }

  // --- coordinator.py ---------------------------------------------------------------------------

  onConfigUpdate(config: ReadonlyMap<string, ServerConfig>): void {
    const del = new Map(this.servers);
    const fresh: UServer[] = [];
    for (const [host, cfg] of config) {
      const s = this.servers.get(host);
      if (s) {
        del.delete(host);
        merge(s, cfg);
        this.refreshPreexistingServer(s);
        this.#log(`Merged ${s.enabled ? 'enabled' : 'disabled'} server ${host}, weight ${s.weight}`);
      } else {
        const n: UServer = { host, weight: DEF_WEIGHT, enabled: true, up: false, pooled: false, ready: false };
        merge(n, cfg);
        this.servers.set(host, n);
        fresh.push(n);
        this.#log(`New ${n.enabled ? 'enabled' : 'disabled'} server ${host}, weight ${n.weight}`);
      }
    }
    for (const [host, s] of del) {
      this.#log(`Removing server ${host} (no longer found in new configuration)`);
      // Server.destroy: disabled, monitors stopped; pooledDownServers keeps it if it was there.
      s.enabled = false;
      if (s.monitor) s.monitor.active = false;
      delete s.monitor;
      this.servers.delete(host);
    }
    // New servers initialize (DNS) before _serverInitDone; without new ones the (empty)
    // DeferredList fires at once, before the metrics below.
    if (fresh.length === 0) this.#serverInitDone();
    this.#serverMetrics();
    this.#pooledDownMetrics();
    if (fresh.length > 0) {
      for (const s of fresh) this.#ready(s);
      this.#serverInitDone();
    }
  }

  /** server.py's _ready: DNS resolved (instantly in the lab); pooled and up by default, monitors start. */
  #ready(s: UServer): void {
    s.ready = true;
    s.up = true;
    s.pooled = true;
    maintainState(s);
    s.monitor = new Monitor(this.#pm.monitor(this.pool, s.host, MONITOR_NAME));
  }

  #serverInitDone(): void {
    this.ensureDepoolThreshold();
    this.ipvs.clear();
    for (const s of this.servers.values()) if (s.pooled) this.ipvs.add(s.host);
    this.#m.pooled.set([...this.servers.values()].filter((s) => s.pooled).length);
    this.#serverMetrics();
    this.#pooledDownMetrics();
  }

  refreshPreexistingServer(s: UServer): void {
    pyAssert(s.up === calcStatus(s), `${s.host} up status inconsistent`);
    if (s.pooled && !s.up && this.pooledDown.has(s)) {
      // Kept pooled by the threshold: not depooled here.
      s.pooled = s.enabled && s.ready;
    } else {
      s.pooled = s.enabled && s.ready && s.up;
    }
  }

  /** One health-check result for a server in the pool. */
  checkResult(host: string, up: boolean): void {
    const s = this.servers.get(host);
    if (!s?.monitor) return;
    try {
      s.monitor.result(up, (firstCheck) => (up ? this.resultUp(s, firstCheck) : this.resultDown(s)));
    } catch (err) {
      if (!(err instanceof PybalAssertionError)) throw err;
      this.#assertion(err, `in the ${up ? 'up' : 'down'} result of ${host}'s monitor`);
    }
  }

  resultDown(s: UServer): void {
    this.#log(`Monitoring instance ${MONITOR_NAME} reports server ${s.host} down`);
    if (s.up) {
      s.up = false;
      if (s.pooled) this.depool(s);
    }
  }

  /** `firstChecksCompleted`: this was the last of the server's monitors to report a first result. */
  resultUp(s: UServer, firstChecksCompleted: boolean): void {
    if ((!s.up || firstChecksCompleted) && calcStatus(s) === true) {
      this.#log(`Server ${s.host} is up`);
      s.up = true;
      if (s.enabled && s.ready) this.repool(s);
    }
  }

  depool(s: UServer): void {
    pyAssert(s.pooled, `depool of ${s.host}, which is not pooled`);
    if (this.canDepool()) {
      s.pooled = false;
      this.ipvs.delete(s.host);
      this.pooledDown.delete(s);
      this.#m.pooled.dec();
    } else {
      this.pooledDown.add(s);
      this.couldNotDepoolTotal++;
      this.#log(`Could not depool server ${s.host} because of too many down!`);
      this.#m.couldNotDepool.inc();
    }
    this.#pooledDownMetrics();
  }

  repool(s: UServer): void {
    pyAssert(s.enabled && s.ready, `repool of ${s.host}, which is not enabled and ready`);
    if (!s.pooled) {
      s.pooled = true;
      this.ipvs.add(s.host);
      this.#m.pooled.inc();
    } else {
      this.#log(`Leaving previously pooled server ${s.host} pooled`);
    }
    this.pooledDown.delete(s);
    this.#pooledDownMetrics();
    while (this.pooledDown.size > 0 && this.canDepool()) {
      const next = this.pooledDown.values().next().value as UServer;
      this.pooledDown.delete(next); // set.pop(), then depool()
      this.depool(next);
    }
  }

  canDepool(): boolean {
    let up = 0;
    for (const s of this.servers.values()) if (s.up && s.enabled) up++;
    return up >= this.servers.size * this.threshold;
  }

  ensureDepoolThreshold(): boolean {
    const threshold = this.servers.size * this.threshold;
    let pooled = [...this.servers.values()].filter((s) => s.pooled).length;
    const candidates = [...this.servers.values()].filter((s) => s.enabled && s.ready && !s.pooled);
    while (pooled < threshold && candidates.length > 0) {
      const s = candidates.shift()!;
      s.pooled = true;
      pooled++;
      this.pooledDown.add(s);
      this.#log(`Forcing ${s.host} to be pooled to meet depool threshold`);
    }
    if (pooled < threshold) {
      this.#log('Could not ensure depool threshold; insufficient enabled & ready servers.');
      return false;
    }
    return true;
  }

  #serverMetrics(): void {
    const all = [...this.servers.values()];
    this.#m.servers.set(all.length);
    this.#m.enabled.set(all.filter((s) => s.enabled).length);
    this.#m.up.set(all.filter((s) => s.up).length);
  }

  #pooledDownMetrics(): void {
    this.#m.pooledDown.set(this.pooledDown.size);
    this.#m.canDepool.set(this.canDepool() ? 1 : 0);
  }

  alert(): { level: AlertLevel; msg?: string } {
    return poolAlert(this.pool, this.pooledDownHosts, this.servers.size, this.threshold);
  }
}

/** server.py's calcStatus with one monitor: its last result, None (null) before the first. */
function calcStatus(s: UServer): boolean | null {
  return s.monitor ? s.monitor.up : false;
}

/** server.py's merge: only known keys of the right type, then the invariants. */
function merge(s: UServer, cfg: ServerConfig): void {
  if (typeof cfg.weight === 'number' && Number.isInteger(cfg.weight)) s.weight = cfg.weight;
  if (typeof cfg.enabled === 'boolean') s.enabled = cfg.enabled;
  maintainState(s);
}

/** server.py's maintainState: P0 pool ⇒ enabled ∧ ready; P1 up ⇒ pool ∨ ¬enabled ∨ ¬ready. */
function maintainState(s: UServer): void {
  if (!s.enabled || !s.ready) s.pooled = false;
  if (!s.pooled && s.enabled) s.up = false;
}

function sameConfig(a: ReadonlyMap<string, ServerConfig>, b: ReadonlyMap<string, ServerConfig>): boolean {
  if (a.size !== b.size) return false;
  for (const [h, c] of a) {
    const o = b.get(h);
    if (!o || o.enabled !== c.enabled || o.weight !== c.weight) return false;
  }
  return true;
}
