import { loadConfig } from '@galley/config';
import type { SshConfig } from '@galley/remote';
import { privateLab } from '@galley/lab/testing';
import { OpenSshTransport, Remote, SshPool } from '@galley/remote';
import { transportContract } from '@galley/remote/testing';

const env = privateLab({ hosts: 3, lbs: 0, pybal: false }, 90_000);

/** The lab's ssh section, its two reachable hosts and a stopped one. */
async function labHosts(): Promise<{ ssh: SshConfig; a: string; b: string; down: string }> {
  const ssh = (await loadConfig({ file: env.lab.info.config, require: ['ssh'] })).config.ssh as SshConfig;
  const [a, b, down] = env.lab.info.hosts.map((h) => h.name) as [string, string, string];
  await env.lab.stopHost(down);
  return { ssh, a, b, down };
}

// Each transport as production builds it: through Remote, with its one resolver and host-key check.
transportContract('SshPool (ssh2) on the lab', async () => {
  const { ssh, a, b, down } = await labHosts();
  const remote = new Remote({ ...ssh, transport: 'ssh2' });
  if (!(remote.transport instanceof SshPool)) throw new Error('ssh.transport ssh2 did not give the ssh2 pool');
  return { transport: remote.transport, hosts: [a, b], unreachable: down, close: () => remote.close() };
});

transportContract('OpenSshTransport (system ssh, multiplexed) on the lab', async () => {
  const { ssh, a, b, down } = await labHosts();
  const remote = new Remote({ ...ssh, transport: 'openssh' });
  if (!(remote.transport instanceof OpenSshTransport)) throw new Error('ssh.transport openssh did not give the OpenSSH transport');
  return { transport: remote.transport, hosts: [a, b], unreachable: down, close: () => remote.close() };
});
