/**
 * An in-memory fleet behind the lb ports: conftool objects, load balancers that apply PyBal's
 * depool-threshold rule, hosts whose action/health check can be made to fail, a virtual clock.
 * It also watches the run's safety invariants as they happen (`violations`), so tests assert on
 * outcomes and invariants rather than on call lists.
 */
import type {
  CapacityProbe,
  Clock,
  CommandSpec,
  Executor,
  HostOutcome,
  Journal,
  JournalEntry,
  LbEvent,
  LbPorts,
  LbVerification,
  LbVerifier,
  PoolCapacity,
  PoolChange,
  PoolObject,
  PoolSelector,
  OwnerMarker,
  PoolStore,
  PoolTransitionResult,
  Pooled,
} from '../ports.js';

export { describePoolStoreContract, type PoolStoreFixture } from './contract.js';

export type HostBehaviour = 'ok' | 'action-fails' | 'unhealthy' | 'unhealthy-then-ok' | 'down-after-action';
export type LbMode = 'up' | 'down' | 'error' | 'lag';

export interface FakeFleetOptions {
  /** host → services; each (dc, cluster, service) is one pool. */
  hosts: { name: string; dc?: string; cluster?: string; services?: string[]; pooled?: Partial<Record<string, Pooled>> }[];
  lbs?: string[];
  threshold?: number;
  /** Services without a PyBal pool (poolOf → undefined). */
  unpooledServices?: string[];
  /**
   * Whose PyBal the LBs are (as `galley-lab up --pybal-mode`): `wikitech` (default) keeps a
   * disabled server pooled while leaving would breach the threshold; `upstream` (coordinator.py)
   * takes every disabled server out, and force-pools enabled down ones to meet it.
   */
  pybalMode?: 'wikitech' | 'upstream';
}

function regexFor(expr: string | undefined): RegExp | undefined {
  return expr === undefined ? undefined : new RegExp(`^(${expr})$`);
}

export class FakeClock implements Clock {
  t = 0;
  now(): number {
    return this.t;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    this.t += Math.max(0, ms);
    await Promise.resolve();
  }
}

export class FakeFleet {
  readonly objects = new Map<string, PoolObject>();
  readonly initial = new Map<string, Pooled>();
  readonly writes: { key: string; from: Pooled; to: Pooled; t: number }[] = [];
  /** Every weight the run wrote (drain=weight), with the virtual time. */
  readonly weightWrites: { key: string; from: number; to: number; t: number }[] = [];
  /**
   * drain-check answers: a command starting with `conns` prints, per host, the next number of this
   * list (the last one repeating); a host without a list answers 0.
   */
  readonly connections = new Map<string, number[]>();
  /** Every drain-check answer given, with the virtual time. */
  readonly connectionChecks: { host: string; n: number; t: number }[] = [];
  readonly journalEntries: JournalEntry[] = [];
  readonly events: LbEvent[] = [];
  readonly actions: { host: string; cmds: string[]; t: number }[] = [];
  /** Hosts with an actionMs, in the order their action finished. */
  readonly actionsDone: string[] = [];
  readonly violations: string[] = [];
  /** Owner markers by object key (written in the same "txn" as the object). */
  readonly owners = new Map<string, OwnerMarker>();
  /** Objects whose stored value is garbage (a hand edit): every write to them is `invalid`. */
  readonly corrupt = new Set<string>();
  private revision = 1;
  readonly behaviour = new Map<string, HostBehaviour>();
  readonly lbMode = new Map<string, LbMode>();
  /** hosts whose service is down: LBs see them as not up. */
  readonly down = new Set<string>();
  readonly clock = new FakeClock();
  lbs: string[];
  threshold: number;
  maxDepooledHosts = 0;
  /** Fail every conftool write after this many writes (etcd unreachable). */
  failWritesAfter: number | undefined;
  failJournalAfter: number | undefined;
  /** Services the run under test leaves alone (services=): they may stay pooled during the action. */
  readonly notSelected = new Set<string>();
  /** Real milliseconds a host's action takes (moving-window tests: others go on meanwhile). */
  readonly actionMs = new Map<string, number>();
  /** Hosts whose action is running now, and the most at once. */
  private acting = new Set<string>();
  maxActing = 0;
  /** Called when the action starts on a host (to inject aborts mid-batch). */
  onAction?: (host: string) => void;
  /** Called after each conftool write (to make something happen right after a depool). */
  onWrite?: (key: string, to: Pooled) => void;
  readonly pybalMode: 'wikitech' | 'upstream';
  private healthTries = new Map<string, number>();
  private unpooled: Set<string>;

  constructor(opts: FakeFleetOptions) {
    this.lbs = opts.lbs ?? ['lvs1019', 'lvs1020'];
    this.threshold = opts.threshold ?? 0.5;
    this.unpooled = new Set(opts.unpooledServices ?? []);
    this.pybalMode = opts.pybalMode ?? 'wikitech';
    for (const h of opts.hosts) {
      const dc = h.dc ?? 'eqiad';
      const cluster = h.cluster ?? 'jobrunner';
      for (const service of h.services ?? ['nginx', 'php-fpm']) {
        const key = `/conftool/v1/pools/${dc}/${cluster}/${service}/${h.name}`;
        const pooled = h.pooled?.[service] ?? 'yes';
        this.objects.set(key, { key, tags: { dc, cluster, service, name: h.name }, pooled, weight: 10 });
        this.initial.set(key, pooled);
      }
    }
  }

  static cluster(
    n: number,
    opts: Omit<FakeFleetOptions, 'hosts'> & { prefix?: string; pooled?: Record<string, Partial<Record<string, Pooled>>> } = {},
  ): FakeFleet {
    const hosts = Array.from({ length: n }, (_, i) => {
      const name = `${opts.prefix ?? 'mw'}${1001 + i}.eqiad.wmnet`;
      return { name, ...(opts.pooled?.[name] ? { pooled: opts.pooled[name] } : {}) };
    });
    return new FakeFleet({ ...opts, hosts });
  }

  poolName(o: { tags: PoolObject['tags'] }): string | undefined {
    if (this.unpooled.has(o.tags.service)) return undefined;
    return `${o.tags.dc}_${o.tags.cluster}_${o.tags.service}`;
  }

  state(host: string, service = 'nginx'): Pooled | undefined {
    for (const o of this.objects.values()) if (o.tags.name === host && o.tags.service === service) return o.pooled;
    return undefined;
  }

  /** Hosts with at least one object this run moved from yes to something else. */
  depooledByRun(): string[] {
    const out = new Set<string>();
    for (const o of this.objects.values()) if (this.initial.get(o.key) === 'yes' && o.pooled !== 'yes') out.add(o.tags.name);
    return [...out];
  }

  private poolMembers(pool: string): PoolObject[] {
    return [...this.objects.values()].filter((o) => this.poolName(o) === pool && o.pooled !== 'inactive');
  }

  /**
   * PyBal's view of one server: enabled∧up is pooled; otherwise kept pooled when leaving would
   * breach the threshold (upstream: never a disabled one).
   */
  lbView(o: PoolObject): { pooled: boolean; enabled: boolean; up: boolean } {
    const pool = this.poolName(o);
    const enabled = o.pooled === 'yes';
    const up = !this.down.has(o.tags.name);
    if (o.pooled === 'inactive' || pool === undefined) return { pooled: false, enabled, up };
    if (enabled && up) return { pooled: true, enabled, up };
    if (!enabled && this.pybalMode === 'upstream') return { pooled: false, enabled, up };
    const members = this.poolMembers(pool);
    const upEnabled = members.filter((m) => m.pooled === 'yes' && !this.down.has(m.tags.name)).length;
    return { pooled: upEnabled < members.length * this.threshold, enabled, up };
  }

  private checkWrite(): void {
    if (this.failWritesAfter !== undefined && this.writes.length >= this.failWritesAfter) {
      throw Object.assign(new Error('etcd unreachable: 127.0.0.1:2379 refused'), { code: 'ERR_ETCD_UNAVAILABLE' });
    }
  }

  private write(o: PoolObject, to: Pooled, weight?: number): PoolChange {
    const from = o.pooled;
    if (this.initial.get(o.key) !== 'yes') this.violations.push(`wrote ${o.key} which was ${this.initial.get(o.key)} before the run`);
    o.pooled = to;
    if (weight !== undefined && weight !== o.weight) {
      this.weightWrites.push({ key: o.key, from: o.weight, to: weight, t: this.clock.now() });
      o.weight = weight;
    }
    this.writes.push({ key: o.key, from, to, t: this.clock.now() });
    this.maxDepooledHosts = Math.max(this.maxDepooledHosts, this.depooledByRun().length);
    o.modRevision = String(++this.revision);
    this.onWrite?.(o.key, to);
    return { key: o.key, tags: { ...o.tags }, field: 'pooled', from, to, weight: o.weight, modRevision: o.modRevision };
  }

  /**
   * Someone else's write (an operator's confctl, sre.lb.pool/depool, a crashed run): sets `pooled`
   * on these objects, and the owner marker: a marker to set, null to clear it, undefined to leave it.
   */
  byHand(objects: readonly { key: string }[], to: Pooled, owner?: OwnerMarker | null): void {
    for (const want of objects) {
      const o = this.objects.get(want.key);
      if (!o) continue;
      if (o.pooled !== to) this.write(o, to);
      if (owner === null) this.owners.delete(o.key);
      else if (owner) this.owners.set(o.key, owner);
    }
  }

  readonly store: PoolStore = {
    select: async (sel: PoolSelector) => {
      const rx = { dc: regexFor(sel.dc), cluster: regexFor(sel.cluster), service: regexFor(sel.service), name: regexFor(sel.name) };
      return [...this.objects.values()]
        .filter((o) => (['dc', 'cluster', 'service', 'name'] as const).every((t) => !rx[t] || rx[t].test(o.tags[t])))
        .map((o) => ({ ...o, tags: { ...o.tags } }));
    },
    transition: async (reqs) => {
      const out: PoolTransitionResult[] = [];
      for (const r of reqs) {
        const key = r.object.key;
        const o = this.objects.get(key);
        try {
          this.checkWrite();
        } catch (error) {
          out.push({ status: 'failed', key, error });
          continue;
        }
        const owner = this.owners.get(key) ?? null;
        if (!o) {
          out.push({ status: 'changed-by-someone-else', key, found: null, foundOwner: owner });
          continue;
        }
        if (this.corrupt.has(key)) {
          out.push({ status: 'invalid', key, error: new Error(`${key}: not valid JSON`) });
          continue;
        }
        const expect = r.expect ?? { pooled: r.object.pooled };
        const holds = o.pooled === expect.pooled && (expect.weight === undefined || o.weight === expect.weight);
        const ownerOk = !r.owner || !('mustBe' in r.owner) || owner?.runId === r.owner.mustBe;
        if (!holds || !ownerOk) {
          out.push({ status: 'changed-by-someone-else', key, found: { pooled: o.pooled, weight: o.weight }, foundOwner: owner });
          continue;
        }
        if (r.owner && 'set' in r.owner) this.owners.set(key, r.owner.set);
        else if (r.owner) this.owners.delete(key);
        if (o.pooled === r.to && (r.weight === undefined || r.weight === o.weight)) {
          out.push({ status: 'already', key, pooled: o.pooled });
          continue;
        }
        out.push({ status: 'changed', key, change: this.write(o, r.to, r.weight) });
      }
      return out;
    },
    owners: async (objects) => new Map(objects.flatMap((o) => (this.owners.has(o.key) ? [[o.key, this.owners.get(o.key)!] as const] : []))),
    readBack: async (objects) => {
      const out = new Map<string, PoolObject | { invalid: string }>();
      for (const want of objects) {
        const o = this.objects.get(want.key);
        if (!o) continue;
        out.set(want.key, this.corrupt.has(want.key) ? { invalid: 'not valid JSON' } : { ...o, tags: { ...o.tags } });
      }
      return out;
    },
  };

  /** want: true = in, false = out, weight-0 = at weight 0 or not pooled (drain=weight). */
  private verify(objects: readonly PoolObject[], want: boolean | 'weight-0', timeoutMs = 30_000): LbVerification {
    const failed = new Set<string>();
    const lines: string[] = [];
    for (const o of objects) {
      const cur = this.objects.get(o.key);
      if (!cur) continue;
      for (const lb of this.lbs) {
        const mode = this.lbMode.get(lb) ?? 'up';
        if (mode !== 'up') {
          failed.add(o.tags.name);
          lines.push(
            `${lb}: ${mode === 'down' ? 'connection refused' : mode === 'error' ? 'HTTP 500' : 'still shows the old state'} for ${o.tags.name}`,
          );
          continue;
        }
        const v = this.lbView(cur);
        if (want === 'weight-0') {
          if (v.pooled && cur.weight !== 0) {
            failed.add(o.tags.name);
            lines.push(`${lb} has ${o.tags.name} pooled at weight ${cur.weight}`);
          }
          continue;
        }
        // Out is disabled and not pooled: a down-but-enabled server is pooled again once it is up.
        if (want ? !v.pooled : v.pooled || v.enabled) {
          failed.add(o.tags.name);
          lines.push(`${lb} keeps ${o.tags.name} ${v.pooled ? 'pooled' : 'depooled'} in ${this.poolName(cur) ?? '?'}`);
        }
      }
    }
    if (failed.size) this.clock.t += timeoutMs;
    else this.clock.t += 300;
    // Each pool as every LB shows it (they agree here), as PybalService's verification reports it.
    const pools = [...new Set(objects.map((o) => this.poolName(o)).filter((p): p is string => p !== undefined))];
    const lbs = pools.flatMap((pool) => {
      const members = this.poolMembers(pool);
      const upEnabled = members.filter((m) => m.pooled === 'yes' && !this.down.has(m.tags.name)).length;
      const capacity = { upEnabled, total: members.length, threshold: this.threshold, below: upEnabled < members.length * this.threshold };
      return this.lbs.filter((lb) => (this.lbMode.get(lb) ?? 'up') === 'up').map((lb) => ({ pool, lb, ok: true, hosts: [], capacity }));
    });
    return { ok: failed.size === 0, failedHosts: [...failed], report: lines.join('; ') || 'all LBs agree', lbs };
  }

  readonly verifier: LbVerifier = {
    verifyOut: async (objects, opts) => this.verify(objects, false, opts?.timeoutMs),
    verifyIn: async (objects, opts) => this.verify(objects, true, opts?.timeoutMs),
    verifyWeightZero: async (objects, opts) => this.verify(objects, 'weight-0', opts?.timeoutMs),
  };

  readonly capacityProbe: CapacityProbe = {
    poolOf: (o) => this.poolName(o),
    capacity: async (pools) => {
      const out = new Map<string, PoolCapacity>();
      for (const pool of pools) {
        const bad = this.lbs.find((lb) => (this.lbMode.get(lb) ?? 'up') === 'down' || this.lbMode.get(lb) === 'error');
        const members = this.poolMembers(pool);
        const total = members.length;
        const upEnabled = members.filter((m) => m.pooled === 'yes' && !this.down.has(m.tags.name)).length;
        const canTakeOut = Math.max(0, upEnabled - Math.ceil(total * this.threshold));
        out.set(pool, {
          pool,
          canTakeOut: bad ? 0 : canTakeOut,
          detail: `${upEnabled} of ${total} up and enabled, threshold ${this.threshold}`,
          ...(bad ? { error: `${bad}: connection refused` } : {}),
        });
      }
      return out;
    },
  };

  readonly executor: Executor = {
    run: async (hosts, commands: readonly CommandSpec[]) => {
      const out: HostOutcome[] = [];
      const cmds = commands.map((c) => ('shell' in c ? c.shell : c.argv.join(' ')));
      const isHealth = cmds.length === 1 && cmds[0]?.startsWith('check');
      if (cmds.length === 1 && cmds[0]?.startsWith('conns')) {
        for (const host of hosts) {
          const list = this.connections.get(host) ?? [0];
          const n = list.length > 1 ? list.shift()! : list[0]!;
          this.connectionChecks.push({ host, n, t: this.clock.now() });
          out.push({ host, ok: true, outputs: [{ cmd: cmds[0], exitCode: 0, stdout: `${n}\n`, stderr: '' }] });
        }
        this.clock.t += 10;
        return out;
      }
      for (const host of hosts) {
        const b = this.behaviour.get(host) ?? 'ok';
        if (isHealth) {
          const tries = (this.healthTries.get(host) ?? 0) + 1;
          this.healthTries.set(host, tries);
          const ok = b === 'ok' || b === 'action-fails' || b === 'down-after-action' || (b === 'unhealthy-then-ok' && tries >= 3);
          out.push({
            host,
            ok,
            ...(ok ? {} : { message: 'exit code 1' }),
            outputs: [{ cmd: cmds[0] ?? '', exitCode: ok ? 0 : 1, stdout: '', stderr: ok ? '' : 'unhealthy' }],
          });
          continue;
        }
        this.onAction?.(host);
        // Invariant: no action while any LB sends the host traffic for a selected service, whether
        // the run depooled that object or it was `no` (or anything else) before the run.
        for (const o of this.objects.values()) {
          if (o.tags.name === host && !this.notSelected.has(o.tags.service) && this.lbView(o).pooled)
            this.violations.push(`action on ${host} while ${o.key} is pooled on the LBs`);
        }
        // Invariant: no action while a pool the run took this host out of is below its threshold.
        for (const o of this.objects.values()) {
          const pool = this.poolName(o);
          if (o.tags.name !== host || pool === undefined || this.initial.get(o.key) !== 'yes' || o.pooled === 'yes') continue;
          const members = this.poolMembers(pool);
          const upEnabled = members.filter((m) => m.pooled === 'yes' && !this.down.has(m.tags.name)).length;
          if (upEnabled < members.length * this.threshold)
            this.violations.push(
              `action on ${host} while pool ${pool} is below its depool threshold (${upEnabled} of ${members.length} up and enabled)`,
            );
        }
        this.actions.push({ host, cmds, t: this.clock.now() });
        if (b === 'down-after-action') this.down.add(host);
        const ms = this.actionMs.get(host);
        if (ms !== undefined) {
          this.acting.add(host);
          this.maxActing = Math.max(this.maxActing, this.acting.size);
          await new Promise((r) => setTimeout(r, ms));
          this.acting.delete(host);
          this.actionsDone.push(host);
        }
        const ok = b !== 'action-fails';
        out.push({
          host,
          ok,
          ...(ok ? {} : { message: 'exit code 1' }),
          outputs: cmds.map((cmd) => ({
            cmd,
            exitCode: ok ? 0 : 1,
            stdout: ok ? `${host}: ${cmd} ok` : '',
            stderr: ok ? '' : 'Job failed',
          })),
        });
      }
      this.clock.t += 100;
      return out;
    },
  };

  readonly journal: Journal = {
    append: async (entry) => {
      if (this.failJournalAfter !== undefined && this.journalEntries.length >= this.failJournalAfter) throw new Error('etcd unreachable');
      this.journalEntries.push(entry);
    },
  };

  ports(): LbPorts {
    return {
      store: this.store,
      executor: this.executor,
      verifier: this.verifier,
      capacity: this.capacityProbe,
      journal: this.journal,
      clock: this.clock,
      emit: (e) => {
        this.events.push(e);
        // Invariant: no host is done before every LB reported it back in.
        if (e.type === 'host-phase' && e.phase === 'done') {
          for (const o of this.objects.values()) {
            if (o.tags.name === e.host && this.initial.get(o.key) === 'yes' && o.pooled === 'yes' && !this.lbView(o).pooled)
              this.violations.push(`${e.host} done while ${o.key} is not pooled on the LBs`);
          }
        }
      },
      lockHosts: async () => {},
    };
  }
}
