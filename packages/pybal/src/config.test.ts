import { describe, expect, it } from '@jest/globals';
import { parseConfig } from '@galley/config';
import { PybalTopology } from './topology.js';

const base = { etcd: { endpoints: ['http://127.0.0.1:2379'] } };

describe('pybal config section', () => {
  it('fills defaults and maps (dc, cluster, service) to a pool with its LBs and threshold', () => {
    const cfg = parseConfig(
      {
        ...base,
        pybal: {
          loadBalancers: { lvs1019: { url: 'http://lvs1019:9090' }, lvs1020: { url: 'http://lvs1020:9090' } },
          pools: [
            { dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', pool: 'jobrunner-nginx_eqiad', loadBalancers: ['lvs1019', 'lvs1020'] },
            {
              dc: 'eqiad',
              cluster: 'jobrunner',
              service: 'php-fpm',
              pool: 'jobrunner-php_eqiad',
              loadBalancers: ['lvs1020'],
              depoolThreshold: 0.7,
            },
          ],
        },
      },
      '/etc/galley/config.yaml',
    );
    expect(cfg.pybal).toMatchObject({ defaultDepoolThreshold: 0.5, requestTimeoutMs: 2000, retries: 2, verifyTimeoutMs: 30000 });
    const t = new PybalTopology(cfg.pybal!);
    expect(t.poolFor('eqiad', 'jobrunner', 'nginx')).toEqual({
      dc: 'eqiad',
      cluster: 'jobrunner',
      service: 'nginx',
      pool: 'jobrunner-nginx_eqiad',
      depoolThreshold: 0.5,
      loadBalancers: [
        { name: 'lvs1019', url: 'http://lvs1019:9090' },
        { name: 'lvs1020', url: 'http://lvs1020:9090' },
      ],
    });
    expect(t.poolFor('eqiad', 'jobrunner', 'php-fpm')?.depoolThreshold).toBe(0.7);
    expect(t.poolFor('codfw', 'jobrunner', 'nginx')).toBeUndefined();
  });

  it('reports every bad reference and duplicate mapping together, each with its path', () => {
    const bad = {
      ...base,
      pybal: {
        loadBalancers: { lvs1019: { url: 'http://lvs1019:9090' }, lvs1020: { url: 'lvs1020:9090' } },
        pools: [
          { dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', pool: 'a', loadBalancers: ['lvs1019', 'lvs1021'] },
          { dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', pool: 'b', loadBalancers: ['lvs1019'], depoolThreshold: 1.5 },
        ],
      },
    };
    let err: unknown;
    try {
      parseConfig(bad, '/tmp/cookbook.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    const problems = (err as { problems: string[] }).problems.join('\n');
    expect(problems).toMatch(/pybal\.loadBalancers\.lvs1020\.url.*http/);
    expect(problems).toMatch(/pybal\.pools\.1\.depoolThreshold/);
    // The cross-reference checks run once the fields themselves are valid.
    const fixed = structuredClone(bad);
    fixed.pybal.loadBalancers.lvs1020.url = 'http://lvs1020:9090';
    fixed.pybal.pools[1]!.depoolThreshold = 0.5;
    let err2: unknown;
    try {
      parseConfig(fixed, '/tmp/cookbook.yaml');
    } catch (e) {
      err2 = e;
    }
    const p2 = (err2 as { problems: string[] }).problems.join('\n');
    expect(p2).toContain('pybal.pools.0.loadBalancers.1: load balancer lvs1021 has no entry in pybal.loadBalancers');
    expect(p2).toContain('pybal.pools.1: eqiad/jobrunner/nginx is already mapped by pools.0');
  });
});
