import { userInfo } from 'node:os';
import type { Dispatcher } from 'undici';
import { redact } from '@galley/errors';
import { AlertmanagerError } from './errors.js';
import { call, connect, type Conn } from './http.js';
import type { MonitoringTransport, PreparedWrite } from './monitoring.js';
import { MonitoringClient } from './monitoring.js';
import type { DowntimeOptions, DowntimeState, LifecycleHooks } from './types.js';

export interface AlertmanagerConfig {
  /** Base URL, e.g. http://alertmanager.example.org:9093 (the API is under /api/v2). */
  url: string;
  /** Sent as `Authorization: Bearer …`. */
  token?: string | undefined;
  /** Extra headers (an auth proxy's); their values are redacted like the token. */
  headers?: Record<string, string> | undefined;
  /** The alert label that names the host (default `instance`; matched as `FQDN` or `FQDN:port`). */
  hostLabel?: string | undefined;
  /** The alert label that names the service (default `service`). */
  serviceLabel?: string | undefined;
  /** Per request (default 10 s). */
  timeoutMs?: number | undefined;
  /** How long a host left out of traffic after a failure keeps its silence (default 2 h). */
  keepFailedForMs?: number | undefined;
}

export const DEFAULT_KEEP_FAILED_MS = 2 * 3600_000;

/** Alertmanager API v2 (api/v2/openapi.yaml): a matcher of a postableSilence. */
interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual: boolean;
}

interface GettableSilence {
  id: string;
  status: { state: DowntimeState['state'] };
  matchers: Matcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
}

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function osUser(): string {
  try {
    return process.env.SUDO_USER ?? process.env.USER ?? userInfo().username;
  } catch {
    return 'galley';
  }
}

/**
 * `monitoring: {type: alertmanager}`: a downtime is an Alertmanager silence (API v2). A host's
 * silence matches its alerts by the host label (`instance`, as `FQDN` or `FQDN:port`) and, when
 * services are given, the service label (`service=~"nginx|php-fpm"`); `createdBy` is the user,
 * `comment` the reason and the run id, `endsAt` now + the duration. Removing it expires it
 * (`DELETE /api/v2/silence/{id}`); an expired silence stays visible in Alertmanager until its
 * retention ends, as every expired silence does.
 */
export class AlertmanagerTransport implements MonitoringTransport {
  readonly kind = 'alertmanager';
  readonly silencesTakeOuts = true;
  /** How long a host left out after a failure keeps its silence (monitoring.keepFailedForMs). */
  readonly keepFailedForMs: number;
  readonly #c: Conn;
  readonly #labels: { host: string; service: string };

  constructor(cfg: AlertmanagerConfig) {
    this.#c = connect(cfg);
    this.#labels = { host: cfg.hostLabel ?? 'instance', service: cfg.serviceLabel ?? 'service' };
    this.keepFailedForMs = cfg.keepFailedForMs ?? DEFAULT_KEEP_FAILED_MS;
  }

  /** The base URL as it may be shown (credentials in it redacted). */
  get url(): string {
    return redact(this.#c.base);
  }

  async close(): Promise<void> {
    await this.#c.agent?.close();
  }

  async #req(method: Dispatcher.HttpMethod, path: string, what: string, body?: unknown): Promise<unknown> {
    let r: { status: number; json: unknown };
    try {
      r = await call(this.#c, method, `/api/v2${path}`, body);
    } catch (err) {
      throw new AlertmanagerError(`Alertmanager at ${this.url} is not reachable (${what}): ${(err as Error).message}`, { cause: err });
    }
    if (r.status < 200 || r.status > 299) {
      const text = typeof r.json === 'string' ? r.json.slice(0, 300) : JSON.stringify(r.json ?? '').slice(0, 300);
      throw new AlertmanagerError(`Alertmanager at ${this.url} refused ${what}: HTTP ${r.status} ${text}`);
    }
    return r.json;
  }

  /** The matchers of a host's silence. */
  matchers(host: string, services?: readonly string[]): Matcher[] {
    const out: Matcher[] = [{ name: this.#labels.host, value: `${escapeRegex(host)}(:[0-9]+)?`, isRegex: true, isEqual: true }];
    if (services?.length)
      out.push({ name: this.#labels.service, value: [...services].sort().map(escapeRegex).join('|'), isRegex: true, isEqual: true });
    return out;
  }

  /** GET /api/v2/status: Alertmanager answers (a read: also in dry-run). */
  async check(): Promise<void> {
    const j = await this.#req('GET', '/status', 'a status request');
    if (!j || typeof j !== 'object' || !('versionInfo' in j || 'cluster' in j))
      throw new AlertmanagerError(
        `${this.url} answered /api/v2/status with something that is not Alertmanager's status: ${JSON.stringify(j).slice(0, 200)}`,
      );
  }

  downtime(host: string, opts: DowntimeOptions): PreparedWrite<string> {
    const matchers = this.matchers(host, opts.services);
    const now = Date.now();
    const endsAt = new Date(now + opts.durationMs).toISOString();
    const comment = `${opts.reason}${opts.runId ? ` (galley run ${opts.runId})` : ''}`;
    const createdBy = opts.createdBy || osUser();
    const what = `silence ${host}${opts.services?.length ? ` (${opts.services.join(', ')})` : ''} in Alertmanager ${this.url} until ${endsAt}: ${matchersText(matchers)}, by ${createdBy}, "${comment}"`;
    return {
      what,
      detail: comment,
      run: async () => {
        const j = await this.#req('POST', '/silences', `the silence of ${host}`, {
          matchers,
          startsAt: new Date(now).toISOString(),
          endsAt,
          createdBy,
          comment,
        });
        const id = (j as { silenceID?: unknown } | null)?.silenceID;
        if (typeof id !== 'string' || id === '')
          throw new AlertmanagerError(
            `Alertmanager at ${this.url} created the silence of ${host} but its answer has no silenceID: ${JSON.stringify(j).slice(0, 200)}`,
          );
        return id;
      },
    };
  }

  /** The silence as Alertmanager holds it now. */
  async get(id: string): Promise<DowntimeState & { matchers: Matcher[]; createdBy: string; comment: string; startsAt: string }> {
    const s = (await this.#req('GET', `/silence/${encodeURIComponent(id)}`, `reading silence ${id}`)) as GettableSilence | null;
    if (!s || typeof s !== 'object' || typeof s.id !== 'string' || !Array.isArray(s.matchers) || typeof s.status?.state !== 'string') {
      throw new AlertmanagerError(
        `Alertmanager at ${this.url} answered silence ${id} with something that is not a silence: ${JSON.stringify(s).slice(0, 200)}`,
      );
    }
    return {
      id: s.id,
      state: s.status.state,
      endsAt: s.endsAt,
      matchers: s.matchers,
      createdBy: s.createdBy,
      comment: s.comment,
      startsAt: s.startsAt,
    };
  }

  removeDowntime(id: string): PreparedWrite<void> {
    return {
      what: `expire silence ${id} in Alertmanager ${this.url}`,
      run: async () => {
        await this.#req('DELETE', `/silence/${encodeURIComponent(id)}`, `expiring silence ${id}`);
      },
    };
  }

  /**
   * The same silence (same matchers and start: Alertmanager updates it in place) ending `durationMs`
   * from now, `reason` added to its comment; read back after the update.
   */
  extendDowntime(id: string, opts: { durationMs: number; reason: string }): PreparedWrite<DowntimeState> & { dryValue: DowntimeState } {
    const endsAt = new Date(Date.now() + opts.durationMs).toISOString();
    return {
      what: `extend silence ${id} in Alertmanager ${this.url} until ${endsAt} (${opts.reason})`,
      detail: id,
      dryValue: { id, state: 'active' as const, endsAt },
      run: async () => {
        const s = await this.get(id);
        if (s.state === 'expired')
          throw new AlertmanagerError(
            `silence ${id} in Alertmanager ${this.url} has expired already (someone expired it, or it ran out); not re-creating it`,
            { hint: 'create a new silence by hand if the host still needs one' },
          );
        const j = await this.#req('POST', '/silences', `extending silence ${id}`, {
          id,
          matchers: s.matchers,
          startsAt: s.startsAt,
          endsAt,
          createdBy: s.createdBy,
          comment: `${s.comment}; ${opts.reason}`,
        });
        const newId = (j as { silenceID?: unknown } | null)?.silenceID;
        const now = await this.get(typeof newId === 'string' && newId ? newId : id);
        return { id: now.id, state: now.state, endsAt: now.endsAt };
      },
    };
  }
}

/** `monitoring: {type: alertmanager}`: the generic monitoring client over an AlertmanagerTransport. */
export class AlertmanagerMonitoring extends MonitoringClient {
  // Alertmanager always has both: the base class sets them because the transport defines them.
  declare readonly check: () => Promise<void>;
  declare readonly extendDowntime: (id: string, opts: { durationMs: number; reason: string }) => Promise<DowntimeState>;

  constructor(cfg: AlertmanagerConfig, hooks: LifecycleHooks = {}) {
    super(new AlertmanagerTransport(cfg), hooks);
  }

  // A view shares this transport, so it has both too.
  override with(hooks: LifecycleHooks): MonitoringClient & Pick<AlertmanagerMonitoring, 'check' | 'extendDowntime'> {
    return super.with(hooks) as MonitoringClient & Pick<AlertmanagerMonitoring, 'check' | 'extendDowntime'>;
  }
}

function matchersText(ms: readonly Matcher[]): string {
  return `{${ms.map((m) => `${m.name}${m.isEqual ? '' : '!'}${m.isRegex ? '=~' : '='}"${m.value}"`).join(', ')}}`;
}
