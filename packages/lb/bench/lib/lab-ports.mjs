// What the lb benches share: real clients for a lab, and the lb ports over them as the runner
// builds them (minus host locks, fencing and the audit log), the journal written to etcd.
import { Conftool, connectEtcd } from '@galley/confctl';
import { loadConfig } from '@galley/config';
import { conftoolStore, pybalCapacity, pybalVerifier, realClock, remoteExecutor } from '@galley/lb';
import { PybalClient, PybalService, PybalTopology } from '@galley/pybal';
import { Remote } from '@galley/remote';

export async function clientsFor(lab) {
  const { config } = await loadConfig({ file: lab.info.config });
  const confctl = new Conftool(connectEtcd(config.etcd), { namespace: lab.info.namespace });
  const remote = new Remote(config.ssh);
  const client = new PybalClient({ requestTimeoutMs: config.pybal.requestTimeoutMs, retries: config.pybal.retries });
  const pybal = new PybalService({ topology: new PybalTopology(config.pybal), client, verifyTimeoutMs: 10_000 });
  return {
    confctl,
    remote,
    client,
    pybal,
    close: async () => {
      await remote.close();
      await client.close();
      confctl.close();
    },
  };
}

/** The ports of one library run: its journal under /galley/runs/RUN_ID/, `emit` for its events. */
export function libraryPorts(c, runId, emit) {
  let seq = 0;
  return {
    store: conftoolStore(c.confctl),
    executor: remoteExecutor(c.remote),
    verifier: pybalVerifier(c.pybal),
    capacity: pybalCapacity(c.pybal),
    journal: {
      append: (e) =>
        c.confctl.kv
          .txn([], [{ type: 'put', key: `/galley/runs/${runId}/${String(seq++).padStart(6, '0')}`, value: JSON.stringify(e) }])
          .then(() => undefined),
    },
    clock: realClock,
    emit,
  };
}
