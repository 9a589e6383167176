import { describe, expect, it, jest } from '@jest/globals';
import { startLab } from '@galley/lab';
import { labSsh } from '@galley/lab/testing';

// jest's testTimeout is a global option: the integration project's 60 s does not reach here.
jest.setTimeout(180000);

describe('lab scale', () => {
  it('up with 20 hosts and 2 LBs is ready in under 20 s', async () => {
    const started = Date.now();
    const lab = await startLab({ hosts: 20, lbs: 2 });
    const ms = Date.now() - started;
    try {
      process.stderr.write(`[galley-lab] 20 hosts + 2 LBs up in ${ms} ms\n`);
      expect(lab.info.hosts).toHaveLength(20);
      expect(lab.info.loadBalancers).toHaveLength(2);
      expect((await lab.status()).filter((s) => !s.ok)).toEqual([]);
      expect(ms).toBeLessThan(20000);
    } finally {
      await lab.stop();
    }
  });

  it('50 hosts work: each answers `hostname -f` with its own FQDN', async () => {
    const lab = await startLab({ hosts: 50, lbs: 1, bastion: false });
    try {
      expect(lab.info.hosts).toHaveLength(50);
      const wrong: string[] = [];
      for (let i = 0; i < lab.info.hosts.length; i += 10) {
        const batch = lab.info.hosts.slice(i, i + 10);
        const rs = await Promise.all(batch.map((h) => labSsh(lab, h.name, 'hostname -f')));
        rs.forEach((r, j) => {
          if (r.code !== 0 || r.stdout.trim() !== batch[j]!.name)
            wrong.push(`${batch[j]!.name}: ${r.code} ${r.stdout.trim()} ${r.stderr.trim()}`);
        });
      }
      expect(wrong).toEqual([]);
    } finally {
      await lab.stop();
    }
  });
});
