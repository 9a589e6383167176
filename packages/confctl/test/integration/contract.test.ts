import { Etcd3 } from 'etcd3';
import { Conftool, connectEtcd } from '@galley/confctl';
import { describeConftoolContract } from '@galley/confctl/testing';
// @galley/lab depends on @galley/confctl (it seeds with sync), so a package dependency back would be a
// cycle; the tests reach the lab's sources directly (jest runs sources anyway).
import { sharedLab } from '@galley/lab/testing';

// The same contract as the in-memory store, against the lab's real etcd. Each test uses its own
// namespace, so the lab's seeded /conftool tree is untouched.
describeConftoolContract('real etcd (lab)', async () => {
  const lab = await sharedLab();
  const endpoints = lab.info.etcd.endpoints;
  const client = connectEtcd({ endpoints, dialTimeoutMs: 3000, requestTimeoutMs: 5000 });
  // Raw access through a separate plain client, like a concurrent etcdctl user.
  const raw = new Etcd3({ hosts: endpoints });
  return {
    conftool: (opts) => new Conftool(client, opts),
    put: async (key, value) => void (await raw.put(key).value(value)),
    getRaw: async (key) => (await raw.get(key).string()) ?? undefined,
    del: async (key) => void (await raw.delete().key(key)),
    revision: async () => String((await raw.get('\0').exec()).header.revision),
    close: async () => {
      client.close();
      raw.close();
    },
  };
});
