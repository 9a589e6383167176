import type { LifecycleAction, LifecycleHooks } from './types.js';

/**
 * How a client reaches its backend: a command, a file, an HTTP endpoint, a plugin module. A
 * transport does the I/O and checks the answers; the generic client of its kind (provisioner.ts,
 * inventory.ts, monitoring.ts) does everything that must be the same whatever the backend: dry-run,
 * recording every write, the log line, `with()` views, readiness.
 */
export interface Transport {
  /** The config's `type:` (`command`, `file`, `http`, `none`, `alertmanager`, `plugin`). */
  readonly kind: string;
  /** Rejects with what is wrong (a plugin that does not load, an SSH mode without a runner). */
  ready?(): Promise<void>;
  close(): Promise<void>;
}

export interface RecorderShared {
  actions: LifecycleAction[];
  /** Dry-run downtime ids, numbered across a client and its views. */
  dryIds: number;
}

/**
 * Dry-run and recording shared by every client: a write goes through `write()`, which records it,
 * and in dry-run logs `DRY-RUN: would …` instead of running it. A client and its `with()` views
 * share the transport and the record.
 */
export abstract class Recorder<T extends Transport> {
  readonly #shared: RecorderShared;
  readonly transport: T;
  protected readonly hooks: Required<Pick<LifecycleHooks, 'dryRun' | 'log'>> & LifecycleHooks;
  protected abstract readonly client: LifecycleAction['client'];

  constructor(transport: T, hooks: LifecycleHooks, shared?: RecorderShared) {
    this.transport = transport;
    this.#shared = shared ?? { actions: [], dryIds: 0 };
    this.hooks = { ...hooks, dryRun: hooks.dryRun ?? false, log: hooks.log ?? (() => undefined) };
  }

  get kind(): string {
    return this.transport.kind;
  }

  get dryRun(): boolean {
    return this.hooks.dryRun;
  }

  get actions(): readonly LifecycleAction[] {
    return this.#shared.actions;
  }

  async ready(): Promise<void> {
    await this.transport.ready?.();
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  protected get shared(): RecorderShared {
    return this.#shared;
  }

  protected mergeHooks(hooks: LifecycleHooks): LifecycleHooks {
    return { ...this.hooks, ...Object.fromEntries(Object.entries(hooks).filter(([, v]) => v !== undefined)) };
  }

  protected nextDryId(): string {
    return `dry-run-${++this.#shared.dryIds}`;
  }

  /** Record the write; run `fn` unless in dry-run (then `dryValue`). */
  protected async write<R>(
    a: { action: string; host?: string; detail?: string; what: string },
    fn: () => Promise<R>,
    dryValue: R,
  ): Promise<R> {
    const rec: LifecycleAction = { client: this.client, action: a.action, dryRun: this.dryRun };
    if (a.host !== undefined) rec.host = a.host;
    if (a.detail !== undefined) rec.detail = a.detail;
    this.#shared.actions.push(rec);
    this.hooks.onAction?.(rec);
    if (this.dryRun) {
      this.hooks.log(`DRY-RUN: would ${a.what}`);
      return dryValue;
    }
    this.hooks.log(`${this.kind} ${this.client}: ${a.what}`);
    return fn();
  }
}
