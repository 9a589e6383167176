import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Alerts, LbServerView } from '../parse.js';
import { countsFromView } from '../rules.js';

export type FakeMode = 'ok' | 'error' | 'hang' | 'garbage' | 'html';

/**
 * A PyBal instrumentation API on 127.0.0.1 serving a state the test sets directly: for parsing,
 * retries, timeouts and the service's logic in unit tests. It speaks §6.3 exactly (JSON only when
 * an Accept value is exactly application/json); PyBal's coordinator semantics live in the lab's
 * simulator, which the integration tests use.
 */
export class FakePybal {
  readonly name: string;
  private server: Server | undefined;
  private port = 0;
  private readonly sockets = new Set<Socket>();
  private readonly pools = new Map<string, Map<string, LbServerView>>();
  private readonly thresholds = new Map<string, number>();
  private alertsOverride: Alerts | undefined;
  mode: FakeMode = 'ok';
  /** Answer in text whatever the Accept header says (an old or proxied PyBal). */
  ignoreAccept = false;
  /** Remaining requests to fail before serving normally: a status code, or 'reset' to drop the socket. */
  private failures: (number | 'reset')[] = [];
  /** Every request path served, in order (including failed ones). */
  readonly requests: { path: string; accept: string[] }[] = [];
  /**
   * Called with each request's path and number (1-based, as in `requests`) before it is answered:
   * a test changes the state an exact request sees (e.g. an LB flipping back in a confirming round).
   */
  onRequest: ((path: string, n: number) => void) | undefined;

  constructor(name = 'lvs-fake') {
    this.name = name;
  }

  static async start(name?: string): Promise<FakePybal> {
    const f = new FakePybal(name);
    await f.up();
    return f;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get ref(): { name: string; url: string } {
    return { name: this.name, url: this.url };
  }

  setPool(pool: string, servers: Record<string, LbServerView>, threshold = 0.5): this {
    this.pools.set(pool, new Map(Object.entries(servers).map(([h, v]) => [h, { ...v }])));
    this.thresholds.set(pool, threshold);
    return this;
  }

  set(pool: string, host: string, view: Partial<LbServerView>): this {
    const p = this.pools.get(pool) ?? new Map<string, LbServerView>();
    this.pools.set(pool, p);
    const cur = p.get(host) ?? { pooled: false, weight: 10, up: true, enabled: true };
    p.set(host, { ...cur, ...view });
    return this;
  }

  remove(pool: string, host: string): this {
    this.pools.get(pool)?.delete(host);
    return this;
  }

  setAlerts(a: Alerts | undefined): this {
    this.alertsOverride = a;
    return this;
  }

  failNext(...failures: (number | 'reset')[]): this {
    this.failures.push(...failures);
    return this;
  }

  /** Stop listening: connections are refused until `up()` (same port). */
  async down(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  async up(): Promise<void> {
    if (this.server) return;
    const s = createServer((req, res) => this.handle(req, res));
    s.on('connection', (sock) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (s.address() as AddressInfo).port;
    this.server = s;
  }

  async close(): Promise<void> {
    await this.down();
  }

  alerts(): Alerts {
    if (this.alertsOverride) return this.alertsOverride;
    const critical: string[] = [];
    const warnings: string[] = [];
    for (const [pool, servers] of this.pools) {
      const down = countsFromView(servers).pooledDown;
      if (down.length) critical.push(`${pool}: Servers ${down.join(', ')} are marked down but pooled`);
      const total = servers.size;
      const t = this.thresholds.get(pool) ?? 0.5;
      if (total > 1 && total < total * t + 1) warnings.push(`Pool ${pool} is too small to allow depooling. `);
    }
    if (critical.length) return { status: 'critical', msg: critical.join('; ') };
    if (warnings.length) return { status: 'warning', msg: warnings.join('; ') };
    return { status: 'ok', msg: 'All pools are healthy' };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
    const accept = req.headersDistinct.accept ?? [];
    this.requests.push({ path, accept });
    this.onRequest?.(path, this.requests.length);
    const failure = this.failures.shift();
    if (failure === 'reset') {
      req.socket.destroy();
      return;
    }
    if (failure !== undefined) {
      res.writeHead(failure, { 'content-type': 'text/plain' }).end('Internal Server Error');
      return;
    }
    if (this.mode === 'hang') return; // never answers; the client's timeout must fire
    if (this.mode === 'error') {
      res.writeHead(500, { 'content-type': 'text/html' }).end('<html><body>500 Internal Server Error</body></html>');
      return;
    }
    if (this.mode === 'html') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>nginx welcome</body></html>');
      return;
    }
    const json = !this.ignoreAccept && accept.includes('application/json');
    if (this.mode === 'garbage') {
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'text/plain' }).end(json ? '{"pooled": "maybe"' : 'what/is/this\n');
      return;
    }
    const send = (status: number, j: unknown, text: string): void => {
      res.writeHead(status, { 'content-type': json ? 'application/json' : 'text/plain' }).end(json ? JSON.stringify(j) : text);
    };
    const notFound = (): void => send(404, { error: 'The desired url was not found' }, 'The desired url was not found');
    const parts = path.split('/').filter((p) => p !== '');
    if (parts[0] === 'alerts' && parts.length === 1) {
      const a = this.alerts();
      send(200, a, `${a.status.toUpperCase()} - ${a.msg}`);
      return;
    }
    if (parts[0] !== 'pools') return notFound();
    if (parts.length === 1) {
      const names = [...this.pools.keys()];
      send(200, names, names.map((n) => `${n}\n`).join(''));
      return;
    }
    const pool = this.pools.get(parts[1] ?? '');
    if (!pool) return notFound();
    if (parts.length === 2) {
      send(200, Object.fromEntries(pool), [...pool].map(([h, v]) => `${h}:\t${textStatus(v)}\n`).join(''));
      return;
    }
    const server = parts.length === 3 ? pool.get(parts[2] ?? '') : undefined;
    if (!server) return notFound();
    send(200, server, `${textStatus(server)}\n`);
  }
}

export function textStatus(v: LbServerView): string {
  return `${v.enabled ? 'enabled' : 'disabled'}/${v.up ? 'up' : 'down'}/${v.pooled ? 'pooled' : 'not pooled'}`;
}
