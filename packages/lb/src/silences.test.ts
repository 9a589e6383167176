// The rolling run's silences (ports.silencer) as pure logic on the fake fleet: when each is created,
// expired or kept, and what stops the run. The real Alertmanager is in test/e2e/lb-silences.test.ts.
import { describe, expect, it } from '@jest/globals';
import { parseBatchSpec } from './batches.js';
import { formatReport } from './report.js';
import { runRolling, type RollingOptions, type RollingReport } from './rolling.js';
import { selectHosts } from './select.js';
import { silenceMs } from './silences.js';
import { FakeFleet } from './testing/index.js';
import type { Silencer } from './ports.js';

const restart = [{ argv: ['systemctl', 'restart', 'nginx'], timeoutMs: 1000 }];

/** A silencer honouring the port's contract (ids, active until expired, keep moves the end), logging in order with conftool writes. */
class FakeSilencer implements Silencer {
  readonly where = 'fake monitoring';
  readonly keepFailedForMs = 7_200_000;
  readonly active = new Map<string, { host: string; services: readonly string[]; endsAt: number }>();
  failOn: string | undefined;
  unreachable = false;
  private n = 0;
  constructor(
    private readonly fleet: FakeFleet,
    readonly log: string[],
  ) {}
  check(): Promise<void> {
    return this.unreachable ? Promise.reject(new Error('unreachable')) : Promise.resolve();
  }
  silence(host: string, o: { services: readonly string[]; durationMs: number }): Promise<string> {
    if (host === this.failOn || this.unreachable) return Promise.reject(new Error('connection refused'));
    const id = `s${++this.n}`;
    this.active.set(id, { host, services: o.services, endsAt: this.fleet.clock.now() + o.durationMs });
    this.log.push(`silence ${host}`);
    return Promise.resolve(id);
  }
  expire(id: string): Promise<void> {
    const s = this.active.get(id);
    if (!s) return Promise.reject(new Error(`no active silence ${id}`));
    this.active.delete(id);
    this.log.push(`expire ${s.host}`);
    return Promise.resolve();
  }
  keep(id: string, o: { durationMs: number }): Promise<{ id: string; endsAt: string }> {
    const s = this.active.get(id);
    if (!s) return Promise.reject(new Error(`no active silence ${id}`));
    s.endsAt = this.fleet.clock.now() + o.durationMs;
    this.log.push(`keep ${s.host}`);
    return Promise.resolve({ id, endsAt: new Date(s.endsAt).toISOString() });
  }
}

const hosts = [1, 2, 3, 4].map((i) => ({ name: `mw130${i}.eqiad.wmnet`, services: ['nginx', 'php-fpm'] }));

async function setup(): Promise<{
  fleet: FakeFleet;
  sil: FakeSilencer;
  log: string[];
  run: (o?: Partial<RollingOptions>) => Promise<RollingReport>;
}> {
  const fleet = new FakeFleet({ hosts, threshold: 0 });
  const log: string[] = [];
  const sil = new FakeSilencer(fleet, log);
  fleet.onWrite = (key, to) => log.push(`write ${key.split('/').at(-1)!} ${to}`);
  const run = async (o: Partial<RollingOptions> = {}) => {
    const selection = await selectHosts(fleet.store, { dc: 'eqiad', cluster: 'jobrunner' });
    return runRolling({ ...fleet.ports(), silencer: sil }, { commands: restart, selection, batch: parseBatchSpec('2'), ...o });
  };
  return { fleet, sil, log, run };
}

describe('silences of a rolling run (ports.silencer)', () => {
  it('each host is silenced (its services) before its first write and the silence expired once it is back; none is left', async () => {
    const { fleet, sil, log, run } = await setup();
    const r = await run();
    expect(r.status).toBe('succeeded');
    for (const h of hosts.map((x) => x.name)) {
      const mine = log.filter((l) => l.includes(h));
      expect(mine[0]).toBe(`silence ${h}`);
      expect(mine.at(-1)).toBe(`expire ${h}`);
      // repooled (the last write) before the silence ends
      expect(log.lastIndexOf(`expire ${h}`)).toBeGreaterThan(
        Math.max(...mine.map((l) => log.indexOf(l)).filter((i) => log[i]!.startsWith('write'))),
      );
    }
    expect(sil.active.size).toBe(0);
    const created = fleet.events.filter((e) => e.type === 'silence' && e.action === 'created');
    expect(created.map((e) => (e as { host: string }).host)).toEqual(hosts.map((x) => x.name));
    expect(r.failed).toEqual([]);
  });

  it('the silence lasts the step deadline: verify out, the commands, the health check, verify in, out again', () => {
    expect(silenceMs({ commands: restart, verifyTimeoutMs: 10_000 })).toBe(3 * 10_000 + 1000 + 60_000);
    expect(
      silenceMs({
        commands: restart,
        verifyTimeoutMs: 10_000,
        healthCheck: { command: { shell: 'true', timeoutMs: 5000 }, timeoutMs: 20_000 },
      }),
    ).toBe(3 * 10_000 + 1000 + 25_000 + 60_000);
    // drain=: its bound (and a drain-check round's own timeout) is time the host is out before acting
    expect(silenceMs({ commands: restart, verifyTimeoutMs: 10_000, drain: { ms: 30_000, weight: false } })).toBe(
      3 * 10_000 + 1000 + 30_000 + 60_000,
    );
    expect(
      silenceMs({
        commands: restart,
        verifyTimeoutMs: 10_000,
        drain: { ms: 30_000, weight: false, check: { shell: 'x', timeoutMs: 5000 } },
      }),
    ).toBe(3 * 10_000 + 1000 + 35_000 + 60_000);
  });

  it('a host left depooled after a failure keeps its silence for keepFailedForMs, and the report says so (id and until)', async () => {
    const { fleet, sil, run } = await setup();
    fleet.behaviour.set('mw1302.eqiad.wmnet', 'action-fails');
    const r = await run({ maxFailedBatches: 5 });
    const f = r.failed.find((x) => x.host === 'mw1302.eqiad.wmnet')!;
    expect(f.stillDepooled).toBe(true);
    const kept = [...sil.active.entries()];
    expect(kept.map(([, s]) => s.host)).toEqual(['mw1302.eqiad.wmnet']);
    expect(f.silence).toEqual({ id: kept[0]![0], until: new Date(fleet.clock.now() + 7_200_000).toISOString(), state: 'kept' });
    expect(formatReport(r)).toContain(`  silence ${kept[0]![0]} kept until ${f.silence!.until}`);
    // the others are back and not silenced
    expect(r.succeeded.sort()).toEqual(['mw1301.eqiad.wmnet', 'mw1303.eqiad.wmnet', 'mw1304.eqiad.wmnet']);
  });

  it("a host that cannot be silenced stops the run before its batch is touched; that batch's silences are expired", async () => {
    const { fleet, sil, log, run } = await setup();
    sil.failOn = 'mw1304.eqiad.wmnet';
    const r = await run();
    expect(r.stopReason).toMatch(
      /^cannot silence mw1304\.eqiad\.wmnet in fake monitoring \(connection refused\); nothing of batch 2 was touched$/,
    );
    expect(r.succeeded).toEqual(['mw1301.eqiad.wmnet', 'mw1302.eqiad.wmnet']);
    expect(r.notAttempted).toEqual(['mw1303.eqiad.wmnet', 'mw1304.eqiad.wmnet']);
    expect(fleet.writes.filter((w) => /mw130[34]/.test(w.key))).toEqual([]);
    expect(log).toContain('expire mw1303.eqiad.wmnet');
    expect(sil.active.size).toBe(0);
  });

  it('SIGINT mid-batch: the hosts stopped out of traffic keep their silences (reported in flight); the finished ones are expired', async () => {
    const { fleet, sil, run } = await setup();
    const ac = new AbortController();
    fleet.onAction = (host) => {
      if (host === 'mw1303.eqiad.wmnet') ac.abort();
    };
    const r = await run({ signal: ac.signal });
    expect(r.status).toBe('interrupted');
    expect(r.inFlight.map((h) => [h.host, h.silence?.state])).toEqual([
      ['mw1303.eqiad.wmnet', 'kept'],
      ['mw1304.eqiad.wmnet', 'kept'],
    ]);
    expect([...sil.active.values()].map((s) => s.host).sort()).toEqual(['mw1303.eqiad.wmnet', 'mw1304.eqiad.wmnet']);
    expect(formatReport(r)).toMatch(/Stopped at acted: mw1303\.eqiad\.wmnet, STILL DEPOOLED.*\n.*\n {2}silence s\d kept until /);
  });

  it("--resume: the leftovers keep the interrupted run's silences (journaled), expired once they are back; no second silence", async () => {
    const { fleet, sil, log, run } = await setup();
    const ac = new AbortController();
    fleet.onAction = (host) => {
      if (host === 'mw1303.eqiad.wmnet') ac.abort();
    };
    await run({ signal: ac.signal });
    const kept = new Map([...sil.active].map(([id, x]) => [x.host, id]));
    expect([...kept.keys()].sort()).toEqual(['mw1303.eqiad.wmnet', 'mw1304.eqiad.wmnet']);
    expect(fleet.journalEntries.filter((e) => e.type === 'lb-silence').map((e) => `${String(e.host)} ${String(e.silence)}`)).toEqual([
      'mw1301.eqiad.wmnet s1',
      'mw1302.eqiad.wmnet s2',
      'mw1303.eqiad.wmnet s3',
      'mw1304.eqiad.wmnet s4',
    ]);
    fleet.onAction = undefined;
    const entries = [...fleet.journalEntries];
    fleet.journalEntries.length = 0;
    log.length = 0;
    const r = await run({ resume: { runId: 'run-1', entries } });
    expect(r.status).toBe('succeeded');
    expect(log.filter((l) => l.startsWith('silence'))).toEqual([]);
    expect(log.filter((l) => l.startsWith('expire')).sort()).toEqual(['expire mw1303.eqiad.wmnet', 'expire mw1304.eqiad.wmnet']);
    expect(sil.active.size).toBe(0);
    // journaled again by the resumed run, for a resume of it
    expect(
      fleet.journalEntries
        .filter((e) => e.type === 'lb-silence')
        .map((e) => String(e.silence))
        .sort(),
    ).toEqual([kept.get('mw1303.eqiad.wmnet'), kept.get('mw1304.eqiad.wmnet')].sort());
  });

  it('a batch not verified out is put back before acting: its silences are expired, none is kept', async () => {
    const { fleet, sil, log, run } = await setup();
    // lvs1019 lags past the deadline on batch 1's depool, and is back by the time it is put back
    fleet.lbMode.set('lvs1019', 'lag');
    fleet.onWrite = (key, to) => {
      log.push(`write ${key.split('/').at(-1)!} ${to}`);
      if (to === 'yes') fleet.lbMode.set('lvs1019', 'up');
    };
    const r = await run({ verifyTimeoutMs: 500, maxFailedBatches: 5 });
    expect(r.failed.map((f) => [f.host, f.stillDepooled, f.silence])).toEqual([
      ['mw1301.eqiad.wmnet', false, undefined],
      ['mw1302.eqiad.wmnet', false, undefined],
    ]);
    expect(r.failed[0]!.reason).toMatch(/^depool not verified on every LB/);
    expect(log.filter((l) => l.startsWith('expire')).sort()).toEqual(hosts.map((h) => `expire ${h.name}`));
    expect(sil.active.size).toBe(0);
  });

  it('without a silencer (monitoring: none, http, a plugin): no silence, the same writes', async () => {
    const a = await setup();
    await a.run();
    const fleet = new FakeFleet({ hosts, threshold: 0 });
    const selection = await selectHosts(fleet.store, { dc: 'eqiad', cluster: 'jobrunner' });
    const r = await runRolling(fleet.ports(), { commands: restart, selection, batch: parseBatchSpec('2') });
    expect(r.status).toBe('succeeded');
    expect(fleet.events.some((e) => e.type === 'silence')).toBe(false);
    expect(fleet.writes.map((w) => `${w.key} ${w.to}`)).toEqual(a.fleet.writes.map((w) => `${w.key} ${w.to}`));
  });
});
