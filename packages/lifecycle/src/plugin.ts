/**
 * `type: plugin`: a site's own provisioner, inventory or monitoring in a module of its own.
 *
 * The module's default export is a factory `(options, context) => implementation` (or a promise of
 * one). The implementation only needs the interface's operations; galley wraps it so that dry-run,
 * action recording, the per-call bound and the checks on what it returns are the same as for the
 * built-in types, whatever the plugin does: in dry-run a plugin's write methods are never called.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { GalleyError } from '@galley/errors';
import type { RecorderShared } from './base.js';
import { InventoryClient, type InventoryTransport } from './inventory.js';
import { MonitoringClient, type MonitoringTransport, type PreparedWrite } from './monitoring.js';
import { ProvisionerClient, type ProvisionerTransport } from './provisioner.js';
import { InventoryError, MonitoringError, PluginInterfaceError, PluginLoadError, ProvisionerError } from './errors.js';
import { parsePublicKey } from './keys.js';
import { HOST_STATUSES } from './types.js';
import type {
  DowntimeOptions,
  DowntimeState,
  HostStatus,
  Inventory,
  InventoryRecord,
  LifecycleAction,
  LifecycleHooks,
  Monitoring,
  PowerState,
  Provisioner,
} from './types.js';

export type LifecycleClientName = LifecycleAction['client'];

/** The config's `{ type: plugin, module, options, timeoutMs }`. */
export interface PluginConfig {
  module: string;
  options?: Record<string, unknown> | undefined;
  timeoutMs?: number | undefined;
}

/**
 * `monitoring: {type: plugin}` may also say that the plugin silences each host a rolling sre.lb.*
 * run takes out, as `type: alertmanager` does. Declared here rather than asked of the plugin: the
 * run decides before the module has loaded, and the module must then have `extendDowntime()`.
 */
export interface MonitoringPluginConfig extends PluginConfig {
  silencesTakeOuts?: boolean | undefined;
  keepFailedForMs?: number | undefined;
}

/** The second argument of a plugin's factory. */
export interface PluginContext {
  client: LifecycleClientName;
  /** `module:` as configured. */
  module: string;
}

interface Closable {
  close?(): Promise<void> | void;
}
export type ProvisionerPlugin = Pick<Provisioner, 'reinstall' | 'powerOff' | 'powerOn' | 'powerCycle' | 'powerStatus' | 'hostKey'> &
  Closable;
export type InventoryPlugin = Pick<Inventory, 'get' | 'setStatus' | 'remove'> & Closable;
/**
 * `downtime`/`removeDowntime` are required; a plugin that also silences the hosts a rolling sre.lb.*
 * run takes out says so with `silencesTakeOuts: true` and `extendDowntime` (and may have `check`,
 * `keepFailedForMs`), as `monitoring: alertmanager` does.
 */
export type MonitoringPlugin = Pick<Monitoring, 'downtime' | 'removeDowntime'> &
  Partial<Pick<Monitoring, 'check' | 'extendDowntime'>> &
  Closable;
export type PluginFactory<T> = (options: Record<string, unknown>, context: PluginContext) => T | Promise<T>;

/** The methods a plugin's implementation must have, per client. */
export const PLUGIN_METHODS = {
  provisioner: ['reinstall', 'powerOff', 'powerOn', 'powerCycle', 'powerStatus', 'hostKey'],
  inventory: ['get', 'setStatus', 'remove'],
  monitoring: ['downtime', 'removeDowntime'],
} as const satisfies Record<LifecycleClientName, readonly string[]>;

const DEFAULT_TIMEOUT_MS: Record<LifecycleClientName, number> = { provisioner: 600_000, inventory: 60_000, monitoring: 60_000 };

function specifier(module: string): string {
  // A file URL, so that a path with '#' or '%' in it is still that path.
  return path.isAbsolute(module) ? pathToFileURL(module).href : module;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

/** Import the module, call its factory, check the result has the interface's methods. */
export async function loadPlugin(client: 'provisioner', cfg: PluginConfig): Promise<ProvisionerPlugin>;
export async function loadPlugin(client: 'inventory', cfg: PluginConfig): Promise<InventoryPlugin>;
export async function loadPlugin(client: 'monitoring', cfg: PluginConfig): Promise<MonitoringPlugin>;
export async function loadPlugin(client: LifecycleClientName, cfg: PluginConfig): Promise<object>;
export async function loadPlugin(client: LifecycleClientName, cfg: PluginConfig): Promise<object> {
  const { module } = cfg;
  let mod: { default?: unknown };
  try {
    mod = (await import(specifier(module))) as { default?: unknown };
  } catch (err) {
    throw new PluginLoadError(`the ${client} plugin module ${module} could not be loaded: ${firstLine(err)}`, { cause: err });
  }
  const factory = mod.default;
  if (typeof factory !== 'function') {
    throw new PluginInterfaceError(
      `the ${client} plugin module ${module} has no factory: its default export is ${factory === undefined ? 'missing' : `a ${typeof factory}, not a function`}`,
    );
  }
  let impl: unknown;
  try {
    impl = await (factory as PluginFactory<unknown>)(cfg.options ?? {}, { client, module });
  } catch (err) {
    throw new PluginLoadError(`the ${client} plugin module ${module}: its factory failed: ${firstLine(err)}`, { cause: err });
  }
  if (impl === null || typeof impl !== 'object') {
    throw new PluginInterfaceError(
      `the ${client} plugin module ${module}: its factory returned ${impl === null ? 'null' : typeof impl}, not an object with ${PLUGIN_METHODS[client].join(', ')}`,
    );
  }
  // A monitoring plugin configured to silence take-outs must be able to keep a failed host's silence.
  const required: readonly string[] =
    client === 'monitoring' && (cfg as MonitoringPluginConfig).silencesTakeOuts
      ? [...PLUGIN_METHODS[client], 'extendDowntime']
      : PLUGIN_METHODS[client];
  const missing = required.filter((m) => typeof (impl as Record<string, unknown>)[m] !== 'function');
  if (missing.length > 0) {
    throw new PluginInterfaceError(
      `the ${client} plugin module ${module} does not implement the ${client} interface: missing ${missing.map((m) => `${m}()`).join(', ')}`,
    );
  }
  return impl;
}

interface Loaded<T> {
  cfg: PluginConfig;
  timeoutMs: number;
  impl: Promise<T>;
}

function startLoading<T>(client: LifecycleClientName, cfg: PluginConfig): Loaded<T> {
  const impl = loadPlugin(client, cfg) as Promise<T>;
  // Whoever calls first gets the error; until then it must not count as an unhandled rejection.
  impl.catch(() => undefined);
  return { cfg, timeoutMs: cfg.timeoutMs ?? DEFAULT_TIMEOUT_MS[client], impl };
}

/** What every plugin transport shares: loading, the per-call bound, errors naming the module. */
abstract class PluginTransport<T extends Closable> {
  readonly kind = 'plugin';
  protected abstract readonly client: LifecycleClientName;
  protected readonly loaded: Loaded<T>;

  constructor(loaded: Loaded<T>) {
    this.loaded = loaded;
  }

  /** `module:` as configured. */
  get module(): string {
    return this.loaded.cfg.module;
  }

  /** Resolves once the module is loaded and checked; rejects with ERR_LIFECYCLE_PLUGIN_LOAD / _INTERFACE. */
  async ready(): Promise<void> {
    await this.loaded.impl;
  }

  async close(): Promise<void> {
    const impl = await this.loaded.impl.catch(() => undefined);
    await impl?.close?.();
  }

  protected abstract fail(message: string, cause?: unknown): GalleyError;

  /** Run one operation of the plugin, bounded; a plain error from it becomes this client's error naming the module. */
  protected async call<R>(what: string, fn: (impl: T) => Promise<R> | R): Promise<R> {
    const impl = await this.loaded.impl;
    const ms = this.loaded.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.fail(`${this.client} plugin ${this.module}: ${what} did not return within ${ms} ms`)), ms);
    });
    try {
      return await Promise.race([Promise.resolve().then(() => fn(impl)), timeout]);
    } catch (err) {
      if (err instanceof GalleyError) throw err;
      throw this.fail(`${this.client} plugin ${this.module}: ${what} failed: ${firstLine(err)}`, err);
    } finally {
      clearTimeout(timer);
    }
  }
}

class PluginProvisionerTransport extends PluginTransport<ProvisionerPlugin> implements ProvisionerTransport {
  protected readonly client = 'provisioner' as const;

  get callTimeoutMs(): number {
    return this.loaded.timeoutMs;
  }

  protected fail(message: string, cause?: unknown): GalleyError {
    return new ProvisionerError(message, cause === undefined ? {} : { cause });
  }

  async reinstall(host: string, os: string): Promise<void> {
    await this.call(`reinstall ${host}`, (p) => p.reinstall(host, os));
  }

  async powerOff(host: string): Promise<void> {
    await this.call(`powerOff ${host}`, (p) => p.powerOff(host));
  }

  async powerOn(host: string): Promise<void> {
    await this.call(`powerOn ${host}`, (p) => p.powerOn(host));
  }

  async powerCycle(host: string): Promise<void> {
    await this.call(`powerCycle ${host}`, (p) => p.powerCycle(host));
  }

  async powerStatus(host: string): Promise<PowerState> {
    const s = await this.call(`powerStatus ${host}`, (p) => p.powerStatus(host));
    if (s !== 'on' && s !== 'off' && s !== 'unknown')
      throw this.fail(
        `${this.client} plugin ${this.module}: powerStatus ${host} returned ${JSON.stringify(s)}, not "on", "off" or "unknown"`,
      );
    return s;
  }

  async hostKey(host: string): Promise<string> {
    const out: unknown = await this.call(`hostKey ${host}`, (p) => p.hostKey(host));
    // The only way a reinstalled host's key becomes trusted: accept nothing but a well-formed key.
    const key = typeof out === 'string' ? parsePublicKey(out) : undefined;
    if (!key)
      throw this.fail(
        `${this.client} plugin ${this.module}: hostKey ${host} returned no SSH public key (${JSON.stringify(out)?.slice(0, 80)})`,
      );
    return key;
  }
}

class PluginInventoryTransport extends PluginTransport<InventoryPlugin> implements InventoryTransport {
  protected readonly client = 'inventory' as const;
  // Same answer in dry-run and for real, whatever the plugin would have thrown: the client asks get() first.
  readonly refusesUnknownHosts = false;

  get source(): string {
    return `plugin ${this.module}`;
  }

  protected fail(message: string, cause?: unknown): GalleyError {
    return new InventoryError(message, cause === undefined ? {} : { cause });
  }

  async get(host: string): Promise<InventoryRecord | undefined> {
    const rec: unknown = await this.call(`get ${host}`, (p) => p.get(host));
    if (rec === undefined || rec === null) return undefined;
    if (typeof rec !== 'object' || !HOST_STATUSES.includes((rec as { status?: unknown }).status as HostStatus)) {
      throw this.fail(
        `${this.client} plugin ${this.module}: get ${host} returned ${JSON.stringify(rec)?.slice(0, 120)}, not a record with a status (${HOST_STATUSES.join(', ')})`,
      );
    }
    return { ...(rec as InventoryRecord), host };
  }

  async setStatus(host: string, status: HostStatus): Promise<void> {
    await this.call(`setStatus ${host} ${status}`, (p) => p.setStatus(host, status));
  }

  async remove(host: string): Promise<void> {
    await this.call(`remove ${host}`, (p) => p.remove(host));
  }
}

class PluginMonitoringTransport extends PluginTransport<MonitoringPlugin> implements MonitoringTransport {
  protected readonly client = 'monitoring' as const;

  /** The plugin's own check when it has one (a read: also in dry-run). */
  async check(): Promise<void> {
    const impl = await this.loaded.impl;
    if (typeof impl.check === 'function') await this.call('check', (p) => p.check!());
  }

  /** As configured; loading refuses a module without extendDowntime() when it is true. */
  get silencesTakeOuts(): boolean {
    return (this.loaded.cfg as MonitoringPluginConfig).silencesTakeOuts === true;
  }

  get keepFailedForMs(): number | undefined {
    return (this.loaded.cfg as MonitoringPluginConfig).keepFailedForMs;
  }

  protected fail(message: string, cause?: unknown): GalleyError {
    return new MonitoringError(message, cause === undefined ? {} : { cause });
  }

  downtime(host: string, opts: DowntimeOptions): PreparedWrite<string> {
    return {
      run: async () => {
        const id: unknown = await this.call(`downtime ${host}`, (p) => p.downtime(host, { ...opts }));
        // Without an id the downtime could never be removed.
        if ((typeof id !== 'string' || id === '') && typeof id !== 'number')
          throw this.fail(`${this.client} plugin ${this.module}: downtime ${host} returned no id (${JSON.stringify(id)})`);
        return String(id);
      },
    };
  }

  removeDowntime(id: string): PreparedWrite<void> {
    return {
      run: async () => {
        await this.call(`removeDowntime ${id}`, (p) => p.removeDowntime(id));
      },
    };
  }

  extendDowntime(id: string, opts: { durationMs: number; reason: string }): PreparedWrite<DowntimeState> & { dryValue: DowntimeState } {
    return {
      dryValue: { id, state: 'active', endsAt: new Date(Date.now() + opts.durationMs).toISOString() },
      run: async () => {
        const r: unknown = await this.call(`extendDowntime ${id}`, (p) => {
          if (typeof p.extendDowntime !== 'function') throw new Error('the plugin has no extendDowntime()');
          return p.extendDowntime(id, opts);
        });
        const d = r as Partial<DowntimeState> | null;
        if (
          !d ||
          typeof d.id !== 'string' ||
          d.id === '' ||
          typeof d.endsAt !== 'string' ||
          !['active', 'pending', 'expired'].includes(d.state ?? '')
        )
          throw this.fail(
            `${this.client} plugin ${this.module}: extendDowntime ${id} returned ${JSON.stringify(r)?.slice(0, 120)}, not {id, state, endsAt}`,
          );
        return { id: d.id, state: d.state!, endsAt: d.endsAt };
      },
    };
  }
}

/** `provisioner: {type: plugin}`: the generic provisioner over the plugin's module. */
export class PluginProvisioner extends ProvisionerClient {
  static load(cfg: PluginConfig, hooks: LifecycleHooks = {}): PluginProvisioner {
    return new PluginProvisioner(new PluginProvisionerTransport(startLoading('provisioner', cfg)), hooks);
  }

  /** `module:` as configured. */
  readonly module: string;

  private constructor(t: PluginProvisionerTransport, hooks: LifecycleHooks, shared?: RecorderShared) {
    super(t, hooks, shared);
    this.module = t.module;
  }
}

/** `inventory: {type: plugin}`: the generic inventory over the plugin's module. */
export class PluginInventory extends InventoryClient {
  static load(cfg: PluginConfig, hooks: LifecycleHooks = {}): PluginInventory {
    return new PluginInventory(new PluginInventoryTransport(startLoading('inventory', cfg)), hooks);
  }

  /** `module:` as configured. */
  readonly module: string;

  private constructor(t: PluginInventoryTransport, hooks: LifecycleHooks, shared?: RecorderShared) {
    super(t, hooks, shared);
    this.module = t.module;
  }
}

/** `monitoring: {type: plugin}`: the generic monitoring client over the plugin's module. */
export class PluginMonitoring extends MonitoringClient {
  static load(cfg: MonitoringPluginConfig, hooks: LifecycleHooks = {}): PluginMonitoring {
    return new PluginMonitoring(new PluginMonitoringTransport(startLoading('monitoring', cfg)), hooks);
  }

  /** `module:` as configured. */
  readonly module: string;

  private constructor(t: PluginMonitoringTransport, hooks: LifecycleHooks, shared?: RecorderShared) {
    super(t, hooks, shared);
    this.module = t.module;
  }
}
