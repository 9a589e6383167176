export { galleyConfigSchema, type GalleyConfig, type GalleyConfigInput } from './schema.js';
export { loadConfig, parseConfig, SYSTEM_CONFIG, type LoadConfigOptions, type LoadedConfig } from './load.js';
export type { EtcdConfig } from './sections/etcd.js';
export type { ConftoolConfig } from './sections/conftool.js';
export type { SshConfig } from './sections/ssh.js';
export type { GroupsConfig } from './sections/groups.js';
export type { PybalConfig, PybalPoolConfig } from './sections/pybal.js';
export type { CookbooksConfig, LogsConfig, NotifierConfig, LocksConfig } from './sections/runner.js';
export { ConfigNotFoundError, ConfigUnreadableError, isConfigError, isConfigNotFoundError } from './errors.js';
