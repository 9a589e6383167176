/**
 * The lab's monitoring: a real Alertmanager (Debian `prometheus-alertmanager`) on loopback, a
 * random free port, clustering off, config and data in DIR/alertmanager/ (a null receiver: alerts
 * go nowhere, they are only held, grouped and silenced), log in DIR/logs/alertmanager.log.
 * `galley-lab alert HOST SERVICE` posts an alert for a host's service with the labels galley's
 * silences match on (`instance` = the FQDN, `service`), so tests see a silence suppress a real alert.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabPrerequisiteError } from './errors.js';
import { freePort, spawnDetached, waitFor } from './procs.js';
import { trackProcess } from './state.js';

/** The binary (GALLEY_LAB_ALERTMANAGER overrides; scripts/setup.sh installs the Debian package). */
export const alertmanagerBinary = (): string => process.env.GALLEY_LAB_ALERTMANAGER ?? '/usr/bin/prometheus-alertmanager';

export const alertmanagerDir = (dir: string): string => path.join(dir, 'alertmanager');

const CONFIG = `# galley lab: every alert is held (grouped, silenced, inhibited) and sent nowhere.
route:
  receiver: 'null'
  group_wait: 0s
receivers:
  - name: 'null'
`;

export function checkAlertmanagerPrerequisite(): void {
  const bin = alertmanagerBinary();
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    throw new LabPrerequisiteError(
      `${bin} is missing: the lab's monitoring is a real Alertmanager`,
      'apt-get install prometheus-alertmanager (scripts/setup.sh does), or start the lab without it: galley-lab up --no-alertmanager',
    );
  }
}

/** Start it (not waiting): its URL and pid; recorded in state.json at once. */
export async function startAlertmanager(dir: string): Promise<{ url: string; pid: number }> {
  const adir = alertmanagerDir(dir);
  fs.mkdirSync(path.join(adir, 'data'), { recursive: true });
  const cfg = path.join(adir, 'alertmanager.yml');
  fs.writeFileSync(cfg, CONFIG);
  const port = await freePort();
  const pid = spawnDetached(
    alertmanagerBinary(),
    [
      `--config.file=${cfg}`,
      `--storage.path=${path.join(adir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    { logFile: path.join(dir, 'logs', 'alertmanager.log') },
  );
  trackProcess(dir, { kind: 'alertmanager', name: 'alertmanager', pid });
  return { url: `http://127.0.0.1:${port}`, pid };
}

export async function alertmanagerReady(url: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const r = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(timeoutMs) });
    await r.text();
    return r.ok;
  } catch {
    return false;
  }
}

export async function waitAlertmanager(url: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(`Alertmanager at ${url}`, async () => ((await alertmanagerReady(url)) ? true : undefined), { timeoutMs, intervalMs: 50 });
}

/** An alert as Alertmanager's GET /api/v2/alerts returns it (the fields tests look at). */
export interface LabAlert {
  labels: Record<string, string>;
  fingerprint: string;
  startsAt: string;
  endsAt: string;
  status: { state: 'unprocessed' | 'active' | 'suppressed'; silencedBy: string[]; inhibitedBy: string[] };
}

/** A silence as Alertmanager's GET /api/v2/silences returns it. */
export interface LabSilence {
  id: string;
  status: { state: 'active' | 'pending' | 'expired' };
  matchers: { name: string; value: string; isRegex: boolean; isEqual?: boolean }[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
}

async function api<T>(url: string, method: string, p: string, body?: unknown): Promise<T> {
  const r = await fetch(`${url}/api/v2${p}`, {
    method,
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    signal: AbortSignal.timeout(5000),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`Alertmanager ${method} ${p}: HTTP ${r.status} ${text.slice(0, 200)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** The alert `galley-lab alert HOST SERVICE` fires: firing for `forMs` (default 10 min) unless fired again. */
export function serviceAlert(
  host: string,
  service: string,
  forMs = 600_000,
): { labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string } {
  const now = Date.now();
  return {
    labels: { alertname: 'LabServiceDown', instance: host, service, severity: 'critical', source: 'galley-lab' },
    annotations: { summary: `${service} on ${host} is down (galley-lab alert)` },
    startsAt: new Date(now).toISOString(),
    endsAt: new Date(now + forMs).toISOString(),
  };
}

export async function postAlert(url: string, alert: ReturnType<typeof serviceAlert>): Promise<void> {
  await api(url, 'POST', '/alerts', [alert]);
}

export const listAlerts = (url: string): Promise<LabAlert[]> => api<LabAlert[]>(url, 'GET', '/alerts');
export const listSilences = (url: string): Promise<LabSilence[]> => api<LabSilence[]>(url, 'GET', '/silences');
export const expireSilence = (url: string, id: string): Promise<void> => api<void>(url, 'DELETE', `/silence/${encodeURIComponent(id)}`);
