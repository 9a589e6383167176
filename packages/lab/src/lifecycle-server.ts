// Entry of the lab's lifecycle endpoint (`node lifecycle-server.js CONFIG.json`): a monitoring
// webhook that records downtimes, and a REST inventory (for the http inventory client's contract
// test). Self-contained (node:http only) so it can run transpiled from the sources.
import fs from 'node:fs';
import http from 'node:http';

export interface LifecycleServerConfig {
  port: number;
  /** Downtimes, mirrored here on every change (tests read it without HTTP too). */
  downtimesFile: string;
  /** The REST inventory's store (seeded by the lab: every fleet host `active`). */
  inventoryFile: string;
}

export interface Downtime {
  id: string;
  host: string;
  reason: string;
  durationMs: number;
  created: string;
  removed?: string;
}

function save(file: string, data: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

export function startLifecycleServer(cfg: LifecycleServerConfig): http.Server {
  // Re-read per request: the lab's reset re-seeds the file under a running endpoint.
  const load = (): Downtime[] =>
    fs.existsSync(cfg.downtimesFile) ? (JSON.parse(fs.readFileSync(cfg.downtimesFile, 'utf8')) as Downtime[]) : [];
  let next = 0;
  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
      } catch {
        send(res, 400, { error: 'body is not JSON' });
        return;
      }
      const url = new URL(req.url ?? '/', 'http://x');
      const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      if (parts[0] === 'downtimes') {
        const downtimes = load();
        if (req.method === 'GET' && parts.length === 1) return send(res, 200, downtimes);
        if (req.method === 'POST' && parts.length === 1) {
          if (typeof body.host !== 'string' || typeof body.reason !== 'string' || typeof body.durationMs !== 'number')
            return send(res, 400, { error: 'need host, reason, durationMs' });
          const d: Downtime = {
            id: `dt-${++next}`,
            host: body.host,
            reason: body.reason,
            durationMs: body.durationMs,
            created: new Date().toISOString(),
          };
          downtimes.push(d);
          save(cfg.downtimesFile, downtimes);
          return send(res, 201, d);
        }
        if (req.method === 'DELETE' && parts.length === 2) {
          const d = downtimes.find((x) => x.id === parts[1] && !x.removed);
          if (!d) return send(res, 404, { error: `no active downtime ${parts[1]}` });
          d.removed = new Date().toISOString();
          save(cfg.downtimesFile, downtimes);
          return send(res, 200, d);
        }
      }
      if (parts[0] === 'hosts' && parts.length === 2) {
        const inv = JSON.parse(fs.readFileSync(cfg.inventoryFile, 'utf8')) as { hosts: Record<string, Record<string, unknown>> };
        const host = parts[1]!;
        const rec = inv.hosts[host];
        if (!rec) return send(res, 404, { error: `unknown host ${host}` });
        if (req.method === 'GET') return send(res, 200, { ...rec, host });
        if (req.method === 'PATCH') {
          inv.hosts[host] = { ...rec, ...(typeof body.status === 'string' ? { status: body.status } : {}) };
          save(cfg.inventoryFile, inv);
          return send(res, 200, { ...inv.hosts[host], host });
        }
        if (req.method === 'DELETE') {
          delete inv.hosts[host];
          save(cfg.inventoryFile, inv);
          return send(res, 200, {});
        }
      }
      send(res, 404, { error: `no route ${req.method ?? ''} ${url.pathname}` });
    });
  });
  server.listen(cfg.port, '127.0.0.1');
  return server;
}

const file = process.argv[2];
if (file && process.argv[1]?.includes('lifecycle-server')) {
  const cfg = JSON.parse(fs.readFileSync(file, 'utf8')) as LifecycleServerConfig;
  const server = startLifecycleServer(cfg);
  const stop = () => {
    server.close();
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
