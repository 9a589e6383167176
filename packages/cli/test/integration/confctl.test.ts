import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Etcd3 } from 'etcd3';
// See contract.test.ts for why the lab is imported from its sources.
import { sharedLab } from '@galley/lab/testing';

const BIN = path.resolve(import.meta.dirname, '../../dist/confctl-bin.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function confctl(args: string[], opts: { config?: string; cwd?: string } = {}): Promise<Run> {
  const full = opts.config === undefined ? args : ['-c', opts.config, ...args];
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...full], { cwd: opts.cwd, timeout: 30000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

// Every case spawns the binary a few times; on a loaded 2-core machine one run can take seconds.
jest.setTimeout(120000);

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

describe('confctl binary end to end (lab etcd)', () => {
  let dir: string;
  let config: string;
  let raw: Etcd3;
  let endpoints: string[];
  const ns = `/cli-${process.pid}-${Date.now().toString(36)}`;
  const key = (spec: string): string => `${ns}/v1/pools/${spec}`;
  const value = async (spec: string): Promise<unknown> => JSON.parse((await raw.get(key(spec)).string()) ?? 'null');
  const revision = async (): Promise<string> => String((await raw.get('\0').exec()).header.revision);

  beforeAll(async () => {
    if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: run \`pnpm build\` first (these tests drive the built binary)`);
    const lab = await sharedLab();
    endpoints = lab.info.etcd.endpoints;
    raw = new Etcd3({ hosts: endpoints });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confctl-cli-'));
    config = path.join(dir, 'galley.yaml');
    // Our own namespace on the lab's etcd: the lab's seeded tree stays untouched.
    fs.writeFileSync(config, `etcd:\n  endpoints: [${endpoints.join(', ')}]\nconftool:\n  namespace: ${ns}\n`);
    const hosts = Array.from({ length: 12 }, (_, i) => `    mw${1001 + i}.eqiad.wmnet: [nginx]`).join('\n');
    fs.writeFileSync(
      path.join(dir, 'fleet.yaml'),
      `# the CLI test fleet\neqiad:\n  appserver:\n${hosts}\n  jobrunner:\n    mw1101.eqiad.wmnet:\n      nginx: {pooled: "yes", weight: 10}\n      php-fpm: {pooled: "yes", weight: 10}\n`,
    );
  });

  afterAll(async () => {
    await raw.delete().prefix(`${ns}/`);
    raw.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sync creates the fleet with defaults and given values, then reports it unchanged', async () => {
    const r = await confctl(['sync', path.join(dir, 'fleet.yaml')], { config });
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toContain('eqiad/jobrunner/php-fpm/mw1101.eqiad.wmnet: created with pooled=yes weight=10');
    expect(lines(r.stdout)).toContain('eqiad/appserver/nginx/mw1001.eqiad.wmnet: created with pooled=inactive weight=0');
    expect(lines(r.stdout).at(-1)).toBe(`sync ${path.join(dir, 'fleet.yaml')}: 14 created, 0 deleted, 0 unchanged, 0 stale`);
    expect(await value('eqiad/appserver/nginx/mw1012.eqiad.wmnet')).toEqual({ pooled: 'inactive', weight: 0 });
    const again = await confctl(['sync', path.join(dir, 'fleet.yaml')], { config });
    expect(again.code).toBe(0);
    expect(lines(again.stdout)).toEqual([`sync ${path.join(dir, 'fleet.yaml')}: 0 created, 0 deleted, 14 unchanged, 0 stale`]);
  });

  it('select ... get prints one conftool JSON line per object; --json prints the objects', async () => {
    const r = await confctl(['select', 'dc=eqiad,cluster=jobrunner,service=nginx|php-fpm,name=mw11.*', 'get'], { config });
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      '{"mw1101.eqiad.wmnet": {"weight": 10, "pooled": "yes"}, "tags": "dc=eqiad,cluster=jobrunner,service=nginx"}',
      '{"mw1101.eqiad.wmnet": {"weight": 10, "pooled": "yes"}, "tags": "dc=eqiad,cluster=jobrunner,service=php-fpm"}',
    ]);
    const j = await confctl(['--json', 'select', 'name=mw1101.eqiad.wmnet,service=nginx', 'get'], { config });
    expect(j.code).toBe(0);
    expect(JSON.parse(lines(j.stdout)[0]!)).toMatchObject({
      key: key('eqiad/jobrunner/nginx/mw1101.eqiad.wmnet'),
      pooled: 'yes',
      weight: 10,
      tags: { dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', name: 'mw1101.eqiad.wmnet' },
    });
  });

  it('select ... set prints conftool change lines and writes', async () => {
    const r = await confctl(['select', 'cluster=jobrunner,service=nginx,name=mw1101.eqiad.wmnet', 'set/pooled=no:weight=5'], { config });
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'eqiad/jobrunner/nginx/mw1101.eqiad.wmnet: pooled changed yes => no',
      'eqiad/jobrunner/nginx/mw1101.eqiad.wmnet: weight changed 10 => 5',
    ]);
    expect(await value('eqiad/jobrunner/nginx/mw1101.eqiad.wmnet')).toEqual({ pooled: 'no', weight: 5 });
  });

  it('a set on more than one object needs --yes when not on a terminal; nothing is written without it', async () => {
    const before = await revision();
    const r = await confctl(['select', 'cluster=appserver', 'set/pooled=yes'], { config });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refusing to set pooled=yes on 12 objects without confirmation');
    expect(r.stderr).toContain('--yes');
    expect(await revision()).toBe(before);
    const ok = await confctl(['--yes', 'select', 'cluster=appserver', 'set/pooled=yes'], { config });
    expect(ok.code).toBe(0);
    expect(lines(ok.stdout)).toHaveLength(12);
    expect(await value('eqiad/appserver/nginx/mw1007.eqiad.wmnet')).toEqual({ pooled: 'yes', weight: 0 });
  });

  it('--dry-run writes nothing and prints what it would do', async () => {
    const before = await revision();
    const r = await confctl(['--dry-run', 'select', 'name=mw100[12].eqiad.wmnet', 'set/pooled=inactive'], { config });
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'DRY-RUN: would set pooled=inactive on eqiad/appserver/nginx/mw1001.eqiad.wmnet',
      'DRY-RUN: would set pooled=inactive on eqiad/appserver/nginx/mw1002.eqiad.wmnet',
    ]);
    const d = await confctl(['--dry-run', 'depool', 'mw1101.eqiad.wmnet'], { config });
    expect(d.code).toBe(0);
    expect(lines(d.stdout)).toEqual(['DRY-RUN: would set pooled=no on eqiad/jobrunner/php-fpm/mw1101.eqiad.wmnet']);
    expect(await revision()).toBe(before);
  });

  it('pool, depool, decommission and drain act on all services of a host (or --service), and warn about PyBal', async () => {
    const host = 'mw1101.eqiad.wmnet';
    const depool = await confctl(['depool', host], { config });
    expect(depool.code).toBe(0);
    expect(lines(depool.stdout)).toEqual([`eqiad/jobrunner/php-fpm/${host}: pooled changed yes => no`]);
    expect(depool.stderr).toContain('does not verify with PyBal');
    expect(depool.stderr).toContain('cookbook sre.lb.depool');

    const pool = await confctl(['pool', host], { config });
    expect(pool.code).toBe(0);
    expect(lines(pool.stdout).sort()).toEqual([
      `eqiad/jobrunner/nginx/${host}: pooled changed no => yes`,
      `eqiad/jobrunner/php-fpm/${host}: pooled changed no => yes`,
    ]);
    expect(pool.stderr).toContain('cookbook sre.lb.pool');

    const drain = await confctl(['drain', host, '--service', 'php-fpm'], { config });
    expect(drain.code).toBe(0);
    expect(lines(drain.stdout)).toEqual([`eqiad/jobrunner/php-fpm/${host}: weight changed 10 => 0`]);
    expect(await value(`eqiad/jobrunner/nginx/${host}`)).toEqual({ pooled: 'yes', weight: 5 });

    const decom = await confctl(['decommission', host, '--service', 'nginx'], { config });
    expect(decom.code).toBe(0);
    expect(lines(decom.stdout)).toEqual([`eqiad/jobrunner/nginx/${host}: pooled changed yes => inactive`]);
    expect(await value(`eqiad/jobrunner/nginx/${host}`)).toEqual({ pooled: 'inactive', weight: 5 });
    expect(await value(`eqiad/jobrunner/php-fpm/${host}`)).toEqual({ pooled: 'yes', weight: 0 });

    // a host name is a literal, not a regex: mw1101.eqiad.wmnet must not match mw1101xeqiad.wmnet
    const none = await confctl(['pool', 'mw1101.eqiad'], { config });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no conftool object matches name=mw1101\\.eqiad');
  });

  it('a selection matching nothing exits 1 and shows the selector', async () => {
    const r = await confctl(['select', 'dc=codfw,name=mw1001|mw1002', 'get'], { config });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`no conftool object matches dc=codfw,name=mw1001|mw1002 under ${ns}`);
    expect(r.stderr).toContain('[ERR_CONFCTL_NO_MATCH]');
  });

  it('an invalid stored value exits 1 naming the key and value', async () => {
    await raw.put(key('eqiad/appserver/nginx/broken.eqiad.wmnet')).value('{"pooled": "perhaps", "weight": 1}');
    const r = await confctl(['select', 'name=broken.*', 'get'], { config });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(key('eqiad/appserver/nginx/broken.eqiad.wmnet'));
    expect(r.stderr).toContain('"perhaps"');
    expect(r.stderr).toContain('[ERR_CONFCTL_INVALID_VALUE]');
  });

  it('del needs confirmation (--yes off a terminal) and deletes', async () => {
    const refused = await confctl(['select', 'name=broken.*', 'del'], { config });
    expect(refused.code).toBe(1);
    expect(await raw.get(key('eqiad/appserver/nginx/broken.eqiad.wmnet')).string()).not.toBeNull();
    const r = await confctl(['--yes', 'select', 'name=broken.*', 'del'], { config });
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual(["Deleted ('Node',) broken.eqiad.wmnet."]);
    expect(await raw.get(key('eqiad/appserver/nginx/broken.eqiad.wmnet')).string()).toBeNull();
  });

  it('sync reports stale objects and removes them only with --delete (and --yes off a terminal)', async () => {
    await raw.put(key('codfw/appserver/nginx/mw2001.codfw.wmnet')).value('{"pooled": "yes", "weight": 10}');
    const fleet = path.join(dir, 'fleet.yaml');
    const r = await confctl(['sync', fleet], { config });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`codfw/appserver/nginx/mw2001.codfw.wmnet: not in ${fleet} (pass --delete to remove it)`);
    expect(lines(r.stdout).at(-1)).toBe(`sync ${fleet}: 0 created, 0 deleted, 14 unchanged, 1 stale`);
    const refused = await confctl(['sync', fleet, '--delete'], { config });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('refusing to delete 1 objects');
    const del = await confctl(['sync', fleet, '--delete', '--yes'], { config });
    expect(del.code).toBe(0);
    expect(lines(del.stdout)).toEqual([
      'codfw/appserver/nginx/mw2001.codfw.wmnet: deleted',
      `sync ${fleet}: 0 created, 1 deleted, 14 unchanged, 0 stale`,
    ]);
  });

  it('usage errors exit 2: bad selector, bad action, bad value, bad fleet file, missing config', async () => {
    const cases: [string[], string][] = [
      [['select', 'host=mw1001', 'get'], 'unknown tag "host"'],
      [['select', 'name=mw(1001', 'get'], 'invalid regex for name'],
      [['select', 'name=mw1001', 'frobnicate'], 'unknown action "frobnicate"'],
      [['select', 'name=mw1001', 'set/pooled=maybe'], 'pooled must be yes, no or inactive'],
      [['select', 'name=mw1001', 'set/weight=-1'], 'weight must be an integer >= 0'],
      [['sync', path.join(dir, 'missing.yaml')], 'cannot read fleet file'],
      [['pool', 'x', '--bogus'], 'Unknown argument'],
    ];
    // Independent, and none of them reaches etcd: run them side by side.
    const runs = await Promise.all(cases.map(([args]) => confctl(args, { config })));
    runs.forEach((r, i) => {
      const [args, msg] = cases[i]!;
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toContain(msg);
    });
    fs.writeFileSync(
      path.join(dir, 'bad-fleet.yaml'),
      'eqiad:\n  appserver:\n    mw1001: {nginx: {pooled: maybe}}\n    "bad host": [nginx]\n',
    );
    const bad = await confctl(['sync', path.join(dir, 'bad-fleet.yaml')], { config });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('eqiad.appserver.mw1001.nginx: pooled must be one of yes|no|inactive');
    expect(bad.stderr).toContain('"bad host" is not a valid key segment');
    const noConfig = await confctl(['-c', path.join(dir, 'nope.yaml'), 'select', 'name=x', 'get']);
    expect(noConfig.code).toBe(2);
    expect(noConfig.stderr).toContain('nope.yaml does not exist');
  });

  it('an unreachable etcd exits 1 naming the endpoint', async () => {
    const dead = path.join(dir, 'dead.yaml');
    fs.writeFileSync(dead, 'etcd:\n  endpoints: [http://127.0.0.1:9]\n  dialTimeoutMs: 500\n  requestTimeoutMs: 1000\n');
    const started = Date.now();
    const r = await confctl(['select', 'name=mw1001', 'get'], { config: dead });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('etcd is not reachable at http://127.0.0.1:9');
    expect(r.stderr).toContain('[ERR_ETCD_UNAVAILABLE]');
    expect(Date.now() - started).toBeLessThan(10000);
  });
});
