import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { conftoolKey, groupSizes, planFleet } from './plan.js';
import { generateEd25519 } from './sshkeys.js';

describe('fleet plan', () => {
  it.each([
    [12, [4, 4, 2, 2]],
    [20, [7, 7, 3, 3]],
    [50, [17, 17, 8, 8]],
    [3, [1, 2, 0, 0]],
  ])('%i hosts split as %j (eqiad appserver, eqiad jobrunner, codfw appserver, codfw jobrunner)', (n, sizes) => {
    expect(groupSizes(n)).toEqual(sizes);
    expect(groupSizes(n).reduce((a, b) => a + b, 0)).toBe(n);
  });

  it('the default lab has all three pooled states, jobrunner eqiad fully pooled, one pool per (dc, cluster, service)', () => {
    const p = planFleet({ hosts: 12, lbs: 2 });
    expect(p.hosts.map((h) => h.name)).toContain('mw1301.eqiad.wmnet');
    expect(p.objects).toHaveLength(24);
    const byState = (s: string) => p.objects.filter((o) => o.pooled === s).map((o) => `${o.name}/${o.service}`);
    expect(byState('no')).toEqual(['mw1004.eqiad.wmnet/nginx', 'mw1004.eqiad.wmnet/php-fpm']);
    expect(byState('inactive')).toEqual(['mw2002.codfw.wmnet/nginx', 'mw2002.codfw.wmnet/php-fpm']);
    expect(p.objects.filter((o) => o.dc === 'eqiad' && o.cluster === 'jobrunner').every((o) => o.pooled === 'yes')).toBe(true);
    expect(p.pools.map((x) => x.pool)).toContain('jobrunner-nginx_eqiad');
    expect(p.pools).toHaveLength(8);
    expect(p.pools.every((x) => x.loadBalancers.join() === 'lvs1019,lvs1020' && x.depoolThreshold === 0.5)).toBe(true);
    expect(conftoolKey('/conftool', p.objects[0]!)).toBe('/conftool/v1/pools/eqiad/appserver/nginx/mw1001.eqiad.wmnet');
  });
});

describe('in-process ed25519 keys', () => {
  it('are read by OpenSSH (ssh-keygen -y derives the same public key)', () => {
    const k = generateEd25519('galley-test');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-key-'));
    try {
      fs.writeFileSync(path.join(dir, 'k'), k.privateKey, { mode: 0o600 });
      const derived = execFileSync('ssh-keygen', ['-y', '-f', path.join(dir, 'k')], { encoding: 'utf8' }).trim();
      expect(derived).toBe(k.publicKey);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
