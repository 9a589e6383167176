/**
 * A rolling run's silences (ports.silencer, `monitoring: {type: alertmanager}`): one per host,
 * created before the host is taken out (its services' alerts, until the host's step deadline),
 * expired once the host is back in (verified on every LB), and, for a host the run leaves out of
 * traffic (failed, or stopped mid-way), kept for `keepFailedForMs` and reported with its id and end.
 * A silence that cannot be created stops the run before that batch is touched (fail closed: no host
 * goes out unsilenced); one that cannot be expired is a warning (it ends at its deadline anyway).
 */
import { errorText } from './engine.js';
import type { Silencer } from './ports.js';
import type { RollingOptions } from './rolling.js';
import { StopRun, type HostState, type Run } from './run.js';

/** A host's silence as the report shows it. */
export interface HostSilence {
  id: string;
  /** ISO time it ends (after `keep`: as read back from the monitoring system). */
  until: string;
  /** kept: the host is left out of traffic and its silence was extended; left: extending it failed (it ends at `until`). */
  state: 'active' | 'kept' | 'left';
  /** Why it was not kept as asked. */
  why?: string;
}

const DEFAULT_VERIFY_MS = 60_000;
const DEFAULT_COMMAND_MS = 120_000;
const DEFAULT_ACTION_MS = 30 * 60_000;
/** Writes, locks and the journal between the steps. */
const SLACK_MS = 60_000;

/**
 * The step deadline a host's silence covers: verified out, every command (or the action) at its timeout, the health
 * check at its timeout, verified in, and taken out again and verified out if it is not back in.
 */
export function silenceMs(opts: Pick<RollingOptions, 'commands' | 'action' | 'healthCheck' | 'verifyTimeoutMs' | 'drain'>): number {
  const verify = opts.verifyTimeoutMs ?? DEFAULT_VERIFY_MS;
  const commands = opts.action
    ? (opts.action.maxMs ?? DEFAULT_ACTION_MS)
    : opts.commands.reduce((t, c) => t + (c.timeoutMs ?? DEFAULT_COMMAND_MS), 0);
  const health = opts.healthCheck ? (opts.healthCheck.timeoutMs ?? 60_000) + (opts.healthCheck.command.timeoutMs ?? 30_000) : 0;
  // drain=: its bound, and the last drain-check round that may start just before it
  const drain = opts.drain ? opts.drain.ms + (opts.drain.check ? (opts.drain.check.timeoutMs ?? 30_000) : 0) : 0;
  return 3 * verify + commands + health + drain + SLACK_MS;
}

/** The services a host's silence matches: those of the objects the run may take out or must see out. */
export function servicesOf(st: Pick<HostState, 'plan'>): string[] {
  return [...new Set(st.plan.objects.map((o) => o.tags.service))].sort();
}

export class HostSilences {
  readonly #run: Run;
  readonly #s: Silencer;
  readonly #of = new Map<string, HostSilence>();

  constructor(run: Run, silencer: Silencer) {
    this.#run = run;
    this.#s = silencer;
  }

  of(host: string): HostSilence | undefined {
    return this.#of.get(host);
  }

  #reason(): string {
    const o = this.#run.owner;
    return o.reason ? o.reason : `galley rolling operation`;
  }

  /** Journaled before the host goes out: a resume of this run adopts the silence instead of making another. */
  async #journal(host: string, id: string, batch: number): Promise<void> {
    await this.#run.ports.journal.append({
      type: 'lb-silence',
      host,
      silence: id,
      batch,
      at: new Date(this.#run.ports.clock.now()).toISOString(),
    });
  }

  /**
   * A resumed run's leftovers: the silences the interrupted run journaled for them are theirs now
   * (journaled again, for a resume of this run), expired once they are back or kept if they are not.
   */
  async adopt(hs: readonly HostState[], ids: ReadonlyMap<string, string>): Promise<void> {
    for (const st of hs) {
      const id = ids.get(st.plan.host);
      if (id === undefined || this.#of.has(st.plan.host)) continue;
      this.#of.set(st.plan.host, { id, until: '(as the interrupted run left it)', state: 'active' });
      await this.#journal(st.plan.host, id, st.batch).catch((err: unknown) => {
        throw new StopRun(`cannot write the run journal (${errorText(err)})`, { cause: err });
      });
    }
  }

  /** Before the batch's hosts are taken out: a silence for each that has none yet. */
  async create(hs: readonly HostState[], batch: number): Promise<void> {
    const durationMs = silenceMs(this.#run.opts);
    const made: string[] = [];
    for (const st of hs) {
      const host = st.plan.host;
      if (this.#of.has(host)) continue;
      let id: string;
      try {
        id = await this.#s.silence(host, { services: servicesOf(st), durationMs, reason: this.#reason() });
      } catch (err) {
        // Nothing of this batch has been touched: the silences just made go, and the run stops.
        for (const h of made) await this.#expire(h, batch);
        throw new StopRun(`cannot silence ${host} in ${this.#s.where} (${errorText(err)}); nothing of batch ${batch} was touched`, {
          cause: err,
        });
      }
      const until = new Date(this.#run.ports.clock.now() + durationMs).toISOString();
      this.#of.set(host, { id, until, state: 'active' });
      made.push(host);
      try {
        await this.#journal(host, id, batch);
      } catch (err) {
        for (const h of made) await this.#expire(h, batch);
        throw new StopRun(`cannot write the run journal (${errorText(err)}); nothing of batch ${batch} was touched`, { cause: err });
      }
      this.#run.emit({ type: 'silence', batch, host, action: 'created', id, until });
    }
  }

  async #expire(host: string, batch: number): Promise<void> {
    const s = this.#of.get(host);
    if (!s) return;
    this.#of.delete(host);
    try {
      await this.#s.expire(s.id);
      this.#run.emit({ type: 'silence', batch, host, action: 'expired', id: s.id });
    } catch (err) {
      this.#run.warn(`${host}: could not expire its silence ${s.id} in ${this.#s.where} (${errorText(err)}); it ends at ${s.until}`);
    }
  }

  /**
   * Hosts that are back in (done), were put back before acting, or never went out (the batch stopped
   * before its depool, still pending): their silences end now.
   */
  async release(hs: readonly HostState[]): Promise<void> {
    for (const st of hs)
      if (st.phase === 'done' || st.phase === 'put-back' || st.phase === 'pending') await this.#expire(st.plan.host, st.batch);
  }

  /** At the end of the run: every host still silenced is left out of traffic; its silence is kept for keepFailedForMs. */
  async keepLeft(): Promise<void> {
    for (const [host, s] of this.#of) {
      if (s.state !== 'active') continue;
      const st = this.#run.states.get(host);
      try {
        const r = await this.#s.keep(s.id, {
          durationMs: this.#s.keepFailedForMs,
          reason: `left out of traffic by the run (${st?.phase ?? 'unknown'}${st?.reason ? `: ${st.reason}` : ''})`,
        });
        this.#of.set(host, { id: r.id, until: r.endsAt, state: 'kept' });
        this.#run.emit({ type: 'silence', batch: st?.batch ?? 0, host, action: 'kept', id: r.id, until: r.endsAt });
      } catch (err) {
        const why = `could not extend it (${errorText(err)})`;
        this.#of.set(host, { ...s, state: 'left', why });
        this.#run.warn(`${host}: left out of traffic; its silence ${s.id} in ${this.#s.where}: ${why}; it ends at ${s.until}`);
      }
    }
  }
}
