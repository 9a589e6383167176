/**
 * The host-lifecycle clients the sre.hosts cookbooks use. Each is an interface with several
 * implementations chosen in config (`provisioner:`, `inventory:`, `monitoring:`); a site plugs in
 * its own PXE/IPMI/Redfish tooling, CMDB and alerting behind them.
 */

export type PowerState = 'on' | 'off' | 'unknown';

/** Lifecycle states of a host in the inventory (Netbox-like). */
export const HOST_STATUSES = ['planned', 'active', 'failed', 'decommissioning', 'decommissioned', 'offline'] as const;
export type HostStatus = (typeof HOST_STATUSES)[number];

/** One write a client performed or, in dry-run, would have performed. */
export interface LifecycleAction {
  client: 'provisioner' | 'inventory' | 'monitoring';
  action: string;
  host?: string;
  detail?: string;
  dryRun: boolean;
}

/** What the runner binds into a client for one run. */
export interface LifecycleHooks {
  dryRun?: boolean;
  log?: (line: string) => void;
  /** Every performed or intended write (plan, audit). */
  onAction?: (a: LifecycleAction) => void;
}

interface Bindable<T> {
  readonly kind: string;
  readonly dryRun: boolean;
  /** Writes recorded so far by this client and all its views (in dry-run: what would have run). */
  readonly actions: readonly LifecycleAction[];
  /** A view sharing the connection/state, with other hooks. */
  with(hooks: LifecycleHooks): T;
  close(): Promise<void>;
  /**
   * Resolves once the client can be used; rejects with what is wrong (a `type: plugin` client:
   * its module could not be loaded or does not implement the interface). Absent: always ready.
   */
  ready?(): Promise<void>;
}

export interface Provisioner extends Bindable<Provisioner> {
  /** The longest one call may take (undefined: no configured bound); cookbooks size their lock hold time with it. */
  readonly callTimeoutMs?: number | undefined;
  /** Reinstall the host with this OS (network boot, installer, reboot into the new OS). Returns once the install was started. */
  reinstall(host: string, os: string): Promise<void>;
  powerOff(host: string): Promise<void>;
  powerOn(host: string): Promise<void>;
  powerCycle(host: string): Promise<void>;
  powerStatus(host: string): Promise<PowerState>;
  /**
   * The SSH host public key the site vouches for (`ssh-ed25519 AAAA…`): after a reinstall this is
   * the only way a new key becomes trusted, never by accepting whatever the host offers.
   */
  hostKey(host: string): Promise<string>;
}

export interface InventoryRecord {
  host: string;
  status: HostStatus;
  [field: string]: unknown;
}

export interface Inventory extends Bindable<Inventory> {
  /** undefined when the inventory does not know the host. */
  get(host: string): Promise<InventoryRecord | undefined>;
  setStatus(host: string, status: HostStatus): Promise<void>;
  remove(host: string): Promise<void>;
}

export interface DowntimeOptions {
  durationMs: number;
  reason: string;
  /** Only these services' alerts (Alertmanager: a service matcher); absent: every alert of the host. */
  services?: readonly string[] | undefined;
  /** Who asks (Alertmanager's `createdBy`); absent: the OS user galley runs as. */
  createdBy?: string | undefined;
  /** The galley run that asks, recorded with the reason (Alertmanager's `comment`). */
  runId?: string | undefined;
}

/** A downtime as the monitoring system holds it now (read back). */
export interface DowntimeState {
  id: string;
  /** Alertmanager's silence states. */
  state: 'active' | 'pending' | 'expired';
  /** ISO time it ends (or ended). */
  endsAt: string;
}

export interface Monitoring extends Bindable<Monitoring> {
  /**
   * True when this client silences each host a rolling sre.lb.* run takes out (per host and service,
   * with an end it can move: `alertmanager`). Absent/false: only the sre.hosts cookbooks use it.
   */
  readonly silencesTakeOuts?: boolean;
  /** With silencesTakeOuts: how long a host left out of traffic after a failure keeps its silence. */
  readonly keepFailedForMs?: number;
  /** Where it writes, secrets redacted, for messages (absent when there is no such place). */
  readonly url?: string | undefined;
  /** Silence alerts for the host; returns the downtime id to remove it with. */
  downtime(host: string, opts: DowntimeOptions): Promise<string>;
  removeDowntime(id: string): Promise<void>;
  /** Optional: the endpoint answers (a read; also in dry-run). Rejects with the client's named error. */
  check?(): Promise<void>;
  /**
   * Optional: the downtime ends `durationMs` from now instead (a host left out after a failure keeps
   * its silence); `reason` is added to its comment. Returns it as read back (its id may change).
   */
  extendDowntime?(id: string, opts: { durationMs: number; reason: string }): Promise<DowntimeState>;
}

/** The config's `hosts:` section as the sre.hosts cookbooks receive it. */
export interface HostsSettings {
  /** Run on the host over SSH after a reinstall, argv with {host}/{os}. */
  postInstall?: string[] | undefined;
  /** Run on the host over SSH at decommission, argv with {host}. */
  wipe?: string[] | undefined;
  /** Run on the host after the post-install command until it passes. */
  healthCheck?: string[] | undefined;
  installTimeoutMs?: number | undefined;
  downtimeMs?: number | undefined;
}
