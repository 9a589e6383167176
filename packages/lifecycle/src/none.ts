import crypto from 'node:crypto';
import type { RecorderShared } from './base.js';
import { MonitoringClient, type MonitoringTransport, type PreparedWrite } from './monitoring.js';
import type { DowntimeOptions, LifecycleHooks } from './types.js';

/** No monitoring system: downtimes are only logged (and recorded as actions). */
export class NoneTransport implements MonitoringTransport {
  readonly kind = 'none';

  async close(): Promise<void> {
    // nothing held open
  }

  downtime(host: string, opts: DowntimeOptions): PreparedWrite<string> {
    const id = `none-${crypto.randomUUID()}`;
    return {
      what: `downtime ${host} for ${Math.round(opts.durationMs / 60_000)} min (${opts.reason}); no monitoring configured, nothing is silenced`,
      dryValue: id,
      run: async () => id,
    };
  }

  removeDowntime(id: string): PreparedWrite<void> {
    return { what: `remove downtime ${id} (no monitoring configured)`, run: async () => undefined };
  }
}

/** `monitoring: {type: none}`: the generic monitoring client over a NoneTransport. */
export class NoneMonitoring extends MonitoringClient {
  constructor(hooks: LifecycleHooks = {}, shared?: RecorderShared) {
    super(new NoneTransport(), hooks, shared);
  }
}
