import { Recorder, type RecorderShared, type Transport } from './base.js';
import type { LifecycleHooks, PowerState, Provisioner } from './types.js';

/** How a provisioner reaches the machines (`command`: the site's tools; `plugin`: a module). */
export interface ProvisionerTransport extends Transport {
  /** The longest one call may take. */
  readonly callTimeoutMs: number;
  reinstall(host: string, os: string): Promise<void>;
  powerOff(host: string): Promise<void>;
  powerOn(host: string): Promise<void>;
  powerCycle(host: string): Promise<void>;
  /** Decoded and checked by the transport: its backend's answer is its own format. */
  powerStatus(host: string): Promise<PowerState>;
  /** A well-formed public key (`ssh-ed25519 AAAA…`), or the transport throws. */
  hostKey(host: string): Promise<string>;
}

/** The one Provisioner: dry-run, recording and log lines for any transport. */
export class ProvisionerClient extends Recorder<ProvisionerTransport> implements Provisioner {
  protected readonly client = 'provisioner' as const;

  constructor(transport: ProvisionerTransport, hooks: LifecycleHooks = {}, shared?: RecorderShared) {
    super(transport, hooks, shared);
  }

  get callTimeoutMs(): number {
    return this.transport.callTimeoutMs;
  }

  with(hooks: LifecycleHooks): ProvisionerClient {
    return new ProvisionerClient(this.transport, this.mergeHooks(hooks), this.shared);
  }

  async reinstall(host: string, os: string): Promise<void> {
    await this.write(
      { action: 'reinstall', host, detail: os, what: `reinstall ${host} with ${os}` },
      () => this.transport.reinstall(host, os),
      undefined,
    );
  }

  async powerOff(host: string): Promise<void> {
    await this.write({ action: 'power-off', host, what: `power off ${host}` }, () => this.transport.powerOff(host), undefined);
  }

  async powerOn(host: string): Promise<void> {
    await this.write({ action: 'power-on', host, what: `power on ${host}` }, () => this.transport.powerOn(host), undefined);
  }

  async powerCycle(host: string): Promise<void> {
    await this.write({ action: 'power-cycle', host, what: `power cycle ${host}` }, () => this.transport.powerCycle(host), undefined);
  }

  /** A read: also in dry-run. */
  powerStatus(host: string): Promise<PowerState> {
    return this.transport.powerStatus(host);
  }

  /** A read: also in dry-run. */
  hostKey(host: string): Promise<string> {
    return this.transport.hostKey(host);
  }
}
