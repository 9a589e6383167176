/**
 * One PyBal simulator (one load balancer): a child process started by the lab with the path of
 * its config file. Watches conftool (etcd v3 watch; re-lists on compaction), health-checks each
 * backend by reading the host's service state in the lab dir, runs PyBal's coordinator per pool,
 * and serves the instrumentation API. Fault injection by DIR/lb/<name>/fault.json (down, error,
 * garbage, lagMs).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Socket } from 'node:net';
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { labEtcd } from '../etcd-client.js';
import { handleApi } from './api.js';
import { PoolCoordinator, type Coordinator, type PybalMode, type ServerConfig } from './coordinator.js';
import { PybalMetrics } from './metrics.js';
import { UpstreamCoordinator } from './upstream.js';

export interface SimPool {
  pool: string;
  dc: string;
  cluster: string;
  service: string;
  depoolThreshold: number;
}

export interface SimConfig {
  name: string;
  port: number;
  endpoints: string[];
  namespace: string;
  pools: SimPool[];
  /** fqdn → the host's state dir (services/<svc>, rebooting). */
  hostState: Record<string, string>;
  delayMs: number;
  checkIntervalMs: number;
  faultFile: string;
  /**
   * Every change of a server's state as this LB sees it, one JSON line each (see SimHistoryEntry);
   * default: history.jsonl next to the fault file.
   */
  historyFile?: string;
  /** Wait for this file before the first read of conftool: the lab starts us before it seeds. */
  readyFile?: string;
  /** The coordinator's semantics (default wikitech). */
  mode?: PybalMode;
}

export interface Faults {
  down?: boolean;
  error?: boolean;
  /** 200 with a body that is neither PyBal's JSON nor its text form (a proxy or another service on the port). */
  garbage?: boolean;
  lagMs?: number;
  /**
   * A PyBal restart (`galley-lab lb LB restart`, and `reset` in upstream mode): a new token makes
   * the simulator drop every coordinator and its metrics and read conftool afresh; it writes the
   * token to DIR/lb/<name>/restarted when done.
   */
  restart?: string;
}

/**
 * The view of one server in one pool; `null`: not in the pool (inactive, deleted, never seen).
 * `lvs` (upstream mode only): whether PyBal has handed it to LVS (IPVS), which is what gets
 * traffic; `pooled` is what the API shows (Server.pool, PyBal's intent). They differ when an
 * update stops at a failed assert after merging this server (assignServers never runs).
 */
export type SimServerView = { pooled: boolean; enabled: boolean; up: boolean; weight: number; lvs?: boolean } | null;

/**
 * One line of DIR/lb/<name>/history.jsonl: a server's state changed on this LB (written when it
 * happens, before the API can show it), or a conftool value it ignored. `cause`: `relist` (the full
 * read at start or after a cancelled watch), `conftool` (a change applied; `key` and `rev`, its etcd
 * mod revision), `health` (a health check flipped), `invalid` (a value it could not parse: nothing
 * changed; `key`, `rev`). Changes of other servers that one event caused (PyBal's drain and
 * threshold forcing) carry the same cause, key and rev.
 */
export interface SimHistoryEntry {
  t: number;
  lb: string;
  pool: string;
  host: string;
  cause: 'relist' | 'conftool' | 'health' | 'invalid';
  key?: string;
  rev?: number;
  from?: SimServerView;
  to?: SimServerView;
}

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

/**
 * A conftool value as the mode reads it; `undefined` = pooled=inactive (out of the pool).
 * wikitech: pooled must be yes or no, else the value is ignored. upstream (etcd.py's decode_node):
 * pooled yes → enabled, any other pooled → disabled, no pooled → enabled left as it was; weight
 * kept only when an integer (server.py's merge). A value that is not a JSON object is ignored in
 * both (etcd.py fails on the whole event; the change is lost either way).
 */
export function parseValue(raw: string, mode: PybalMode = 'wikitech'): ServerConfig | undefined | 'invalid' {
  let v: { pooled?: unknown; weight?: unknown };
  try {
    v = JSON.parse(raw) as { pooled?: unknown; weight?: unknown };
  } catch {
    return 'invalid';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'invalid';
  if (v.pooled === 'inactive') return undefined;
  if (mode === 'upstream') {
    const out: ServerConfig = {};
    if (v.pooled !== undefined) out.enabled = v.pooled === 'yes';
    if (typeof v.weight === 'number' && Number.isInteger(v.weight)) out.weight = v.weight;
    return out;
  }
  if (v.pooled !== 'yes' && v.pooled !== 'no') return 'invalid';
  return { enabled: v.pooled === 'yes', weight: typeof v.weight === 'number' ? v.weight : 0 };
}

export class Simulator {
  readonly mode: PybalMode;
  readonly #cfg: SimConfig;
  #pools = new Map<string, Coordinator>();
  #metrics = new PybalMetrics();
  #byPrefix = new Map<string, { pool: Coordinator; service: string }>();
  #restarted: string | undefined;
  #etcd: Etcd3 | undefined;
  #watcher: Watcher | undefined;
  #server: http.Server | undefined;
  readonly #sockets = new Set<Socket>();
  #faults: Faults = {};
  #faultsRaw = '';
  #queue: { due: number; apply: () => void }[] = [];
  #queueTimer: NodeJS.Timeout | undefined;
  #timers: NodeJS.Timeout[] = [];
  #listening = false;
  #closed = false;
  readonly #historyFile: string;
  /** pool → host → the view last written to the history. */
  readonly #seen = new Map<string, Map<string, SimServerView>>();

  constructor(cfg: SimConfig) {
    this.#cfg = cfg;
    this.#historyFile = cfg.historyFile ?? path.join(path.dirname(cfg.faultFile), 'history.jsonl');
    this.mode = cfg.mode ?? 'wikitech';
    this.#build();
  }

  /** Every pool's coordinator, as PyBal's instrumentation sees them. */
  get pools(): ReadonlyMap<string, Coordinator> {
    return this.#pools;
  }

  get metrics(): PybalMetrics {
    return this.#metrics;
  }

  /** Fresh coordinators and metrics: what a PyBal process has when it starts. */
  #build(): void {
    const cfg = this.#cfg;
    this.#pools = new Map();
    this.#metrics = new PybalMetrics();
    this.#byPrefix = new Map();
    const ns = cfg.namespace === '/' ? '' : cfg.namespace;
    for (const p of cfg.pools) {
      const opts = { log: (l: string) => log(`[${p.pool}] ${l}`), metrics: this.#metrics };
      const c =
        this.mode === 'upstream'
          ? new UpstreamCoordinator(p.pool, p.depoolThreshold, opts)
          : new PoolCoordinator(p.pool, p.depoolThreshold, opts);
      this.#pools.set(p.pool, c);
      this.#byPrefix.set(`${ns}/v1/pools/${p.dc}/${p.cluster}/${p.service}/`, { pool: c, service: p.service });
    }
  }

  /** `restart`: pending changes dropped, coordinators rebuilt, conftool read again. */
  async #restart(token: string): Promise<void> {
    this.#restarted = token;
    log(`restart ${token}: new coordinators, reading conftool again`);
    this.#queue = [];
    if (this.#queueTimer) clearTimeout(this.#queueTimer);
    this.#queueTimer = undefined;
    this.#build();
    await this.#relist();
    fs.writeFileSync(path.join(path.dirname(this.#cfg.faultFile), 'restarted'), `${token}\n`);
  }

  get #prefix(): string {
    return `${this.#cfg.namespace === '/' ? '' : this.#cfg.namespace}/v1/pools/`;
  }

  health(host: string, service: string): boolean {
    const dir = this.#cfg.hostState[host];
    if (dir === undefined) return false;
    try {
      if (fs.existsSync(`${dir}/rebooting`)) return false;
      return fs.readFileSync(`${dir}/services/${service}`, 'utf8').trim() === 'active';
    } catch {
      return false;
    }
  }

  async start(): Promise<void> {
    const ready = this.#cfg.readyFile;
    while (ready !== undefined && !fs.existsSync(ready)) await new Promise((r) => setTimeout(r, 50));
    this.#readFaults();
    this.#restarted = this.#faults.restart; // a token from before this process started is done
    this.#etcd = labEtcd(this.#cfg.endpoints);
    await this.#relist();
    this.#timers.push(setInterval(() => this.#check(), this.#cfg.checkIntervalMs));
    this.#timers.push(setInterval(() => this.#readFaults(), 100));
    if (!this.#faults.down) await this.#listen();
  }

  /** Full load: initial start, and after a compacted watch. Applied at once (it is a resync, not a change). */
  async #relist(): Promise<void> {
    this.relists++;
    const res = await this.#etcd!.getAll().prefix(this.#prefix).exec();
    const per = new Map<Coordinator, { service: string; cfgs: Map<string, ServerConfig | undefined> }>();
    for (const { pool, service } of this.#byPrefix.values()) per.set(pool, { service, cfgs: new Map() });
    for (const kv of res.kvs) {
      const t = this.#target(kv.key.toString());
      if (!t) continue;
      const v = parseValue(kv.value.toString(), this.mode);
      if (v === 'invalid') {
        log(`ignoring invalid value at ${kv.key.toString()}`);
        this.#recordInvalid(t.pool.pool, t.host, kv.key.toString(), Number(kv.mod_revision));
        continue;
      }
      per.get(t.pool)!.cfgs.set(t.host, v);
    }
    for (const [pool, { service, cfgs }] of per) pool.setAll(cfgs, (h) => this.health(h, service));
    this.#record({ cause: 'relist' });
    await this.#watch(BigInt(res.header.revision) + 1n);
  }

  /**
   * (Re)start the conftool watch from a revision. Used internally after each re-list; public so
   * that a test can start it from a compacted revision and see the simulator recover.
   */
  async watchFrom(fromRevision: bigint): Promise<void> {
    await this.#watch(fromRevision);
  }

  /** How many full re-lists happened (start included). */
  relists = 0;

  async #watch(fromRevision: bigint): Promise<void> {
    if (this.#watcher) await this.#watcher.cancel().catch(() => undefined);
    const w = await this.#etcd!.watch().prefix(this.#prefix).startRevision(fromRevision.toString()).create();
    this.#watcher = w;
    w.on('put', (kv: IKeyValue) => this.#enqueue(kv.key.toString(), kv.value.toString(), Number(kv.mod_revision)));
    w.on('delete', (kv: IKeyValue) => this.#enqueue(kv.key.toString(), undefined, Number(kv.mod_revision)));
    w.on('error', (err: Error) => {
      if (this.#closed) return;
      log(`watch error (${err.message}): re-listing`);
      this.#watcher = undefined;
      setTimeout(() => {
        if (!this.#closed) void this.#relist().catch((e: unknown) => log(`re-list failed: ${(e as Error).message}`));
      }, 200);
    });
  }

  #target(key: string): { pool: Coordinator; service: string; host: string } | undefined {
    const i = key.lastIndexOf('/');
    const t = this.#byPrefix.get(key.slice(0, i + 1));
    return t ? { ...t, host: key.slice(i + 1) } : undefined;
  }

  /** Changes take effect after the propagation delay (+ injected lag), in the order they happened. */
  #enqueue(key: string, raw: string | undefined, rev: number): void {
    const t = this.#target(key);
    if (!t) return;
    const v = raw === undefined ? undefined : parseValue(raw, this.mode);
    if (v === 'invalid') {
      log(`ignoring invalid value at ${key}`);
      this.#recordInvalid(t.pool.pool, t.host, key, rev);
      return;
    }
    const last = this.#queue.at(-1)?.due ?? 0;
    const due = Math.max(last, Date.now() + this.#cfg.delayMs + (this.#faults.lagMs ?? 0));
    this.#queue.push({
      due,
      apply: () => {
        t.pool.setServer(t.host, v, this.health(t.host, t.service));
        this.#record({ cause: 'conftool', key, rev });
      },
    });
    this.#schedule();
  }

  #schedule(): void {
    if (this.#queueTimer || this.#queue.length === 0) return;
    this.#queueTimer = setTimeout(
      () => {
        this.#queueTimer = undefined;
        const now = Date.now();
        while (this.#queue.length > 0 && this.#queue[0]!.due <= now) this.#queue.shift()!.apply();
        this.#schedule();
      },
      Math.max(0, this.#queue[0]!.due - Date.now()),
    );
  }

  /** One round of health checks: every server's monitor reports a result (PyBal's checks). */
  #check(): void {
    for (const { pool, service } of this.#byPrefix.values()) {
      for (const host of [...pool.servers.keys()]) pool.checkResult(host, this.health(host, service));
    }
    // Every result reaches the monitors; only a flip (or a first check) changes a view.
    this.#record({ cause: 'health' });
  }

  /**
   * Append every server whose view differs from the one last recorded (one write: a line per
   * change). Called right after each thing that can change a view, so the record is exact.
   */
  #record(what: Pick<SimHistoryEntry, 'cause' | 'key' | 'rev'>): void {
    const t = Date.now();
    const lines: string[] = [];
    for (const [name, pool] of this.pools) {
      let seen = this.#seen.get(name);
      if (!seen) this.#seen.set(name, (seen = new Map<string, SimServerView>()));
      const hosts = new Set([...seen.keys(), ...pool.servers.keys()]);
      for (const host of hosts) {
        const s = pool.servers.get(host);
        const lvs = pool instanceof UpstreamCoordinator ? { lvs: pool.ipvs.has(host) } : {};
        const to: SimServerView = s ? { pooled: s.pooled, enabled: s.enabled, up: s.up, weight: s.weight, ...lvs } : null;
        const from = seen.get(host) ?? null;
        if (JSON.stringify(from) === JSON.stringify(to)) continue;
        if (to === null) seen.delete(host);
        else seen.set(host, to);
        lines.push(JSON.stringify({ t, lb: this.#cfg.name, pool: name, host, ...what, from, to } satisfies SimHistoryEntry));
      }
    }
    if (lines.length > 0) this.#append(lines);
  }

  #recordInvalid(pool: string, host: string, key: string, rev: number): void {
    this.#append([JSON.stringify({ t: Date.now(), lb: this.#cfg.name, pool, host, cause: 'invalid', key, rev } satisfies SimHistoryEntry)]);
  }

  #append(lines: string[]): void {
    try {
      fs.appendFileSync(this.#historyFile, lines.map((l) => `${l}\n`).join(''));
    } catch (err) {
      log(`history not written: ${(err as Error).message}`);
    }
  }

  #readFaults(): void {
    let raw = '';
    try {
      raw = fs.readFileSync(this.#cfg.faultFile, 'utf8');
    } catch {
      raw = '';
    }
    if (raw === this.#faultsRaw) return;
    this.#faultsRaw = raw;
    try {
      this.#faults = raw.trim() === '' ? {} : (JSON.parse(raw) as Faults);
    } catch {
      this.#faults = {};
    }
    log(`faults: ${JSON.stringify(this.#faults)}`);
    const token = this.#faults.restart;
    if (token !== undefined && token !== this.#restarted && this.#etcd)
      void this.#restart(token).catch((e: unknown) => log(`restart failed: ${(e as Error).message}`));
    if (this.#faults.down && this.#listening) this.#unlisten();
    if (!this.#faults.down && !this.#listening && this.#etcd)
      void this.#listen().catch((e: unknown) => log(`listen failed: ${(e as Error).message}`));
  }

  async #listen(): Promise<void> {
    const srv = http.createServer((req, res) => {
      if (this.#faults.error) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error');
        return;
      }
      if (this.#faults.garbage) {
        // Truncated JSON when JSON was asked for, a line of nothing PyBal would say otherwise.
        const json = (req.headersDistinct.accept ?? []).some((v) => v === 'application/json');
        res
          .writeHead(200, { 'content-type': json ? 'application/json' : 'text/plain' })
          .end(json ? '{"mw1301.eqiad.wmnet": {"pooled": ' : 'what/is/this\n');
        return;
      }
      const r = handleApi(req.url ?? '/', req.headersDistinct.accept ?? [], this.pools, this.metrics.registry);
      res.writeHead(r.status, { 'content-type': r.contentType }).end(r.body);
    });
    srv.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    this.#listening = true;
    this.#server = srv;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(this.#cfg.port, '127.0.0.1', () => resolve());
    });
    log(`listening on 127.0.0.1:${this.#cfg.port}`);
  }

  /** `lb down`: connections are refused, and open ones cut. */
  #unlisten(): void {
    this.#listening = false;
    this.#server?.close();
    for (const s of this.#sockets) s.destroy();
    this.#server = undefined;
    log('down: not listening');
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    if (this.#queueTimer) clearTimeout(this.#queueTimer);
    if (this.#listening) this.#unlisten();
    await this.#watcher?.cancel().catch(() => undefined);
    this.#etcd?.close();
  }
}

export async function runSimulator(configFile: string): Promise<Simulator> {
  const cfg = JSON.parse(fs.readFileSync(configFile, 'utf8')) as SimConfig;
  const sim = new Simulator(cfg);
  await sim.start();
  log(`PyBal simulator ${cfg.name} up with ${sim.pools.size} pools (mode ${sim.mode})`);
  return sim;
}
