export const SYSTEM_CONFIG = '/etc/galley/config.yaml';
