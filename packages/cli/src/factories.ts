/**
 * The composition root's client construction, behind small factories so tests can inject.
 * Nothing is loaded until a run is prepared, after its arguments were checked (`-l`, `--help`,
 * `--version` and bad arguments load no client: test/e2e/startup-guard.test.ts); `prepare()` then
 * builds every client the config names at once, so a cookbook that only reads conftool still loads
 * ssh2 and undici.
 */
import type { GalleyConfig } from '@galley/config';
import type { Conftool } from '@galley/confctl';
import type { connectEtcd } from '@galley/etcd';

type Etcd3 = ReturnType<typeof connectEtcd>;
import type { ClientHooks, Clients } from '@galley/core';
import { GalleyError } from '@galley/errors';
import type { LifecycleClients } from '@galley/lifecycle';
import type { PybalService } from '@galley/pybal';
import type { Remote } from '@galley/remote';

export interface BaseClients {
  etcd(): Promise<Etcd3>;
  /** Per-run views bound to the hooks. */
  bind(hooks: ClientHooks): Clients;
  /** Build the base clients a run may use (they need async imports). */
  prepare(): Promise<void>;
  /** The hard stop (a second Ctrl+C): stop every remote command now (SSH TERM to its process group; `why` is each host's message). */
  abortRemote?(why: string): Promise<number>;
  /** conftool read back: the objects at `no` under these owners' markers (the real leftovers of a stopped run). */
  outUnder?(owners: readonly string[]): Promise<{ leftovers: { object: string; state: string; why?: string }[]; error?: string }>;
  close(): Promise<void>;
}

function missing(section: string): never {
  throw new GalleyError('ERR_CONFIG_SECTION_MISSING', `this cookbook needs the "${section}" config section, which is missing`, {
    hint: `add a ${section}: section to the config (see \`galley-lab up\` for a generated example)`,
  });
}

export function realClients(cfg: GalleyConfig, dryRun: boolean): BaseClients {
  let etcd: Etcd3 | undefined;
  let conftool: Conftool | undefined;
  let remote: Remote | undefined;
  let pybal: PybalService | undefined;
  let pybalClose: (() => Promise<void>) | undefined;
  let lifecycle: LifecycleClients = {};
  let prepared = false;
  const getEtcd = async () => {
    if (!cfg.etcd) missing('etcd');
    if (!etcd) {
      const { connectEtcd } = await import('@galley/etcd');
      etcd = connectEtcd(cfg.etcd);
    }
    return etcd;
  };
  return {
    etcd: getEtcd,
    async prepare() {
      const [confctl, rem, pyb] = await Promise.all([import('@galley/confctl'), import('@galley/remote'), import('@galley/pybal')]);
      prepared = true;
      if (cfg.etcd) conftool = new confctl.Conftool(await getEtcd(), { namespace: cfg.conftool.namespace, dryRun });
      if (cfg.ssh) remote = new rem.Remote(cfg.ssh, { dryRun });
      // A `command` provisioner with `via:` runs its commands on a management host over our SSH
      // (the lifecycle client applies dry-run and the run's lock checks itself, per action).
      if (cfg.provisioner || cfg.inventory || cfg.monitoring) {
        lifecycle = (await import('@galley/lifecycle')).fromConfig(cfg, { dryRun }, remote ? { ssh: remote } : {});
      }
      if (cfg.pybal) {
        const client = new pyb.PybalClient({ requestTimeoutMs: cfg.pybal.requestTimeoutMs, retries: dryRun ? 0 : cfg.pybal.retries });
        pybalClose = () => client.close();
        pybal = new pyb.PybalService({
          topology: new pyb.PybalTopology(cfg.pybal),
          client,
          dryRun,
          verifyTimeoutMs: cfg.pybal.verifyTimeoutMs,
        });
      }
    },
    bind(hooks) {
      if (!prepared) throw new Error('realClients: prepare() was not awaited');
      let c: Conftool | undefined;
      let r: Remote | undefined;
      let p: PybalService | undefined;
      return {
        get confctl() {
          if (!conftool) missing('etcd');
          return (c ??= conftool.with({
            dryRun: hooks.dryRun,
            fence: hooks.fence,
            beforeWrite: hooks.beforeWrite,
            onChange: hooks.onChange,
            log: hooks.log,
          }));
        },
        get remote() {
          if (!remote) missing('ssh');
          // cuttable: a hard stop (second Ctrl+C) can stop every command this run started
          return (r ??= remote.with({
            dryRun: hooks.dryRun,
            beforeRun: hooks.beforeRun,
            onCommand: hooks.onCommand,
            log: hooks.log,
            cuttable: true,
          }));
        },
        get pybal() {
          if (!pybal) missing('pybal');
          return (p ??= pybal.with({ dryRun: hooks.dryRun, log: hooks.log }));
        },
        provisioner: lifecycle.provisioner?.with({ dryRun: hooks.dryRun, log: hooks.log, onAction: hooks.onAction }),
        inventory: lifecycle.inventory?.with({ dryRun: hooks.dryRun, log: hooks.log, onAction: hooks.onAction }),
        monitoring: lifecycle.monitoring?.with({ dryRun: hooks.dryRun, log: hooks.log, onAction: hooks.onAction }),
        hosts: cfg.hosts,
        lb: cfg.lb,
      };
    },
    abortRemote: async (why) => (remote ? remote.abortAll(why, 3000).catch(() => 0) : 0),
    async outUnder(owners) {
      if (!conftool) return { leftovers: [] };
      const c = conftool;
      try {
        const marks = await Promise.race([
          c.owners({}),
          new Promise<never>((_, rej) => setTimeout(() => rej(new Error('conftool did not answer within 3 s')), 3000)),
        ]);
        const mine = [...marks].flatMap(([key, m]) => {
          const tags = owners.includes(m.runId) ? c.tagsOf(key) : undefined;
          return tags ? [{ key, tags, m }] : [];
        });
        const now = await c.readNodes(mine);
        const leftovers = mine.flatMap(({ key, tags: t, m }) => {
          const n = now.get(key);
          if (n === undefined || n instanceof Error || n.pooled !== 'no') return [];
          return [
            {
              object: `${t.dc}/${t.cluster}/${t.service}/${t.name}`,
              state: `pooled=no (held out by ${m.runId})`,
              why: 'the run was stopped before putting it back',
            },
          ];
        });
        return { leftovers };
      } catch (e) {
        return { leftovers: [], error: e instanceof Error ? e.message : String(e) };
      }
    },
    async close() {
      await remote?.close().catch(() => undefined);
      await pybalClose?.().catch(() => undefined);
      const { provisioner, inventory, monitoring } = lifecycle;
      for (const c of [provisioner, inventory, monitoring]) await c?.close().catch(() => undefined);
      etcd?.close();
    },
  };
}
