export { Lab, startLab, openLab, stopDir, checkPybalMode, type LabHost, type LabInfo, type StartLabOptions } from './lab.js';
export {
  planFleet,
  conftoolKey,
  poolName,
  groupSizes,
  lbNames,
  SERVICES,
  DEFAULT_DEPOOL_THRESHOLD,
  type FleetPlan,
  type PlannedHost,
  type PlannedObject,
  type PlannedPool,
  type Pooled,
} from './plan.js';
export {
  LabDirConflictError,
  LabNoAlertmanagerError,
  LabNoSshError,
  LabNotFoundError,
  LabRunningError,
  LabStartError,
  LabUnknownError,
  LabPrerequisiteError,
} from './errors.js';
export { BASTION, RESTRICTED, type LabFile, type ServiceState, type FailMode, type LbAction, type StatusLine } from './lab.js';
export {
  PoolCoordinator,
  combineAlerts,
  serverJson,
  serverText,
  PYBAL_MODES,
  type Coordinator,
  type PybalMode,
  type ServerState,
  type ServerConfig,
  type AlertLevel,
} from './pybal/coordinator.js';
export { UpstreamCoordinator, PybalAssertionError } from './pybal/upstream.js';
export { PybalMetrics, MetricsRegistry, METRICS_CONTENT_TYPE } from './pybal/metrics.js';
export { handleApi, type ApiResponse } from './pybal/api.js';
export type { SimHistoryEntry, SimServerView } from './pybal/sim.js';
export { LabLifecycle, lifecycleDir, INITIAL_OS, labProvisionerModule } from './lifecycle.js';
export { LabMachines, labProvisionerFile, type LabProvisionerFile } from './provisioner.js';
export { serviceAlert, type LabAlert, type LabSilence } from './alertmanager.js';
