// Silences during rolling operations (issue 14 item 1), through the built `cookbook` binary against a
// private lab with its real Alertmanager: `monitoring: {type: alertmanager}` in a copy of the lab's
// config. Each host has a silence while it is out (read back from Alertmanager during the run), an
// alert fired on a host being restarted is suppressed by it, none is left afterwards; a failed host
// keeps its silence (reported); dry-run creates none; an unreachable Alertmanager refuses the run
// before anything is taken out.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import YAML from 'yaml';
import type { LabSilence } from '@galley/lab';
import { privateLab } from '@galley/lab/testing';
import { cookbook, etcdRange, outputOf, poolsPrefix, settled } from './lb-helpers.js';

jest.setTimeout(120_000);

const p = privateLab({ hosts: 12, lbs: 1, pybalDelayMs: 50, bastion: false });
const J = ['mw1301', 'mw1302', 'mw1303', 'mw1304'].map((h) => `${h}.eqiad.wmnet`);
const KEEP_MS = 600_000;
const FIXTURE = path.resolve(import.meta.dirname, '../../packages/lifecycle/dist/testing/plugin-fixture.js');
let cfg: string;

/** A copy of the lab's config with `monitoring` replaced. */
function configWith(name: string, monitoring: Record<string, unknown>): string {
  const c = YAML.parse(fs.readFileSync(p.lab.info.config, 'utf8')) as Record<string, unknown>;
  const file = path.join(p.lab.dir, name);
  fs.writeFileSync(file, YAML.stringify({ ...c, monitoring }));
  return file;
}

/** Silences whose host matcher matches this host. */
const silencesOf = (all: readonly LabSilence[], host: string): LabSilence[] =>
  all.filter((s) => s.matchers.some((m) => m.name === 'instance' && m.isRegex && new RegExp(`^(?:${m.value})$`).test(host)));

async function conftool(): Promise<{ revision: number; values: string[] }> {
  const { revision, kvs } = await etcdRange(p.lab, poolsPrefix(p.lab, 'eqiad', 'jobrunner'));
  return { revision, values: [...kvs].map(([k, v]) => `${k}=${v.value}`) };
}

beforeAll(() => {
  cfg = configWith('am.config.yaml', { type: 'alertmanager', url: p.lab.info.alertmanager!.url, keepFailedForMs: KEEP_MS });
});

describe("sre.lb.rolling-restart with monitoring: alertmanager (the lab's real Alertmanager)", () => {
  it('a silence per host while it is out (its services, the user, reason and run id), an alert fired meanwhile is suppressed by it, none active afterwards', async () => {
    await settled(p.lab, 'eqiad', 'jobrunner');
    // two units of 400 ms per restart: time to read Alertmanager back while the host is out
    for (const h of J) await p.lab.setRestartMs(h, 400);
    const seen: Promise<{ host: string; active: LabSilence[]; alert: { state: string; silencedBy: string[] } }>[] = [];
    const r = await cookbook(
      p.lab,
      ['--output', 'json', 'sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=2', 'sleep=0', 'reason=e2e silences'],
      {
        config: cfg,
        onEvent: (e) => {
          if (e.type !== 'host-phase' || e.phase !== 'acting') return;
          const host = String(e.host);
          seen.push(
            (async () => {
              const active = silencesOf(await p.lab.silences(), host).filter((s) => s.status.state === 'active');
              const alert = await p.lab.alert(host, 'nginx', 60_000);
              return { host, active, alert: alert.status };
            })(),
          );
        },
      },
    );
    const during = await Promise.all(seen);
    expect(r.code).toBe(0);
    expect(outputOf(r)).toMatchObject({ status: 'succeeded', succeeded: J });
    const runId = String(r.events.find((e) => e.runId)?.runId);
    const created = r.events.filter((e) => e.type === 'silence' && e.action === 'created');
    expect(created.map((e) => e.host).sort()).toEqual(J);
    expect(during.map((d) => d.host).sort()).toEqual(J);
    for (const d of during) {
      // exactly one silence, the run's, active while the host was being restarted
      expect(d.active).toHaveLength(1);
      const s = d.active[0]!;
      expect(s.id).toBe(created.find((e) => e.host === d.host)!.id);
      expect(s.matchers).toEqual([
        { name: 'instance', value: `${d.host.replace(/\./g, '\\.')}(:[0-9]+)?`, isRegex: true, isEqual: true },
        { name: 'service', value: 'nginx|php-fpm', isRegex: true, isEqual: true },
      ]);
      expect(s.createdBy).not.toBe('');
      expect(s.comment).toBe(`e2e silences (galley run ${runId})`);
      const len = Date.parse(s.endsAt) - Date.parse(s.startsAt);
      expect(len).toBeGreaterThan(60_000);
      expect(len).toBeLessThan(15 * 60_000);
      // a real alert for the host's service, fired while it was out: suppressed by that silence
      expect(d.alert).toEqual({ state: 'suppressed', silencedBy: [s.id], inhibitedBy: [] });
    }
    // afterwards: every silence of the run expired, and the alerts fire again
    const after = await p.lab.silences();
    for (const h of J) expect(silencesOf(after, h).filter((s) => s.status.state !== 'expired')).toEqual([]);
    const alerts = (await p.lab.alerts()).filter((a) => J.includes(a.labels.instance ?? ''));
    expect(alerts.map((a) => `${a.labels.instance} ${a.status.state}`).sort()).toEqual(J.map((h) => `${h} active`));
    expect(
      r.events
        .filter((e) => e.type === 'silence' && e.action === 'expired')
        .map((e) => e.host)
        .sort(),
    ).toEqual(J);
    await p.lab.reset();
  });

  it('a host left depooled after a failure keeps its silence until keepFailedForMs, and the report (JSON and text) gives its id and end; the others are expired', async () => {
    await settled(p.lab, 'eqiad', 'jobrunner');
    const bad = J[1]!;
    await p.lab.failService(bad, 'nginx', 'restart');
    const t0 = Date.now();
    const r = await cookbook(
      p.lab,
      [
        '--output',
        'json',
        'sre.lb.rolling-restart',
        'cluster=jobrunner',
        'dc=eqiad',
        'batch=1',
        'sleep=0',
        'max-failed-batches=3',
        'reason=e2e failed silence',
      ],
      { config: cfg },
    );
    expect(r.code).toBe(1);
    const out = outputOf(r) as {
      failed: { host: string; stillDepooled: boolean; silence?: { id: string; until: string; state: string } }[];
      succeeded: string[];
    };
    expect(out.failed.map((f) => [f.host, f.stillDepooled])).toEqual([[bad, true]]);
    const sil = out.failed[0]!.silence!;
    expect(sil.state).toBe('kept');
    // read back from Alertmanager: active, ending when the report says, keepFailedForMs from now
    const am = silencesOf(await p.lab.silences(), bad).filter((s) => s.status.state === 'active');
    expect(am.map((s) => [s.id, s.endsAt])).toEqual([[sil.id, sil.until]]);
    expect(Date.parse(sil.until) - t0).toBeGreaterThanOrEqual(KEEP_MS - 1000);
    expect(Date.parse(sil.until) - Date.now()).toBeLessThanOrEqual(KEEP_MS);
    expect(am[0]!.comment).toMatch(/^e2e failed silence \(galley run \S+\); left out of traffic by the run \(failed: action failed: /);
    const text = String(r.events.filter((e) => e.type === 'output').at(-1)?.text);
    expect(text).toContain(`Failed, STILL DEPOOLED: ${bad}`);
    expect(text).toContain(`  silence ${sil.id} kept until ${sil.until}`);
    expect((await p.lab.alert(bad, 'nginx', 60_000)).status).toMatchObject({ state: 'suppressed', silencedBy: [sil.id] });
    for (const h of J.filter((x) => x !== bad))
      expect(silencesOf(await p.lab.silences(), h).filter((s) => s.status.state !== 'expired')).toEqual([]);
    await p.lab.reset();
  });

  it('a monitoring plugin configured with silencesTakeOuts silences the same way: a failed host keeps its silence through its extendDowntime()', async () => {
    // The test plugin wraps the alertmanager client and exposes only the plugin interface.
    const plugin = configWith('am-plugin.config.yaml', {
      type: 'plugin',
      module: FIXTURE,
      options: { wrap: 'alertmanager', url: p.lab.info.alertmanager!.url },
      silencesTakeOuts: true,
      keepFailedForMs: KEEP_MS,
    });
    await settled(p.lab, 'eqiad', 'jobrunner');
    const bad = J[2]!;
    await p.lab.failService(bad, 'nginx', 'restart');
    const r = await cookbook(
      p.lab,
      ['--output', 'json', 'sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'sleep=0', 'reason=e2e plugin silence'],
      { config: plugin },
    );
    expect(r.code).toBe(1);
    // batch=1: the run stops after the failed host (the third); the fourth is never taken out
    const done = J.slice(0, 3);
    const created = r.events.filter((e) => e.type === 'silence' && e.action === 'created');
    expect(created.map((e) => e.host).sort()).toEqual(done);
    const out = outputOf(r) as {
      failed: { host: string; stillDepooled: boolean; silence?: { id: string; until: string; state: string } }[];
    };
    expect(out.failed.map((f) => [f.host, f.stillDepooled, f.silence?.state])).toEqual([[bad, true, 'kept']]);
    const kept = out.failed[0]!.silence!;
    const active = silencesOf(await p.lab.silences(), bad).filter((s) => s.status.state === 'active');
    expect(active.map((s) => [s.id, s.endsAt])).toEqual([[kept.id, kept.until]]);
    expect(active[0]!.comment).toMatch(/^e2e plugin silence \(galley run \S+\); left out of traffic by the run/);
    for (const h of J.filter((x) => x !== bad))
      expect(silencesOf(await p.lab.silences(), h).filter((s) => s.status.state !== 'expired')).toEqual([]);
    await p.lab.reset();
    // A module that cannot extend a silence is refused when so configured, before anything is taken out.
    const noExtend = configWith('am-plugin-noextend.config.yaml', {
      type: 'plugin',
      module: FIXTURE,
      options: { wrap: 'alertmanager', url: p.lab.info.alertmanager!.url, extend: false },
      silencesTakeOuts: true,
    });
    const before = await conftool();
    const r2 = await cookbook(p.lab, ['sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'sleep=0', 'reason=e2e'], {
      config: noExtend,
    });
    expect(r2.code).not.toBe(0);
    expect(r2.stdout + r2.stderr).toContain(
      `the monitoring plugin module ${FIXTURE} does not implement the monitoring interface: missing extendDowntime()`,
    );
    expect((await conftool()).values).toEqual(before.values);
  });

  it('dry-run: says which silences it would create, creates none', async () => {
    const before = (await p.lab.silences()).length;
    const r = await cookbook(
      p.lab,
      ['--output', 'json', '-d', 'sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'reason=e2e dry'],
      { config: cfg },
    );
    expect(r.code).toBe(0);
    const out = outputOf(r) as { silences: { where: string; keepFailedForMs: number; hosts: { host: string; services: string[] }[] } };
    expect(out.silences.where).toBe(`alertmanager monitoring ${p.lab.info.alertmanager!.url}`);
    expect(out.silences.keepFailedForMs).toBe(KEEP_MS);
    expect(out.silences.hosts.map((h) => `${h.host} ${h.services.join(',')}`)).toEqual(J.map((h) => `${h} nginx,php-fpm`));
    const text = String(r.events.filter((e) => e.type === 'output').at(-1)?.text);
    for (const h of J) expect(text).toContain(`would silence ${h} (nginx, php-fpm) for up to `);
    expect((await p.lab.silences()).length).toBe(before);
  });

  it('an unreachable Alertmanager: the named error before anything is locked or taken out (conftool untouched)', async () => {
    const dead = configWith('am-dead.config.yaml', { type: 'alertmanager', url: 'http://127.0.0.1:9', timeoutMs: 2000 });
    const before = await conftool();
    const r = await cookbook(p.lab, ['sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'sleep=0', 'reason=e2e dead'], {
      config: dead,
    });
    expect(r.code).toBe(1);
    const said = r.stdout + r.stderr;
    expect(said).toMatch(
      /Alertmanager at http:\/\/127\.0\.0\.1:9 is not reachable \(a status request\): .*\[ERR_MONITORING_ALERTMANAGER\]/,
    );
    expect(said).toContain('hint: check monitoring.url');
    expect(said).not.toMatch(/depool|Batch 1/);
    const now = await conftool();
    expect(now.values).toEqual(before.values);
    // no conftool write (the journal and locks live elsewhere in etcd): the pools' keys are as they were
    const { kvs } = await etcdRange(p.lab, poolsPrefix(p.lab, 'eqiad', 'jobrunner'));
    expect(Math.max(...[...kvs.values()].map((v) => v.modRevision))).toBeLessThanOrEqual(before.revision);
    // sre.hosts.reimage asks in prepare: exit 94, before the confirmation, any lock or write
    const ri = await cookbook(p.lab, ['--yes', 'sre.hosts.reimage', `host=${J[0]}`, 'os=bookworm'], { config: dead });
    expect(ri.code).toBe(94);
    expect(ri.stdout + ri.stderr).toContain('[ERR_MONITORING_ALERTMANAGER]');
    expect((await conftool()).values).toEqual(before.values);
  });
});

describe('sre.hosts.* with monitoring: alertmanager', () => {
  it('the whole host is silenced while it is reinstalled (createdBy, the reason and run id), and the silence expired at the end', async () => {
    const H = J[3]!;
    let during: Promise<LabSilence[]> | undefined;
    const r = await cookbook(p.lab, ['--yes', '--output', 'json', 'sre.hosts.reimage', `host=${H}`, 'os=bookworm', 'task-id=T14'], {
      config: cfg,
      onEvent: (e) => {
        if (e.type === 'host-phase' && e.phase === 'reinstall with bookworm')
          during ??= p.lab.silences().then((all) => silencesOf(all, H).filter((x) => x.status.state === 'active'));
      },
    });
    expect(r.code).toBe(0);
    const runId = String(r.events.find((e) => e.runId)?.runId);
    const active = await during!;
    expect(active).toHaveLength(1);
    expect(active[0]!.matchers).toEqual([
      { name: 'instance', value: `${H.replace(/\./g, '\\.')}(:[0-9]+)?`, isRegex: true, isEqual: true },
    ]);
    expect(active[0]!.createdBy).not.toBe('');
    expect(active[0]!.comment).toBe(`reimage with bookworm (T14) (galley run ${runId})`);
    expect((await p.lab.silences()).find((x) => x.id === active[0]!.id)?.status.state).toBe('expired');
  });

  it('sre.hosts.decommission-host: the host leaving the fleet is silenced (whole host, createdBy, reason and run id) and stays so', async () => {
    const H = J[2]!;
    const r = await cookbook(p.lab, ['--yes', '--output', 'json', 'sre.hosts.decommission-host', `host=${H}`, 'task-id=T15'], {
      config: cfg,
    });
    expect(r.code).toBe(0);
    const runId = String(r.events.find((e) => e.runId)?.runId);
    const active = silencesOf(await p.lab.silences(), H).filter((x) => x.status.state === 'active');
    expect(active.map((x) => [x.comment, x.matchers.length])).toEqual([[`decommission (T15) (galley run ${runId})`, 1]]);
    expect(active[0]!.createdBy).not.toBe('');
    expect((await p.lab.alert(H, 'nginx', 60_000)).status).toMatchObject({ state: 'suppressed', silencedBy: [active[0]!.id] });
  });
});
