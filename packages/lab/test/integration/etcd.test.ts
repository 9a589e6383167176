import fs from 'node:fs';
import { describe, expect, it, jest } from '@jest/globals';
import { parseConfig } from '@galley/config';
import YAML from 'yaml';
import { labEtcd } from '../../src/etcd-client.js';
import { sharedLab } from '@galley/lab/testing';
import { conftoolKey } from '@galley/lab';

// jest's testTimeout is a global option: the integration project's 60 s does not reach here.
jest.setTimeout(60000);

describe('lab etcd + seed (shared lab)', () => {
  it('serves the seeded conftool tree with all three pooled states', async () => {
    const lab = await sharedLab();
    const etcd = labEtcd(lab.info.etcd.endpoints);
    try {
      const all = await etcd.getAll().prefix(`${lab.info.namespace}/v1/pools/`).strings();
      expect(Object.keys(all)).toHaveLength(lab.plan.objects.length);
      const states = new Set(Object.values(all).map((v) => (JSON.parse(v) as { pooled: string }).pooled));
      expect([...states].sort()).toEqual(['inactive', 'no', 'yes']);
      const jobrunners = lab.plan.objects.filter((o) => o.dc === 'eqiad' && o.cluster === 'jobrunner' && o.service === 'nginx');
      expect(jobrunners.length).toBeGreaterThanOrEqual(4);
      expect(JSON.parse(all[conftoolKey(lab.info.namespace, jobrunners[0]!)]!)).toEqual({ pooled: 'yes', weight: 10 });
    } finally {
      etcd.close();
    }
  });

  it('writes a config file that @galley/config accepts', async () => {
    const lab = await sharedLab();
    const cfg = parseConfig(YAML.parse(fs.readFileSync(lab.info.config, 'utf8')), lab.info.config);
    expect(cfg.etcd?.endpoints).toEqual(lab.info.etcd.endpoints);
    expect(cfg.conftool.namespace).toBe(lab.info.namespace);
  });

  it('reset() puts back a changed, a garbage and a deleted object and removes a foreign key', async () => {
    const lab = await sharedLab();
    const etcd = labEtcd(lab.info.etcd.endpoints);
    try {
      const [a, b, c] = lab.plan.objects;
      const ka = conftoolKey(lab.info.namespace, a!);
      const kb = conftoolKey(lab.info.namespace, b!);
      const kc = conftoolKey(lab.info.namespace, c!);
      await etcd.put(kc).value('{not json');
      const foreign = `${lab.info.namespace}/v1/pools/eqiad/appserver/nginx/zz9999.eqiad.wmnet`;
      await etcd.put(ka).value('{"pooled":"no","weight":0}');
      await etcd.delete().key(kb);
      await etcd.put(foreign).value('{"pooled":"yes","weight":1}');
      await lab.reset();
      expect(JSON.parse((await etcd.get(ka).string())!)).toEqual({ pooled: a!.pooled, weight: 10 });
      expect(await etcd.get(kb).string()).not.toBeNull();
      expect(JSON.parse((await etcd.get(kc).string())!)).toEqual({ pooled: c!.pooled, weight: 10 });
      expect(await etcd.get(foreign).string()).toBeNull();
    } finally {
      etcd.close();
    }
  });
});
