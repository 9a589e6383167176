// sre.hosts.reimage end to end: the built `cookbook` binary against a private lab (real etcd,
// sshd hosts, PyBal simulators, the lab provisioner/inventory/monitoring).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Conftool } from '@galley/confctl';
import { LabLifecycle } from '@galley/lab';
import { privateLab } from '@galley/lab/testing';
import { configWith, conftool, conftoolSnapshot, lbViews, outputOf, run, start, stateOf, type Res } from './hosts-harness.js';

jest.setTimeout(120_000);

// 8 hosts: eqiad jobrunners mw1301–mw1303 (3 per pool: one out still leaves the threshold met);
// eqiad appservers mw1001–mw1003 with mw1003 seeded pooled=no (no room for one more out).
const p = privateLab({ hosts: 8, lbs: 2, rebootMs: 500, pybalDelayMs: 100 });
const H = 'mw1301.eqiad.wmnet';
let c: { confctl: Conftool; close(): void };
let lc: LabLifecycle;
let cfg: string;
let fastCfg: string;

beforeAll(async () => {
  c = conftool(p.lab);
  lc = new LabLifecycle(p.lab);
  cfg = p.lab.info.config;
  // A short install deadline for the never-comes-back case; short lock waits for the lock case.
  fastCfg = configWith(p.lab, 'fast', { hosts: { installTimeoutMs: 8000 }, locks: { waitTimeoutSeconds: 2 } });
});
afterAll(() => c.close());

interface Report {
  status: string;
  failedStep?: string;
  error?: string;
  /** conftool read back, object by object (the lb engine's ObjectState). */
  conftoolNow?: { object: string; pooled: string; weight?: number; owner?: { runId: string; reason: string } }[] | null;
  leftAsFound?: string[];
  restoreCommands?: string[];
  steps: { step: string; ok: boolean; detail?: string }[];
  hostKey?: string | null;
}

/** The run id of a `--output json` run (every event carries it). */
const runIdOf = (r: Res): string => (JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('{'))!) as { runId: string }).runId;
/** `service=pooled/weight` of a report's conftool read back, as stateOf prints conftool. */
const asState = (now: Report['conftoolNow']) => (now ?? []).map((s) => `${s.object.split('/')[2]}=${s.pooled}/${s.weight}`).sort();

const reimage = (config: string, host: string, extra: string[] = []): Promise<Res> =>
  run(config, ['--yes', '--output', 'json', 'sre.hosts.reimage', `host=${host}`, 'os=bookworm', ...extra]);

async function resetHost(host: string): Promise<void> {
  await p.lab.reset();
  lc.reset();
  await p.lab.heal(host);
}

/** What a reimage may change besides conftool: the host (boot, OS, key), inventory, downtimes. */
async function hostSideSnapshot(host: string): Promise<string> {
  return [
    await p.lab.bootId(host),
    lc.os(host),
    lc.hostKey(host),
    fs.readFileSync(lc.inventoryFile, 'utf8'),
    JSON.stringify(lc.downtimes()),
  ].join('\n');
}

describe('sre.hosts.reimage', () => {
  it('reimages a host and restores exactly its recorded conftool state (a `no` stays `no`)', async () => {
    await c.confctl.update(await c.confctl.select({ name: 'mw1301\\.eqiad\\.wmnet', service: 'php-fpm' }), { pooled: 'no' });
    await c.confctl.update(await c.confctl.select({ name: 'mw1301\\.eqiad\\.wmnet', service: 'nginx' }), { weight: 7 });
    const before = await stateOf(c.confctl, H);
    const phpRev = (await c.confctl.get({ name: 'mw1301\\.eqiad\\.wmnet', service: 'php-fpm' }))[0]!.modRevision;
    expect(before).toEqual(['nginx=yes/7', 'php-fpm=no/10']);
    const keyBefore = lc.hostKey(H);
    const bootBefore = await p.lab.bootId(H);
    expect(lc.os(H)).toBe('bullseye');

    const r = await reimage(cfg, H, ['task-id=T123']);
    const out = outputOf<Report>(r);
    expect({ code: r.code, status: out.status }).toEqual({ code: 0, status: 'succeeded' });

    expect(await stateOf(c.confctl, H)).toEqual(before);
    // The report is conftool read back; the `no` object was never written (a run takes out only what is pooled).
    expect(asState(out.conftoolNow)).toEqual(before);
    expect(out.conftoolNow?.filter((s) => s.owner)).toEqual([]);
    expect((await c.confctl.get({ name: 'mw1301\\.eqiad\\.wmnet', service: 'php-fpm' }))[0]!.modRevision).toBe(phpRev);
    // PyBal agrees: nginx back in on both LBs, php-fpm out.
    expect(await lbViews(p.lab, H)).toEqual([
      'jobrunner-nginx_eqiad@lvs1019=pooled',
      'jobrunner-nginx_eqiad@lvs1020=pooled',
      'jobrunner-php-fpm_eqiad@lvs1019=depooled',
      'jobrunner-php-fpm_eqiad@lvs1020=depooled',
    ]);
    expect(lc.os(H)).toBe('bookworm');
    expect(await p.lab.bootId(H)).not.toBe(bootBefore);
    const keyAfter = lc.hostKey(H);
    expect(keyAfter).not.toBe(keyBefore);
    // The key the run trusted is the one the provisioner vouched for (= what the host serves now),
    // and the run got past it: OS verified, post-install and health check ran over SSH with it.
    expect(out.hostKey).toBe(keyAfter);
    expect(out.steps.filter((s) => !s.ok)).toEqual([]);
    expect(out.steps.map((s) => s.step)).toEqual(
      expect.arrayContaining(['verify the OS', 'post-install: lab-config-apply', 'health check']),
    );
    expect(lc.events(H).some((l) => / config-apply rc=0$/.test(l))).toBe(true);
    const dts = lc.downtimes().filter((d) => d.host === H);
    expect(dts).toHaveLength(1);
    expect(dts[0]!.reason).toContain('T123');
    expect(dts[0]!.removed).toBeDefined();
    expect(await p.lab.serviceState(H, 'nginx')).toBe('active');
  });

  it('dry-run: prints the whole plan and changes nothing (etcd revision, host, inventory, downtimes)', async () => {
    await resetHost(H);
    const rev = await c.confctl.revision();
    const key = lc.hostKey(H);
    const boot = await p.lab.bootId(H);
    const inv = fs.readFileSync(lc.inventoryFile, 'utf8');
    const dts = JSON.stringify(lc.downtimes());
    const r = await run(cfg, ['-d', 'sre.hosts.reimage', `host=${H}`, 'os=bookworm']);
    expect(r.code).toBe(0);
    const text = r.stdout + r.stderr;
    for (const want of [
      'set pooled=inactive',
      'DRY-RUN',
      'reinstall with bookworm',
      'post-install: lab-config-apply',
      'put back what it took out',
      'would put back eqiad/jobrunner/nginx, eqiad/jobrunner/php-fpm to pooled=yes',
    ])
      expect(text).toContain(want);
    // each step's line names the host once: "✔ H: downtime [dry-run-1]", not "✔ H: downtime [H: downtime — dry-run-1]"
    expect(text).not.toContain(`[${H}:`);
    expect(text).toContain(`✔ ${H}: record conftool state [eqiad/jobrunner/`);
    expect(await c.confctl.revision()).toBe(rev);
    expect(lc.hostKey(H)).toBe(key);
    expect(await p.lab.bootId(H)).toBe(boot);
    expect(lc.os(H)).toBe('bullseye');
    expect(fs.readFileSync(lc.inventoryFile, 'utf8')).toBe(inv);
    expect(JSON.stringify(lc.downtimes())).toBe(dts);
  });

  it('a host that never comes back: deadline, the failed step named, host left inactive, exact restore commands, exit 1', async () => {
    await resetHost(H);
    lc.failReinstall(H);
    const r = await reimage(fastCfg, H);
    const out = outputOf<Report>(r);
    expect(r.code).toBe(1);
    expect(out.failedStep).toBe('wait for the new boot');
    expect(await stateOf(c.confctl, H)).toEqual(['nginx=inactive/10', 'php-fpm=inactive/10']);
    expect(out.restoreCommands).toEqual([
      "confctl select 'dc=eqiad,cluster=jobrunner,service=nginx,name=mw1301.eqiad.wmnet' set/pooled=yes:weight=10",
      "confctl select 'dc=eqiad,cluster=jobrunner,service=php-fpm,name=mw1301.eqiad.wmnet' set/pooled=yes:weight=10",
    ]);
    expect(await lbViews(p.lab, H)).toEqual(expect.arrayContaining(['jobrunner-nginx_eqiad@lvs1019=absent']));
    // The downtime stays (the host is broken).
    expect(lc.downtimes().filter((d) => d.host === H && !d.removed)).toHaveLength(1);
    lc.reset();
    await p.lab.startHost(H);
  });

  it('a host key the provisioner does not vouch for is never accepted: the host counts as not back, exit 1', async () => {
    await resetHost(H);
    lc.vouchWrongKey(H);
    const applies = () => lc.events(H).filter((l) => /config-apply/.test(l)).length;
    const appliesBefore = applies();
    const r = await reimage(fastCfg, H);
    const out = outputOf<Report>(r);
    expect(r.code).toBe(1);
    expect(out.failedStep).toBe('wait for the new boot');
    expect(r.stdout).toContain('came back with a host key the provisioner does not vouch for');
    // The host did come back (new OS, new key), but nothing ran on it: no post-install.
    expect(lc.os(H)).toBe('bookworm');
    expect(applies()).toBe(appliesBefore);
    expect(await stateOf(c.confctl, H)).toEqual(['nginx=inactive/10', 'php-fpm=inactive/10']);
    lc.reset();
  });

  it('the provisioner vouches for the new key only once the host has booted (lab fault key-late): asked again while waiting, the reimage succeeds with that key', async () => {
    await resetHost(H);
    const prov = JSON.parse(fs.readFileSync(`${lc.dir}/provisioner.json`, 'utf8')) as { hosts: Record<string, { hdir: string }> };
    fs.writeFileSync(path.join(prov.hosts[H]!.hdir, 'state', 'lifecycle-fault'), 'key-late\n');
    try {
      const r = await reimage(cfg, H);
      const out = outputOf<Report>(r);
      expect({ code: r.code, status: out.status }).toEqual({ code: 0, status: 'succeeded' });
      // First it was told the previous key (refused by the new host), then the new one.
      expect(r.stdout).toContain('now vouches for another host key');
      expect(out.hostKey).toBe(lc.hostKey(H));
      expect(out.steps.map((s) => s.step)).toEqual(expect.arrayContaining(['verify the OS', 'health check']));
    } finally {
      lc.reset();
    }
  });

  it('`new`: a host not in conftool is reimaged without the conftool steps; without `new` it is refused', async () => {
    await resetHost('mw1302.eqiad.wmnet');
    await c.confctl.remove({ name: 'mw1302\\.eqiad\\.wmnet' });
    const refused = await reimage(cfg, 'mw1302.eqiad.wmnet');
    expect(`${refused.code} ${refused.stdout}${refused.stderr}`).toMatch(/^[1-9]\d* [\s\S]*has no conftool objects/);
    // The syntax: a bare `new` (the runner maps a bare boolean option name to its flag).
    const r = await reimage(cfg, 'mw1302.eqiad.wmnet', ['new']);
    const out = outputOf<Report>(r);
    expect({ code: r.code, status: out.status }).toEqual({ code: 0, status: 'succeeded' });
    expect(out.steps.map((s) => s.step).filter((s) => /conftool|pooled/.test(s))).toEqual([]);
    expect(lc.os('mw1302.eqiad.wmnet')).toBe('bookworm');
    expect(await stateOf(c.confctl, 'mw1302.eqiad.wmnet')).toEqual([]);
  });

  it('post-install fails: reported as the failed step, host stays out of traffic, exit 1', async () => {
    await resetHost(H);
    await p.lab.failService(H, 'nginx', 'restart');
    const r = await reimage(cfg, H);
    const out = outputOf<Report>(r);
    expect(r.code).toBe(1);
    expect(out.failedStep).toBe('post-install: lab-config-apply');
    expect(await stateOf(c.confctl, H)).toEqual(['nginx=inactive/10', 'php-fpm=inactive/10']);
    expect(r.stdout).toContain('set/pooled=yes:weight=10');
    await p.lab.heal(H);
  });

  it('not confirmed (no TTY, no --yes): a documented exit code, "not confirmed, nothing changed", nothing changed', async () => {
    await resetHost(H);
    const before = await conftoolSnapshot(c.confctl);
    const side = await hostSideSnapshot(H);
    // The harness spawns with stdin ignored: not a TTY.
    const r = await run(cfg, ['--output', 'json', 'sre.hosts.reimage', `host=${H}`, 'os=bookworm']);
    expect({ code: r.code, status: outputOf<Report>(r).status }).toEqual({ code: 2, status: 'not-confirmed' });
    expect(r.stdout + r.stderr).toContain('not confirmed, nothing changed');
    expect(await conftoolSnapshot(c.confctl)).toEqual(before);
    expect(await hostSideSnapshot(H)).toBe(side);
  });

  it("refuses when taking the host out would breach its pools' depool threshold (inactive leaves PyBal's totals): nothing changed", async () => {
    await resetHost('mw1001.eqiad.wmnet');
    const before = await conftoolSnapshot(c.confctl);
    const side = await hostSideSnapshot('mw1001.eqiad.wmnet');
    const r = await reimage(cfg, 'mw1001.eqiad.wmnet');
    const all = `exit ${r.code}\n${r.stdout}${r.stderr}`;
    expect(all).toMatch(/^exit [1-9]/);
    expect(all).toContain('ERR_HOSTS_CAPACITY');
    expect(all).toMatch(
      /depooling 1 server\(s\) from pool appserver-nginx_eqiad would breach its depool threshold: only 0 can leave now \([^\n]*2 of 3 up and enabled, threshold 0\.5[^\n]*\); it would take out mw1001\.eqiad\.wmnet/,
    );
    expect(await conftoolSnapshot(c.confctl)).toEqual(before);
    expect(await hostSideSnapshot('mw1001.eqiad.wmnet')).toBe(side);
  });

  it("conftool-value=no never writes an inactive object to no (it would rejoin PyBal's totals); everything restored as recorded", async () => {
    await resetHost(H);
    await c.confctl.update(await c.confctl.select({ name: 'mw1301\\.eqiad\\.wmnet', service: 'php-fpm' }), { pooled: 'inactive' });
    const php = async () => (await c.confctl.get({ name: 'mw1301\\.eqiad\\.wmnet', service: 'php-fpm' }))[0]!;
    const rev = (await php()).modRevision;
    const r = await reimage(cfg, H, ['conftool-value=no']);
    expect({ code: r.code, status: outputOf<Report>(r).status }).toEqual({ code: 0, status: 'succeeded' });
    expect(await php()).toMatchObject({ pooled: 'inactive', modRevision: rev });
    expect(await stateOf(c.confctl, H)).toEqual(['nginx=yes/10', 'php-fpm=inactive/10']);
  });

  it('a rolling restart of the same cluster cannot touch the host while it is reimaged (host lock)', async () => {
    await resetHost(H);
    const logBefore = (await p.lab.systemctlLog(H)).length;
    const reinstallsBefore = lc.events(H).filter((l) => / reinstall /.test(l)).length;
    // A slow install (15 s reboot): the rolling restart surely runs while the host is mid-reimage.
    const provFile = `${lc.dir}/provisioner.json`;
    const saved = fs.readFileSync(provFile, 'utf8');
    const prov = JSON.parse(saved) as { hosts: Record<string, { rebootMs: number }> };
    prov.hosts[H]!.rebootMs = 15_000;
    fs.writeFileSync(provFile, JSON.stringify(prov));
    // pooled=no (not inactive) while reimaged: the rolling restart does select the host, so only the host lock keeps it away.
    const re = start(cfg, ['--yes', '--output', 'json', 'sre.hosts.reimage', `host=${H}`, 'os=bookworm', 'conftool-value=no']);
    // The lab provisioner logs the reinstall on the host: from then on the reimage is mid-flight.
    const end = Date.now() + 60_000;
    while (lc.events(H).filter((l) => / reinstall /.test(l)).length === reinstallsBefore) {
      if (Date.now() > end) throw new Error('the reimage never reached the reinstall');
      await new Promise((r) => setTimeout(r, 100));
    }
    const rr = await run(fastCfg, [
      '--yes',
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      `hosts=${H}`,
      'sleep=0',
      'reason=concurrent rolling restart',
    ]);
    const midway = lc.powerState(H) === 'on' && (await stateOf(c.confctl, H)).join(' ');
    const reRes = await re.done;
    fs.writeFileSync(provFile, saved);
    expect(outputOf<Report>(reRes).status).toBe('succeeded');
    // Still mid-reimage when the rolling restart gave up: the host was at pooled=no.
    expect(midway).toBe('nginx=no/10 php-fpm=no/10');
    // Non-zero exit, because of the host lock (the whole output is shown if not).
    expect(`${rr.code} ${rr.stdout}${rr.stderr}`).toMatch(/^[1-9]\d* [\s\S]*(hosts\/mw1301\.eqiad\.wmnet|locked by another run|busy)/);
    // The only systemctl calls on the host while it was reimaged are the reimage's own (start by config-apply, is-active checks).
    const during = (await p.lab.systemctlLog(H)).slice(logBefore);
    expect(during.filter((l) => / restart /.test(l))).toEqual([]);
    expect(await stateOf(c.confctl, H)).toEqual(['nginx=yes/10', 'php-fpm=yes/10']);
  });

  // Last: the lagging LB's delayed changes drain after the run.
  it('an LB does not take the host back in: it is put back out and verified, exit 1, and the report says what etcd really holds', async () => {
    await resetHost(H);
    const shortVerify = configWith(p.lab, 'verify', { pybal: { verifyTimeoutMs: 3000 } });
    // Armed once the host is out and verified (at the reinstall): from then on lvs1019 applies
    // conftool changes 10 s late, so the repool cannot be verified within 3 s.
    let armed: Promise<void> | undefined;
    const re = start(shortVerify, ['--yes', '--output', 'json', 'sre.hosts.reimage', `host=${H}`, 'os=bookworm'], (all) => {
      if (!armed && all.includes('"phase":"reinstall with bookworm"')) armed = p.lab.lb('lvs1019', 'lag', 10_000);
    });
    const r = await re.done;
    await armed;
    try {
      const out = outputOf<Report>(r);
      expect({ code: r.code, failedStep: out.failedStep }).toEqual({
        code: 1,
        failedStep: 'put back what it took out and verify on every LB',
      });
      expect(out.error).toMatch(
        /not back in on every load balancer, so it was taken out again \(pooled=inactive\) and verified out: [\s\S]*lvs1019/,
      );
      // What the report says is what etcd holds: out (inactive) under this run's marker, not the recorded `yes`.
      const now = await stateOf(c.confctl, H);
      expect(now).toEqual(['nginx=inactive/10', 'php-fpm=inactive/10']);
      expect(asState(out.conftoolNow)).toEqual(now);
      expect(out.conftoolNow?.map((s) => s.owner?.runId)).toEqual([runIdOf(r), runIdOf(r)]);
      expect(r.stdout).toContain(`out of traffic (conftool now: eqiad/jobrunner/nginx/${H}=inactive (held out by ${runIdOf(r)}`);
      expect(out.restoreCommands).toHaveLength(2);
      // lvs1020 applied the repool, then the set-back: the host is out of it again.
      expect((await lbViews(p.lab, H)).filter((v) => v.includes('@lvs1020'))).toEqual([
        'jobrunner-nginx_eqiad@lvs1020=absent',
        'jobrunner-php-fpm_eqiad@lvs1020=absent',
      ]);
    } finally {
      await p.lab.lb('lvs1019', 'up');
    }
  });
});
