import { Recorder, type RecorderShared, type Transport } from './base.js';
import { UnknownHostError } from './errors.js';
import type { HostStatus, Inventory, InventoryRecord, LifecycleHooks } from './types.js';

/** How an inventory reaches its store (`file`, `http`, `plugin`). */
export interface InventoryTransport extends Transport {
  /** The store as it may be shown in a log line (a path, a URL with its credentials redacted); absent: not shown. */
  readonly label?: string | undefined;
  /** The store as ERR_INVENTORY_UNKNOWN_HOST names it. */
  readonly source: string;
  /**
   * True when a write of a host the store does not know fails with ERR_INVENTORY_UNKNOWN_HOST by
   * itself (the file, the REST 404); otherwise the client asks `get` first, also for real.
   */
  readonly refusesUnknownHosts: boolean;
  /** The record, checked (a known status); undefined when the store does not know the host. */
  get(host: string): Promise<InventoryRecord | undefined>;
  setStatus(host: string, status: HostStatus): Promise<void>;
  remove(host: string): Promise<void>;
}

/**
 * The one Inventory: dry-run, recording and log lines for any transport. A write of a host the
 * store does not know is ERR_INVENTORY_UNKNOWN_HOST in dry-run too (the plan says what the run would hit).
 */
export class InventoryClient extends Recorder<InventoryTransport> implements Inventory {
  protected readonly client = 'inventory' as const;

  constructor(transport: InventoryTransport, hooks: LifecycleHooks = {}, shared?: RecorderShared) {
    super(transport, hooks, shared);
  }

  with(hooks: LifecycleHooks): InventoryClient {
    return new InventoryClient(this.transport, this.mergeHooks(hooks), this.shared);
  }

  /** A read: also in dry-run. */
  get(host: string): Promise<InventoryRecord | undefined> {
    return this.transport.get(host);
  }

  async #known(host: string): Promise<void> {
    if (!this.dryRun && this.transport.refusesUnknownHosts) return;
    if ((await this.transport.get(host)) === undefined) throw new UnknownHostError(host, this.transport.source);
  }

  #in(): string {
    return `the inventory${this.transport.label === undefined ? '' : ` ${this.transport.label}`}`;
  }

  async setStatus(host: string, status: HostStatus): Promise<void> {
    await this.#known(host);
    await this.write(
      { action: 'set-status', host, detail: status, what: `set ${host} to ${status} in ${this.#in()}` },
      () => this.transport.setStatus(host, status),
      undefined,
    );
  }

  async remove(host: string): Promise<void> {
    await this.#known(host);
    await this.write({ action: 'remove', host, what: `remove ${host} from ${this.#in()}` }, () => this.transport.remove(host), undefined);
  }
}
