// Start-up guard: every binary's light paths (--version, --help, -l, a bad argument, and confctl's
// read-only `select … get`) load none of the heavy modules (etcd3 and its gRPC stack, ssh2, undici, listr2). Timings belong to `pnpm bench cli`;
// this checks the cause instead, so it cannot flake: each built binary runs under a loader hook that
// records every module the ESM loader resolves, with its importer. Node 20's hooks see ESM resolution
// only (not require() inside a CommonJS package) — enough, since galley reaches each of these
// packages through an ESM import, static or lazy.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Lab } from '@galley/lab';
import { sharedLab } from '@galley/lab/testing';

jest.setTimeout(120_000);

const ROOT = path.resolve(import.meta.dirname, '../..');
const BINS = {
  cookbook: 'packages/cli/dist/bin.js',
  confctl: 'packages/cli/dist/confctl-bin.js',
  'galley-exec': 'packages/cli/dist/galley-exec-bin.js',
  'galley-nodeset': 'packages/cli/dist/galley-nodeset-bin.js',
  'galley-lab': 'packages/lab/dist/bin.js',
} as const;
const HEAVY = ['etcd3', '@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs', 'ssh2', 'undici', 'listr2'];
// pnpm's layout: …/node_modules/.pnpm/<name>@<version>/node_modules/<name>/…
const heavyOf = (url: string): string | undefined => HEAVY.find((m) => url.includes(`/node_modules/${m}/`));

let lab: Lab;
let tmp: string;
let register: string;

beforeAll(async () => {
  lab = await sharedLab();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-startup-'));
  const hooks = path.join(tmp, 'hooks.mjs');
  fs.writeFileSync(
    hooks,
    "import fs from 'node:fs';\n" +
      'export async function resolve(spec, ctx, next) {\n' +
      '  const r = await next(spec, ctx);\n' +
      "  fs.appendFileSync(process.env.GALLEY_LOADLOG, `${r.url} <- ${ctx.parentURL ?? ''}\\n`);\n" +
      '  return r;\n' +
      '}\n',
  );
  register = path.join(tmp, 'register.mjs');
  fs.writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Loaded {
  status: number | null;
  output: string;
  /** heavy module → the chain of importers that reached it, outermost last */
  heavy: Map<string, string[]>;
  /** every resolved URL */
  urls: Set<string>;
}

function run(bin: keyof typeof BINS, args: string[], cwd = tmp): Loaded {
  const log = path.join(tmp, `load-${process.hrtime.bigint()}.log`);
  const r = spawnSync(process.execPath, ['--import', register, path.join(ROOT, BINS[bin]), ...args], {
    cwd,
    // no config found by the search (cwd and HOME are empty): the no-config path is what is checked
    env: { ...process.env, HOME: tmp, XDG_CACHE_HOME: path.join(tmp, 'cache'), NO_COLOR: '1', GALLEY_LOADLOG: log },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const lines = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : [];
  const parent = new Map<string, string>();
  for (const l of lines) {
    const [url, from] = l.split(' <- ') as [string, string];
    if (!parent.has(url)) parent.set(url, from);
  }
  const heavy = new Map<string, string[]>();
  for (const url of parent.keys()) {
    const m = heavyOf(url);
    if (m === undefined || heavy.has(m)) continue;
    // walk up to the first galley file that imported it, so the failure names the culprit
    const chain: string[] = [];
    for (let u: string | undefined = url; u !== undefined && u !== '' && chain.length < 20; u = parent.get(u)) {
      chain.push(u.replace(pathToFileURL(ROOT).href + '/', ''));
      if (heavyOf(u) === undefined) break;
    }
    heavy.set(m, chain);
  }
  return { status: r.status, output: `${r.stdout}${r.stderr}`, heavy, urls: new Set(parent.keys()) };
}

const describeHeavy = (l: Loaded): string => [...l.heavy].map(([m, chain]) => `${m}: ${chain.join(' <- ')}`).join('\n');

describe('start-up: light paths load no heavy module', () => {
  const cases: { bin: keyof typeof BINS; args: (cfg: string) => string[]; status: number; prints?: RegExp }[] = [
    { bin: 'cookbook', args: () => ['--version'], status: 0, prints: /^cookbook \d+\.\d+\.\d+$/m },
    { bin: 'cookbook', args: () => ['--help'], status: 0 },
    { bin: 'cookbook', args: () => ['-l'], status: 0 },
    { bin: 'cookbook', args: (cfg) => ['-c', cfg, '-l'], status: 0 },
    { bin: 'cookbook', args: (cfg) => ['-c', cfg, 'sre.lb.rolling-restart', '--help'], status: 0 },
    { bin: 'cookbook', args: (cfg) => ['-c', cfg, 'sre.lb.rolling-restart', 'cluster=jobrunner', 'batch=abc', 'reason=guard'], status: 96 },
    { bin: 'cookbook', args: (cfg) => ['-c', cfg, 'no.such.cookbook'], status: 98 },
    { bin: 'confctl', args: () => ['--help'], status: 0 },
    { bin: 'confctl', args: (cfg) => ['-c', cfg, 'select', 'dc=eqiad', 'frobnicate'], status: 2 },
    // A real read: conftool's objects through etcd's JSON gateway, with no etcd3/gRPC stack loaded.
    {
      bin: 'confctl',
      args: (cfg) => ['-c', cfg, 'select', 'dc=eqiad,cluster=jobrunner', 'get'],
      status: 0,
      prints: /"tags": "dc=eqiad,cluster=jobrunner,service=/,
    },
    { bin: 'galley-exec', args: () => ['--version'], status: 0, prints: /^\d+\.\d+\.\d+$/m },
    { bin: 'galley-exec', args: () => ['--help'], status: 0 },
    { bin: 'galley-exec', args: (cfg) => ['-c', cfg, '--batch-size', 'notanumber', 'mw1301.eqiad.wmnet', 'true'], status: 2 },
    { bin: 'galley-nodeset', args: () => ['-f', 'mw[1301-1310].eqiad.wmnet!mw1305.eqiad.wmnet'], status: 0 },
    { bin: 'galley-nodeset', args: () => ['-e', 'a[1-3'], status: 1 },
    { bin: 'galley-lab', args: () => ['--help'], status: 0 },
  ];
  for (const c of cases) {
    it(`${c.bin} ${c.args('CONFIG').join(' ')}`, () => {
      const l = run(c.bin, c.args(lab.info.config));
      if (l.status !== c.status) throw new Error(`exit ${l.status}, expected ${c.status}:\n${l.output}`);
      if (c.prints) expect(l.output).toMatch(c.prints);
      // the hook really ran: it saw the binary's own entry module
      expect(l.urls).toContain(pathToFileURL(path.join(ROOT, BINS[c.bin])).href);
      if (l.heavy.size > 0) throw new Error(`heavy modules loaded (module: chain of importers):\n${describeHeavy(l)}`);
    });
  }

  it('the guard sees what a real run loads: sre.lb.status (conftool + every LB) loads etcd3 and undici, each named with its importer', () => {
    const l = run('cookbook', ['-c', lab.info.config, 'sre.lb.status', 'cluster=jobrunner', 'dc=eqiad']);
    expect(l.status).toBe(0);
    expect([...l.heavy.keys()].sort()).toEqual(expect.arrayContaining(['etcd3', 'undici']));
    // the chain ends at the galley module that asked for it
    expect(l.heavy.get('etcd3')!.at(-1)).toMatch(/^packages\/[a-z]+\/dist\//);
    expect(l.heavy.get('undici')!.at(-1)).toMatch(/^packages\/[a-z]+\/dist\//);
  });
});
