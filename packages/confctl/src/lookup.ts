/**
 * The conftool group source's client: the host names of the objects a selector picks, for
 * ClusterShell-style `@conftool:dc=eqiad,cluster=jobrunner` (resolved by @galley/remote's Groups,
 * which takes any object of this shape and knows nothing of conftool). Light to import: confctl's
 * client and etcd3 are loaded, and etcd dialled, only when a group is first looked up, so the
 * binaries that may never need it (galley-nodeset, galley-exec) do not pay for it at start-up.
 */
import type { EtcdConfig } from '@galley/etcd/config';

export interface HostLookup {
  /** Names of the objects the selector (`dc=eqiad,cluster=jobrunner`, conftool's syntax) picks, deduplicated. */
  hostsOf(selector: string): Promise<string[]>;
  allHosts(): Promise<string[]>;
  close(): Promise<void> | void;
}

export function hostLookup(etcd: EtcdConfig, namespace: string): () => Promise<HostLookup> {
  let lookup: Promise<HostLookup> | undefined;
  return () => {
    lookup ??= (async () => {
      const [{ Conftool }, { parseSelector }, { connectEtcd }] = await Promise.all([
        import('./conftool.js'),
        import('./selector.js'),
        import('@galley/etcd'),
      ]);
      const client = connectEtcd(etcd);
      const ct = new Conftool(client, { namespace });
      const names = (nodes: readonly { tags: { name: string } }[]) => [...new Set(nodes.map((n) => n.tags.name))];
      return {
        hostsOf: async (selector: string) => names(await ct.get(parseSelector(selector))),
        allHosts: async () => names(await ct.get({})),
        close: () => client.close(),
      };
    })();
    return lookup;
  };
}
