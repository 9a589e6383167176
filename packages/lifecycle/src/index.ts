export type {
  Provisioner,
  Inventory,
  Monitoring,
  HostsSettings,
  InventoryRecord,
  HostStatus,
  PowerState,
  DowntimeOptions,
  DowntimeState,
  LifecycleAction,
  LifecycleHooks,
} from './types.js';
export { HOST_STATUSES } from './types.js';
export { CommandProvisioner, expandArgv, type CommandProvisionerConfig, type SshRunner } from './command.js';
export { FileInventory, readInventoryFile, writeInventoryFile, type InventoryFile } from './file-inventory.js';
export { HttpInventory, HttpMonitoring, type HttpEndpointConfig } from './http.js';
export { NoneMonitoring } from './none.js';
export { AlertmanagerMonitoring, type AlertmanagerConfig } from './alertmanager.js';
export { fromConfig, loadFromConfig, type LifecycleClients, type LifecycleDeps, type LifecycleSections } from './from-config.js';
export {
  PluginProvisioner,
  PluginInventory,
  PluginMonitoring,
  loadPlugin,
  PLUGIN_METHODS,
  type PluginConfig,
  type MonitoringPluginConfig,
  type PluginContext,
  type PluginFactory,
  type ProvisionerPlugin,
  type InventoryPlugin,
  type MonitoringPlugin,
  type LifecycleClientName,
} from './plugin.js';
export { parsePublicKey } from './keys.js';
export {
  ProvisionerError,
  NotConfiguredError,
  UnknownHostError,
  InventoryError,
  MonitoringError,
  AlertmanagerError,
  isMonitoringError,
  MonitoringErrorCode,
  PluginLoadError,
  PluginInterfaceError,
} from './errors.js';
export type { ProvisionerConfig, InventoryConfig, MonitoringConfig, HostsConfig } from './config.js';
