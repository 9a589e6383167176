import { describe, expect, it } from '@jest/globals';
import { RebootTimeoutError } from '@galley/remote/errors';
import type { RemoteClient } from '@galley/core';
import { parseBatchSpec } from './batches.js';
import { formatPlan, planRolling } from './plan.js';
import type { HostPhase, JournalEntry, LbEvent } from './ports.js';
import { rebootAction } from './reboot.js';
import { rollingArgs } from './operations.js';
import { rebootHostArgs, rollingRebootArgs } from './reboot-operation.js';
import { runRolling, type RollingOptions, type RollingReport } from './rolling.js';
import { selectHosts } from './select.js';
import { FakeFleet } from './testing/index.js';

/**
 * A fleet's hosts as @galley/remote's reboot calls see them: a boot id each, `reboot` gives a new
 * one (or none: the host never comes back), services active or not. Acting on a host any LB still
 * sends traffic is recorded as a violation, as FakeFleet's executor does.
 */
class FakeHosts {
  readonly boot = new Map<string, string>();
  readonly reboots: string[] = [];
  readonly neverBack = new Set<string>();
  readonly inactive = new Map<string, string>();
  readonly isActiveCalls: string[] = [];
  private n = 0;
  constructor(private readonly fleet: FakeFleet) {
    for (const o of fleet.objects.values()) this.boot.set(o.tags.name, `boot-${o.tags.name}-0`);
  }
  private up(h: string): boolean {
    return !this.neverBack.has(h) || !this.reboots.includes(h);
  }
  private result(host: string, ok: boolean, stdout = '') {
    return {
      host,
      ok,
      exitCode: ok ? 0 : 3,
      stdout,
      stderr: '',
      durationMs: 1,
      commands: [{ cmd: 'x', exitCode: ok ? 0 : 3, stdout, stderr: '' }],
      ...(ok ? {} : { message: `${host}: exited with 3` }),
    };
  }
  readonly remote = {
    bootIds: async (hosts: string[]) => new Map(hosts.filter((h) => this.up(h)).map((h) => [h, this.boot.get(h)!])),
    reboot: async (hosts: string[]) => {
      for (const h of hosts) {
        for (const o of this.fleet.objects.values()) {
          const v = this.fleet.lbView(o);
          if (o.tags.name === h && (v.pooled || v.enabled))
            this.fleet.violations.push(`rebooted ${h} while an LB had ${o.key} ${v.pooled ? 'pooled' : 'enabled'}`);
        }
        this.reboots.push(h);
        this.boot.set(h, `boot-${h}-${++this.n}`);
      }
      return { status: 'succeeded', exitCode: 0, results: hosts.map((h) => this.result(h, true)), groups: [], notRun: [] };
    },
    waitRebootSince: async (hosts: string[], since: Map<string, string>, o: { timeoutMs?: number }) => {
      const pending = hosts.filter((h) => !this.up(h) || this.boot.get(h) === since.get(h));
      if (pending.length) throw new RebootTimeoutError(pending, pending.join(','), o.timeoutMs ?? 0);
    },
    run: async (hosts: string[], cmds: { argv?: string[] }[]) => {
      const argv = cmds[0]?.argv ?? [];
      return {
        status: 'succeeded',
        exitCode: 0,
        groups: [],
        notRun: [],
        results: hosts.map((h) => {
          this.isActiveCalls.push(`${h}: ${argv.join(' ')}`);
          const bad = this.inactive.get(h);
          return this.result(
            h,
            !bad,
            argv
              .slice(2)
              .map((s) => (s === bad ? 'failed' : 'active'))
              .join('\n'),
          );
        }),
      };
    },
  } as unknown as Pick<RemoteClient, 'bootIds' | 'reboot' | 'waitRebootSince' | 'run'>;
}

function reboot(fleet: FakeFleet, hosts: FakeHosts) {
  return rebootAction(hosts.remote, {
    services: () => ['nginx', 'php-fpm'],
    bootTimeoutMs: 600_000,
    servicesTimeoutMs: 5000,
    pollMs: 1000,
    clock: fleet.clock,
  });
}

async function run(
  fleet: FakeFleet,
  hosts: FakeHosts,
  opts: Partial<Omit<RollingOptions, 'selection' | 'batch'>> & { batch?: string } = {},
): Promise<RollingReport> {
  const selection = await selectHosts(fleet.store, { dc: 'eqiad', cluster: 'jobrunner' });
  return runRolling(fleet.ports(), {
    commands: [],
    action: reboot(fleet, hosts),
    ...opts,
    selection,
    batch: parseBatchSpec(opts.batch ?? '2'),
  });
}

const phasesOf = (events: LbEvent[], host: string): HostPhase[] =>
  events.flatMap((e) => (e.type === 'host-phase' && e.host === host ? [e.phase] : []));
const everythingBack = (fleet: FakeFleet): boolean => [...fleet.objects.values()].every((o) => o.pooled === fleet.initial.get(o.key));
const H = (i: number) => `mw${1000 + i}.eqiad.wmnet`;

describe('the reboot action in a rolling run', () => {
  it('reboots each host once, out of traffic, waits for a new boot id and its services, puts it back', async () => {
    const fleet = FakeFleet.cluster(4);
    const hosts = new FakeHosts(fleet);
    const before = new Map(hosts.boot);
    const r = await run(fleet, hosts);
    expect(r.status).toBe('succeeded');
    expect(r.succeeded).toEqual([H(1), H(2), H(3), H(4)]);
    expect(hosts.reboots.sort()).toEqual([H(1), H(2), H(3), H(4)]);
    for (const h of r.succeeded) expect(hosts.boot.get(h)).not.toBe(before.get(h));
    expect(hosts.isActiveCalls).toHaveLength(4);
    expect(everythingBack(fleet)).toBe(true);
    expect(fleet.violations).toEqual([]);
    expect(fleet.maxDepooledHosts).toBe(2);
    expect(phasesOf(fleet.events, H(1))).toEqual([
      'depooling',
      'depooled',
      'verified-out',
      'acting',
      'acted',
      'repooling',
      'repooled',
      'done',
    ]);
    const steps = fleet.events.flatMap((e) => (e.type === 'host-step' && e.host === H(1) ? [e.text] : []));
    expect(steps).toEqual(['waiting for a new boot id (up to 600s)', 'back with a new boot id; waiting for nginx, php-fpm to be active']);
    // the boot id is journaled under `acting` before the reboot goes out
    const rec = fleet.journalEntries.find((e) => e.host === H(1) && e.action) as JournalEntry;
    expect(rec).toMatchObject({ phase: 'acting', action: { bootId: before.get(H(1)) } });
  });

  it('a host that never comes back stays depooled and is reported; the others are done', async () => {
    const fleet = FakeFleet.cluster(4);
    const hosts = new FakeHosts(fleet);
    hosts.neverBack.add(H(2));
    const r = await run(fleet, hosts, { batch: '2', maxFailedBatches: 1 });
    expect(r.status).toBe('failed');
    expect(r.succeeded).toEqual([H(1), H(3), H(4)]);
    expect(r.failed).toEqual([
      expect.objectContaining({
        host: H(2),
        stillDepooled: true,
        reason: expect.stringMatching(
          /^action failed: did not come back with a new boot id within 600s \(boot id before: boot-mw1002\.eqiad\.wmnet-0\); left depooled/,
        ),
      }),
    ]);
    expect(r.failed[0]!.depooledObjects).toHaveLength(2);
    expect(fleet.state(H(2))).toBe('no');
    expect(fleet.violations).toEqual([]);
  });

  it('services not active after the boot: failed, left depooled, the unit named', async () => {
    const fleet = FakeFleet.cluster(3);
    const hosts = new FakeHosts(fleet);
    hosts.inactive.set(H(1), 'php-fpm');
    const r = await run(fleet, hosts, { batch: '1' });
    expect(r.failed).toEqual([
      expect.objectContaining({
        host: H(1),
        stillDepooled: true,
        reason: expect.stringMatching(/services are not active within 5s \(nginx=active, php-fpm=failed\)/),
      }),
    ]);
    // polled until the deadline (1 s apart), then the run stopped (max-failed-batches=0)
    expect(hosts.isActiveCalls.length).toBeGreaterThanOrEqual(5);
    expect(r.notAttempted).toEqual([H(2), H(3)]);
  });

  it('--resume of a run stopped while rebooting: a new boot id is not rebooted again, the same one is, nothing recorded is rebooted', async () => {
    const fleet = FakeFleet.cluster(6);
    const hosts = new FakeHosts(fleet);
    const ac = new AbortController();
    // stop after batch 2's reboots (mw1003, mw1004): the batch ends at `acted`, out of traffic
    const orig = hosts.remote.reboot.bind(hosts.remote);
    hosts.remote.reboot = async (hs, o) => {
      const res = await orig(hs, o);
      if ([...(Array.isArray(hs) ? hs : hs.hosts())].includes(H(3))) ac.abort();
      return res;
    };
    const first = await run(fleet, hosts, { batch: '2', signal: ac.signal });
    expect(first.status).toBe('interrupted');
    expect(first.inFlight.map((h) => [h.host, h.phase])).toEqual([
      [H(3), 'acted'],
      [H(4), 'acted'],
    ]);
    // As if killed -9 right after the boot ids of mw1003/mw1004 were journaled and the reboots sent:
    // the journal ends with their `acting` entries and the recorded boot ids.
    const all = [...fleet.journalEntries];
    const cut = all.findIndex((e) => e.host === H(4) && e.action !== undefined);
    const entries = all.slice(0, cut + 1);
    expect(entries.filter((e) => e.host === H(3)).at(-1)).toMatchObject({ phase: 'acting', action: { bootId: `boot-${H(3)}-0` } });
    // mw1004's reboot never took effect (its boot id is the recorded one again)
    hosts.boot.set(H(4), `boot-${H(4)}-0`);
    const rebootsBefore = hosts.reboots.length;
    fleet.events.length = 0;
    const r = await run(fleet, hosts, { batch: '2', resume: { runId: 'run-1', entries } });
    expect(r.status).toBe('succeeded');
    expect(r.skipped.map((s) => s.host)).toEqual([H(1), H(2)]);
    // the leftovers first (verified out again), then the rest; mw1003 not rebooted twice
    expect(phasesOf(fleet.events, H(3))).toEqual(['verified-out', 'acting', 'acted', 'repooling', 'repooled', 'done']);
    const again = hosts.reboots.slice(rebootsBefore);
    expect(again).not.toContain(H(3));
    expect(again.filter((h) => h === H(4))).toHaveLength(1);
    expect(again.sort()).toEqual([H(4), H(5), H(6)]);
    expect(fleet.events.filter((e) => e.type === 'host-step' && e.host === H(4)).map((e) => (e as { text: string }).text)[0]).toBe(
      'its boot id is still the one recorded before the interruption: rebooting',
    );
    expect(everythingBack(fleet)).toBe(true);
    expect(fleet.violations).toEqual([]);
    // the resumed run journals the boot ids it compares with, so it can be resumed in turn
    expect(fleet.journalEntries.slice(all.length).find((e) => e.host === H(3) && e.action)).toMatchObject({
      action: { bootId: `boot-${H(3)}-0`, resumed: true },
    });
  });

  it('--resume of a host caught at `acting` before its boot id was journaled: rebooted (the reboot never went out)', async () => {
    const fleet = FakeFleet.cluster(4);
    const hosts = new FakeHosts(fleet);
    const sel = await selectHosts(fleet.store, { cluster: 'jobrunner' });
    const h = sel.hosts[0]!;
    fleet.byHand(h.depool, 'no', { runId: 'run-3', user: '', reason: '', time: '2026-12-04T00:00:00.000Z' });
    const changes = h.depool.map((o) => ({ key: o.key, tags: o.tags, field: 'pooled' as const, from: 'yes' as const, to: 'no' as const }));
    const r = await run(fleet, hosts, {
      batch: '1',
      resume: {
        runId: 'run-3',
        entries: [
          { type: 'lb-host-phase', host: h.host, phase: 'depooled', batch: 1, changes },
          { type: 'lb-host-phase', host: h.host, phase: 'acting', batch: 1 },
        ],
      },
    });
    expect(r.status).toBe('succeeded');
    expect(hosts.reboots.filter((x) => x === h.host)).toHaveLength(1);
    expect(everythingBack(fleet)).toBe(true);
  });

  it('commands (rolling-restart) keep their resume: a host caught acting is reported, not acted on again', async () => {
    // (the action's resume applies only when the run has an action that can resume)
    const fleet = FakeFleet.cluster(4);
    const sel = await selectHosts(fleet.store, { cluster: 'jobrunner' });
    const h = sel.hosts[0]!;
    fleet.byHand(h.depool, 'no', { runId: 'run-4', user: '', reason: '', time: '2026-12-04T00:00:00.000Z' });
    const changes = h.depool.map((o) => ({ key: o.key, tags: o.tags, field: 'pooled' as const, from: 'yes' as const, to: 'no' as const }));
    const r = await runRolling(fleet.ports(), {
      selection: sel,
      batch: parseBatchSpec('1'),
      commands: [{ argv: ['systemctl', 'restart', 'nginx'] }],
      resume: {
        runId: 'run-4',
        entries: [
          { type: 'lb-host-phase', host: h.host, phase: 'depooled', batch: 1, changes },
          { type: 'lb-host-phase', host: h.host, phase: 'acting', batch: 1, action: { bootId: 'x' } },
        ],
      },
    });
    expect(r.failed).toEqual([
      expect.objectContaining({
        host: h.host,
        stillDepooled: true,
        reason: expect.stringMatching(/stopped while acting on it: outcome unknown/),
      }),
    ]);
    expect(fleet.actions.filter((a) => a.host === h.host)).toEqual([]);
  });

  it('dry-run plan: says what it would do on each host, runs nothing', async () => {
    const fleet = FakeFleet.cluster(4);
    const hosts = new FakeHosts(fleet);
    const selection = await selectHosts(fleet.store, { cluster: 'jobrunner' });
    const plan = await planRolling(fleet.ports(), { selection, batch: parseBatchSpec('1'), commands: [], action: reboot(fleet, hosts) });
    expect(plan.commands).toEqual([]);
    expect(formatPlan(plan)).toContain(
      'On each host while depooled: reboot, wait up to 600s for a new boot id, then up to 5s for its services to be active (systemctl is-active)',
    );
    expect(hosts.reboots).toEqual([]);
    expect(fleet.writes).toEqual([]);
  });
});

describe('reboot arguments', () => {
  it('wait-services= takes units or `none` alone; every rolling argument is there', () => {
    const c = rollingRebootArgs['wait-services'].check;
    expect(c.check('nginx,php-fpm', 'wait-services')).toBeUndefined();
    expect(c.check('none', 'wait-services')).toBeUndefined();
    expect(c.check('none,nginx', 'wait-services')).toBe('wait-services=none,nginx: `none` cannot be combined with units');
    expect(c.check('nginx,', 'wait-services')).toMatch(/an empty name/);
    // every rolling option (those added later too), but the commands' timeout
    expect(Object.keys(rollingRebootArgs).sort()).toEqual(
      [...Object.keys(rollingArgs).filter((k) => k !== 'command-timeout'), 'boot-timeout', 'services-timeout', 'wait-services'].sort(),
    );
    // the one-host cookbook's durations are bounded by its own lock (3h), not the rolling one (12h)
    expect(rebootHostArgs['boot-timeout'].check.check('4h', 'boot-timeout')).toMatch(/at most 3h/);
  });
});
