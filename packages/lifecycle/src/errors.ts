import { GalleyError, type GalleyErrorOptions } from '@galley/errors';

/** A provisioner command or call failed (reinstall, power, host key). */
export class ProvisionerError extends GalleyError {
  constructor(message: string, opts: GalleyErrorOptions = {}) {
    super('ERR_LIFECYCLE_PROVISIONER', message, { hint: 'check the provisioner: section of the config and the command output above', ...opts });
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

/** The monitoring endpoint refused or could not be reached. */
export class MonitoringError extends GalleyError {
  constructor(message: string, opts: GalleyErrorOptions = {}) {
    super('ERR_MONITORING_BACKEND', message, { hint: 'check the monitoring: section of the config and that the endpoint is up', ...opts });
  }
}
