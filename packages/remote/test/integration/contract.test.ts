import { loadConfig, type SshConfig } from '@galley/config';
import { privateLab } from '@galley/lab/testing';
import { KnownHosts, OpenSshTransport, SshConfigResolver, SshPool } from '@galley/remote';
import { transportContract } from '@galley/remote/testing';

const env = privateLab({ hosts: 3, lbs: 0, pybal: false }, 90_000);

/** The lab's ssh section, its two reachable hosts and a stopped one. */
async function labHosts(): Promise<{ ssh: SshConfig; a: string; b: string; down: string }> {
  const ssh = (await loadConfig({ file: env.lab.info.config, require: ['ssh'] })).config.ssh as SshConfig;
  const [a, b, down] = env.lab.info.hosts.map((h) => h.name) as [string, string, string];
  await env.lab.stopHost(down);
  return { ssh, a, b, down };
}

transportContract('SshPool (ssh2) on the lab', async () => {
  const { ssh, a, b, down } = await labHosts();
  const transport = new SshPool({ cfg: ssh, resolver: SshConfigResolver.fromFile(ssh.sshConfig, ssh.user, ssh.identityFiles), knownHosts: KnownHosts.load(ssh.knownHosts) });
  return { transport, hosts: [a, b], unreachable: down, close: () => transport.close() };
});

transportContract('OpenSshTransport (system ssh, multiplexed) on the lab', async () => {
  const { ssh, a, b, down } = await labHosts();
  const transport = new OpenSshTransport({ cfg: { ...ssh, transport: 'openssh' } });
  return { transport, hosts: [a, b], unreachable: down, close: () => transport.close() };
});
