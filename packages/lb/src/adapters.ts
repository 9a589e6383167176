/**
 * Thin adapters from the real clients (@galley/confctl, @galley/remote, @galley/pybal), as the
 * runner injects them (core's `Clients`, already bound to dry-run, fencing and host locks), to the
 * lb ports. Each takes the part of the client it uses (a `Pick` of core's client type), so unit
 * tests may hand over a smaller fake of the same contract.
 */
import type { ConftoolClient, PybalServiceClient, RemoteClient } from '@galley/core';
// The service alone, not the package index: the index's PybalClient loads undici, which a plan,
// `--help` or an argument error of an lb cookbook never needs.
import { PybalService, type Verification } from '@galley/pybal/service';
import type { PoolRef } from '@galley/pybal';
// confctl's guards alone, not its index (which loads etcd3).
import { isNoMatchError } from '@galley/confctl/errors';
import { isGalleyError } from '@galley/errors';
import type {
  CapacityProbe,
  Executor,
  HostOutcome,
  LbVerification,
  LbVerifier,
  PoolCapacity,
  PoolChange,
  PoolObject,
  PoolStore,
  Pooled,
  WriteOutcome,
} from './ports.js';

const RESTORE_CONFLICT = 'ERR_CONFCTL_RESTORE_CONFLICT';

function codeOf(err: unknown): string | undefined {
  return isGalleyError(err) ? err.code : typeof err === 'object' && err !== null ? ((err as { code?: unknown }).code as string | undefined) : undefined;
}

/**
 * Every write goes through Conftool.restore: a fenced transaction per object that only writes
 * while the current value is the one we expect (compare-and-set on the value, retried on a
 * concurrent change only while that still holds), so an object someone else moved to `inactive`
 * meanwhile is never overwritten. One call per object, in parallel, to know each object's outcome.
 */
export function conftoolStore(confctl: Pick<ConftoolClient, 'select' | 'restore'>): PoolStore {
  const casWrite = async (items: { key: string; tags: PoolObject['tags']; from: Pooled; to: Pooled }[]): Promise<WriteOutcome> => {
    const out: WriteOutcome = { changed: [], skipped: [], already: [], failed: [] };
    const settled = await Promise.allSettled(items.map((i) => confctl.restore([{ key: i.key, tags: i.tags, field: 'pooled', from: i.to, to: i.from }])));
    settled.forEach((s, idx) => {
      const i = items[idx]!;
      if (s.status === 'fulfilled') {
        out.changed.push({ key: i.key, tags: i.tags, field: 'pooled', from: i.from, to: i.to });
        return;
      }
      const err: unknown = s.reason;
      if (codeOf(err) === RESTORE_CONFLICT) {
        const current = (err as { skipped?: { current: unknown }[] }).skipped?.[0]?.current;
        if (current === i.to) out.already.push(i.key);
        else out.skipped.push({ key: i.key, why: `it is ${String(current)} now, expected ${i.from}` });
        return;
      }
      out.failed.push({ key: i.key, error: err });
    });
    return out;
  };
  return {
    select: async (sel) => {
      try {
        return await confctl.select(sel);
      } catch (err) {
        if (isNoMatchError(err)) return [];
        throw err;
      }
    },
    set: (objects, from, to) => casWrite(objects.map((o) => ({ key: o.key, tags: o.tags, from, to }))),
    restore: (changes: readonly PoolChange[]) => casWrite(changes.map((c) => ({ key: c.key, tags: c.tags, from: c.to, to: c.from }))),
  };
}

/** Lines of a failed command's own output shown with the failure; the rest is in the audit log (host-output events). */
export const TAIL_LINES = 3;
const TAIL_LINE_CHARS = 240;

/**
 * The last lines of what the failing command printed (stderr, or stdout when stderr is empty),
 * one line joined by ` | `: systemd's `Job for nginx.service failed…` is the cause the operator needs.
 */
export function outputTail(o: { stdout: string; stderr: string }): string | undefined {
  const text = o.stderr.trim() !== '' ? o.stderr : o.stdout;
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  if (!lines.length) return undefined;
  const shown = lines.slice(-TAIL_LINES).map((l) => (l.length > TAIL_LINE_CHARS ? `${l.slice(0, TAIL_LINE_CHARS)}…` : l));
  const more = lines.length - shown.length;
  return `${more ? `(${more} earlier line${more === 1 ? '' : 's'} in the audit log) ` : ''}${shown.join(' | ')}`;
}

/**
 * Why a host's commands failed, in one line: remote's message without the host (every caller names
 * the host already: `mw1302: restarting: FAILED — …`), then the tail of the failing command's output.
 */
export function failureText(r: { host: string; failure?: string; message?: string; exitCode: number | null; commands: { stdout: string; stderr: string }[] }): string {
  let msg = r.message ?? r.failure ?? (r.exitCode !== null ? `exited with ${r.exitCode}` : 'failed');
  if (msg.startsWith(`${r.host}: `)) msg = msg.slice(r.host.length + 2);
  const last = r.commands.at(-1);
  const tail = last ? outputTail(last) : undefined;
  return tail ? `${msg}: ${tail}` : msg;
}

/** All commands in order on every host of the batch at once (the batch is already the unit of risk). */
export function remoteExecutor(remote: Pick<RemoteClient, 'run'>): Executor {
  return {
    prepare: (hosts) => {
      // A read-only no-op opens (and pools) the connections; failures show up on the real run.
      if (hosts.length) remote.run([...hosts], [{ argv: ['true'], timeoutMs: 10_000 }], { batchSize: hosts.length, isSafe: true }).catch(() => undefined);
    },
    run: async (hosts, commands, opts) => {
      if (hosts.length === 0) return [];
      const report = await remote.run([...hosts], [...commands], { batchSize: hosts.length, mode: 'async', ...(opts?.signal ? { signal: opts.signal } : {}) });
      return report.results.map(
        (r): HostOutcome => ({
          host: r.host,
          ok: r.ok,
          ...(r.ok ? {} : { message: failureText(r) }),
          outputs: r.commands.map((c) => ({ cmd: c.cmd, exitCode: c.exitCode, stdout: c.stdout, stderr: c.stderr })),
        }),
      );
    },
  };
}

function toLb(v: Verification): LbVerification {
  return { ok: v.ok && v.unmapped.length === 0, failedHosts: [...new Set(v.disagreements.map((d) => d.host))], report: v.report };
}

/**
 * The report of the one look taken after our own polling ran out of time says "after 1 polls in
 * 0.0 s (deadline 1 ms)": about that look, not the wait. Say what the operator waited for.
 */
function afterWait(v: LbVerification, timeoutMs: number, started: number): LbVerification {
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  return { ...v, report: v.report.replace(/ after \d+ polls? in [\d.]+ s \(deadline 1 ms\):/, ` within the ${timeoutMs} ms deadline (waited ${secs} s):`) };
}

/**
 * Verification polls each (pool, LB) once per round, with a short fixed interval: waiting for
 * PyBal is most of a batch's wall time, and the default back-off overshoots the propagation delay.
 */
export function pybalVerifier(pybal: PybalServiceClient, opts: { pollIntervalMs?: number } = {}): LbVerifier {
  let svc: PybalServiceClient = pybal;
  if (pybal instanceof PybalService) {
    svc = new PybalService({
      topology: pybal.topology,
      client: pybal.client,
      dryRun: pybal.dryRun,
      verifyTimeoutMs: pybal.verifyTimeoutMs,
      pollIntervalMs: opts.pollIntervalMs ?? 50,
      maxPollIntervalMs: Math.max(opts.pollIntervalMs ?? 50, 100),
    });
  }
  const pollMs = opts.pollIntervalMs ?? 25;
  const fast = svc instanceof PybalService ? svc : undefined;
  return {
    verifyOut: async (objects, o) => {
      if (!fast) return toLb(await svc.verifyDepooled(objects, o));
      const started = Date.now();
      const timeoutMs = o?.timeoutMs ?? fast.verifyTimeoutMs;
      const deadline = started + timeoutMs;
      // Out means disabled (or absent), not merely "not pooled": a server that is down but still
      // enabled is not pooled right now, and PyBal pools it again the moment it comes back up.
      const notOut: Map<string, Set<string>> = new Map();
      if (await pollUntil(fast, objects, (v) => !v || (!v.enabled && !v.pooled), deadline, pollMs, notOut)) return { ok: true, failedHosts: [], report: 'every LB has them out' };
      // Out of time: one more look through PybalService for the report naming each LB and why.
      const v = afterWait(toLb(await fast.verifyDepooled(objects, { timeoutMs: 1 })), timeoutMs, started);
      if (!v.ok) return v;
      // PybalService only asks for "not pooled": the ones left are enabled but down.
      const hosts = [...new Set([...notOut.values()].flatMap((h) => [...h]))];
      return {
        ok: false,
        failedHosts: hosts,
        report: [...notOut].map(([where, h]) => `${where} still has ${[...h].join(', ')} enabled (down, so not pooled now, but PyBal pools it again as soon as it is up): it has not applied the conftool change`).join('; '),
      };
    },
    verifyIn: async (objects, o) => {
      if (!fast) return toLb(await svc.verifyPooled(objects, o));
      const started = Date.now();
      const timeoutMs = o?.timeoutMs ?? fast.verifyTimeoutMs;
      const deadline = started + timeoutMs;
      if (await pollUntil(fast, objects, (v) => !!v && v.pooled && v.enabled && v.up, deadline, pollMs)) return { ok: true, failedHosts: [], report: 'every LB has them pooled and up' };
      const v = afterWait(toLb(await fast.verifyPooled(objects, { timeoutMs: 1 })), timeoutMs, started);
      if (!v.ok) return v;
      return (await waitUp(fast, objects, Date.now(), pollMs)) ?? v;
    },
  };
}

/**
 * One GET of /pools/<pool> per (pool, LB) per round, a short fixed pause between rounds, until
 * every LB's view of every host satisfies `ok` or the deadline passes. Waiting for PyBal is most
 * of a batch's wall time, so the overshoot past the propagation delay is kept to a round.
 */
async function pollUntil(
  svc: PybalService,
  objects: readonly PoolObject[],
  ok: (v: { pooled: boolean; enabled: boolean; up: boolean } | undefined) => boolean,
  deadline: number,
  pollMs: number,
  /** Filled on a timeout: "<lb> in pool <pool>" → the hosts that did not satisfy `ok` there. */
  failing?: Map<string, Set<string>>,
): Promise<boolean> {
  const all = svc.topology.poolsForNodes(objects).flatMap((ref) => {
    const hosts = [...new Set(objects.filter((o) => o.tags.dc === ref.dc && o.tags.cluster === ref.cluster && o.tags.service === ref.service).map((o) => o.tags.name))];
    return ref.loadBalancers.map((lb) => ({ ref, lb, hosts, done: false, bad: hosts }));
  });
  let pairs = all;
  // Pairs that agreed in an earlier round are not asked again while the others catch up, so when
  // they did not all agree in the same round, one more round re-reads every pair: the verdict is
  // a moment at which every LB agreed (an LB may have flipped back meanwhile, e.g. a threshold).
  let rounds = 0;
  let confirming = false;
  for (;;) {
    rounds++;
    await Promise.all(
      pairs.map(async (p) => {
        try {
          const view = await svc.client.pool(p.lb, p.ref.pool, { retries: 0 });
          p.bad = p.hosts.filter((h) => !ok(view.get(h)));
          p.done = p.bad.length === 0;
        } catch {
          p.bad = p.hosts;
          p.done = false;
        }
      }),
    );
    const allAgreed = pairs.every((p) => p.done);
    if (allAgreed && (confirming || rounds === 1)) return true;
    if (allAgreed) {
      // Every pair agreed, some in an earlier round: confirm them all together, right away.
      confirming = true;
      pairs = all;
      continue;
    }
    confirming = false;
    pairs = pairs.filter((p) => !p.done);
    if (Date.now() >= deadline) {
      for (const p of pairs) failing?.set(`${p.lb.name} in pool ${p.ref.pool}`, new Set(p.bad));
      return false;
    }
    await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
  }
}

/**
 * Pooled is not enough to call a host back: PyBal force-pools a down server to keep a pool above
 * its threshold. A host is back in when every LB has it pooled, enabled AND up (health checks
 * pass), which also keeps the next batch's capacity check from counting restarting hosts.
 */
async function waitUp(svc: PybalService, objects: readonly PoolObject[], deadline: number, pollMs: number): Promise<LbVerification | undefined> {
  const pairs = svc.topology.poolsForNodes(objects).flatMap((ref) => {
    const hosts = [...new Set(objects.filter((o) => o.tags.dc === ref.dc && o.tags.cluster === ref.cluster && o.tags.service === ref.service).map((o) => o.tags.name))];
    return ref.loadBalancers.map((lb) => ({ ref, lb, hosts, notUp: hosts, error: undefined as string | undefined }));
  });
  for (;;) {
    await Promise.all(
      pairs
        .filter((p) => p.notUp.length)
        .map(async (p) => {
          try {
            const view = await svc.client.pool(p.lb, p.ref.pool, { retries: 0 });
            p.notUp = p.hosts.filter((h) => !view.get(h)?.up);
            p.error = undefined;
          } catch (err) {
            p.error = err instanceof Error ? err.message : String(err);
          }
        }),
    );
    const bad = pairs.filter((p) => p.notUp.length);
    if (!bad.length) return undefined;
    if (Date.now() >= deadline) {
      return {
        ok: false,
        failedHosts: [...new Set(bad.flatMap((p) => p.notUp))],
        report: bad
          .map((p) => (p.error ? `${p.lb.name} gave no usable answer for pool ${p.ref.pool}: ${p.error}` : `${p.lb.name} has ${p.notUp.join(', ')} pooled but not up in pool ${p.ref.pool} (health checks failing)`))
          .join('; '),
      };
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export function pybalCapacity(pybal: Pick<PybalServiceClient, 'topology' | 'capacity'>): CapacityProbe {
  const refs = new Map<string, PoolRef>();
  return {
    poolOf: (o) => {
      const ref = pybal.topology.poolFor(o.tags.dc, o.tags.cluster, o.tags.service);
      if (ref) refs.set(ref.pool, ref);
      return ref?.pool;
    },
    capacity: async (pools) => {
      const out = new Map<string, PoolCapacity>();
      await Promise.all(
        pools.map(async (name) => {
          const ref = refs.get(name);
          if (!ref) {
            out.set(name, { pool: name, canTakeOut: 0, detail: 'unknown pool', error: 'no such pool in the config' });
            return;
          }
          try {
            const c = await pybal.capacity(ref);
            const err = c.perLb.find((p) => p.error !== undefined);
            out.set(name, {
              pool: name,
              canTakeOut: c.canTakeOut,
              detail: c.perLb.map((p) => (p.error ? `${p.lb}: ${p.error}` : `${p.lb}: ${p.upEnabled} of ${p.total} up and enabled, threshold ${p.threshold}`)).join('; '),
              ...(err ? { error: `${err.lb}: ${err.error ?? ''}` } : {}),
            });
          } catch (e) {
            out.set(name, { pool: name, canTakeOut: 0, detail: 'no answer', error: e instanceof Error ? e.message : String(e) });
          }
        }),
      );
      return out;
    },
  };
}
