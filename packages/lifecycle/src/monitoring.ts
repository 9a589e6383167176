import { Recorder, type RecorderShared, type Transport } from './base.js';
import type { DowntimeOptions, DowntimeState, LifecycleHooks, Monitoring } from './types.js';

/**
 * One write as a monitoring transport prepares it: what it will do (the log line, the dry-run
 * plan: a silence's matchers and end are computed once and shown as they will be sent) and how.
 */
export interface PreparedWrite<R> {
  /** Absent: the client's plain description. */
  what?: string | undefined;
  /** Recorded with the action (absent: the reason). */
  detail?: string | undefined;
  /** What dry-run answers (absent, for a downtime: a `dry-run-N` id). */
  dryValue?: R | undefined;
  run(): Promise<R>;
}

/** How a monitoring client reaches the alerting system (`none`, `http`, `alertmanager`, `plugin`). */
export interface MonitoringTransport extends Transport {
  /** The endpoint as it may be shown (credentials redacted). */
  readonly url?: string | undefined;
  readonly silencesTakeOuts?: boolean | undefined;
  readonly keepFailedForMs?: number | undefined;
  check?(): Promise<void>;
  downtime(host: string, opts: DowntimeOptions): PreparedWrite<string>;
  removeDowntime(id: string): PreparedWrite<void>;
  extendDowntime?(id: string, opts: { durationMs: number; reason: string }): PreparedWrite<DowntimeState> & { dryValue: DowntimeState };
}

/** The one Monitoring: dry-run, recording and log lines for any transport. */
export class MonitoringClient extends Recorder<MonitoringTransport> implements Monitoring {
  protected readonly client = 'monitoring' as const;
  /** Present when the transport has it (Monitoring's optional operations). */
  readonly check?: () => Promise<void>;
  readonly extendDowntime?: (id: string, opts: { durationMs: number; reason: string }) => Promise<DowntimeState>;

  constructor(transport: MonitoringTransport, hooks: LifecycleHooks = {}, shared?: RecorderShared) {
    super(transport, hooks, shared);
    // A read: also in dry-run.
    if (transport.check) this.check = () => transport.check!();
    if (transport.extendDowntime) {
      this.extendDowntime = (id, opts) => {
        const p = transport.extendDowntime!(id, opts);
        return this.write(
          { action: 'extend-downtime', detail: p.detail ?? id, what: p.what ?? `extend downtime ${id} (${opts.reason})` },
          () => p.run(),
          p.dryValue,
        );
      };
    }
  }

  get url(): string | undefined {
    return this.transport.url;
  }

  get silencesTakeOuts(): boolean {
    return this.transport.silencesTakeOuts ?? false;
  }

  get keepFailedForMs(): number | undefined {
    return this.transport.keepFailedForMs;
  }

  with(hooks: LifecycleHooks): MonitoringClient {
    return new MonitoringClient(this.transport, this.mergeHooks(hooks), this.shared);
  }

  async downtime(host: string, opts: DowntimeOptions): Promise<string> {
    const p = this.transport.downtime(host, opts);
    return this.write(
      {
        action: 'downtime',
        host,
        detail: p.detail ?? opts.reason,
        what: p.what ?? `downtime ${host} for ${Math.round(opts.durationMs / 60_000)} min (${opts.reason})`,
      },
      () => p.run(),
      this.dryRun ? (p.dryValue ?? this.nextDryId()) : '',
    );
  }

  async removeDowntime(id: string): Promise<void> {
    const p = this.transport.removeDowntime(id);
    await this.write(
      { action: 'remove-downtime', detail: p.detail ?? id, what: p.what ?? `remove downtime ${id}` },
      () => p.run(),
      undefined,
    );
  }
}
