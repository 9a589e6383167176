import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, jest } from '@jest/globals';
import { labSsh, sharedLab } from '@galley/lab/testing';
import { tcpOpen } from '../../src/procs.js';

// jest's testTimeout is a global option: the integration project's 60 s does not reach here.
jest.setTimeout(60000);

// Read-only checks on the shared lab (other packages' tests use it at the same time).
describe('lab sshd hosts (shared lab)', () => {
  it('every host answers `hostname -f` with its FQDN over ssh with strict host-key checking', async () => {
    const lab = await sharedLab();
    expect(lab.info.hosts.length).toBeGreaterThanOrEqual(12);
    const results = await Promise.all(lab.info.hosts.map((h) => labSsh(lab, h.name, 'hostname -f; hostname')));
    results.forEach((r, i) => {
      const h = lab.info.hosts[i]!;
      expect({ host: h.name, code: r.code, out: r.stdout }).toEqual({ host: h.name, code: 0, out: `${h.name}\n${h.name.split('.')[0]}\n` });
    });
  });

  it('refuses a host whose key changed, and a host that is not in known_hosts', async () => {
    const lab = await sharedLab();
    const [a, b] = lab.info.hosts;
    const lines = fs
      .readFileSync(lab.info.knownHosts, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    const keyOf = (name: string) =>
      lines
        .find((l) => l.startsWith(`${name},`))!
        .split(' ')
        .slice(1)
        .join(' ');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-kh-'));
    try {
      const swapped = path.join(dir, 'swapped');
      fs.writeFileSync(
        swapped,
        lines.map((l) => (l.startsWith(`${a!.name},`) ? `${l.split(' ')[0]} ${keyOf(b!.name)}` : l)).join('\n') + '\n',
      );
      const changed = await labSsh(lab, a!.name, 'true', { knownHosts: swapped });
      expect(changed.code).toBe(255);
      expect(changed.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
      const missing = path.join(dir, 'missing');
      fs.writeFileSync(missing, lines.filter((l) => !l.startsWith(`${a!.name},`)).join('\n') + '\n');
      const unknown = await labSsh(lab, a!.name, 'true', { knownHosts: missing });
      expect(unknown.code).toBe(255);
      expect(unknown.stderr).toMatch(/Host key verification failed/);
      // The untouched host still works with the same files.
      expect((await labSsh(lab, b!.name, 'true', { knownHosts: swapped })).code).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("masks root's ~/.bashrc on the hosts and puts the fake systemctl first", async () => {
    const lab = await sharedLab();
    const h = lab.info.hosts[0]!;
    const r = await labSsh(
      lab,
      h.name,
      'wc -c < /root/.bashrc; command -v systemctl; systemctl is-active nginx; systemctl is-active no-such-unit; echo rc=$?',
    );
    expect(r.code).toBe(0);
    const [bashrc, which, nginx, unknown, rc] = r.stdout.trim().split('\n');
    expect(bashrc).toBe('0');
    expect(which).toBe(path.join(lab.dir, 'hosts', h.name, 'bin', 'systemctl'));
    expect(nginx).toBe('active');
    expect(unknown).toBe('inactive');
    expect(rc).toBe('rc=3');
  });

  it('reaches the hosts behind the bastion only through it (one and two ProxyJump hops)', async () => {
    const lab = await sharedLab();
    expect(lab.info.bastion).toEqual({
      name: 'bast1003.wikimedia.org',
      behind: ['restricted1001.eqiad.wmnet', 'restricted1002.eqiad.wmnet'],
    });
    const cfg = fs.readFileSync(lab.info.sshConfig, 'utf8');
    expect(cfg).toContain('ProxyJump bast1003.wikimedia.org\n');
    expect(cfg).toContain('ProxyJump bast1003.wikimedia.org,restricted1001.eqiad.wmnet\n');
    for (const name of lab.info.bastion!.behind) {
      const r = await labSsh(lab, name, 'hostname -f');
      expect({ name, code: r.code, out: r.stdout.trim() }).toEqual({ name, code: 0, out: name });
      const h = lab.info.extraHosts.find((x) => x.name === name)!;
      // Their sshd listens in the bastion's network namespace: nothing answers there from ours.
      expect(await tcpOpen(h.address, h.port)).toBe(false);
      const direct = await labSsh(lab, name, 'true', { extraArgs: ['-o', 'ProxyJump=none'] });
      expect(direct.code).toBe(255);
    }
  });
});
