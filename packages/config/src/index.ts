export { galleyConfigSchema, SECTIONS, type GalleyConfig, type GalleyConfigInput } from './schema.js';
export { loadConfig, loadSections, parseConfig, SYSTEM_CONFIG, type LoadConfigOptions, type LoadedConfig } from './load.js';
export type { CookbooksConfig, LogsConfig, NotifierConfig, LocksConfig } from './sections/runner.js';
