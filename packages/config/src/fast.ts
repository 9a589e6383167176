/**
 * `cookbook -l` must start in a few tens of milliseconds, and validating the config (zod) and
 * loading cosmiconfig cost far more than that. The cookbook directories of a config file are
 * therefore cached per file (path, mtime, size) in the user's cache dir; only those directories
 * are cached, never the rest of the config (it may hold credentials).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SYSTEM_CONFIG } from './constants.js';

/** cosmiconfig's search places for module `cookbook` (keep in sync with load.ts). */
export const SEARCH_PLACES = [
  '.cookbookrc',
  '.cookbookrc.json',
  '.cookbookrc.yaml',
  '.cookbookrc.yml',
  'cookbook.config.yaml',
  'cookbook.config.yml',
  'cookbook.config.json',
  'cookbook.config.js',
  'cookbook.config.mjs',
  'cookbook.config.ts',
] as const;

/**
 * The file loadConfig would pick, found with plain stat calls; undefined when unsure, null when
 * there is surely none (no -c, nothing in any search place): loadConfig would say ERR_CONFIG_NOT_FOUND.
 */
export function locateConfig(opts: { file?: string | undefined; cwd?: string | undefined }): string | null | undefined {
  const cwd = opts.cwd ?? process.cwd();
  if (opts.file !== undefined) return path.resolve(cwd, opts.file);
  const home = os.homedir();
  let dir = path.resolve(cwd);
  for (;;) {
    for (const p of SEARCH_PLACES) {
      const f = path.join(dir, p);
      if (fs.existsSync(f)) return f;
    }
    const up = path.dirname(dir);
    if (dir === home || up === dir) break;
    dir = up;
  }
  // cosmiconfig's global strategy also looks in ~/.config/cookbook: let the slow path decide then.
  if (fs.existsSync(path.join(home, '.config', 'cookbook'))) return undefined;
  return fs.existsSync(SYSTEM_CONFIG) ? SYSTEM_CONFIG : null;
}

function cacheFile(configFile: string): string {
  const base = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache');
  const h = crypto.createHash('sha1').update(configFile).digest('hex').slice(0, 16);
  return path.join(base, 'galley', `dirs-${h}.json`);
}

interface DirsCache {
  file: string;
  mtimeMs: number;
  size: number;
  dirs: string[];
}

/** Cached cookbook dirs of a config file, if the file has not changed since. */
export function cachedCookbookDirs(configFile: string): string[] | undefined {
  try {
    const st = fs.statSync(configFile);
    const c = JSON.parse(fs.readFileSync(cacheFile(configFile), 'utf8')) as DirsCache;
    if (c.file === configFile && c.mtimeMs === st.mtimeMs && c.size === st.size && Array.isArray(c.dirs)) return c.dirs;
  } catch {
    // no cache yet, or unreadable: the slow path fills it
  }
  return undefined;
}

export function rememberCookbookDirs(configFile: string, dirs: readonly string[]): void {
  try {
    const st = fs.statSync(configFile);
    const f = cacheFile(configFile);
    fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o700 });
    const tmp = `${f}.${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify({ file: configFile, mtimeMs: st.mtimeMs, size: st.size, dirs: [...dirs] } satisfies DirsCache), {
      mode: 0o600,
    });
    fs.renameSync(tmp, f);
  } catch {
    // a cache we cannot write only costs speed
  }
}
