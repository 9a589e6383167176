import fs from 'node:fs';
import path from 'node:path';
import { cosmiconfig, type CosmiconfigResult } from 'cosmiconfig';
import { ConfigError, ConfigNotFoundError, ConfigUnreadableError, GalleyError } from '@galley/errors';
import type { ConfigSection } from '@galley/errors/config';
import { SYSTEM_CONFIG } from './constants.js';
import { SEARCH_PLACES } from './fast.js';
import { galleyConfigSchema, SECTIONS, type GalleyConfig } from './schema.js';

export { SYSTEM_CONFIG };

export interface LoadedConfig {
  config: GalleyConfig;
  /** The file it came from; relative paths in it were resolved against its directory. */
  file: string;
}

export interface LoadConfigOptions {
  /** `-c FILE`: use exactly this file. */
  file?: string | undefined;
  /** Where cosmiconfig starts searching (default: cwd). */
  cwd?: string;
  /** Sections the caller needs; a missing one is reported with the others. */
  require?: readonly (keyof GalleyConfig)[];
  /** The system-wide fallback after the search (default /etc/galley/config.yaml; tests point it elsewhere). */
  systemFile?: string;
}

const explorer = () =>
  cosmiconfig('cookbook', {
    searchStrategy: 'global',
    searchPlaces: [...SEARCH_PLACES],
    // The TypeScript loader (jiti) costs ~100 ms to import: only pay for it with a .ts config.
    loaders: {
      '.ts': async (filepath: string, content: string): Promise<unknown> => {
        const { TypeScriptLoader } = await import('cosmiconfig-typescript-loader');
        return (await TypeScriptLoader()(filepath, content)) as unknown;
      },
    },
  });

/**
 * Find and validate the config: `-c FILE`, else cosmiconfig's search (module `cookbook`) from cwd
 * up, else /etc/galley/config.yaml. All problems are collected and reported together.
 */
export async function loadConfig(opts: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const ex = explorer();
  let result: CosmiconfigResult;
  try {
    if (opts.file !== undefined) {
      const abs = path.resolve(opts.cwd ?? process.cwd(), opts.file);
      if (!fs.existsSync(abs)) {
        throw new ConfigNotFoundError(
          `config file ${abs} does not exist`,
          'pass an existing file with -c, or run `galley-lab up` to generate one for the lab',
        );
      }
      result = await ex.load(abs);
    } else {
      result = await ex.search(opts.cwd ?? process.cwd());
      const system = opts.systemFile ?? SYSTEM_CONFIG;
      if (result === null && fs.existsSync(system)) result = await ex.load(system);
    }
  } catch (err) {
    if (err instanceof GalleyError) throw err;
    throw new ConfigUnreadableError(err);
  }
  if (result === null || result.isEmpty) {
    throw new ConfigNotFoundError(
      'no galley config found (.cookbookrc*, cookbook.config.*, /etc/galley/config.yaml)',
      'pass -c FILE, or run `galley-lab up` and use DIR/cookbook.config.yaml',
    );
  }
  return { config: parseConfig(result.config, result.filepath, opts.require), file: result.filepath };
}

/**
 * loadConfig's sections alone: the loader the client packages' commands take (the `loadConfig`
 * of confctl's runConfctl, remote's runExec and runNodeset), which never load files themselves.
 */
export async function loadSections(opts: LoadConfigOptions): Promise<GalleyConfig> {
  return (await loadConfig(opts)).config;
}

/** Validate a raw config object; relative paths are resolved against the file's directory. */
export function parseConfig(raw: unknown, file: string, required: readonly (keyof GalleyConfig)[] = []): GalleyConfig {
  const parsed = galleyConfigSchema.safeParse(raw);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const where = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
      problems.push(`${where}: ${issue.message}`);
    }
  }
  // Checked on the raw file too, so a missing section is listed with the schema's problems, not after them.
  const present = (section: keyof GalleyConfig) =>
    parsed.success
      ? parsed.data[section] !== undefined
      : typeof raw === 'object' && raw !== null && (raw as Record<string, unknown>)[section] !== undefined;
  for (const section of required) {
    if (!present(section)) problems.push(`${section}: section is required here but missing`);
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(file, problems);
  return resolvePaths(parsed.data, path.dirname(file));
}

/** Each section's file paths, resolved as its owner says (ConfigSection.resolvePaths). */
function resolvePaths(cfg: GalleyConfig, base: string): GalleyConfig {
  const abs = (p: string) => (path.isAbsolute(p) ? p : path.resolve(base, p));
  const out = structuredClone(cfg);
  for (const [name, section] of Object.entries(SECTIONS) as [keyof GalleyConfig, ConfigSection][]) {
    const value = out[name];
    if (value !== undefined) section.resolvePaths?.(value, abs);
  }
  return out;
}
