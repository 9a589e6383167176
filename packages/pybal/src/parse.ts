/**
 * Parsers for PyBal's instrumentation API bodies (spicerack-model.md §6.3). PyBal answers JSON only
 * when an Accept value is exactly `application/json`, and text otherwise; an old or proxied PyBal
 * may ignore the header, so both forms are parsed and must give the same answer.
 */

export interface LbServerView {
  pooled: boolean;
  /** Absent in PyBal's text form, which carries only enabled/up/pooled. */
  weight?: number;
  up: boolean;
  enabled: boolean;
}

export type AlertStatus = 'ok' | 'warning' | 'critical';
export interface Alerts {
  status: AlertStatus;
  msg: string;
}

/** The body does not have the shape PyBal serves; the client turns it into ERR_PYBAL_BAD_RESPONSE. */
export class BodyShapeError extends Error {}

export type BodyFormat = 'json' | 'text';

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch (err) {
    throw new BodyShapeError(`not valid JSON (${(err as Error).message})`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function viewFromJson(v: unknown, what: string): LbServerView {
  if (!isRecord(v)) throw new BodyShapeError(`${what}: expected an object, got ${describe(v)}`);
  const { pooled, up, enabled, weight } = v;
  if (typeof pooled !== 'boolean' || typeof up !== 'boolean' || typeof enabled !== 'boolean') {
    throw new BodyShapeError(`${what}: expected boolean pooled/up/enabled, got ${describe(v)}`);
  }
  if (weight !== undefined && (typeof weight !== 'number' || !Number.isFinite(weight))) {
    throw new BodyShapeError(`${what}: weight must be a number, got ${describe(weight)}`);
  }
  return weight === undefined ? { pooled, up, enabled } : { pooled, weight, up, enabled };
}

function describe(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

const STATUS_RE = /^(enabled|disabled)\/(up|partially up|down)\/(pooled|not pooled)$/;

/** `enabled/up/pooled`. "partially up" (some monitors up) is not up, as in PyBal's Server.up. */
function viewFromText(s: string, what: string): LbServerView {
  const m = STATUS_RE.exec(s.trim());
  if (!m) throw new BodyShapeError(`${what}: expected "enabled|disabled/up|partially up|down/pooled|not pooled", got ${describe(s)}`);
  return { enabled: m[1] === 'enabled', up: m[2] === 'up', pooled: m[3] === 'pooled' };
}

function lines(body: string): string[] {
  return body
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '');
}

export function parsePools(body: string, format: BodyFormat): string[] {
  if (format === 'json') {
    const v = parseJson(body);
    if (!Array.isArray(v) || !v.every((p) => typeof p === 'string'))
      throw new BodyShapeError(`expected a JSON array of pool names, got ${describe(v)}`);
    return v;
  }
  const names = lines(body).map((l) => l.trim());
  for (const n of names)
    if (!/^[A-Za-z0-9_.:@+-]+$/.test(n)) throw new BodyShapeError(`expected one pool name per line, got ${describe(n)}`);
  return names;
}

export function parsePool(body: string, format: BodyFormat): Map<string, LbServerView> {
  const out = new Map<string, LbServerView>();
  if (format === 'json') {
    const v = parseJson(body);
    if (!isRecord(v)) throw new BodyShapeError(`expected a JSON object of host → state, got ${describe(v)}`);
    for (const [host, view] of Object.entries(v)) out.set(host, viewFromJson(view, host));
    return out;
  }
  for (const line of lines(body)) {
    // `host:\tenabled/up/pooled`; split on the last ':' so IPv6-ish names cannot confuse it.
    const idx = line.lastIndexOf(':');
    if (idx <= 0) throw new BodyShapeError(`expected "host:\\tenabled/up/pooled", got ${describe(line)}`);
    const host = line.slice(0, idx).trim();
    out.set(host, viewFromText(line.slice(idx + 1), host));
  }
  return out;
}

export function parseHost(body: string, format: BodyFormat): LbServerView {
  if (format === 'json') return viewFromJson(parseJson(body), 'host');
  const ls = lines(body);
  if (ls.length !== 1) throw new BodyShapeError(`expected one "enabled/up/pooled" line, got ${describe(body)}`);
  return viewFromText(ls[0] ?? '', 'host');
}

const ALERT_RE = /^(OK|WARNING|CRITICAL) - (.*)$/s;

export function parseAlerts(body: string, format: BodyFormat): Alerts {
  if (format === 'json') {
    const v = parseJson(body);
    if (!isRecord(v) || typeof v.msg !== 'string' || (v.status !== 'ok' && v.status !== 'warning' && v.status !== 'critical')) {
      throw new BodyShapeError(`expected {"status": "ok"|"warning"|"critical", "msg": string}, got ${describe(v)}`);
    }
    return { status: v.status, msg: v.msg.trim() };
  }
  const m = ALERT_RE.exec(body.trim());
  if (!m) throw new BodyShapeError(`expected "OK|WARNING|CRITICAL - message", got ${describe(body)}`);
  return { status: (m[1] ?? 'OK').toLowerCase() as AlertStatus, msg: (m[2] ?? '').trim() };
}

/** PyBal sets content-type from the Accept check; anything not JSON is its text form. */
export function formatOf(contentType: string | undefined): BodyFormat {
  return contentType !== undefined && /^application\/json\b/i.test(contentType.trim()) ? 'json' : 'text';
}
