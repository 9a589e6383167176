import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '@galley/config';
import type { SshConfig } from '@galley/remote';
import { privateLab } from '@galley/lab/testing';
import { Remote } from '@galley/remote';

const env = privateLab({ hosts: 50, lbs: 0, pybal: false }, 120_000);
let remote: Remote;

beforeAll(async () => {
  const ssh = (await loadConfig({ file: env.lab.info.config, require: ['ssh'] })).config.ssh as SshConfig;
  remote = new Remote(ssh);
});
afterAll(async () => {
  await remote.close();
});

describe('fan-out', () => {
  it('50 hosts each return their own hostname -f', async () => {
    const hosts = env.lab.info.hosts.map((h) => h.name);
    expect(hosts).toHaveLength(50);
    const t0 = Date.now();
    const rep = await remote.run(hosts, [{ argv: ['hostname', '-f'] }]);
    const ms = Date.now() - t0;
    expect(rep.status).toBe('succeeded');
    expect(rep.results.map((r) => r.stdout.trim())).toEqual(hosts);
    expect(rep.groups).toHaveLength(50);
    process.stderr.write(`50-host fan-out (connect + hostname -f): ${ms} ms\n`);
  }, 60_000);
});
