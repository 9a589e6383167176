import type { Agent, Dispatcher } from 'undici';
import type * as UndiciModule from 'undici';
import { redact } from '@galley/errors';
import { InventoryClient, type InventoryTransport } from './inventory.js';
import { MonitoringClient, type MonitoringTransport, type PreparedWrite } from './monitoring.js';
import { InventoryError, MonitoringError, UnknownHostError } from './errors.js';

// undici loads at the first request: a run that never calls the inventory or monitoring endpoint
// (a rolling restart with them configured, a plan, `--help`) does not pay for it.
type Undici = typeof UndiciModule;
let undiciModule: Promise<Undici> | undefined;
const loadUndici = (): Promise<Undici> => (undiciModule ??= import('undici'));
import { HOST_STATUSES, type DowntimeOptions, type HostStatus, type InventoryRecord, type LifecycleHooks } from './types.js';

export interface HttpEndpointConfig {
  url: string;
  token?: string | undefined;
  /** Extra request headers (an auth header a proxy wants); their values are secrets. */
  headers?: Record<string, string> | undefined;
  /** Per request (default 10 s). */
  timeoutMs?: number | undefined;
}

/** One endpoint's connection settings (shared by a client and its `with()` views). */
export interface Conn {
  /** Our own agent (bounded connections and timeouts, closed with the client), made at the first request. */
  agent: Agent | undefined;
  base: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

export function connect(cfg: HttpEndpointConfig): Conn {
  const timeoutMs = cfg.timeoutMs ?? 10_000;
  const headers: Record<string, string> = { accept: 'application/json', 'content-type': 'application/json' };
  if (cfg.token) headers.authorization = `Bearer ${cfg.token}`;
  for (const [k, v] of Object.entries(cfg.headers ?? {})) headers[k.toLowerCase()] = v;
  return {
    agent: undefined,
    base: cfg.url.replace(/\/+$/, ''),
    headers,
    timeoutMs,
  };
}

/** One request with the endpoint's headers and timeouts: the status and the body (JSON when it parses). */
export async function call(
  c: Conn,
  method: Dispatcher.HttpMethod,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const u = await loadUndici();
  // not undici's global agent: ours is bounded and closed with the client
  c.agent ??= new u.Agent({ connections: 4, connectTimeout: c.timeoutMs, headersTimeout: c.timeoutMs, bodyTimeout: c.timeoutMs });
  const res = await u.request(`${c.base}${path}`, {
    method,
    headers: c.headers,
    dispatcher: c.agent,
    signal: AbortSignal.timeout(c.timeoutMs),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.body.text();
  let json: unknown = undefined;
  if (text.trim() !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
  }
  return { status: res.statusCode, json };
}

const enc = encodeURIComponent;

/**
 * A REST inventory: `GET {url}/hosts/{host}` → `{status, …}` (404: unknown), `PATCH {url}/hosts/{host}`
 * with `{status}`, `DELETE {url}/hosts/{host}`. Bearer token if configured.
 */
export class HttpInventoryTransport implements InventoryTransport {
  readonly kind = 'http';
  readonly refusesUnknownHosts = true;
  readonly #c: Conn;

  constructor(cfg: HttpEndpointConfig) {
    this.#c = connect(cfg);
  }

  get label(): string {
    return redact(this.#c.base);
  }

  get source(): string {
    return redact(this.#c.base);
  }

  async close(): Promise<void> {
    await this.#c.agent?.close();
  }

  async #req(method: Dispatcher.HttpMethod, host: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    try {
      return await call(this.#c, method, `/hosts/${enc(host)}`, body);
    } catch (err) {
      throw new InventoryError(`inventory ${method} ${redact(this.#c.base)}/hosts/${host} failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  #check(r: { status: number; json: unknown }, what: string, host: string): void {
    if (r.status === 404) throw new UnknownHostError(host, this.source);
    if (r.status < 200 || r.status > 299)
      throw new InventoryError(
        `inventory ${what} for ${host}: HTTP ${r.status} ${typeof r.json === 'string' ? r.json.slice(0, 200) : JSON.stringify(r.json ?? '')}`,
      );
  }

  async get(host: string): Promise<InventoryRecord | undefined> {
    const r = await this.#req('GET', host);
    if (r.status === 404) return undefined;
    this.#check(r, 'lookup', host);
    const rec = r.json as { status?: unknown } | null;
    if (!rec || typeof rec !== 'object' || !HOST_STATUSES.includes(rec.status as HostStatus))
      throw new InventoryError(`inventory lookup for ${host}: unexpected answer ${JSON.stringify(r.json)}`);
    return { ...(rec as InventoryRecord), host };
  }

  async setStatus(host: string, status: HostStatus): Promise<void> {
    this.#check(await this.#req('PATCH', host, { status }), 'set-status', host);
  }

  async remove(host: string): Promise<void> {
    this.#check(await this.#req('DELETE', host), 'remove', host);
  }
}

/** `inventory: {type: http}`: the generic inventory over an HttpInventoryTransport. */
export class HttpInventory extends InventoryClient {
  constructor(cfg: HttpEndpointConfig, hooks: LifecycleHooks = {}) {
    super(new HttpInventoryTransport(cfg), hooks);
  }
}

/** A monitoring webhook: `POST {url}/downtimes` `{host, durationMs, reason}` → `{id}`; `DELETE {url}/downtimes/{id}`. */
export class HttpMonitoringTransport implements MonitoringTransport {
  readonly kind = 'http';
  readonly #c: Conn;

  constructor(cfg: HttpEndpointConfig) {
    this.#c = connect(cfg);
  }

  async close(): Promise<void> {
    await this.#c.agent?.close();
  }

  async #req(method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    let r: { status: number; json: unknown };
    try {
      r = await call(this.#c, method, path, body);
    } catch (err) {
      throw new MonitoringError(`monitoring ${method} ${redact(this.#c.base)}${path} failed: ${(err as Error).message}`, { cause: err });
    }
    if (r.status < 200 || r.status > 299)
      throw new MonitoringError(`monitoring ${method} ${redact(this.#c.base)}${path}: HTTP ${r.status} ${JSON.stringify(r.json ?? '')}`);
    return r;
  }

  downtime(host: string, opts: DowntimeOptions): PreparedWrite<string> {
    return {
      run: async () => {
        const r = await this.#req('POST', '/downtimes', { host, durationMs: opts.durationMs, reason: opts.reason });
        const id = (r.json as { id?: unknown } | null)?.id;
        if (typeof id !== 'string' && typeof id !== 'number')
          throw new MonitoringError(`monitoring downtime for ${host}: the answer has no id: ${JSON.stringify(r.json)}`);
        return String(id);
      },
    };
  }

  removeDowntime(id: string): PreparedWrite<void> {
    return {
      run: async () => {
        await this.#req('DELETE', `/downtimes/${enc(id)}`);
      },
    };
  }
}

/** `monitoring: {type: http}`: the generic monitoring client over an HttpMonitoringTransport. */
export class HttpMonitoring extends MonitoringClient {
  constructor(cfg: HttpEndpointConfig, hooks: LifecycleHooks = {}) {
    super(new HttpMonitoringTransport(cfg), hooks);
  }
}
