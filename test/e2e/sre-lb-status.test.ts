// `cookbook sre.lb.status` through the built binary against the lab (build first:
// `pnpm exec tsc -b packages/cli cookbooks`).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Lab } from '@galley/lab';
import { sharedLab } from '@galley/lab/testing';

jest.setTimeout(60000);

const BIN = path.resolve(import.meta.dirname, '../../packages/cli/dist/bin.js');
const POOL = 'jobrunner-nginx_eqiad';
const J = ['mw1301', 'mw1302', 'mw1303', 'mw1304'].map((h) => `${h}.eqiad.wmnet`);
let lab: Lab;

function run(args: string[], config = lab.info.config): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, '-c', config, ...args], {
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

interface Row {
  host: string;
  conftool: { pooled: string };
  lbs: { lb: string; view: { pooled: boolean; up: boolean; enabled: boolean } | null }[];
  flags: { kind: string; lb?: string }[];
}
interface PoolOut {
  pool: { pool: string };
  rows: Row[];
  capacity: { canTakeOut: number; perLb: { lb: string; total: number; upEnabled: number; canTakeOut: number; error?: string }[] };
  alerts: { lb: string; status?: string; msg?: string }[];
}

async function statusJson(
  args: string[],
  opts: { config?: string; code?: number; globals?: string[] } = {},
): Promise<{ pools: PoolOut[]; alerts: { lb: string; status?: string }[]; conftoolUnknown?: string }> {
  const r = await run(['--output', 'json', ...(opts.globals ?? []), 'sre.lb.status', ...args], opts.config);
  expect(r.code).toBe(opts.code ?? 0);
  const events = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; data?: unknown });
  const out = events.find((e) => e.type === 'output');
  expect(out).toBeDefined();
  return out!.data as { pools: PoolOut[]; alerts: { lb: string; status?: string }[]; conftoolUnknown?: string };
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The lab's config with etcd pointing at a port nothing listens on. */
async function configWithEtcdDown(): Promise<{ file: string; endpoint: string }> {
  const cfg = YAML.parse(fs.readFileSync(lab.info.config, 'utf8')) as { etcd: Record<string, unknown> };
  const endpoint = `http://127.0.0.1:${await closedPort()}`;
  cfg.etcd = { ...cfg.etcd, endpoints: [endpoint], dialTimeoutMs: 1000, requestTimeoutMs: 1000 };
  const file = path.join(lab.dir, 'status-etcd-down.config.yaml');
  fs.writeFileSync(file, YAML.stringify(cfg));
  return { file, endpoint };
}

async function waitUp(hosts: string[], up: boolean, pools: string[] = [POOL]): Promise<void> {
  // Health checks run every ~200 ms; wait until both simulators see the services down (or back up and pooled).
  const end = Date.now() + 10000;
  for (;;) {
    const views = await Promise.all(
      lab.info.loadBalancers.flatMap((lb) =>
        pools.flatMap((pool) =>
          hosts.map(async (h) => {
            try {
              return (await (await fetch(`${lb.url}/pools/${pool}/${h}`, { headers: { accept: 'application/json' } })).json()) as {
                up: boolean;
                pooled: boolean;
                enabled: boolean;
              };
            } catch {
              return undefined; // an LB still coming back from an injected fault
            }
          }),
        ),
      ),
    );
    if (views.every((v) => v !== undefined && (up ? v.up && v.pooled && v.enabled : !v.up))) return;
    if (Date.now() > end) throw new Error(`services did not go ${up ? 'up' : 'down'} on the simulators: ${JSON.stringify(views)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const waitDown = (hosts: string[]): Promise<void> => waitUp(hosts, false);

beforeAll(async () => {
  lab = await sharedLab();
  // The shared lab comes from other test files: their last conftool writes may still be propagating
  // to a simulator (PyBal's delay), so start from a lab both LBs agree with, in both pools of the cluster.
  await lab.reset();
  await waitUp(J, true, [POOL, 'jobrunner-php-fpm_eqiad']);
}, 30000);
afterAll(async () => {
  await lab.reset();
});
afterEach(async () => {
  await lab.reset();
  await waitUp(J, true);
}, 30000);

describe('cookbook sre.lb.status (built binary, lab)', () => {
  it('prints one table per pool with each LB’s view, capacity and alerts', async () => {
    const r = await run(['sre.lb.status', 'cluster=jobrunner', 'dc=eqiad']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`pool ${POOL} (eqiad/jobrunner/nginx), depool threshold 0.5`);
    expect(r.stdout).toMatch(/host\s+conftool\s+lvs1019\s+lvs1020\s+flags/);
    expect(r.stdout).toMatch(/mw1301\.eqiad\.wmnet\s+yes\/10\s+enabled\/up\/pooled\s+enabled\/up\/pooled/);
    expect(r.stdout).toContain(
      'capacity: can take out 2 more (lvs1019: 4/4 up+enabled, 4 pooled, can take out 2; lvs1020: 4/4 up+enabled, 4 pooled, can take out 2)',
    );
    expect(r.stdout).toContain('alerts (all pools of each LB): lvs1019 OK - All pools are healthy; lvs1020 OK - All pools are healthy');
  });

  it('--output json: a server its LBs keep pooled while down is flagged, capacity is 0 and alerts are critical', async () => {
    // Pool of 4 at threshold 0.5: two down servers are depooled, the third is kept pooled.
    for (const h of J.slice(0, 3)) await lab.failService(h, 'nginx', 'down');
    await waitDown(J.slice(0, 3));
    const out = await statusJson(['cluster=jobrunner', 'dc=eqiad', 'service=nginx']);
    expect(out.pools.map((p) => p.pool.pool)).toEqual([POOL]);
    const p = out.pools[0]!;
    for (const lb of ['lvs1019', 'lvs1020']) {
      const pooledDown = p.rows.filter((row) => row.flags.some((f) => f.kind === 'pooled-down' && f.lb === lb));
      const notPooled = p.rows.filter((row) => row.flags.some((f) => f.kind === 'not-pooled-on-lb' && f.lb === lb));
      expect(pooledDown).toHaveLength(1);
      expect(notPooled).toHaveLength(2);
      expect(p.alerts.find((a) => a.lb === lb)).toMatchObject({
        status: 'critical',
        msg: expect.stringContaining(`${POOL}: Servers ${pooledDown[0]!.host}`),
      });
    }
    expect(p.capacity.canTakeOut).toBe(0);
    expect(p.capacity.perLb.map((c) => [c.lb, c.total, c.upEnabled])).toEqual([
      ['lvs1019', 4, 1],
      ['lvs1020', 4, 1],
    ]);
    expect(out.alerts.map((a) => a.status)).toEqual(['critical', 'critical']);
  });

  it('with one LB down: ERROR cells for it, its capacity "unknown", the other LB shown, exit 0', async () => {
    await lab.lb('lvs1020', 'down');
    try {
      const r = await run(['sre.lb.status', 'cluster=jobrunner', 'dc=eqiad', 'service=nginx']);
      expect(r.code).toBe(0);
      for (const h of J)
        expect(r.stdout).toMatch(new RegExp(`${h.replace(/\./g, '\\.')}\\s+yes/10\\s+enabled/up/pooled\\s+ERROR\\s+lb-error@lvs1020`));
      expect(r.stdout).toContain(
        `capacity: can take out 0 more (lvs1019: 4/4 up+enabled, 4 pooled, can take out 2; lvs1020: unknown (load balancer lvs1020 unreachable at ${lab.info.loadBalancers[1]!.url}/pools/${POOL}`,
      );
      expect(r.stdout).toMatch(
        /alerts \(all pools of each LB\): lvs1019 OK - All pools are healthy; lvs1020 unknown \(load balancer lvs1020 unreachable/,
      );
      const out = await statusJson(['cluster=jobrunner', 'dc=eqiad', 'service=nginx']);
      expect(out.pools[0]!.capacity.perLb.map((c) => [c.lb, c.canTakeOut, 'error' in c])).toEqual([
        ['lvs1019', 2, false],
        ['lvs1020', 0, true],
      ]);
    } finally {
      await lab.lb('lvs1020', 'up');
    }
  });

  it('with etcd unreachable (and --no-locks): every configured pool as the LBs serve it, conftool unknown, exit 2', async () => {
    const { file, endpoint } = await configWithEtcdDown();
    const r = await run(['--no-locks', 'sre.lb.status', 'cluster=jobrunner', 'dc=eqiad'], file);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toContain(`etcd is not reachable at ${endpoint}`);
    expect(r.stdout).toMatch(/conftool: UNKNOWN \(etcd is not reachable/);
    expect(r.stdout).toContain(`pool ${POOL} (eqiad/jobrunner/nginx), depool threshold 0.5`);
    for (const h of J)
      expect(r.stdout).toMatch(new RegExp(`${h.replace(/\./g, '\\.')}\\s+unknown\\s+enabled/up/pooled\\s+enabled/up/pooled`));
    expect(r.stdout).toContain(
      'capacity: can take out 2 more (lvs1019: 4/4 up+enabled, 4 pooled, can take out 2; lvs1020: 4/4 up+enabled, 4 pooled, can take out 2)',
    );
    const out = await statusJson(['cluster=jobrunner', 'dc=eqiad', 'service=nginx'], { config: file, code: 2, globals: ['--no-locks'] });
    expect(out.conftoolUnknown).toContain(`etcd is not reachable at ${endpoint}`);
    expect(out.pools.map((p) => p.pool.pool)).toEqual([POOL]);
    expect(out.pools[0]!.rows.map((row) => [row.host, row.conftool.pooled, row.flags])).toEqual(J.map((h) => [h, undefined, []]));
  });

  it('exits 1 naming the selector when nothing matches', async () => {
    const r = await run(['sre.lb.status', 'cluster=nosuch']);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain('cluster=nosuch');
  });
});
