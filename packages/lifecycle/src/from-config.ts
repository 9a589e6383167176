import { AlertmanagerMonitoring } from './alertmanager.js';
import { CommandProvisioner, type SshRunner } from './command.js';
import { FileInventory } from './file-inventory.js';
import { HttpInventory, HttpMonitoring } from './http.js';
import { NoneMonitoring } from './none.js';
import { PluginInventory, PluginMonitoring, PluginProvisioner } from './plugin.js';
import type { InventoryConfig, MonitoringConfig, ProvisionerConfig } from './config.js';
import type { Inventory, LifecycleHooks, Monitoring, Provisioner } from './types.js';

/** The sections fromConfig reads (a loaded galley config has them). */
export interface LifecycleSections {
  provisioner?: ProvisionerConfig | undefined;
  inventory?: InventoryConfig | undefined;
  monitoring?: MonitoringConfig | undefined;
}

export interface LifecycleClients {
  provisioner?: Provisioner;
  inventory?: Inventory;
  monitoring?: Monitoring;
}

/** What some clients need from outside this package. */
export interface LifecycleDeps {
  /** For a `command` provisioner with `via:` (SSH on a management host): a @galley/remote Remote. */
  ssh?: SshRunner | undefined;
}

/**
 * The clients the config's provisioner/inventory/monitoring sections ask for (absent sections:
 * absent clients). A `type: plugin` section's module is imported right away, in the background:
 * its client's `ready()` (and its first call) reject when the module cannot be loaded or does
 * not implement the interface. `loadFromConfig` waits for that, so a bad plugin fails up front.
 */
export function fromConfig(cfg: LifecycleSections, hooks: LifecycleHooks = {}, deps: LifecycleDeps = {}): LifecycleClients {
  const out: LifecycleClients = {};
  const p = cfg.provisioner;
  if (p?.type === 'command') out.provisioner = new CommandProvisioner(p, hooks, undefined, deps.ssh);
  else if (p?.type === 'plugin') out.provisioner = PluginProvisioner.load(p, hooks);
  const i = cfg.inventory;
  if (i?.type === 'file') out.inventory = new FileInventory(i.path, hooks);
  else if (i?.type === 'http') out.inventory = new HttpInventory({ url: i.url, token: i.token }, hooks);
  else if (i?.type === 'plugin') out.inventory = PluginInventory.load(i, hooks);
  const m = cfg.monitoring;
  if (m?.type === 'none') out.monitoring = new NoneMonitoring(hooks);
  else if (m?.type === 'http') out.monitoring = new HttpMonitoring({ url: m.url, token: m.token }, hooks);
  else if (m?.type === 'alertmanager') out.monitoring = new AlertmanagerMonitoring(m, hooks);
  else if (m?.type === 'plugin') out.monitoring = PluginMonitoring.load(m, hooks);
  return out;
}

/** fromConfig, then wait until every client is ready: a plugin that does not load or does not fit is refused here. */
export async function loadFromConfig(
  cfg: LifecycleSections,
  hooks: LifecycleHooks = {},
  deps: LifecycleDeps = {},
): Promise<LifecycleClients> {
  const out = fromConfig(cfg, hooks, deps);
  const clients = [out.provisioner, out.inventory, out.monitoring];
  try {
    for (const c of clients) await c?.ready?.();
  } catch (err) {
    for (const c of clients) await c?.close().catch(() => undefined);
    throw err;
  }
  return out;
}
