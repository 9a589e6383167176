/**
 * A `type: plugin` module for tests: its factory wraps one of the built-in implementations named
 * by `options.wrap` and returns ONLY the interface's operations (no kind, with(), actions or
 * dry-run of its own), as a site's minimal plugin would. The contract suites run against it
 * through fromConfig prove that galley's plugin wrapper supplies the rest.
 *
 *   provisioner: { type: plugin, module: <this file>, options: { wrap: command, …command config } }
 *
 * (The lab's provisioner is a plugin of its own: @galley/lab's labProvisionerModule.)
 *   inventory:   { type: plugin, module: <this file>, options: { wrap: file, path } | { wrap: http, url } }
 *   monitoring:  { type: plugin, module: <this file>, options: { wrap: none } | { wrap: http, url }
 *                  | { wrap: alertmanager, url, extend?: false } }  (with check() and extendDowntime())
 */
import { AlertmanagerMonitoring } from '../alertmanager.js';
import { CommandProvisioner, type CommandProvisionerConfig } from '../command.js';
import { FileInventory } from '../file-inventory.js';
import { HttpInventory, HttpMonitoring } from '../http.js';
import { NoneMonitoring } from '../none.js';
import type { InventoryPlugin, MonitoringPlugin, PluginContext, ProvisionerPlugin } from '../plugin.js';

type Options = Record<string, unknown>;

function str(o: Options, k: string): string {
  const v = o[k];
  if (typeof v !== 'string') throw new Error(`plugin-fixture: options.${k} must be a string`);
  return v;
}

function provisioner(o: Options): ProvisionerPlugin {
  const p = o.wrap === 'command' ? new CommandProvisioner(o as unknown as CommandProvisionerConfig) : undefined;
  if (!p) throw new Error(`plugin-fixture: no provisioner ${String(o.wrap)}`);
  return {
    reinstall: (h, os) => p.reinstall(h, os),
    powerOff: (h) => p.powerOff(h),
    powerOn: (h) => p.powerOn(h),
    powerCycle: (h) => p.powerCycle(h),
    powerStatus: (h) => p.powerStatus(h),
    hostKey: (h) => p.hostKey(h),
    close: () => p.close(),
  };
}

function inventory(o: Options): InventoryPlugin {
  const i =
    o.wrap === 'file' ? new FileInventory(str(o, 'path')) : o.wrap === 'http' ? new HttpInventory({ url: str(o, 'url') }) : undefined;
  if (!i) throw new Error(`plugin-fixture: no inventory ${String(o.wrap)}`);
  return { get: (h) => i.get(h), setStatus: (h, s) => i.setStatus(h, s), remove: (h) => i.remove(h), close: () => i.close() };
}

function monitoring(o: Options): MonitoringPlugin {
  if (o.wrap === 'alertmanager') {
    const am = new AlertmanagerMonitoring({ url: str(o, 'url') });
    return {
      downtime: (h, opts) => am.downtime(h, opts),
      removeDowntime: (id) => am.removeDowntime(id),
      check: () => am.check(),
      // extend: false: a module that cannot keep a failed host's silence.
      ...(o.extend === false
        ? {}
        : { extendDowntime: (id: string, x: { durationMs: number; reason: string }) => am.extendDowntime(id, x) }),
      close: () => am.close(),
    };
  }
  const m = o.wrap === 'none' ? new NoneMonitoring() : o.wrap === 'http' ? new HttpMonitoring({ url: str(o, 'url') }) : undefined;
  if (!m) throw new Error(`plugin-fixture: no monitoring ${String(o.wrap)}`);
  return { downtime: (h, opts) => m.downtime(h, opts), removeDowntime: (id) => m.removeDowntime(id), close: () => m.close() };
}

export default function factory(options: Options, ctx: PluginContext): ProvisionerPlugin | InventoryPlugin | MonitoringPlugin {
  if (ctx.client === 'provisioner') return provisioner(options);
  if (ctx.client === 'inventory') return inventory(options);
  return monitoring(options);
}
