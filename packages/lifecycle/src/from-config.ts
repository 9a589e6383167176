import type { GalleyConfig } from '@galley/config';
import { CommandProvisioner } from './command.js';
import { FileInventory } from './file-inventory.js';
import { HttpInventory, HttpMonitoring } from './http.js';
import { LabProvisioner } from './lab-provisioner.js';
import { NoneMonitoring } from './none.js';
import type { Inventory, LifecycleHooks, Monitoring, Provisioner } from './types.js';

export interface LifecycleClients {
  provisioner?: Provisioner;
  inventory?: Inventory;
  monitoring?: Monitoring;
}

/** The clients the config's provisioner/inventory/monitoring sections ask for (absent sections: absent clients). */
export function fromConfig(cfg: Pick<GalleyConfig, 'provisioner' | 'inventory' | 'monitoring'>, hooks: LifecycleHooks = {}): LifecycleClients {
  const out: LifecycleClients = {};
  const p = cfg.provisioner;
  if (p?.type === 'lab') out.provisioner = new LabProvisioner(p.labDir, hooks);
  else if (p?.type === 'command') out.provisioner = new CommandProvisioner(p, hooks);
  const i = cfg.inventory;
  if (i?.type === 'file') out.inventory = new FileInventory(i.path, hooks);
  else if (i?.type === 'http') out.inventory = new HttpInventory({ url: i.url, token: i.token }, hooks);
  const m = cfg.monitoring;
  if (m?.type === 'none') out.monitoring = new NoneMonitoring(hooks);
  else if (m?.type === 'http') out.monitoring = new HttpMonitoring({ url: m.url, token: m.token }, hooks);
  return out;
}
