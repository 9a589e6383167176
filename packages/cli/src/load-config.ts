/**
 * @galley/config's loader as the client packages' commands take it (confctl, galley-exec,
 * galley-nodeset): they never load files themselves, so that a client package does not depend on
 * the app's config. Imported lazily, only when a command reads the config (--help does not).
 */
import type { GalleyConfig, LoadConfigOptions } from '@galley/config';

export async function loadGalleyConfig(opts: LoadConfigOptions): Promise<GalleyConfig> {
  const { loadSections } = await import('@galley/config');
  return loadSections(opts);
}
