// Shared by the hosts-*.test.ts files: run the BUILT `cookbook` binary against a lab (build first:
// `pnpm exec tsc -b packages/cli cookbooks`), with a config derived from the lab's generated one.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { Conftool, connectEtcd } from '@galley/confctl';
import type { Lab } from '@galley/lab';

export const BIN = path.resolve(import.meta.dirname, '../../packages/cli/dist/bin.js');

export interface Res {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The lab's config with some sections changed (deep-merged one level), written next to it. */
export function configWith(lab: Lab, name: string, patch: Record<string, Record<string, unknown>>): string {
  const cfg = YAML.parse(fs.readFileSync(lab.info.config, 'utf8')) as Record<string, Record<string, unknown>>;
  for (const [k, v] of Object.entries(patch)) cfg[k] = { ...(cfg[k] ?? {}), ...v };
  const file = path.join(lab.dir, `${name}.config.yaml`);
  fs.writeFileSync(file, YAML.stringify(cfg));
  return file;
}

export function start(config: string, args: string[], onStdout?: (all: string) => void): { child: ChildProcess; done: Promise<Res> } {
  const child = spawn(process.execPath, [BIN, '-c', config, ...args], {
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const done = new Promise<Res>((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      onStdout?.(stdout);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, done };
}

export function run(config: string, args: string[]): Promise<Res> {
  return start(config, args).done;
}

/** The `output` event's data of a `--output json` run. */
export function outputOf<T>(r: Res): T {
  const ev = r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string; data?: unknown })
    .find((e) => e.type === 'output');
  if (!ev) throw new Error(`no output event in:\n${r.stdout}\n${r.stderr}`);
  return ev.data as T;
}

export function conftool(lab: Lab): { confctl: Conftool; close(): void } {
  const etcd = connectEtcd({ endpoints: lab.info.etcd.endpoints, dialTimeoutMs: 3000, requestTimeoutMs: 5000 });
  const confctl = new Conftool(etcd, { namespace: lab.info.namespace });
  return { confctl, close: () => etcd.close() };
}

/** Every conftool object with its value and mod revision: equal snapshots = nothing written. */
export async function conftoolSnapshot(confctl: Conftool): Promise<string[]> {
  return (await confctl.get({})).map((n) => `${n.key}=${n.pooled}/${n.weight}@${n.modRevision}`).sort();
}

/** `service=pooled/weight` for each object of the host, sorted. */
export async function stateOf(confctl: Conftool, host: string): Promise<string[]> {
  return (await confctl.get({ name: host.replace(/\./g, '\\.') })).map((n) => `${n.tags.service}=${n.pooled}/${n.weight}`).sort();
}

/** What every LB says about the host in each of its pools: `pool@lb=pooled|absent`. */
export async function lbViews(lab: Lab, host: string): Promise<string[]> {
  const out: string[] = [];
  const h = lab.info.hosts.find((x) => x.name === host)!;
  for (const p of lab.info.pools.filter((x) => x.dc === h.dc && x.cluster === h.cluster)) {
    for (const lbName of p.loadBalancers) {
      const lb = lab.info.loadBalancers.find((l) => l.name === lbName)!;
      const r = await fetch(`${lb.url}/pools/${p.pool}/${host}`, { headers: { accept: 'application/json' } });
      const j = r.status === 200 ? ((await r.json()) as { pooled: boolean; enabled: boolean }) : null;
      out.push(`${p.pool}@${lbName}=${j === null ? 'absent' : j.pooled ? 'pooled' : 'depooled'}`);
    }
  }
  return out.sort();
}
