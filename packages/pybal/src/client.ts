import { setTimeout as sleep } from 'node:timers/promises';
import type { Agent, Dispatcher } from 'undici';
import type * as UndiciModule from 'undici';
import { PybalError, PybalErrorCode } from './errors.js';
import {
  BodyShapeError,
  formatOf,
  parseAlerts,
  parseHost,
  parsePool,
  parsePools,
  type Alerts,
  type BodyFormat,
  type LbServerView,
} from './parse.js';

export interface LoadBalancerRef {
  name: string;
  /** Instrumentation base URL, e.g. http://lvs1019:9090 */
  url: string;
}

export interface PybalClientOptions {
  requestTimeoutMs?: number;
  /** Extra tries after the first, on connection errors, timeouts and 5xx. */
  retries?: number;
  /** Injected dispatcher (not closed by `close()`); otherwise the client owns an Agent. */
  dispatcher?: Dispatcher;
  /** First backoff between retries; doubles each retry. */
  retryDelayMs?: number;
  /** 'text' asks for PyBal's text form (no Accept: application/json); for old PyBals and tests. */
  format?: BodyFormat;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Override the client's retries for this call (dry-run uses 0). */
  retries?: number;
}

interface Fetched {
  status: number;
  body: string;
  format: BodyFormat;
  url: string;
}

/** Connection-level failures worth another try for an idempotent GET. */
function errorCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  if (typeof e?.code === 'string') return e.code;
  if (typeof e?.cause?.code === 'string') return e.cause.code;
  return (err as Error | null)?.name ?? 'UNKNOWN';
}

function describeConnError(err: unknown, timeoutMs: number): string {
  const code = errorCode(err);
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'TIMEOUT' || code.endsWith('_TIMEOUT') || code === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host name does not resolve';
  return `${(err as Error).message || code} (${code})`;
}

// undici loads at the first request, not with the package: building a PybalService for a run that
// never asks a load balancer (a plan from conftool alone, `--help`) does not pay for it.
type Undici = typeof UndiciModule;
let undiciModule: Promise<Undici> | undefined;
const loadUndici = (): Promise<Undici> => (undiciModule ??= import('undici'));

/**
 * PyBal instrumentation API client. Always through an explicit undici Dispatcher: the global
 * dispatcher/fetch is shared process state that mocks and other clients can silently replace
 * (peers.md §3.5).
 */
export class PybalClient {
  readonly requestTimeoutMs: number;
  readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly format: BodyFormat;
  private readonly injected: Dispatcher | undefined;
  /** Our own Agent, made at the first request (undici is loaded then). */
  private owned: Agent | undefined;
  private closed = false;

  constructor(opts: PybalClientOptions = {}) {
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 2000;
    this.retries = opts.retries ?? 2;
    this.retryDelayMs = opts.retryDelayMs ?? 100;
    this.format = opts.format ?? 'json';
    this.injected = opts.dispatcher;
  }

  private async dispatcher(u: Undici): Promise<Dispatcher> {
    if (this.injected) return this.injected;
    if (this.closed) throw new Error('PybalClient: used after close()');
    // Few LBs, polled often: keep connections alive, but not so long that a restarted PyBal
    // leaves us with a dead socket for the next poll.
    return (this.owned ??= new u.Agent({ keepAliveTimeout: 4000, connections: 8, connect: { timeout: this.requestTimeoutMs } }));
  }

  async pools(lb: LoadBalancerRef, opts: RequestOptions = {}): Promise<string[]> {
    const r = await this.get(lb, '/pools', opts);
    this.expectOk(lb, r);
    return this.parse(lb, r, parsePools);
  }

  /** A pool's servers as this LB sees them. A 404 (LB does not carry the pool) is ERR_PYBAL_POOL_NOT_FOUND, not retried. */
  async pool(lb: LoadBalancerRef, pool: string, opts: RequestOptions = {}): Promise<Map<string, LbServerView>> {
    const r = await this.get(lb, `/pools/${encodeURIComponent(pool)}`, opts);
    if (r.status === 404) {
      throw new PybalError(PybalErrorCode.POOL_NOT_FOUND, `load balancer ${lb.name} does not carry pool ${pool} (404 from ${r.url})`, {
        hint: `check the pybal.pools entry for ${pool} in the galley config against PyBal's own config on ${lb.name}`,
        details: { lb: lb.name, url: r.url, pool },
      });
    }
    this.expectOk(lb, r);
    return this.parse(lb, r, parsePool);
  }

  /** One server's state on one LB; null when the LB does not know the pool or the host (an answer, not retried). */
  async host(lb: LoadBalancerRef, pool: string, host: string, opts: RequestOptions = {}): Promise<LbServerView | null> {
    const r = await this.get(lb, `/pools/${encodeURIComponent(pool)}/${encodeURIComponent(host)}`, opts);
    if (r.status === 404) return null;
    this.expectOk(lb, r);
    return this.parse(lb, r, parseHost);
  }

  async alerts(lb: LoadBalancerRef, opts: RequestOptions = {}): Promise<Alerts> {
    const r = await this.get(lb, '/alerts', opts);
    this.expectOk(lb, r);
    return this.parse(lb, r, parseAlerts);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.owned?.close();
  }

  private parse<T>(lb: LoadBalancerRef, r: Fetched, fn: (body: string, f: BodyFormat) => T): T {
    try {
      return fn(r.body, r.format);
    } catch (err) {
      if (!(err instanceof BodyShapeError)) throw err;
      throw new PybalError(
        PybalErrorCode.BAD_RESPONSE,
        `unexpected ${r.format} body from load balancer ${lb.name} at ${r.url}: ${err.message}`,
        {
          hint: `is ${lb.url} really PyBal's instrumentation port (pybal.loadBalancers.${lb.name}.url)?`,
          details: { lb: lb.name, url: r.url, status: r.status },
        },
      );
    }
  }

  private expectOk(lb: LoadBalancerRef, r: Fetched): void {
    if (r.status === 200) return;
    throw new PybalError(PybalErrorCode.HTTP_STATUS, `load balancer ${lb.name} answered HTTP ${r.status} for ${r.url}`, {
      hint: r.status >= 500 ? `PyBal on ${lb.name} is failing; check its logs` : `check pybal.loadBalancers.${lb.name}.url`,
      details: { lb: lb.name, url: r.url, status: r.status, body: r.body.slice(0, 200) },
    });
  }

  private async get(lb: LoadBalancerRef, path: string, opts: RequestOptions): Promise<Fetched> {
    const url = `${lb.url.replace(/\/+$/, '')}${path}`;
    const tries = 1 + Math.max(0, opts.retries ?? this.retries);
    let last: { kind: 'conn'; err: unknown } | { kind: 'status'; res: Fetched } | undefined;
    for (let attempt = 0; attempt < tries; attempt++) {
      if (attempt > 0) await sleep(this.retryDelayMs * 2 ** (attempt - 1), undefined, opts.signal ? { signal: opts.signal } : {});
      opts.signal?.throwIfAborted();
      const timeout = AbortSignal.timeout(this.requestTimeoutMs);
      const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
      try {
        const u = await loadUndici();
        const res = await u.request(url, {
          method: 'GET',
          dispatcher: await this.dispatcher(u),
          headers: this.format === 'json' ? { accept: 'application/json' } : { accept: 'text/plain' },
          signal,
        });
        const body = await res.body.text();
        const ct = res.headers['content-type'];
        const fetched: Fetched = { status: res.statusCode, body, format: formatOf(Array.isArray(ct) ? ct[0] : ct), url };
        if (res.statusCode >= 500) {
          last = { kind: 'status', res: fetched };
          continue;
        }
        return fetched;
      } catch (err) {
        // The caller's abort is final; our own timeout is a retryable connection problem.
        if (opts.signal?.aborted) throw opts.signal.reason;
        last = { kind: 'conn', err: timeout.aborted ? Object.assign(new Error('timeout'), { code: 'TIMEOUT' }) : err };
      }
    }
    if (last?.kind === 'status') return last.res;
    const err = last?.err;
    throw new PybalError(
      PybalErrorCode.UNREACHABLE,
      `load balancer ${lb.name} unreachable at ${url}: ${describeConnError(err, this.requestTimeoutMs)}${tries > 1 ? ` (${tries} tries)` : ''}`,
      {
        hint: `check that PyBal runs on ${lb.name} with instrumentation enabled and that ${lb.url} is reachable from here`,
        cause: err,
        details: { lb: lb.name, url, code: errorCode(err) },
      },
    );
  }
}
