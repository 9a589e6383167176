// The invariant harness (galley issue 11, ARCHITECTURE §4a): wraps ONE run of the built `cookbook`
// binary against a lab and checks it from the outside, from exact records only:
//   - conftool: the starting state (one range read) and an etcd watch on the conftool prefix and the
//     owner markers from the next revision, so every write is known with its revision (and arrival
//     time), replayed over the starting state;
//   - PyBal: every simulator's history (DIR/lb/<name>/history.jsonl, lab.lbHistory): each change
//     of each server on each LB with its time, so an LB's view at any moment is known, not sampled;
//   - the hosts: each `systemctl` call (state/systemctl.log) and lifecycle action (reinstall,
//     power-off, wipe) with its start time;
//   - the run itself: its NDJSON events (--output json), its report and leftovers.
// Operator actions during the run go through RunControl, so their writes are told apart from the
// run's. `violations` lists each broken invariant with the offending revision or event and the
// state around it; a run that keeps them all has `violations: []`.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { connectEtcd, EtcdKv, type KvEntry } from '@galley/confctl';
import { LabLifecycle, type Lab, type SimHistoryEntry, type SimServerView } from '@galley/lab';
import { cookbook, sleep, type RunResult } from './lb-helpers.js';

export type Ev = RunResult['events'][number];
type Pooled = 'yes' | 'no' | 'inactive';
interface Tags {
  dc: string;
  cluster: string;
  service: string;
  name: string;
}
interface Value {
  pooled: Pooled;
  weight: number;
  [k: string]: unknown;
}

const CONFCTL = path.resolve(import.meta.dirname, '../../packages/cli/dist/confctl-bin.js');

/** Which conftool objects the run may write (each given tag must match exactly). */
export interface Scope {
  dc?: string;
  cluster?: string;
  services?: readonly string[];
  hosts?: readonly string[];
}

/**
 * What a cookbook may write: `no`/`inactive` = takes `yes` objects to that value and puts back
 * (to `yes`) only what it took; `pool` = `no` → `yes` for objects found at `no`, and back to `no`
 * only what it wrote (a failed verification); `none` = nothing.
 */
export type WritePolicy = 'no' | 'inactive' | 'pool' | 'none';

/** How to read the run's report: which hosts it says are done, out, untouched. */
export type ReportKind = 'rolling' | 'pool' | 'reimage' | 'decommission';

export interface RunSpec {
  /** The cookbook and its arguments (after the global options; `--output json` is added). */
  argv: string[];
  /** Another config file than the lab's (global option -c). */
  config?: string;
  /** Extra global options before the cookbook name (e.g. --yes). */
  globals?: string[];
  scope: Scope;
  /** At most this many objects of one pool out at once because of the run (also bounded by the pool's threshold). */
  maxOut: number;
  writes: WritePolicy;
  /** decommission: deletes the objects of the hosts it decommissions. */
  deletes?: boolean;
  report: ReportKind;
  /** Where the hosts' actions are recorded (default systemctl). */
  actions?: readonly ('systemctl' | 'lifecycle')[];
  /**
   * The run is aborted at once by a second signal: it may end between writing a put-back and
   * verifying it (it was told to stop now), so [unverified put-back] is not asked of it; its
   * leftovers must still be exactly what conftool holds.
   */
  abortNow?: boolean;
  /** Each NDJSON event of the run as it arrives: act at the exact phase. */
  onEvent?: (e: Ev, ctl: RunControl) => void;
  /**
   * drain=weight: the run may also write the weight, only to 0 while the object is still pooled
   * (yes → yes) and back to the weight it had at the start, with the put-back.
   */
  drainWeight?: boolean;
}

/** An operator action during the run: which keys it may write, in which revision window, and what it asked for. */
interface OperatorAction {
  label: string;
  keys: Set<string>;
  fromRev: number;
  toRev: number;
  /** Is this write (within the window, on one of the keys) this action's? */
  owns: (w: Write) => boolean;
  /**
   * What the operator wants the object to be (its raw value), from `intentRev` on: the run may not
   * write it otherwise, it must be so when the run ends, and the run's report must name it.
   * `intentFrom`: `acted` = from the action's first write (or, if it wrote nothing, from its end:
   * when it had done what it does), `end` = from its end (an action that waits for the run).
   */
  intentFrom: 'acted' | 'end';
  intentRev: number;
  intent: (raw: string | null) => boolean;
  /** For the report: what the operator asked for. */
  wants: string;
  done: Promise<unknown>;
}

export interface Write {
  rev: number;
  /** When the watch delivered it (ms epoch). */
  t: number;
  type: 'put' | 'delete';
  key: string;
  raw: string | null;
  by: string;
}

export interface Recorded {
  run: RunResult;
  runStart: number;
  runEnd: number;
  startRev: number;
  endRev: number;
  start: Map<string, string>;
  final: Map<string, string>;
  /** Every write to the conftool pools prefix in (startRev, endRev], in order, with who made it. */
  writes: Write[];
  /** Owner-marker writes seen in the same window. */
  ownerWrites: Write[];
  /** The runs of other cookbooks that operators started (their results). */
  operators: Map<string, unknown>;
  /** What the checks looked at (a check that saw nothing proves nothing: tests assert these are > 0). */
  checked: { runWrites: number; actions: number; done: number; reportClaims: number };
  violations: string[];
  /** The records the checks read besides the above (recheck() runs them again on a changed copy). */
  records: { ops: OperatorAction[]; histories: Map<string, SimHistoryEntry[]>; actions: HostAction[]; watchErrors: string[] };
}

export interface HostAction {
  host: string;
  /** When it started on the host (ms epoch). */
  t: number;
  what: string;
}

/** What a test can do while the run runs (from RunSpec.onEvent). */
export interface RunControl {
  readonly child: ChildProcess;
  readonly events: readonly Ev[];
  /**
   * `confctl -c CONFIG ARGV…` by an operator: `keys` the objects it targets, `wants` what it asks for
   * (e.g. `{pooled: 'inactive'}`: its writes are the ones that set that, and the objects must stay so).
   */
  confctl(
    label: string,
    argv: string[],
    keys: readonly string[],
    wants: Partial<Value>,
  ): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /**
   * Another `cookbook` run (an operator's, e.g. sre.lb.depool/pool): its writes are the ones its own
   * `changed` output names; once it acted (`intentFrom: 'acted'`: its first write, or its end if it
   * wrote nothing — taking out never waits) or once it ended (`'end'`: putting back waits for the
   * run), the objects must be as `wants` says.
   */
  cookbook(
    label: string,
    argv: string[],
    keys: readonly string[],
    opts: { intentFrom: 'acted' | 'end'; wants: Partial<Value>; config?: string },
  ): Promise<RunResult>;
  /** A raw etcd put (a hand-edited or corrupt value): exactly that revision is the operator's. */
  put(label: string, key: string, raw: string): Promise<number>;
}

export function parseKey(lab: Lab, key: string): Tags | undefined {
  const base = `${lab.info.namespace}/v1/pools/`;
  if (!key.startsWith(base)) return undefined;
  const p = key.slice(base.length).split('/');
  if (p.length !== 4) return undefined;
  const [dc, cluster, service, name] = p as [string, string, string, string];
  return { dc, cluster, service, name };
}

export function parseValue(raw: string | null | undefined): Value | 'invalid' | null {
  if (raw === null || raw === undefined) return null;
  try {
    const v = JSON.parse(raw) as Partial<Value>;
    if (
      typeof v !== 'object' ||
      v === null ||
      !['yes', 'no', 'inactive'].includes(v.pooled as string) ||
      !Number.isInteger(v.weight) ||
      (v.weight as number) < 0
    )
      return 'invalid';
    return v as Value;
  } catch {
    return 'invalid';
  }
}

const pooledOf = (raw: string | null | undefined): Pooled | 'invalid' | 'absent' => {
  const v = parseValue(raw);
  return v === null ? 'absent' : v === 'invalid' ? 'invalid' : v.pooled;
};

/** `dc/cluster/service/host` (lb's shortKey). */
export function shortKeyOf(lab: Lab, key: string): string {
  const t = parseKey(lab, key);
  return t ? `${t.dc}/${t.cluster}/${t.service}/${t.name}` : key;
}

export function inScope(scope: Scope, t: Tags): boolean {
  return (
    (scope.dc === undefined || scope.dc === t.dc) &&
    (scope.cluster === undefined || scope.cluster === t.cluster) &&
    (scope.services === undefined || scope.services.includes(t.service)) &&
    (scope.hosts === undefined || scope.hosts.includes(t.name))
  );
}

// Upstream-mode simulators also record `lvs`: whether IPVS has the server (what gets traffic), which
// a failed assert can leave different from what PyBal's API shows. Out and in ask both.
const inTraffic = (v: SimServerView): boolean => v !== null && (v.lvs ?? v.pooled);
const isOut = (v: SimServerView): boolean => v === null || (!v.enabled && !v.pooled && v.lvs !== true);
const isIn = (v: SimServerView): boolean => v !== null && v.enabled && v.pooled && v.up && v.lvs !== false;
const viewText = (v: SimServerView): string =>
  v === null
    ? 'absent'
    : `${v.enabled ? 'enabled' : 'disabled'}/${v.up ? 'up' : 'down'}/${v.pooled ? 'pooled' : 'not pooled'}${v.lvs !== undefined && v.lvs !== v.pooled ? (v.lvs ? ' (but in IPVS)' : ' (but not in IPVS)') : ''}`;

/** The LBs' views over time, from the simulators' histories. */
class LbTimeline {
  readonly #series = new Map<string, { t: number; view: SimServerView; cause: string; rev?: number }[]>();
  readonly hostsOf = new Map<string, Set<string>>();

  constructor(histories: Map<string, SimHistoryEntry[]>) {
    for (const [lb, entries] of histories) {
      for (const e of entries) {
        if (e.to === undefined) continue; // an ignored (invalid) value: no change
        const k = `${lb}|${e.pool}|${e.host}`;
        let s = this.#series.get(k);
        if (!s) this.#series.set(k, (s = []));
        s.push({ t: e.t, view: e.to, cause: e.cause, ...(e.rev !== undefined ? { rev: e.rev } : {}) });
        const pk = `${lb}|${e.pool}`;
        let hs = this.hostsOf.get(pk);
        if (!hs) this.hostsOf.set(pk, (hs = new Set()));
        hs.add(e.host);
      }
    }
  }

  at(lb: string, pool: string, host: string, t: number): SimServerView {
    const s = this.#series.get(`${lb}|${pool}|${host}`);
    let v: SimServerView = null;
    if (s)
      for (const e of s) {
        if (e.t > t) break;
        v = e.view;
      }
    return v;
  }

  /** Every change of the pool on this LB within [from, to]. */
  changes(lb: string, pool: string, from: number, to: number): { t: number; host: string; view: SimServerView }[] {
    const out: { t: number; host: string; view: SimServerView }[] = [];
    for (const host of this.hostsOf.get(`${lb}|${pool}`) ?? []) {
      for (const e of this.#series.get(`${lb}|${pool}|${host}`) ?? [])
        if (e.t >= from && e.t <= to) out.push({ t: e.t, host, view: e.view });
    }
    return out.sort((a, b) => a.t - b.t);
  }

  /** The whole pool on this LB at t: host → view (present servers only). */
  pool(lb: string, pool: string, t: number): Map<string, NonNullable<SimServerView>> {
    const out = new Map<string, NonNullable<SimServerView>>();
    for (const host of this.hostsOf.get(`${lb}|${pool}`) ?? []) {
      const v = this.at(lb, pool, host, t);
      if (v) out.set(host, v);
    }
    return out;
  }
}

/** One invariant harness per lab (per test file); `run()` per cookbook run. */
export class Invariants {
  readonly #lab: Lab;
  readonly #kv: EtcdKv;

  constructor(lab: Lab) {
    this.#lab = lab;
    this.#kv = new EtcdKv(connectEtcd({ endpoints: lab.info.etcd.endpoints, dialTimeoutMs: 3000, requestTimeoutMs: 5000 }));
  }

  close(): void {
    this.#kv.close();
  }

  get poolsPrefix(): string {
    return `${this.#lab.info.namespace}/v1/pools/`;
  }

  get ownersPrefix(): string {
    return `/galley/owners${this.#lab.info.namespace}/`;
  }

  /** The lab's conftool key of a host's service object. */
  key(host: string, service: string): string {
    const h = this.#lab.info.hosts.find((x) => x.name === host);
    if (!h) throw new Error(`no lab host ${host}`);
    return `${this.poolsPrefix}${h.dc}/${h.cluster}/${service}/${host}`;
  }

  async revision(): Promise<number> {
    return Number(await this.#kv.revision());
  }

  /** Every owner marker → its raw value now (keyed by the conftool key it is for). */
  async owners(): Promise<Map<string, string>> {
    return new Map(
      (await this.#kv.range(this.ownersPrefix)).entries.map((e) => [
        `${this.poolsPrefix}${e.key.slice(this.ownersPrefix.length)}`,
        e.value,
      ]),
    );
  }

  /** Every pools key → raw value now. */
  async snapshot(): Promise<Map<string, string>> {
    return new Map((await this.#kv.range(this.poolsPrefix)).entries.map((e) => [e.key, e.value]));
  }

  async run(spec: RunSpec): Promise<Recorded> {
    const lab = this.#lab;
    const startRange = await this.#kv.range(this.poolsPrefix);
    const startRev = Number(startRange.revision);
    const start = new Map(startRange.entries.map((e) => [e.key, e.value]));
    const raw: Omit<Write, 'by'>[] = [];
    const owners: Omit<Write, 'by'>[] = [];
    const watchErrors: string[] = [];
    const record = (into: Omit<Write, 'by'>[]) => ({
      onEvent: (type: 'put' | 'delete', e: KvEntry) =>
        into.push({ rev: Number(e.modRevision), t: Date.now(), type, key: e.key, raw: type === 'put' ? e.value : null }),
      onError: (err: Error) => watchErrors.push(err.message),
    });
    const w1 = await this.#kv.watch(this.poolsPrefix, String(startRev + 1), record(raw));
    const w2 = await this.#kv.watch(this.ownersPrefix, String(startRev + 1), record(owners));
    const ops: OperatorAction[] = [];
    const operatorResults = new Map<string, unknown>();
    const logStart = new Map<string, number>();
    const lc = spec.actions?.includes('lifecycle') ? new LabLifecycle(lab) : undefined;
    for (const h of lab.info.hosts) logStart.set(h.name, (await lab.systemctlLog(h.name)).length);
    const lcStart = new Map<string, { events: number; wipes: number }>();
    if (lc) for (const h of lab.info.hosts) lcStart.set(h.name, { events: lc.events(h.name).length, wipes: lc.wipes(h.name).length });

    let child: ChildProcess | undefined;
    const events: Ev[] = [];
    const kv = this.#kv;
    const config = spec.config ?? lab.info.config;
    const ctl: RunControl = {
      get child() {
        return child!;
      },
      events,
      confctl: async (label, argv, keys, wants) => {
        const fromRev = Number(await kv.revision());
        const done = execFile(process.execPath, [CONFCTL, '-c', config, '--yes', ...argv]);
        const intent = satisfies(wants);
        const op: OperatorAction = {
          label,
          keys: new Set(keys),
          fromRev,
          toRev: Infinity,
          owns: (w) => intent(w.raw),
          intentFrom: 'acted',
          intentRev: Infinity,
          intent,
          wants: JSON.stringify(wants),
          done,
        };
        ops.push(op);
        const r = await done;
        op.toRev = Number(await kv.revision());
        operatorResults.set(label, r);
        return r;
      },
      cookbook: async (label, argv, keys, opts) => {
        const fromRev = Number(await kv.revision());
        const res: { result?: RunResult } = {};
        const op: OperatorAction = {
          label,
          keys: new Set(keys),
          fromRev,
          toRev: Infinity,
          intentFrom: opts.intentFrom,
          intentRev: Infinity,
          owns: (w) => {
            // its own report says what it changed: object (shortKey) and the value it wrote
            const data = res.result?.events.filter((e) => e.type === 'output').at(-1)?.data as
              { changed?: { object: string; to: string }[] } | undefined;
            return (data?.changed ?? []).some((c) => c.object === shortKeyOf(lab, w.key) && c.to === pooledOf(w.raw));
          },
          done: Promise.resolve(),
          intent: satisfies(opts.wants),
          wants: JSON.stringify(opts.wants),
        };
        ops.push(op);
        const p = cookbook(lab, ['--output', 'json', ...argv], opts.config ? { config: opts.config } : {});
        op.done = p;
        const result = await p;
        res.result = result;
        op.toRev = Number(await kv.revision());
        operatorResults.set(label, result);
        return result;
      },
      put: async (label, key, value) => {
        const r = await kv.txn([], [{ type: 'put', key, value }]);
        const rev = Number(r.revision);
        ops.push({
          label,
          keys: new Set([key]),
          fromRev: rev - 1,
          toRev: rev,
          owns: () => true,
          intentFrom: 'acted',
          intentRev: rev,
          intent: (raw) => raw === value,
          wants: `the value ${value}`,
          done: Promise.resolve(),
        });
        return rev;
      },
    };

    const runStart = Date.now();
    const run = await cookbook(lab, [...(spec.globals ?? []), '--output', 'json', ...spec.argv], {
      ...(spec.config ? { config: spec.config } : {}),
      onSpawn: (c) => (child = c),
      onEvent: (e) => {
        events.push(e);
        try {
          spec.onEvent?.(e, ctl);
        } catch (err) {
          watchErrors.push(`onEvent threw: ${(err as Error).message}`);
        }
      },
    });
    const runEnd = Date.now();
    // conftool as the run left it: the report is compared with this, before any operator's later write.
    const endRange = await this.#kv.range(this.poolsPrefix);
    const endRev = Number(endRange.revision);
    const final = new Map(endRange.entries.map((e) => [e.key, e.value]));
    await Promise.all(ops.map((o) => o.done.catch(() => undefined)));
    // The watch has delivered everything up to endRev when replaying it gives the final range.
    const deadline = Date.now() + 5000;
    for (;;) {
      const replayed = new Map(start);
      for (const w of raw) {
        if (w.rev > endRev) continue;
        if (w.type === 'put') replayed.set(w.key, w.raw!);
        else replayed.delete(w.key);
      }
      if (replayed.size === final.size && [...final].every(([k, v]) => replayed.get(k) === v)) break;
      if (Date.now() > deadline) {
        watchErrors.push(`the watch did not deliver every write up to revision ${endRev} within 5 s`);
        break;
      }
      await sleep(50);
    }
    await w1.close();
    await w2.close();
    // Let the simulators write what they applied up to the end (their history is appended as it happens).
    await sleep(50);
    const histories = new Map<string, SimHistoryEntry[]>();
    for (const lb of lab.info.loadBalancers) histories.set(lb.name, await lab.lbHistory(lb.name));

    const attribute = (w: Omit<Write, 'by'>): Write => {
      const op = ops.find((o) => o.keys.has(w.key) && w.rev > o.fromRev && w.rev <= o.toRev && o.owns({ ...w, by: o.label }));
      return { ...w, by: op?.label ?? 'run' };
    };
    const writes = raw
      .filter((w) => w.rev <= endRev)
      .sort((a, b) => a.rev - b.rev)
      .map(attribute);
    for (const o of ops)
      o.intentRev = o.intentFrom === 'end' ? o.toRev : Math.min(o.toRev, ...writes.filter((w) => w.by === o.label).map((w) => w.rev));
    const ownerWrites = owners
      .filter((w) => w.rev <= endRev)
      .sort((a, b) => a.rev - b.rev)
      .map((w) => ({ ...w, by: '' }));

    const actions: HostAction[] = [];
    for (const h of lab.info.hosts) {
      const lines = (await lab.systemctlLog(h.name)).slice(logStart.get(h.name) ?? 0);
      for (const l of lines) {
        const [ts, verb, ...units] = l.split(' ');
        if (!['restart', 'start', 'stop', 'reboot'].includes(verb ?? '')) continue; // is-active/status are reads
        actions.push({ host: h.name, t: Math.round(Number(ts) * 1000), what: `systemctl ${verb} ${units.join(' ')}`.trim() });
      }
      if (lc) {
        for (const l of lc.events(h.name).slice(lcStart.get(h.name)?.events ?? 0)) {
          const [ts, ...rest] = l.split(' ');
          actions.push({ host: h.name, t: Math.round(Number(ts) * 1000), what: rest.join(' ') });
        }
        for (const l of lc.wipes(h.name).slice(lcStart.get(h.name)?.wipes ?? 0)) {
          const [ts, ...rest] = l.split(' ');
          actions.push({ host: h.name, t: Math.round(Number(ts) * 1000), what: `wipe ${rest.join(' ')}` });
        }
      }
    }
    actions.sort((a, b) => a.t - b.t);

    const rec: Recorded = {
      run,
      runStart,
      runEnd,
      startRev,
      endRev,
      start,
      final,
      writes,
      ownerWrites,
      operators: operatorResults,
      checked: { runWrites: 0, actions: 0, done: 0, reportClaims: 0 },
      violations: [],
      records: { ops, histories, actions, watchErrors },
    };
    return recheck(lab, spec, rec);
  }
}

/** Does a raw value hold every field asked for? */
function satisfies(wants: Partial<Value>): (raw: string | null) => boolean {
  return (raw) => {
    const v = parseValue(raw);
    return v !== null && v !== 'invalid' && Object.entries(wants).every(([k, x]) => v[k] === x);
  };
}

function execFile(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

// ------------------------------------------------------------------------------------ the checks

/**
 * Run every check over the records (again): fills `violations` and `checked`. Exported so that the
 * harness's own tests can show each check failing on a record changed to break it.
 */
export function recheck(lab: Lab, spec: RunSpec, rec: Recorded): Recorded {
  rec.violations = [...rec.records.watchErrors];
  rec.checked = { runWrites: 0, actions: 0, done: 0, reportClaims: 0 };
  check(lab, spec, rec, rec.records.ops, new LbTimeline(rec.records.histories), rec.records.actions);
  return rec;
}

function check(lab: Lab, spec: RunSpec, rec: Recorded, ops: OperatorAction[], lbs: LbTimeline, actions: HostAction[]): void {
  const v = rec.violations;
  const rel = (t: number) => `t=+${t - rec.runStart} ms`;
  const tagsOf = (k: string) => parseKey(lab, k);
  const poolOf = (t: Tags) => lab.info.pools.find((p) => p.dc === t.dc && p.cluster === t.cluster && p.service === t.service);
  const scoped = (k: string) => {
    const t = tagsOf(k);
    return t !== undefined && inScope(spec.scope, t);
  };
  const allKeys = new Set([...rec.start.keys(), ...rec.final.keys(), ...rec.writes.map((w) => w.key)]);
  const operatorKeys = new Set(ops.flatMap((o) => [...o.keys]));
  const shortK = (k: string) => shortKeyOf(lab, k);

  // Replay: the state and last writer of every key before each write.
  const state = new Map(rec.start);
  const lastBy = new Map<string, string>();
  const poolState = (t: Tags): string =>
    [...state]
      .filter(([k]) => {
        const x = tagsOf(k);
        return x && x.dc === t.dc && x.cluster === t.cluster && x.service === t.service;
      })
      .map(([k, raw]) => `${tagsOf(k)!.name}=${pooledOf(raw)}${lastBy.has(k) ? ` (by ${lastBy.get(k)})` : ''}`)
      .join(', ');
  /** For each key, the run's writes (in order) with the value before. */
  const runWrites = new Map<string, { w: Write; before: string | undefined }[]>();
  const handedOver = ownerHandOver(lab, rec);
  const outByRun = new Map<string, Set<string>>(); // pool name → keys out because of the run
  const reportedOut = new Set<string>();
  const capacity = new Map<string, number>();
  const allowedOut = (pool: { pool: string; loadBalancers: string[]; depoolThreshold: number }): number => {
    if (capacity.has(pool.pool)) return capacity.get(pool.pool)!;
    // The pool's depool threshold as the simulator computes it, on its worst LB at the run's start.
    let room = Infinity;
    for (const lb of pool.loadBalancers) {
      const servers = [...lbs.pool(lb, pool.pool, rec.runStart).values()];
      const upEnabled = servers.filter((s) => s.up && s.enabled).length;
      room = Math.min(room, Math.max(0, Math.floor(upEnabled - servers.length * pool.depoolThreshold + 1e-9)));
    }
    const n = Math.min(spec.maxOut, room);
    capacity.set(pool.pool, n);
    return n;
  };

  for (const w of rec.writes) {
    const before = state.get(w.key);
    const t = tagsOf(w.key);
    const where = `rev ${w.rev} (${rel(w.t)}) ${w.type} ${shortK(w.key)} = ${w.raw ?? '(deleted)'} by ${w.by}`;
    if (w.by === 'run') {
      rec.checked.runWrites++;
      runWrites.set(w.key, [...(runWrites.get(w.key) ?? []), { w, before }]);
      const around = t ? `\n    pool ${t.dc}/${t.cluster}/${t.service} before: ${poolState(t)}` : '';
      const problems: string[] = [];
      const startV = parseValue(rec.start.get(w.key));
      const prevV = parseValue(before);
      const newV = parseValue(w.raw);
      const prevBy = lastBy.get(w.key);
      if (!scoped(w.key)) problems.push("an object outside the run's scope was written");
      if (prevBy !== undefined && prevBy !== 'run')
        problems.push(`it was last written by ${prevBy}: the run wrote over someone else's change`);
      for (const o of ops) {
        if (o.keys.has(w.key) && w.rev > o.intentRev && !o.intent(w.raw))
          problems.push(`${o.label} (from rev ${o.intentRev}) wants ${o.wants}: the run undid it`);
      }
      if (prevV === 'invalid') problems.push('the value it replaced was not readable (corrupt): nothing may be written over it');
      if (w.type === 'delete') {
        if (!spec.deletes) problems.push('deleted an object');
      } else if (newV === 'invalid' || newV === null) {
        problems.push('wrote a value that is not valid conftool JSON');
      } else {
        const prevPooled = prevV !== null && prevV !== 'invalid' ? prevV.pooled : undefined;
        const startPooled = startV !== null && startV !== 'invalid' ? startV.pooled : undefined;
        // drain=weight: the weight goes to 0 (while pooled) and back to what it was at the start, nothing else
        const startWeight = startV !== null && startV !== 'invalid' ? startV.weight : undefined;
        const weightOk = (a: Value, b: Value): boolean =>
          !!spec.drainWeight &&
          a.weight !== b.weight &&
          (b.weight === 0 ? a.pooled === 'yes' && b.pooled === 'yes' : a.weight === 0 && b.weight === startWeight && b.pooled === 'yes');
        if (prevV !== null && prevV !== 'invalid') {
          const { pooled: _a, ...restPrev } = prevV;
          const { pooled: _b, ...restNew } = newV;
          if (weightOk(prevV, newV)) restNew.weight = restPrev.weight;
          if (JSON.stringify(restPrev) !== JSON.stringify(restNew))
            problems.push(`changed more than pooled (${JSON.stringify(restPrev)} → ${JSON.stringify(restNew)})`);
        }
        const weightWrite =
          !!spec.drainWeight &&
          prevV !== null &&
          prevV !== 'invalid' &&
          prevV.pooled === 'yes' &&
          newV.pooled === 'yes' &&
          newV.weight === 0 &&
          prevV.weight !== 0;
        const ownOut = (runWrites.get(w.key) ?? [])
          .slice(0, -1)
          .some(
            (x) =>
              parseValue(x.before) !== 'invalid' &&
              (parseValue(x.before) as Value | null)?.pooled === (spec.writes === 'pool' ? 'no' : 'yes'),
          );
        const transition = `${prevPooled ?? pooledOf(before)} → ${newV.pooled}`;
        if (spec.writes === 'none') problems.push('this cookbook writes nothing');
        else if (spec.writes === 'pool') {
          if (startPooled !== 'no') problems.push(`found at ${startPooled ?? 'absent'}: sre.lb.pool only pools objects found at no`);
          else if (!(transition === 'no → yes' || (transition === 'yes → no' && ownOut)))
            problems.push(`${transition} is not a write this cookbook makes`);
        } else {
          const out = spec.writes;
          if (startPooled !== 'yes')
            problems.push(`found at ${startPooled ?? 'absent'} at the start: a run takes out only what is pooled (yes)`);
          else if (!(weightWrite || transition === `yes → ${out}` || (transition === `${out} → yes` && ownOut)))
            problems.push(`${transition} is not a write this cookbook makes (it takes yes → ${out} and puts back only what it took)`);
        }
      }
      if (problems.length) v.push(`[writes] ${where}: ${problems.join('; ')}${around}`);
    }
    // apply
    if (w.type === 'put') state.set(w.key, w.raw!);
    else state.delete(w.key);
    lastBy.set(w.key, w.by);
    // never more out at once than the run allows (per pool, counting what the run took out)
    if (t) {
      const pool = poolOf(t);
      if (pool && scoped(w.key)) {
        const set = outByRun.get(pool.pool) ?? new Set<string>();
        // out because of the run: it took it out (found at yes) and nobody has written it since
        if (w.by === 'run' && pooledOf(rec.start.get(w.key)) === 'yes' && pooledOf(state.get(w.key)) !== 'yes') set.add(w.key);
        else set.delete(w.key);
        outByRun.set(pool.pool, set);
        // an object someone else took over (their owner marker: an operator's depool) is theirs now
        for (const k of set) if (handedOver(k, w.rev)) set.delete(k);
        const allowed = allowedOut(pool);
        if (set.size > allowed && !reportedOut.has(pool.pool)) {
          reportedOut.add(pool.pool);
          v.push(
            `[max-out conftool] rev ${w.rev} (${rel(w.t)}): ${set.size} objects of pool ${pool.pool} out because of the run (${[...set].map((k) => tagsOf(k)!.name).join(', ')}), at most ${allowed} allowed (maxOut ${spec.maxOut}, threshold room ${capacity.get(pool.pool)})\n    pool now: ${poolState(t)}`,
          );
        }
      }
    }
  }

  // The LBs' view: never more servers of a pool out of traffic at once than allowed, and never a
  // server the run disabled kept pooled by PyBal (its depool would have breached the threshold).
  const runTouched = new Set([...runWrites.keys()]);
  const { hosts: _h, ...poolScope } = spec.scope;
  const scopeHosts = new Set([...allKeys].filter(scoped).map((k) => tagsOf(k)!.name));
  const pools = lab.info.pools.filter(
    (p) =>
      inScope(poolScope, { dc: p.dc, cluster: p.cluster, service: p.service, name: '' }) &&
      [...scopeHosts].some((h) => allKeys.has(`${lab.info.namespace}/v1/pools/${p.dc}/${p.cluster}/${p.service}/${h}`)),
  );
  for (const p of pools) {
    const allowed = allowedOut(p);
    const hostScope = (h: string) => scopeHosts.has(h);
    const keyOf = (h: string) => `${lab.info.namespace}/v1/pools/${p.dc}/${p.cluster}/${p.service}/${h}`;
    for (const lb of p.loadBalancers) {
      const at0 = lbs.pool(lb, p.pool, rec.runStart);
      const cur = new Map<string, SimServerView>(at0);
      let reported = false;
      let reportedKept = false;
      for (const c of lbs.changes(lb, p.pool, rec.runStart + 1, rec.runEnd)) {
        cur.set(c.host, c.view);
        const out = [...cur]
          .filter(([h, view]) => hostScope(h) && inTraffic(at0.get(h) ?? null) && !inTraffic(view) && !operatorKeys.has(keyOf(h)))
          .map(([h]) => h);
        if (out.length > allowed && !reported) {
          reported = true;
          v.push(
            `[max-out ${lb}] ${rel(c.t)}: ${out.length} servers of ${p.pool} out of traffic at once (${out.join(', ')}), at most ${allowed} allowed\n    ${lb} ${p.pool}: ${[...cur].map(([h, x]) => `${h}=${viewText(x)}`).join(', ')}`,
          );
        }
        if (c.view && !c.view.enabled && c.view.pooled && runTouched.has(keyOf(c.host)) && !reportedKept) {
          reportedKept = true;
          v.push(
            `[threshold ${lb}] ${rel(c.t)}: ${lb} keeps ${c.host} pooled although the run disabled it in ${p.pool}: depooling it breached the pool's depool threshold ${p.depoolThreshold}\n    ${lb} ${p.pool}: ${[...cur].map(([h, x]) => `${h}=${viewText(x)}`).join(', ')}`,
          );
        }
      }
      // A server the run wrote that PyBal shows disabled when the run ends while IPVS still has it
      // (upstream: an update stopped at a failed assert after merging it): out only on the API.
      for (const [h, view] of cur) {
        if (view && !view.enabled && view.lvs === true && runTouched.has(keyOf(h)))
          v.push(
            `[out only on the API ${lb}] when the run ended ${lb} showed ${h} ${viewText(view)} in ${p.pool}: IPVS still sends it traffic`,
          );
      }
    }
  }

  // No action on a host before every LB has it out of every pool the run takes it out of.
  for (const a of actions) {
    const keys = [...allKeys].filter((k) => tagsOf(k)?.name === a.host && scoped(k) && ['yes', 'no'].includes(pooledOf(rec.start.get(k))));
    if (!keys.length) continue;
    rec.checked.actions++;
    for (const k of keys) {
      const p = poolOf(tagsOf(k)!);
      if (!p) continue;
      for (const lb of p.loadBalancers) {
        const view = lbs.at(lb, p.pool, a.host, a.t);
        if (!isOut(view)) {
          const lastRunWrite = (runWrites.get(k) ?? []).filter((x) => x.w.t <= a.t).at(-1);
          v.push(
            `[action before out] ${rel(a.t)}: \`${a.what}\` on ${a.host} while ${lb} had it ${viewText(view)} in ${p.pool}; last run write of ${shortK(k)} before it: ${lastRunWrite ? `rev ${lastRunWrite.w.rev} ${lastRunWrite.w.raw}` : 'none'}`,
          );
        }
      }
    }
  }

  // Nothing reported done before every LB has it back in (pooled, enabled, up).
  const done = doneOf(lab, spec, rec, runWrites);
  for (const d of done) {
    rec.checked.done++;
    for (const k of d.keys) {
      const p = poolOf(tagsOf(k)!);
      if (!p) continue;
      for (const lb of p.loadBalancers) {
        const view = lbs.at(lb, p.pool, d.host, d.t);
        if (!isIn(view))
          v.push(`[done before in] ${rel(d.t)}: ${d.host} reported ${d.what} while ${lb} had it ${viewText(view)} in ${p.pool}`);
      }
    }
  }

  // Nothing the run put back (and left at yes) that is not in on every LB when the run ended.
  for (const [k, ws] of spec.abortNow ? [] : runWrites) {
    const last = ws.at(-1)!.w;
    if (lastBy.get(k) !== 'run' || pooledOf(last.raw) !== 'yes') continue;
    const p = poolOf(tagsOf(k)!);
    if (!p) continue;
    for (const lb of p.loadBalancers) {
      const view = lbs.at(lb, p.pool, tagsOf(k)!.name, rec.runEnd);
      if (!isIn(view))
        v.push(
          `[unverified put-back] rev ${last.rev}: ${shortK(k)} written back to yes by the run, but when it ended ${lb} had it ${viewText(view)} in ${p.pool}`,
        );
    }
  }

  // The report equals conftool read back.
  reportChecks(lab, spec, rec, ops, runWrites, lastBy);
}

function outputData(rec: Recorded): Record<string, unknown> | undefined {
  return rec.run.events.filter((e) => e.type === 'output').at(-1)?.data as Record<string, unknown> | undefined;
}

function doneOf(
  lab: Lab,
  spec: RunSpec,
  rec: Recorded,
  runWrites: Map<string, { w: Write }[]>,
): { host: string; t: number; keys: string[]; what: string }[] {
  const putBack = (host: string, before: number) =>
    [...runWrites]
      .filter(([k, ws]) => parseKey(lab, k)?.name === host && ws.some((x) => pooledOf(x.w.raw) === 'yes' && x.w.t <= before + 1000))
      .map(([k]) => k);
  const out = rec.run.events.find((e) => e.type === 'output');
  const data = outputData(rec);
  if (spec.report === 'rolling') {
    return rec.run.events
      .filter((e) => e.type === 'host-phase' && e.phase === 'done')
      .map((e) => ({ host: String(e.host), t: Date.parse(e.ts!), keys: putBack(String(e.host), Date.parse(e.ts!)), what: 'done' }));
  }
  if (!out || !data) return [];
  const t = Date.parse(out.ts!);
  if (spec.report === 'pool' && data.verified === true && data.direction === 'pool') {
    const changed = (data.changed as { object: string; to: string }[])
      .filter((c) => c.to === 'yes')
      .map((c) => `${lab.info.namespace}/v1/pools/${c.object}`);
    return [{ host: String(data.host), t, keys: changed, what: 'pooled (verified)' }];
  }
  if (spec.report === 'reimage' && data.status === 'succeeded') {
    const host = String(data.host);
    // an object someone else took over meanwhile (their owner marker) is theirs, not the run's to put back
    const handedOver = ownerHandOver(lab, rec);
    return [
      {
        host,
        t,
        keys: [...rec.start]
          .filter(([k, raw]) => parseKey(lab, k)?.name === host && pooledOf(raw) === 'yes' && !handedOver(k, Infinity))
          .map(([k]) => k),
        what: 'reimaged (succeeded)',
      },
    ];
  }
  return [];
}

/**
 * Whether, at etcd revision `rev`, the owner marker of pool key `k` is someone else's than the
 * run's (an operator's depool recorded on an object the run had out): from then on it is theirs.
 */
function ownerHandOver(lab: Lab, rec: Recorded): (k: string, rev: number) => boolean {
  const runId = String(rec.run.events[0]?.runId ?? '');
  const ownersPrefix = `/galley/owners${lab.info.namespace}/`;
  const poolsPrefix = `${lab.info.namespace}/v1/pools/`;
  const byKey = new Map<string, { rev: number; owner: string | null }[]>();
  for (const w of rec.ownerWrites) {
    if (!w.key.startsWith(ownersPrefix)) continue;
    const k = `${poolsPrefix}${w.key.slice(ownersPrefix.length)}`;
    let owner: string | null = null;
    if (w.raw !== null) {
      try {
        const id = (JSON.parse(w.raw) as { runId?: unknown }).runId;
        owner = typeof id === 'string' ? id : '(unreadable)';
      } catch {
        owner = '(unreadable)';
      }
    }
    byKey.set(k, [...(byKey.get(k) ?? []), { rev: w.rev, owner }]);
  }
  return (k, rev) => {
    const last = (byKey.get(k) ?? []).filter((x) => x.rev <= rev).at(-1);
    return last !== undefined && last.owner !== null && last.owner !== runId;
  };
}

function reportChecks(
  lab: Lab,
  spec: RunSpec,
  rec: Recorded,
  ops: OperatorAction[],
  runWrites: Map<string, { w: Write }[]>,
  lastBy: Map<string, string>,
): void {
  const v = rec.violations;
  const data = outputData(rec);
  const finished = rec.run.events.find((e) => e.type === 'run-finished') as
    { summary?: { leftovers?: { object: string; state: string }[] } } | undefined;
  const keysOf = (host: string) =>
    [...new Set([...rec.start.keys(), ...rec.final.keys()])].filter(
      (k) => parseKey(lab, k)?.name === host && inScope(spec.scope, parseKey(lab, k)!),
    );
  const opKeys = new Map<string, OperatorAction>();
  for (const o of ops) for (const k of o.keys) opKeys.set(k, o);
  const state = (k: string) => pooledOf(rec.final.get(k));
  const claim = (k: string, want: string, why: string) => {
    rec.checked.reportClaims++;
    const got = state(k);
    if (got !== want)
      v.push(
        `[report ≠ conftool] ${why}: ${shortKeyOf(lab, k)} should be ${want}, conftool has ${rec.final.get(k) ?? '(absent)'}${lastBy.has(k) ? ` (last written by ${lastBy.get(k)})` : ''}`,
      );
  };
  const asStart = (k: string, why: string) => {
    rec.checked.reportClaims++;
    if (rec.final.get(k) !== rec.start.get(k))
      v.push(
        `[report ≠ conftool] ${why}: ${shortKeyOf(lab, k)} should be as it was (${rec.start.get(k) ?? '(absent)'}), conftool has ${rec.final.get(k) ?? '(absent)'}${lastBy.has(k) ? ` (last written by ${lastBy.get(k)})` : ''}`,
      );
  };
  const matchKey = (host: string, obj: string) =>
    keysOf(host).find((k) => k === obj || k.endsWith(`/${obj}`) || shortKeyOf(lab, k) === obj);
  // the report: the output event (data and text), the leftovers and run-finished
  const text = JSON.stringify(rec.run.events.filter((e) => e.type === 'output' || e.type === 'leftover' || e.type === 'run-finished'));

  // Objects an operator acted on during the run: as the operator wants them when the run ends, and
  // named by the run's report (whatever the operator did, the run must say it left them alone).
  for (const o of ops) {
    for (const k of o.keys) {
      if (!rec.start.has(k) && !rec.final.has(k)) continue;
      const t = parseKey(lab, k)!;
      rec.checked.reportClaims++;
      if (rec.final.get(k) !== undefined && o.intentRev <= rec.endRev && !o.intent(rec.final.get(k) ?? null)) {
        v.push(
          `[left as found] ${shortKeyOf(lab, k)}: ${o.label} (rev ${o.intentRev}) wants ${o.wants}; when the run ended conftool had ${rec.final.get(k) ?? '(absent)'} (last written by ${lastBy.get(k) ?? 'nobody since the start'})`,
        );
      }
      if (o.intentRev <= rec.endRev && !text.includes(`${t.service}/${t.name}`))
        v.push(
          `[not reported] ${shortKeyOf(lab, k)}: ${o.label} acted on it during the run (wants ${o.wants}); the run's report does not name it`,
        );
    }
  }

  if (spec.report === 'rolling') {
    if (data && Array.isArray(data.succeeded)) {
      const d = data as {
        succeeded: string[];
        failed: { host: string; stillDepooled: boolean; depooledObjects: string[] }[];
        inFlight: { host: string; depooledObjects: string[] }[];
        notAttempted: string[];
      };
      for (const h of d.succeeded) {
        for (const k of keysOf(h)) {
          if (opKeys.has(k)) continue;
          if (pooledOf(rec.start.get(k)) === 'yes') claim(k, 'yes', `${h} reported succeeded`);
          else asStart(k, `${h} reported succeeded`);
        }
      }
      const partly = (h: string, listed: string[], why: string) => {
        const ks = listed.map((o) => matchKey(h, o));
        for (const [i, k] of ks.entries()) {
          if (k === undefined) v.push(`[report ≠ conftool] ${why}: lists ${listed[i]}, which is not an object of ${h} in the run's scope`);
          else claim(k, 'no', why);
        }
        for (const k of keysOf(h)) if (!ks.includes(k) && !opKeys.has(k)) asStart(k, `${why} (not listed as depooled)`);
      };
      for (const f of d.failed)
        partly(
          f.host,
          f.stillDepooled ? f.depooledObjects : [],
          f.stillDepooled ? `${f.host} reported failed, STILL DEPOOLED` : `${f.host} reported failed, back as it was`,
        );
      for (const f of d.inFlight) partly(f.host, f.depooledObjects, `${f.host} reported stopped mid-way`);
      for (const h of d.notAttempted)
        for (const k of keysOf(h))
          if (!opKeys.has(k)) {
            asStart(k, `${h} reported not attempted`);
            if (runWrites.has(k))
              v.push(
                `[report ≠ conftool] ${h} reported not attempted, but the run wrote ${shortKeyOf(lab, k)} (rev ${runWrites.get(k)![0]!.w.rev})`,
              );
          }
    } else if (!finished) {
      v.push('[report] the run printed neither a report nor run-finished');
    }
  }
  if (spec.report === 'pool' && data) {
    for (const c of (data.changed as { object: string; to: string }[] | undefined) ?? []) {
      const k = `${lab.info.namespace}/v1/pools/${c.object}`;
      claim(
        k,
        data.depooledAgain === true ? 'no' : c.to,
        `${String(data.host)} reported ${data.depooledAgain === true ? 'set back to no' : `changed to ${c.to}`}`,
      );
    }
    if (data.nothingToDo === true)
      for (const k of keysOf(String(data.host)))
        if (runWrites.has(k))
          v.push(`[report ≠ conftool] ${String(data.host)} reported nothing to do, but the run wrote ${shortKeyOf(lab, k)}`);
  }
  if (spec.report === 'reimage' && data) {
    const host = String(data.host);
    if (data.status === 'succeeded') for (const k of keysOf(host)) if (!opKeys.has(k)) asStart(k, `${host} reported reimaged`);
    // conftool read back, object by object (engine ObjectState: `dc/cluster/service/name`, pooled, weight, owner)
    if (Array.isArray(data.conftoolNow)) {
      const said = data.conftoolNow as { object: string; pooled: string; weight?: number; owner?: { runId: string } }[];
      // Owner markers written during the run, as they were when it ended (pool key → run id; null: cleared).
      const ownersPrefix = `/galley/owners${lab.info.namespace}/`;
      const finalOwners = new Map<string, string | null>();
      for (const w of rec.ownerWrites) {
        if (!w.key.startsWith(ownersPrefix)) continue;
        let id: string | null = null;
        if (w.type === 'put') {
          try {
            const m = (JSON.parse(w.raw ?? 'null') as { runId?: unknown } | null)?.runId;
            id = typeof m === 'string' ? m : '(unreadable)';
          } catch {
            id = '(unreadable)';
          }
        }
        finalOwners.set(`${lab.info.namespace}/v1/pools/${w.key.slice(ownersPrefix.length)}`, id);
      }
      const named = new Set(said.map((s) => `${lab.info.namespace}/v1/pools/${s.object}`));
      for (const k of [...rec.final.keys()].filter((x) => parseKey(lab, x)?.name === host))
        if (!named.has(k)) v.push(`[report ≠ conftool] ${host}: the report's conftool now does not list ${shortKeyOf(lab, k)}`);
      for (const s of said) {
        rec.checked.reportClaims++;
        const k = `${lab.info.namespace}/v1/pools/${s.object}`;
        const x = parseValue(rec.final.get(k));
        const got = x === null ? 'deleted' : x === 'invalid' ? 'invalid' : `${x.pooled}/${x.weight}`;
        const want = s.pooled === 'deleted' || s.pooled === 'invalid' ? s.pooled : `${s.pooled}/${s.weight}`;
        if (got !== want)
          v.push(`[report ≠ conftool] ${host} reported ${s.object}=${want}, conftool has ${rec.final.get(k) ?? '(absent)'}`);
        // (a marker not written during the run is not known here)
        const marker = finalOwners.get(k);
        if (marker !== undefined && (s.owner?.runId ?? null) !== marker)
          v.push(
            `[report ≠ conftool] ${host} reported ${s.object} held out by ${s.owner?.runId ?? 'nobody'}, its owner marker says ${marker ?? 'nobody'}`,
          );
      }
    } else if (data.status !== 'not-confirmed' && [...runWrites.keys()].some((k) => parseKey(lab, k)?.name === host)) {
      v.push(
        `[report] ${host}: the run wrote its objects, and its report has no conftool read back (conftoolNow: ${JSON.stringify(data.conftoolNow)})`,
      );
    }
  }
  if (spec.report === 'decommission' && data) {
    for (const h of (data.hosts as { host: string; status: string }[] | undefined) ?? []) {
      if (h.status !== 'decommissioned') continue;
      rec.checked.reportClaims++;
      const left = [...rec.final.keys()].filter((k) => parseKey(lab, k)?.name === h.host);
      if (left.length)
        v.push(
          `[report ≠ conftool] ${h.host} reported decommissioned, conftool still has ${left.map((k) => shortKeyOf(lab, k)).join(', ')}`,
        );
    }
  }

  // Leftovers: exactly the hosts the run left out of traffic, as conftool has them.
  if (spec.report === 'rolling' || spec.report === 'reimage') {
    if (!finished) {
      v.push('[leftovers] no run-finished event: the run reported no leftovers at all');
    } else {
      // A leftover names a host (the engine's report) or one object, `dc/cluster/service/name` (a hard
      // stop reads back the objects at no under the run's marker): either counts for its host.
      const hostOf = (o: string) =>
        lab.info.hosts.some((x) => x.name === o) ? o : (parseKey(lab, `${lab.info.namespace}/v1/pools/${o}`)?.name ?? o);
      const said = new Set((finished.summary?.leftovers ?? []).map((l) => hostOf(l.object)));
      const out = new Set<string>();
      const handedOver = ownerHandOver(lab, rec);
      for (const [k, ws] of runWrites) {
        if (lastBy.get(k) !== 'run' || !ws.length || handedOver(k, Infinity)) continue;
        const p = state(k);
        if ((p === 'no' || p === 'inactive') && pooledOf(rec.start.get(k)) !== p) out.add(parseKey(lab, k)!.name);
      }
      for (const h of out) {
        rec.checked.reportClaims++;
        if (!said.has(h))
          v.push(
            `[leftovers] ${h} is left out by the run (${keysOf(h)
              .map((k) => `${shortKeyOf(lab, k)}=${state(k)}`)
              .join(', ')}), the run's leftovers do not list it: ${JSON.stringify(finished.summary?.leftovers ?? [])}`,
          );
      }
      for (const h of said) {
        if (!lab.info.hosts.some((x) => x.name === h)) continue;
        rec.checked.reportClaims++;
        if (!out.has(h) && !keysOf(h).some((k) => ['no', 'inactive'].includes(state(k)) && lastBy.get(k) === 'run'))
          v.push(
            `[leftovers] the run lists ${h} as left over, conftool has ${keysOf(h)
              .map((k) => `${shortKeyOf(lab, k)}=${state(k)}`)
              .join(', ')}`,
          );
      }
    }
  }
}

/** Until `ok()` holds (polling), or fail naming `what`. */
export async function until(what: string, ok: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await Promise.resolve(ok()).catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
