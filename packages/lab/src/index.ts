export { Lab, startLab, openLab, stopDir, type LabHost, type LabInfo, type StartLabOptions } from './lab.js';
export { planFleet, conftoolKey, poolName, groupSizes, lbNames, SERVICES, DEFAULT_DEPOOL_THRESHOLD, type FleetPlan, type PlannedHost, type PlannedObject, type PlannedPool, type Pooled } from './plan.js';
export { LabDirConflictError, LabNoSshError, LabNotFoundError, LabRunningError, LabStartError, LabUnknownError, LabPrerequisiteError } from './errors.js';
export { BASTION, RESTRICTED, type LabFile, type ServiceState, type FailMode, type LbAction, type StatusLine } from './lab.js';
export { PoolCoordinator, combineAlerts, serverJson, serverText, type ServerState, type ServerConfig, type AlertLevel } from './pybal/coordinator.js';
export { handleApi, type ApiResponse } from './pybal/api.js';
export type { SimHistoryEntry, SimServerView } from './pybal/sim.js';
export { LabLifecycle, lifecycleDir, INITIAL_OS } from './lifecycle.js';
