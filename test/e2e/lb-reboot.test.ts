// sre.lb.rolling-reboot and sre.hosts.reboot end to end: the built `cookbook` binary against a
// private lab (real etcd, sshd hosts whose `reboot` is simulated with a new boot id, PyBal
// simulators). 8 hosts: eqiad jobrunner mw1301–mw1303 (one out at a time keeps the threshold);
// reboots take 300 ms; boot ids are read over SSH (the system OpenSSH client), not from the lab.
// The reboots run with `monitoring: {type: alertmanager}` (the lab's real Alertmanager): each host
// is silenced while it reboots, read back from Alertmanager.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { LabSilence } from '@galley/lab';
import { afterAll, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { Conftool } from '@galley/confctl';
import { labSsh, privateLab } from '@galley/lab/testing';
import { configWith, conftool, conftoolSnapshot, outputOf, run, stateOf } from './hosts-harness.js';
import { cookbook, settled } from './lb-helpers.js';

jest.setTimeout(60_000);

const p = privateLab({ hosts: 8, lbs: 2, rebootMs: 300, pybalDelayMs: 100 });
const J = ['mw1301', 'mw1302', 'mw1303'].map((h) => `${h}.eqiad.wmnet`);
let c: { confctl: Conftool; close(): void };
/** The lab's config with monitoring: alertmanager. */
let am: string;
const KEEP_MS = 600_000;

beforeAll(() => {
  c = conftool(p.lab);
  const cfg = YAML.parse(fs.readFileSync(p.lab.info.config, 'utf8')) as Record<string, unknown>;
  am = path.join(p.lab.dir, 'am.config.yaml');
  fs.writeFileSync(
    am,
    YAML.stringify({ ...cfg, monitoring: { type: 'alertmanager', url: p.lab.info.alertmanager!.url, keepFailedForMs: KEEP_MS } }),
  );
});

/** Silences of this host (instance matcher), not expired. */
async function silencesOf(host: string, state = 'active'): Promise<LabSilence[]> {
  return (await p.lab.silences()).filter(
    (s) => s.status.state === state && s.matchers.some((m) => m.name === 'instance' && new RegExp(`^(?:${m.value})$`).test(host)),
  );
}
afterAll(() => c.close());
beforeEach(async () => {
  await p.lab.reset();
  await settled(p.lab, 'eqiad', 'jobrunner');
});

async function bootIdsOverSsh(hosts: readonly string[]): Promise<Map<string, string>> {
  const rs = await Promise.all(hosts.map((h) => labSsh(p.lab, h, 'cat /proc/sys/kernel/random/boot_id')));
  for (const r of rs) expect(r.code).toBe(0);
  return new Map(hosts.map((h, i) => [h, rs[i]!.stdout.trim()]));
}

/** conftool's values of every object (pooled/weight, no revisions) and the owner markers: "as it began". */
async function poolState(): Promise<string[]> {
  return (await conftoolSnapshot(c.confctl)).map((l) => l.replace(/@\d+$/, ''));
}
async function owners(hosts: readonly string[]): Promise<unknown[]> {
  const objs = (await c.confctl.get({})).filter((o) => hosts.includes(o.tags.name));
  return [...(await c.confctl.owners(objs)).values()];
}

interface RollingOut {
  status: string;
  succeeded: string[];
  failed: { host: string; reason: string; stillDepooled: boolean; depooledObjects: string[] }[];
  notAttempted: string[];
}

const reboots = async (host: string): Promise<number> =>
  (await p.lab.systemctlLog(host)).filter((l) => l.split(' ')[1] === 'reboot').length;

describe('sre.lb.rolling-reboot', () => {
  it('reboots every host of the cluster out of traffic: each has a new boot id, conftool ends as it began', async () => {
    const before = await bootIdsOverSsh(J);
    const state = await poolState();
    const rebootsBefore = await Promise.all(J.map(reboots));
    const during: Promise<[string, LabSilence[]]>[] = [];
    const res = await cookbook(
      p.lab,
      [
        '--output',
        'json',
        'sre.lb.rolling-reboot',
        'cluster=jobrunner',
        'dc=eqiad',
        'batch=1',
        'sleep=0',
        'boot-timeout=20s',
        'reason=e2e reboot',
      ],
      {
        config: am,
        onEvent: (e) => {
          if (e.type === 'host-step' && String(e.text).startsWith('waiting for a new boot id'))
            during.push(silencesOf(String(e.host)).then((x) => [String(e.host), x]));
        },
      },
    );
    const r = { code: res.code, stdout: res.stdout, stderr: res.stderr };
    const out = outputOf<RollingOut>(r);
    // each host silenced (its services, the run's reason) while it rebooted, and no silence left after
    const seen = await Promise.all(during);
    expect(seen.map(([h, x]) => [h, x.length])).toEqual(J.map((h) => [h, 1]));
    for (const [, x] of seen) expect(x[0]!.comment).toMatch(/^e2e reboot/);
    for (const h of J) expect(await silencesOf(h)).toEqual([]);
    expect({ code: r.code, status: out.status, succeeded: out.succeeded, failed: out.failed }).toEqual({
      code: 0,
      status: 'succeeded',
      succeeded: J,
      failed: [],
    });
    const after = await bootIdsOverSsh(J);
    for (const h of J) expect(after.get(h)).not.toBe(before.get(h));
    // exactly one reboot per host
    expect((await Promise.all(J.map(reboots))).map((n, i) => n - rebootsBefore[i]!)).toEqual([1, 1, 1]);
    expect(await poolState()).toEqual(state);
    expect(await owners(J)).toEqual([]);
    // the action's own steps are in the events (progress, --output json)
    const steps = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { type: string; host?: string; text?: string })
      .filter((e) => e.type === 'host-step' && e.host === J[0]);
    expect(steps.map((e) => e.text)).toEqual([
      'waiting for a new boot id (up to 20s)',
      'back with a new boot id; waiting for nginx, php-fpm to be active',
    ]);
  });

  it('dry-run: the plan names the reboot and its waits; nothing is rebooted or written', async () => {
    const before = await bootIdsOverSsh(J);
    const snap = await conftoolSnapshot(c.confctl);
    const r = await run(p.lab.info.config, ['-d', 'sre.lb.rolling-reboot', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'reason=e2e plan']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'On each host while depooled: reboot, wait up to 600s for a new boot id, then up to 120s for its services to be active (systemctl is-active)',
    );
    expect(r.stdout).toMatch(/Batch 3: mw1303\.eqiad\.wmnet/);
    expect(await bootIdsOverSsh(J)).toEqual(before);
    expect(await conftoolSnapshot(c.confctl)).toEqual(snap);
  });

  it('a host that does not come back stays depooled and is reported, exit 1; nothing more is taken out', async () => {
    await p.lab.hangReboot(J[1]!);
    const before = await bootIdsOverSsh(J);
    const r = await run(am, [
      '--output',
      'json',
      'sre.lb.rolling-reboot',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=1',
      'sleep=0',
      'boot-timeout=3s',
      'reason=e2e hang',
    ]);
    const out = outputOf<RollingOut & { failed: { silence?: { id: string; state: string } }[] }>(r);
    expect(r.code).toBe(1);
    // its silence is kept (reported), the host that came back has none left
    const kept = await silencesOf(J[1]!);
    expect(kept.map((x) => x.id)).toEqual([out.failed[0]!.silence!.id]);
    expect(out.failed[0]!.silence!.state).toBe('kept');
    expect(await silencesOf(J[0]!)).toEqual([]);
    expect(out).toMatchObject({ status: 'failed', succeeded: [J[0]], notAttempted: [J[2]] });
    expect(out.failed).toEqual([
      expect.objectContaining({
        host: J[1],
        stillDepooled: true,
        reason: expect.stringMatching(
          new RegExp(`did not come back with a new boot id within 3s \\(boot id before: ${before.get(J[1]!)}\\); left depooled`),
        ),
      }),
    ]);
    expect(out.failed[0]!.depooledObjects).toHaveLength(2);
    // conftool read back: the host that did not come back is out, the others as they began
    expect(await stateOf(c.confctl, J[1]!)).toEqual(['nginx=no/10', 'php-fpm=no/10']);
    expect(await stateOf(c.confctl, J[0]!)).toEqual(['nginx=yes/10', 'php-fpm=yes/10']);
    expect(await stateOf(c.confctl, J[2]!)).toEqual(['nginx=yes/10', 'php-fpm=yes/10']);
    expect((await bootIdsOverSsh([J[0]!])).get(J[0]!)).not.toBe(before.get(J[0]!));
    expect(await bootIdsOverSsh([J[2]!])).toEqual(new Map([[J[2]!, before.get(J[2]!)]]));
    // the run's leftovers name it
    expect(r.stdout).toMatch(/mw1302\.eqiad\.wmnet.*depooled/);
  });
});

describe('sre.lb.rolling-reboot --resume', () => {
  it('killed -9 while a host reboots: the resume finds its new boot id and does not reboot it again', async () => {
    const before = await bootIdsOverSsh(J);
    const state = await poolState();
    const rebootsBefore = await Promise.all(J.map(reboots));
    const args = ['sre.lb.rolling-reboot', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'sleep=0', 'boot-timeout=20s', 'reason=e2e resume'];
    // a short lease: the killed run's locks go within 2 s
    const config = configWith(p.lab, 'short-lease', { locks: { leaseTtlSeconds: 2 } });
    const r = await cookbook(p.lab, ['--output', 'json', ...args], {
      config,
      onEvent: (e, child) => {
        if (e.type === 'host-step' && e.host === J[0] && String(e.text).startsWith('waiting for a new boot id')) child.kill('SIGKILL');
      },
    });
    expect(r.signal).toBe('SIGKILL');
    const runId = r.events[0]!.runId!;
    // the killed run's locks go with its lease: the resume waits for them like any lock
    const r2 = await cookbook(p.lab, ['--output', 'json', '--resume', runId, ...args], { config });
    // mw1301 was verified out again and not sent `reboot` a second time
    const steps0 = r2.events.filter((e) => e.type === 'host-step' && e.host === J[0]).map((e) => String(e.text));
    expect(steps0[0]).toMatch(/^waiting for a new boot id/);
    const out = r2.events.find((e) => e.type === 'output')?.data as RollingOut | undefined;
    expect({ code: r2.code, status: out?.status, succeeded: out?.succeeded }).toEqual({ code: 0, status: 'succeeded', succeeded: J });
    // mw1301 rebooted once (by the killed run), the others once by the resume
    expect((await Promise.all(J.map(reboots))).map((n, i) => n - rebootsBefore[i]!)).toEqual([1, 1, 1]);
    const after = await bootIdsOverSsh(J);
    for (const h of J) expect(after.get(h)).not.toBe(before.get(h));
    expect(await poolState()).toEqual(state);
    expect(await owners(J)).toEqual([]);
  });
});

describe('sre.hosts.reboot', () => {
  it('one host: out, rebooted, new boot id, back as it began', async () => {
    const h = J[2]!;
    const before = await bootIdsOverSsh([h]);
    const state = await poolState();
    const r = await run(p.lab.info.config, ['--output', 'json', 'sre.hosts.reboot', `host=${h}`, 'boot-timeout=20s']);
    const out = outputOf<RollingOut>(r);
    expect({ code: r.code, status: out.status, succeeded: out.succeeded }).toEqual({ code: 0, status: 'succeeded', succeeded: [h] });
    expect((await bootIdsOverSsh([h])).get(h)).not.toBe(before.get(h));
    expect(await poolState()).toEqual(state);
  });

  it('a host in no LB pool (every object inactive) is simply rebooted and waited for; conftool untouched', async () => {
    const h = 'mw2001.codfw.wmnet';
    await c.confctl.update(await c.confctl.select({ name: 'mw2001\\.codfw\\.wmnet' }), { pooled: 'inactive' });
    const snap = await conftoolSnapshot(c.confctl);
    const before = await bootIdsOverSsh([h]);
    const r = await run(am, ['--output', 'json', 'sre.hosts.reboot', `host=${h}`, 'wait-services=nginx', 'boot-timeout=20s']);
    expect(r.code).toBe(0);
    const out = outputOf<{ inPool: boolean; status: string; silence: { id: string; state: string } }>(r);
    expect(out).toMatchObject({ inPool: false, status: 'succeeded', silence: { state: 'expired' } });
    // silenced while it rebooted (the units of wait-services=), expired once it was back
    expect((await silencesOf(h, 'expired')).map((x) => x.id)).toContain(out.silence.id);
    expect(await silencesOf(h)).toEqual([]);
    expect((await bootIdsOverSsh([h])).get(h)).not.toBe(before.get(h));
    expect(await conftoolSnapshot(c.confctl)).toEqual(snap);
  });
});
