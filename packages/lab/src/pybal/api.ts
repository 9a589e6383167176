import { combineAlerts, serverJson, serverText, type Coordinator } from './coordinator.js';
import { METRICS_CONTENT_TYPE, type MetricsRegistry } from './metrics.js';

export interface ApiResponse {
  status: number;
  contentType: 'application/json' | 'text/plain' | typeof METRICS_CONTENT_TYPE;
  body: string;
}

/**
 * PyBal's instrumentation API (pybal/instrumentation.py): JSON only when one raw Accept header
 * value is exactly `application/json`, text otherwise; 404 shapes included. `/metrics` (and
 * anything under it: prometheus_client's resource is a leaf) is the Prometheus text format
 * whatever the Accept header; without a registry it is a 404, as a PyBal without
 * prometheus_client answers.
 */
export function handleApi(
  path: string,
  acceptValues: readonly string[],
  pools: ReadonlyMap<string, Coordinator>,
  metrics?: MetricsRegistry,
): ApiResponse {
  const json = acceptValues.some((v) => v === 'application/json');
  const ok = (j: unknown, text: string): ApiResponse =>
    json
      ? { status: 200, contentType: 'application/json', body: JSON.stringify(j) }
      : { status: 200, contentType: 'text/plain', body: text };
  const notFound = (): ApiResponse =>
    json
      ? { status: 404, contentType: 'application/json', body: JSON.stringify({ error: 'The desired url was not found' }) }
      : { status: 404, contentType: 'text/plain', body: 'The desired url was not found' };

  const parts = path
    .split('?')[0]!
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
  if (parts[0] === 'metrics' && metrics) return { status: 200, contentType: METRICS_CONTENT_TYPE, body: metrics.render() };
  if (parts.length === 1 && parts[0] === 'alerts') {
    const a = combineAlerts([...pools.values()]);
    return ok(a, `${a.status.toUpperCase()} - ${a.msg}`);
  }
  if (parts[0] !== 'pools' || parts.length > 3) return notFound();
  if (parts.length === 1) {
    const names = [...pools.keys()];
    return ok(names, `${names.join('\n')}\n`);
  }
  const pool = pools.get(parts[1]!);
  if (!pool) return notFound();
  if (parts.length === 2) {
    const servers = [...pool.servers.values()];
    return ok(
      Object.fromEntries(servers.map((s) => [s.host, serverJson(s)])),
      servers.map((s) => `${s.host}:\t${serverText(s)}\n`).join(''),
    );
  }
  const s = pool.servers.get(parts[2]!);
  if (!s) return notFound();
  return ok(serverJson(s), `${serverText(s)}\n`);
}
