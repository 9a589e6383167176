import { GalleyError, isGalleyError, type GalleyErrorOptions } from '@galley/errors';

/** A provisioner command or call failed (reinstall, power, host key). */
export class ProvisionerError extends GalleyError {
  constructor(message: string, opts: GalleyErrorOptions = {}) {
    super('ERR_LIFECYCLE_PROVISIONER', message, {
      hint: 'check the provisioner: section of the config and the command output above',
      ...opts,
    });
  }
}

/** The configured provisioner has no command for this operation. */
export class NotConfiguredError extends GalleyError {
  constructor(client: string, op: string) {
    super('ERR_LIFECYCLE_NOT_CONFIGURED', `the ${client} has no "${op}" command configured`, {
      hint: `add ${op}: [argv…] to the ${client}: section of the config`,
    });
  }
}

/** The inventory does not know the host. */
export class UnknownHostError extends GalleyError {
  constructor(host: string, where: string) {
    super('ERR_INVENTORY_UNKNOWN_HOST', `host ${host} is not in the inventory (${where})`, {
      hint: 'check the host name (FQDN), or add it to the inventory first',
    });
  }
}

/** The inventory store could not be read, written or reached. */
export class InventoryError extends GalleyError {
  constructor(message: string, opts: GalleyErrorOptions = {}) {
    super('ERR_INVENTORY_BACKEND', message, { hint: 'check the inventory: section of the config', ...opts });
  }
}

/** The monitoring clients' codes (never reused). */
export const MonitoringErrorCode = {
  /** The http webhook (or a plugin) refused or could not be reached. */
  BACKEND: 'ERR_MONITORING_BACKEND',
  /** Alertmanager could not be reached, refused a request, or answered something that is not its API. */
  ALERTMANAGER: 'ERR_MONITORING_ALERTMANAGER',
} as const;
const MONITORING_CODES: ReadonlySet<string> = new Set(Object.values(MonitoringErrorCode));

/** The monitoring endpoint refused or could not be reached. */
export class MonitoringError extends GalleyError {
  constructor(message: string, opts: GalleyErrorOptions = {}, code: string = MonitoringErrorCode.BACKEND) {
    super(code, message, { hint: 'check the monitoring: section of the config and that the endpoint is up', ...opts });
  }
}

/** Alertmanager (`monitoring: {type: alertmanager}`) could not be reached, refused, or answered garbage. */
export class AlertmanagerError extends MonitoringError {
  constructor(message: string, opts: GalleyErrorOptions = {}) {
    super(
      message,
      { hint: 'check monitoring.url (and its token/headers) and that Alertmanager answers: curl URL/api/v2/status', ...opts },
      MonitoringErrorCode.ALERTMANAGER,
    );
  }
}

/** Any monitoring client's error (webhook, Alertmanager); compared by code, as isGalleyError is. */
export function isMonitoringError(err: unknown): err is MonitoringError {
  return isGalleyError(err) && MONITORING_CODES.has(err.code);
}

/** A `type: plugin` module could not be loaded, or its factory failed. */
export class PluginLoadError extends GalleyError {
  constructor(message: string, opts: GalleyErrorOptions = {}) {
    super('ERR_LIFECYCLE_PLUGIN_LOAD', message, {
      hint: 'check `module:` (an absolute path or a package installed next to galley) and that its default export is a factory (options, context) => implementation',
      ...opts,
    });
  }
}

/** A `type: plugin` module's factory returned something that does not implement the interface. */
export class PluginInterfaceError extends GalleyError {
  constructor(message: string, opts: GalleyErrorOptions = {}) {
    super('ERR_LIFECYCLE_PLUGIN_INTERFACE', message, {
      hint: 'the object the factory returns must have every method listed (see packages/lifecycle/README.md, "Plugins")',
      ...opts,
    });
  }
}
