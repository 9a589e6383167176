import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { isConfigError, isConfigNotFoundError } from '@galley/errors';
import { loadConfig, parseConfig } from './load.js';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-config-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const write = (file: string, text: string) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
};
const problemsOf = async (p: Promise<unknown>): Promise<string[]> => {
  try {
    await p;
  } catch (err) {
    expect(err).toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    return [...(err as { problems: string[] }).problems];
  }
  throw new Error('expected ERR_CONFIG_INVALID');
};

describe('loadConfig', () => {
  it('cosmiconfig search: a .cookbookrc.yaml in a parent directory is found from below; relative paths resolve against its directory', async () => {
    const root = path.join(tmp, 'search');
    const file = write(path.join(root, '.cookbookrc.yaml'), 'cookbooks:\n  dirs: [books]\nlogs:\n  dir: ./audit\n');
    fs.mkdirSync(path.join(root, 'a', 'b'), { recursive: true });
    const loaded = await loadConfig({ cwd: path.join(root, 'a', 'b'), systemFile: path.join(tmp, 'no-such-system.yaml') });
    expect(loaded.file).toBe(file);
    expect(loaded.config.cookbooks?.dirs).toEqual([path.join(root, 'books')]);
    expect(loaded.config.logs?.dir).toBe(path.join(root, 'audit'));
    // defaults are filled in
    expect(loaded.config.conftool.namespace).toBe('/conftool');
  });

  it('cookbook.config.json is one of the searched names', async () => {
    const root = path.join(tmp, 'json');
    const file = write(path.join(root, 'cookbook.config.json'), JSON.stringify({ cookbooks: { dirs: ['/srv/cookbooks'] } }));
    const loaded = await loadConfig({ cwd: root, systemFile: path.join(tmp, 'no-such-system.yaml') });
    expect(loaded.file).toBe(file);
    expect(loaded.config.cookbooks?.dirs).toEqual(['/srv/cookbooks']);
  });

  it('nothing found by the search: the system file is used (/etc/galley/config.yaml in production)', async () => {
    const empty = path.join(tmp, 'empty', 'dir');
    fs.mkdirSync(empty, { recursive: true });
    const system = write(path.join(tmp, 'etc', 'galley', 'config.yaml'), 'cookbooks:\n  dirs: [/srv/cookbooks]\n');
    const loaded = await loadConfig({ cwd: empty, systemFile: system });
    expect(loaded.file).toBe(system);
    await expect(loadConfig({ cwd: empty, systemFile: path.join(tmp, 'etc', 'none.yaml') })).rejects.toMatchObject({
      code: 'ERR_CONFIG_NOT_FOUND',
    });
  });

  it('-c FILE: used as given; a missing one is ERR_CONFIG_NOT_FOUND naming it; an unparsable one ERR_CONFIG_UNREADABLE', async () => {
    const file = write(path.join(tmp, 'explicit', 'my.yaml'), 'cookbooks:\n  dirs: [x]\n');
    expect((await loadConfig({ file: 'my.yaml', cwd: path.join(tmp, 'explicit') })).file).toBe(file);
    await expect(loadConfig({ file: path.join(tmp, 'explicit', 'nope.yaml') })).rejects.toMatchObject({
      code: 'ERR_CONFIG_NOT_FOUND',
      message: expect.stringContaining(path.join(tmp, 'explicit', 'nope.yaml')),
    });
    const bad = write(path.join(tmp, 'explicit', 'bad.yaml'), 'cookbooks: [unclosed\n');
    await expect(loadConfig({ file: bad })).rejects.toMatchObject({ code: 'ERR_CONFIG_UNREADABLE' });
  });

  it('the guards other packages match these with: not found (only that), and any config problem', async () => {
    const missing = await loadConfig({ file: path.join(tmp, 'explicit', 'nope.yaml') }).catch((e: unknown) => e);
    const unreadable = await loadConfig({ file: write(path.join(tmp, 'guards', 'bad.yaml'), 'cookbooks: [unclosed\n') }).catch(
      (e: unknown) => e,
    );
    const invalid = await loadConfig({ file: write(path.join(tmp, 'guards', 'invalid.yaml'), 'bogus: true\n') }).catch((e: unknown) => e);
    expect([missing, unreadable, invalid].map(isConfigNotFoundError)).toEqual([true, false, false]);
    expect([missing, unreadable, invalid].map(isConfigError)).toEqual([true, true, true]);
    expect(isConfigError(new Error('ERR_CONFIG_NOT_FOUND'))).toBe(false);
  });

  it('every problem in the file is listed at once, including a required section that is missing', async () => {
    const file = write(
      path.join(tmp, 'invalid', 'cookbook.config.yaml'),
      [
        'etcd:',
        '  endpoints: []',
        'logs:',
        '  dir: 42',
        'notifier:',
        '  webhook: ftp://sal',
        'locks:',
        '  leaseTtlSeconds: 1',
        'bogus: true',
        '',
      ].join('\n'),
    );
    const problems = await problemsOf(loadConfig({ file, require: ['cookbooks'] }));
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^etcd\.endpoints: /),
        expect.stringMatching(/^logs\.dir: /),
        expect.stringMatching(/^notifier\.webhook: must be an http\(s\) URL/),
        expect.stringMatching(/^locks\.leaseTtlSeconds: /),
        expect.stringMatching(/bogus/),
        'cookbooks: section is required here but missing',
      ]),
    );
    expect(problems).toHaveLength(6);
  });

  it('a wrong type does not hide a wrong value in the same section, nor a cross-reference, nor other sections', () => {
    let problems: string[] = [];
    try {
      parseConfig(
        {
          pybal: {
            loadBalancers: { lvs1019: { url: 'http://lvs1019:9090' } },
            pools: [{ dc: 'eqiad', cluster: 'c', service: 's', pool: 'p', loadBalancers: ['lvs1020'] }],
            retries: 'two',
            requestTimeoutMs: -1,
          },
          ssh: { concurrency: 'many', connectTimeoutMs: 0 },
          etcd: { endpoints: 'http://x', dialTimeoutMs: 'soon' },
        },
        '/tmp/c.yaml',
      );
    } catch (err) {
      expect(err).toMatchObject({ code: 'ERR_CONFIG_INVALID' });
      problems = [...(err as { problems: string[] }).problems];
    }
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'etcd.dialTimeoutMs',
      'etcd.endpoints',
      'pybal.pools.0.loadBalancers.0',
      'pybal.requestTimeoutMs',
      'pybal.retries',
      'ssh.concurrency',
      'ssh.connectTimeoutMs',
    ]);
    expect(problems).toContain('pybal.pools.0.loadBalancers.0: load balancer lvs1020 has no entry in pybal.loadBalancers');
  });

  describe('durations: 0 never means "none", negative and absurd values are refused, each naming the range', () => {
    const problemsFor = (raw: Record<string, unknown>): string[] => {
      try {
        parseConfig(raw, '/tmp/c.yaml');
      } catch (err) {
        expect(err).toMatchObject({ code: 'ERR_CONFIG_INVALID' });
        return [...(err as { problems: string[] }).problems];
      }
      return [];
    };
    const lbs = { loadBalancers: { lvs1019: { url: 'http://lvs1019:9090' } } };
    const etcd = { endpoints: ['http://127.0.0.1:2379'] };
    // [section, base of the section, field, bound]
    const ms: [string, Record<string, unknown>, string, number, string][] = [
      ['etcd', etcd, 'dialTimeoutMs', 600_000, '10 min'],
      ['etcd', etcd, 'requestTimeoutMs', 600_000, '10 min'],
      ['notifier', { webhook: 'http://sal' }, 'timeoutMs', 600_000, '10 min'],
      ['pybal', lbs, 'requestTimeoutMs', 600_000, '10 min'],
      ['pybal', lbs, 'verifyTimeoutMs', 600_000, '10 min'],
      ['ssh', {}, 'connectTimeoutMs', 600_000, '10 min'],
      ['ssh', {}, 'commandTimeoutMs', 86_400_000, '1 day'],
      ['ssh', {}, 'keepaliveIntervalMs', 600_000, '10 min'],
      ['ssh', {}, 'idleTimeoutMs', 86_400_000, '1 day'],
      ['hosts', {}, 'installTimeoutMs', 86_400_000, '1 day'],
      ['hosts', {}, 'downtimeMs', 30 * 86_400_000, '30 days'],
      ['provisioner', { type: 'command', reinstall: ['x'] }, 'timeoutMs', 86_400_000, '1 day'],
      ['inventory', { type: 'plugin', module: '/opt/inv.js' }, 'timeoutMs', 86_400_000, '1 day'],
    ];
    it.each(ms)('%s.%s (milliseconds)', (section, base, field, max, human) => {
      const range = `must be a whole number of milliseconds above 0 and at most ${max} (${human})`;
      const at = (v: unknown) => problemsFor({ [section]: { ...base, [field]: v } });
      expect(at(0)).toEqual([`${section}.${field}: ${range}; 0 is not "no timeout"`]);
      expect(at(-1)).toEqual([`${section}.${field}: ${range}; 0 is not "no timeout"`]);
      expect(at(max + 1)).toEqual([`${section}.${field}: ${range}`]);
      expect(at(1.5)).toEqual([`${section}.${field}: ${range}`]);
      expect(at(1)).toEqual([]);
      expect(at(max)).toEqual([]);
    });
    it('locks: the lease TTL from 2 to 600 s; the wait from 0 (do not wait) to a day', () => {
      expect(problemsFor({ locks: { leaseTtlSeconds: 1 } })).toEqual([
        'locks.leaseTtlSeconds: must be a whole number of seconds from 2 to 600 (10 min)',
      ]);
      expect(problemsFor({ locks: { leaseTtlSeconds: 601 } })).toEqual([
        'locks.leaseTtlSeconds: must be a whole number of seconds from 2 to 600 (10 min)',
      ]);
      expect(problemsFor({ locks: { waitTimeoutSeconds: -1 } })).toEqual([
        'locks.waitTimeoutSeconds: must be a number of seconds from 0 to 86400 (1 day); 0: do not wait, give up at once when busy',
      ]);
      expect(problemsFor({ locks: { waitTimeoutSeconds: 86401 } })).toHaveLength(1);
      expect(problemsFor({ locks: { leaseTtlSeconds: 600, waitTimeoutSeconds: 0 } })).toEqual([]);
    });
  });

  it('parseConfig: a valid config with a required section present passes; missing it alone is reported', () => {
    expect(parseConfig({ cookbooks: { dirs: ['/x'] } }, '/tmp/c.yaml', ['cookbooks']).cookbooks?.dirs).toEqual(['/x']);
    expect(() => parseConfig({}, '/tmp/c.yaml', ['etcd'])).toThrow(/etcd: section is required here but missing/);
  });
});
