// Helpers for the sre.lb e2e tests: run the BUILT `cookbook` binary against a lab, and watch etcd
// (through its JSON gateway) and every PyBal simulator while it runs, to check the safety
// invariants from the outside. Build first: `pnpm exec tsc -b packages/cli cookbooks`.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Lab } from '@galley/lab';

export const BIN = path.resolve(import.meta.dirname, '../../packages/cli/dist/bin.js');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  events: { type: string; ts?: string; runId?: string; [k: string]: unknown }[];
}

/**
 * Spawn the binary; `onEvent` sees each NDJSON event as it arrives (with --output json), `onSpawn`
 * the child at once. `config`: another config file than the lab's.
 */
export function cookbook(
  lab: Lab,
  args: string[],
  opts: {
    onEvent?: (e: RunResult['events'][number], child: ChildProcess) => void;
    onSpawn?: (child: ChildProcess) => void;
    config?: string;
  } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, '-c', opts.config ?? lab.info.config, ...args], {
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    opts.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    let partial = '';
    const events: RunResult['events'] = [];
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      partial += d.toString();
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        try {
          const e = JSON.parse(line) as RunResult['events'][number];
          events.push(e);
          opts.onEvent?.(e, child);
        } catch {
          // not an event line
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, events }));
  });
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: string): string => Buffer.from(s, 'base64').toString();

/** One range read through etcd's JSON gateway: key → {pooled, modRevision}. */
export async function etcdRange(
  lab: Lab,
  prefix: string,
): Promise<{ revision: number; kvs: Map<string, { value: string; modRevision: number }> }> {
  const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
  let lastErr: unknown;
  for (const ep of lab.info.etcd.endpoints) {
    try {
      const r = await fetch(`${ep}/v3/kv/range`, {
        method: 'POST',
        body: JSON.stringify({ key: b64(prefix), range_end: b64(end) }),
        signal: AbortSignal.timeout(2000),
      });
      const j = (await r.json()) as { header: { revision: string }; kvs?: { key: string; value: string; mod_revision: string }[] };
      return {
        revision: Number(j.header.revision),
        kvs: new Map((j.kvs ?? []).map((kv) => [unb64(kv.key), { value: unb64(kv.value), modRevision: Number(kv.mod_revision) }])),
      };
    } catch (err) {
      lastErr = err;
    }
  }
  throw lastErr;
}

/** One put through etcd's JSON gateway (what a manual `confctl ... set/pooled=no` amounts to). */
export async function etcdPut(lab: Lab, key: string, value: string): Promise<void> {
  let lastErr: unknown;
  for (const ep of lab.info.etcd.endpoints) {
    try {
      const r = await fetch(`${ep}/v3/kv/put`, {
        method: 'POST',
        body: JSON.stringify({ key: b64(key), value: b64(value) }),
        signal: AbortSignal.timeout(2000),
      });
      if (r.ok) return;
      lastErr = new Error(`etcd put ${key}: HTTP ${r.status}`);
    } catch (err) {
      lastErr = err;
    }
  }
  throw lastErr;
}

export function poolsPrefix(lab: Lab, dc: string, cluster: string): string {
  return `${lab.info.namespace}/v1/pools/${dc}/${cluster}/`;
}

interface LbSample {
  t: number;
  lb: string;
  pool: string;
  view: Record<string, { pooled: boolean; up: boolean; enabled: boolean }>;
}

/**
 * Samples conftool (every ~25 ms) and each LB's view of the cluster's pools (every ~50 ms) until
 * stopped. Conftool samples give the most hosts out at once and every write to an object that was
 * not `yes` at the start; LB samples are checked against action and done times afterwards.
 */
export class Watcher {
  readonly lbSamples: LbSample[] = [];
  maxDepooled = 0;
  readonly nonYesWritten = new Set<string>();
  initial = new Map<string, { value: string; modRevision: number }>();
  private stopped = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly lab: Lab,
    private readonly dc: string,
    private readonly cluster: string,
  ) {}

  async start(): Promise<void> {
    this.initial = (await etcdRange(this.lab, poolsPrefix(this.lab, this.dc, this.cluster))).kvs;
    const pools = this.lab.info.pools.filter((p) => p.dc === this.dc && p.cluster === this.cluster);
    this.loops.push(
      (async () => {
        while (!this.stopped) {
          try {
            const { kvs } = await etcdRange(this.lab, poolsPrefix(this.lab, this.dc, this.cluster));
            const out = new Set<string>();
            for (const [k, v] of kvs) {
              const was = this.initial.get(k);
              const wasYes = was !== undefined && (JSON.parse(was.value) as { pooled: string }).pooled === 'yes';
              if (was && !wasYes && v.modRevision !== was.modRevision) this.nonYesWritten.add(k);
              if (wasYes && (JSON.parse(v.value) as { pooled: string }).pooled !== 'yes') out.add(k.split('/').at(-1)!);
            }
            this.maxDepooled = Math.max(this.maxDepooled, out.size);
          } catch {
            // etcd may be down on purpose; keep sampling
          }
          await sleep(25);
        }
      })(),
      (async () => {
        while (!this.stopped) {
          await Promise.all(
            this.lab.info.loadBalancers.flatMap((lb) =>
              pools.map(async (p) => {
                const r = await fetch(`${lb.url}/pools/${p.pool}`, {
                  headers: { accept: 'application/json' },
                  signal: AbortSignal.timeout(1000),
                }).catch(() => undefined);
                if (!r?.ok) return;
                this.lbSamples.push({ t: Date.now(), lb: lb.name, pool: p.pool, view: (await r.json()) as LbSample['view'] });
              }),
            ),
          );
          await sleep(50);
        }
      })(),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  /** LB samples of a host within [from, to] (ms epoch). */
  views(host: string, from: number, to: number): { t: number; lb: string; pool: string; pooled: boolean; up: boolean; enabled: boolean }[] {
    return this.lbSamples
      .filter((s) => s.t >= from && s.t <= to && s.view[host])
      .map((s) => ({ t: s.t, lb: s.lb, pool: s.pool, ...s.view[host]! }));
  }
}

/** `systemctl restart` calls a host saw after `since` (ms epoch): their start times. */
export async function restartTimes(lab: Lab, host: string, since: number): Promise<{ t: number; units: string }[]> {
  return (await lab.systemctlLog(host))
    .map((l) => l.split(' '))
    .filter((p) => p[1] === 'restart')
    .map((p) => ({ t: Math.round(Number(p[0]) * 1000), units: p.slice(2).join(' ') }))
    .filter((r) => r.t >= since);
}

/** Until every LB has every pooled=yes object of the cluster pooled and up (after a reset). */
export async function settled(lab: Lab, dc: string, cluster: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  const pools = lab.info.pools.filter((p) => p.dc === dc && p.cluster === cluster);
  for (;;) {
    const { kvs } = await etcdRange(lab, poolsPrefix(lab, dc, cluster));
    const yes = new Map<string, Set<string>>();
    for (const [k, v] of kvs) {
      const [service, host] = k.split('/').slice(-2) as [string, string];
      if ((JSON.parse(v.value) as { pooled: string }).pooled === 'yes') yes.set(service, (yes.get(service) ?? new Set()).add(host));
    }
    const ok = await Promise.all(
      lab.info.loadBalancers.flatMap((lb) =>
        pools.map(async (p) => {
          const r = await fetch(`${lb.url}/pools/${p.pool}`, { headers: { accept: 'application/json' } }).catch(() => undefined);
          if (!r?.ok) return false;
          const view = (await r.json()) as LbSample['view'];
          return [...(yes.get(p.service) ?? [])].every((h) => view[h]?.pooled && view[h]?.up);
        }),
      ),
    );
    if (ok.every(Boolean)) return;
    if (Date.now() > end) throw new Error(`the lab's ${dc}/${cluster} pools did not settle within ${timeoutMs} ms`);
    await sleep(100);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function outputOf(r: RunResult): Record<string, unknown> | undefined {
  return r.events.filter((e) => e.type === 'output').at(-1)?.data as Record<string, unknown> | undefined;
}
