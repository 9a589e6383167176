/**
 * Thin adapters from the real clients (@galley/confctl, @galley/remote, @galley/pybal), as the
 * runner injects them (core's `Clients`, already bound to dry-run, fencing and host locks), to the
 * lb ports. Each takes the part of the client it uses (a `Pick` of core's client type), so unit
 * tests may hand over a smaller fake of the same contract.
 */
import type { Clients, ConftoolClient, PybalServiceClient, RemoteClient } from '@galley/core';
// Types only, and from the service alone: the package index's PybalClient loads undici, which a
// plan, `--help` or an argument error of an lb cookbook never needs.
import type { Verification } from '@galley/pybal/service';
import type { PoolRef } from '@galley/pybal';
// confctl's guards alone, not its index (which loads etcd3).
import { isNoMatchError } from '@galley/confctl/errors';
import type { ConftoolNode, TransitionOutcome, TransitionRequest } from '@galley/confctl';
import type {
  CapacityProbe,
  Executor,
  HostOutcome,
  LbVerification,
  LbVerifier,
  PoolCapacity,
  PoolObject,
  PoolStore,
  PoolTransition,
  PoolTransitionResult,
  Silencer,
} from './ports.js';

/** An object as lb holds it, back as the node confctl writes (its unknown fields kept). */
function isNode(o: PoolObject): o is ConftoolNode {
  return typeof o.modRevision === 'string' && typeof (o as Partial<ConftoolNode>).extra === 'object';
}

/**
 * Every write is Conftool.transition: one fenced compare-and-set txn per object on the expected
 * value and mod revision, the owner marker written or checked in the same txn, and one outcome per
 * object (lb never decodes a thrown error). An object lb holds only as a change record is re-read
 * first, so a write never drops the fields conftool does not know.
 */
export function conftoolStore(confctl: Pick<ConftoolClient, 'select' | 'owners' | 'readNodes' | 'transition'>): PoolStore {
  const toPool = (n: ConftoolNode): PoolObject => n;
  return {
    select: async (sel) => {
      try {
        return (await confctl.select(sel)).map(toPool);
      } catch (err) {
        if (isNoMatchError(err)) return [];
        throw err;
      }
    },
    owners: async (objects) => (objects.length ? confctl.owners(objects) : new Map()),
    readBack: async (objects) => {
      const got = await confctl.readNodes(objects);
      const out = new Map<string, PoolObject | { invalid: string }>();
      for (const [k, v] of got) out.set(k, v instanceof Error ? { invalid: v.message } : toPool(v));
      return out;
    },
    transition: async (reqs) => {
      const stale = reqs.filter((r) => !isNode(r.object)).map((r) => r.object);
      const fresh = stale.length ? await confctl.readNodes(stale) : new Map<string, ConftoolNode | Error>();
      const out = new Array<PoolTransitionResult | undefined>(reqs.length);
      const sent: { i: number; req: TransitionRequest }[] = [];
      reqs.forEach((r, i) => {
        const key = r.object.key;
        const node = isNode(r.object) ? r.object : fresh.get(key);
        if (node === undefined) out[i] = { status: 'changed-by-someone-else', key, found: null, foundOwner: null };
        else if (node instanceof Error) out[i] = { status: 'invalid', key, error: node };
        else {
          const expect = r.expect ?? { pooled: r.object.pooled };
          sent.push({
            i,
            req: {
              node,
              change: { pooled: r.to, ...(r.weight !== undefined ? { weight: r.weight } : {}) },
              expect,
              ...(r.owner ? { owner: r.owner } : {}),
            },
          });
        }
      });
      const res = sent.length ? await confctl.transition(sent.map((s) => s.req)) : [];
      res.forEach((o, j) => {
        const { i } = sent[j]!;
        const r = reqs[i]!;
        out[i] = fromOutcome(o, r);
      });
      return out.map((o, i) => o ?? { status: 'failed', key: reqs[i]!.object.key, error: new Error('no outcome') });
    },
  };
}

function fromOutcome(o: TransitionOutcome, r: PoolTransition): PoolTransitionResult {
  switch (o.status) {
    case 'changed':
      return {
        status: 'changed',
        key: o.key,
        change: {
          key: o.key,
          tags: r.object.tags,
          field: 'pooled',
          from: o.before.pooled,
          to: o.after.pooled,
          weight: o.after.weight,
          modRevision: o.node.modRevision,
        },
      };
    case 'already':
      return { status: 'already', key: o.key, pooled: o.value.pooled };
    case 'changed-by-someone-else':
      return { status: 'changed-by-someone-else', key: o.key, found: o.found, foundOwner: o.foundOwner };
    case 'invalid':
      return { status: 'invalid', key: o.key, error: o.error };
    case 'failed':
      return { status: 'failed', key: o.key, error: o.error };
  }
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
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  if (!lines.length) return undefined;
  const shown = lines.slice(-TAIL_LINES).map((l) => (l.length > TAIL_LINE_CHARS ? `${l.slice(0, TAIL_LINE_CHARS)}…` : l));
  const more = lines.length - shown.length;
  return `${more ? `(${more} earlier line${more === 1 ? '' : 's'} in the audit log) ` : ''}${shown.join(' | ')}`;
}

/**
 * Why a host's commands failed, in one line: remote's message without the host (every caller names
 * the host already: `mw1302: restarting: FAILED — …`), then the tail of the failing command's output.
 */
export function failureText(r: {
  host: string;
  failure?: string;
  message?: string;
  exitCode: number | null;
  commands: { stdout: string; stderr: string }[];
}): string {
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
      if (hosts.length)
        remote.run([...hosts], [{ argv: ['true'], timeoutMs: 10_000 }], { batchSize: hosts.length, isSafe: true }).catch(() => undefined);
    },
    run: async (hosts, commands, opts) => {
      if (hosts.length === 0) return [];
      const report = await remote.run([...hosts], [...commands], {
        batchSize: hosts.length,
        mode: 'async',
        ...(opts?.signal ? { signal: opts.signal } : {}),
      });
      return report.results.map((r): HostOutcome => ({
        host: r.host,
        ok: r.ok,
        ...(r.ok ? {} : { message: failureText(r) }),
        outputs: r.commands.map((c) => ({ cmd: c.cmd, exitCode: c.exitCode, stdout: c.stdout, stderr: c.stderr })),
      }));
    },
  };
}

function toLb(v: Verification): LbVerification {
  return {
    // An object no pool is configured for is not verified: never "ok" for lb (rolling refuses them up front).
    ok: v.ok && v.unmapped.length === 0,
    failedHosts: [...new Set(v.disagreements.map((d) => d.host))],
    report: v.report,
    lbs: v.lbs,
    deadlineMs: v.deadlineMs,
    rounds: v.rounds,
  };
}

/** A fixed pause between rounds: waiting for PyBal is most of a batch's wall time, and a back-off overshoots the propagation delay. */
const POLL_MS = 25;

/**
 * PybalService's verification as the lb port: out = disabled and not pooled (or not listed) on
 * every LB of every affected pool, in = pooled, enabled AND up on every one of them.
 */
export function pybalVerifier(pybal: Pick<PybalServiceClient, 'with'>): LbVerifier {
  const svc = pybal.with({ pollIntervalMs: POLL_MS, maxPollIntervalMs: POLL_MS });
  return {
    verifyOut: async (objects, o) => toLb(await svc.verifyDepooled(objects, o)),
    verifyIn: async (objects, o) => toLb(await svc.verifyPooled(objects, o)),
    verifyWeightZero: async (objects, o) => toLb(await svc.verifyWeightZero(objects, o)),
  };
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
              detail: c.perLb
                .map((p) =>
                  p.error ? `${p.lb}: ${p.error}` : `${p.lb}: ${p.upEnabled} of ${p.total} up and enabled, threshold ${p.threshold}`,
                )
                .join('; '),
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

type Monitoring = NonNullable<Clients['monitoring']>;

/**
 * The run's monitoring client as the silencer port, when it silences the hosts a rolling run takes
 * out (`silencesTakeOuts`: monitoring: alertmanager); undefined otherwise (`none`, the http webhook,
 * a plugin that does not say so), and nothing is silenced: today's behaviour.
 */
export function monitoringSilencer(m: Monitoring | undefined, who: { user: string; runId: string }): Silencer | undefined {
  if (!m?.silencesTakeOuts) return undefined;
  const where = `${m.kind} monitoring${m.url ? ` ${m.url}` : ''}`;
  return {
    where,
    keepFailedForMs: m.keepFailedForMs ?? 2 * 3600_000,
    check: async () => {
      await m.check?.();
    },
    silence: (host, o) =>
      m.downtime(host, { durationMs: o.durationMs, reason: o.reason, services: o.services, createdBy: who.user, runId: who.runId }),
    expire: (id) => m.removeDowntime(id),
    keep: async (id, o) => {
      if (!m.extendDowntime) throw new Error(`${where} cannot extend a silence`);
      const r = await m.extendDowntime(id, o);
      return { id: r.id, endsAt: r.endsAt };
    },
  };
}
