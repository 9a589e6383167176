export {
  inventoryContract,
  monitoringContract,
  provisionerContract,
  type InventoryFixture,
  type MonitoringFixture,
  type ProvisionerFixture,
} from './contract.js';
