import type { LifecycleAction, LifecycleHooks } from './types.js';

interface Shared {
  actions: LifecycleAction[];
}

/**
 * Dry-run and recording shared by every implementation: a write goes through `write()`, which
 * records it, and in dry-run logs `DRY-RUN: would …` instead of running it.
 */
export abstract class Recorder {
  readonly #shared: Shared;
  protected readonly hooks: Required<Pick<LifecycleHooks, 'dryRun' | 'log'>> & LifecycleHooks;
  abstract readonly kind: string;
  protected abstract readonly client: LifecycleAction['client'];

  constructor(hooks: LifecycleHooks, shared?: Shared) {
    this.#shared = shared ?? { actions: [] };
    this.hooks = { ...hooks, dryRun: hooks.dryRun ?? false, log: hooks.log ?? (() => undefined) };
  }

  get dryRun(): boolean {
    return this.hooks.dryRun;
  }

  get actions(): readonly LifecycleAction[] {
    return this.#shared.actions;
  }

  protected get shared(): Shared {
    return this.#shared;
  }

  protected mergeHooks(hooks: LifecycleHooks): LifecycleHooks {
    return { ...this.hooks, ...Object.fromEntries(Object.entries(hooks).filter(([, v]) => v !== undefined)) };
  }

  /** Record the write; run `fn` unless in dry-run (then `dryValue`). */
  protected async write<T>(
    a: { action: string; host?: string; detail?: string; what: string },
    fn: () => Promise<T>,
    dryValue: T,
  ): Promise<T> {
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
