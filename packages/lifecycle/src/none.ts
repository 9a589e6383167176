import crypto from 'node:crypto';
import { Recorder } from './base.js';
import type { DowntimeOptions, LifecycleHooks, Monitoring } from './types.js';

/** No monitoring system: downtimes are only logged (and recorded as actions). */
export class NoneMonitoring extends Recorder implements Monitoring {
  readonly kind = 'none';
  protected readonly client = 'monitoring' as const;

  constructor(hooks: LifecycleHooks = {}, shared?: Recorder['shared']) {
    super(hooks, shared);
  }

  with(hooks: LifecycleHooks): NoneMonitoring {
    return new NoneMonitoring(this.mergeHooks(hooks), this.shared);
  }

  async close(): Promise<void> {
    // nothing held open
  }

  async downtime(host: string, opts: DowntimeOptions): Promise<string> {
    const id = `none-${crypto.randomUUID()}`;
    return this.write(
      {
        action: 'downtime',
        host,
        detail: opts.reason,
        what: `downtime ${host} for ${Math.round(opts.durationMs / 60_000)} min (${opts.reason}); no monitoring configured, nothing is silenced`,
      },
      async () => id,
      id,
    );
  }

  async removeDowntime(id: string): Promise<void> {
    await this.write(
      { action: 'remove-downtime', detail: id, what: `remove downtime ${id} (no monitoring configured)` },
      async () => undefined,
      undefined,
    );
  }
}
