/**
 * @galley/config's loader as the client packages' commands take it (confctl, galley-exec,
 * galley-nodeset): they never load files themselves, so that a client package does not depend on
 * the app's config. Imported lazily, only when a command reads the config (--help does not).
 */
import type { GalleyConfig, LoadConfigOptions } from '@galley/config';
import { hostLookup, type HostLookup } from '@galley/confctl/lookup';

export async function loadGalleyConfig(opts: LoadConfigOptions): Promise<GalleyConfig> {
  const { loadSections } = await import('@galley/config');
  return loadSections(opts);
}

/**
 * The loader galley-exec and galley-nodeset take: the config, plus the `@conftool:` group source's
 * client over its etcd (@galley/remote knows no conftool; dialled only when a group is looked up).
 */
export async function loadRemoteConfig(
  opts: LoadConfigOptions,
): Promise<GalleyConfig & { conftoolLookup: (() => Promise<HostLookup>) | undefined }> {
  const cfg = await loadGalleyConfig(opts);
  return { ...cfg, conftoolLookup: cfg.etcd ? hostLookup(cfg.etcd, cfg.conftool.namespace) : undefined };
}
