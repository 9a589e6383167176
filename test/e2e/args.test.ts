// What the operator sees is the truth: the sre.lb cookbooks' arguments are checked completely before
// any lock, client or announcement (the built `cookbook` binary against the shared lab, with a
// webhook listening and another run holding the cookbook's lock), a percentage means the same
// number everywhere, and read-only commands are never reported as changes.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { connectEtcd } from '@galley/confctl';
import { EtcdLocks } from '@galley/core/locks';
import type { Lab } from '@galley/lab';
import { sharedLab } from '@galley/lab/testing';
import { cookbook, etcdRange, poolsPrefix, settled } from './lb-helpers.js';

jest.setTimeout(120_000);

let lab: Lab;
let hookLab: Lab;
let webhook: http.Server;
const announced: string[] = [];
let tmp: string;

beforeAll(async () => {
  lab = await sharedLab();
  webhook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      announced.push(body);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const port = (webhook.address() as { port: number }).port;
  // The lab's config plus a notifier: what START/END would be announced to.
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-args-'));
  const config = path.join(tmp, 'cookbook.config.yaml');
  fs.writeFileSync(config, `${fs.readFileSync(lab.info.config, 'utf8')}\nnotifier:\n  webhook: http://127.0.0.1:${port}/sal\n`);
  hookLab = { ...lab, info: { ...lab.info, config } } as Lab;
});
afterEach(async () => {
  await lab.reset();
});
afterAll(async () => {
  await new Promise((resolve) => webhook.close(resolve));
  fs.rmSync(tmp, { recursive: true, force: true });
});

const revision = async (): Promise<number> => (await etcdRange(lab, '/')).revision;

describe('sre.lb arguments: checked completely before any lock, client or announcement', () => {
  it('every bad value at once, exit 96, in seconds although another run holds the lock; nothing announced (stdout, webhook), etcd untouched', async () => {
    const etcd = connectEtcd({ endpoints: lab.info.etcd.endpoints, dialTimeoutMs: 3000, requestTimeoutMs: 5000 });
    const holder = new EtcdLocks(etcd, {}).session('e2e-args-holder', { dryRun: false });
    // a running rolling restart of the same cluster: a run that got past its arguments would queue behind it
    await holder.acquire('cookbooks', 'sre.lb.rolling-restart:eqiad-jobrunner', { concurrency: 1, ttlSeconds: 120 });
    try {
      const before = await revision();
      announced.length = 0;
      const started = Date.now();
      const r = await cookbook(hookLab, [
        'sre.lb.rolling-restart',
        'cluster=jobrunner',
        'dc=eqiad',
        'batch=abc',
        'sleep=-1',
        'verify-timeout=-5s',
        'hosts=mw[1301-',
        'command-timeout=0',
        'max-failed-batches=-1',
        'reason=e2e bad arguments',
      ]);
      const tookMs = Date.now() - started;
      expect(r.code).toBe(96);
      expect(tookMs).toBeLessThan(15_000);
      const text = r.stdout + r.stderr;
      expect(text).toContain('sre.lb.rolling-restart: 6 problems with the arguments:');
      for (const want of [
        'batch=abc:',
        'sleep=-1:',
        'verify-timeout=-5s:',
        'hosts=mw[1301-:',
        'command-timeout=0: must be above 0',
        'max-failed-batches=-1: must be a whole number ≥ 0',
      ]) {
        expect(text).toContain(want);
      }
      expect(text).not.toContain('START');
      expect(text).toContain('sleep=-1: a duration cannot be negative');
      // refused at its arguments, the run did nothing: no picture of it is offered
      expect(text).not.toContain('picture of this run');
      expect(text).not.toContain('waiting for lock');
      expect(await revision()).toBe(before);
      expect(announced).toEqual([]);
    } finally {
      await holder.close();
      etcd.close();
    }
  });

  it.each([
    [['batch=150%'], /batch=150%: percentage 150% must be above 0% and below 100%/],
    [['batch=0'], /batch=0: "0" is neither a host count ≥ 1 nor a percentage/],
    [['batch=1', 'batch=2'], /batch given 2 times \(1, 2\); give it once/],
    [['dc=eqiad', 'dc=codfw'], /dc given 2 times \(eqiad, codfw\); give it once/],
    // a day-long wait holds hosts out of traffic and the locks: a typo, never a plan
    // …and the cookbook's lock (12 h for a rolling operation) must outlast every wait of the run
    [
      ['command-timeout=25h'],
      /command-timeout=25h: more than 12h; accepted: above 0, at most 12h \(the max hold of this cookbook's lock\)/,
    ],
    [['sleep=90000'], /sleep=90000: more than 12h; accepted: 0 or more, at most 12h/],
    // a health timeout without a health check would be ignored: the operator believes hosts are checked
    [['health-timeout=5s'], /health-timeout=5s has no effect without health-check; give health-check too, or drop health-timeout/],
    // drain, budgets and order (issue 14)
    [['drain=-1s'], /drain=-1s: a duration cannot be negative; accepted: a duration like 30s/],
    [['max-failed=120%'], /max-failed=120%: a percentage of the selected hosts is at most 100%/],
    [['order=random'], /order.*"random".*accepted values: "as-listed", "sorted", "shuffled"/],
    [['drain-check=true'], /drain-check=true has no effect without drain/],
  ])('%j → 96 with a clear message, nothing announced', async (extra, want) => {
    const before = await revision();
    announced.length = 0;
    const r = await cookbook(hookLab, [
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      ...(extra.some((a) => a.startsWith('dc=')) ? [] : ['dc=eqiad']),
      ...extra,
      'reason=e2e bad arguments',
    ]);
    expect(r.code).toBe(96);
    expect(r.stdout + r.stderr).toMatch(want);
    expect(r.stdout).not.toContain('START');
    expect(announced).toEqual([]);
    expect(await revision()).toBe(before);
  });

  it.each([
    [
      'sre.lb.restart-service',
      ['host=mw1301.eqiad.wmnet', 'service=nginx', 'command-timeout=0'],
      'command-timeout=0: must be above 0 (0 is not "no timeout"); accepted: above 0, at most 1h (the max hold of this cookbook\'s lock)',
    ],
    [
      'sre.lb.restart-service',
      ['host=mw1301.eqiad.wmnet', 'service=nginx', 'command-timeout=2h'],
      "command-timeout=2h: more than 1h; accepted: above 0, at most 1h (the max hold of this cookbook's lock)",
    ],
    [
      'sre.lb.restart-service',
      ['host=mw1301.eqiad.wmnet', 'service=nginx', 'verify-timeout=-1'],
      'verify-timeout=-1: a duration cannot be negative; accepted: above 0, at most 1h',
    ],
    [
      'sre.lb.rolling-run',
      ['cluster=jobrunner', 'dc=eqiad', 'command=true', 'command-timeout=0s', 'reason=e2e'],
      'command-timeout=0s: must be above 0 (0 is not "no timeout"); accepted: above 0, at most 12h',
    ],
    [
      'sre.lb.rolling-restart',
      ['cluster=jobrunner', 'dc=eqiad', 'health-check=true', 'health-timeout=0', 'reason=e2e'],
      'health-timeout=0: must be above 0',
    ],
    [
      'sre.lb.depool',
      ['host=mw1301.eqiad.wmnet', 'verify-timeout=11m'],
      "verify-timeout=11m: more than 10m; accepted: above 0, at most 10m (the max hold of this cookbook's lock)",
    ],
    ['sre.lb.pool', ['host=mw1301.eqiad.wmnet', 'verify-timeout=0'], 'verify-timeout=0: must be above 0'],
    ['sre.lb.rolling-reboot', ['cluster=jobrunner', 'dc=eqiad', 'boot-timeout=0', 'reason=e2e'], 'boot-timeout=0: must be above 0'],
    [
      'sre.hosts.reboot',
      ['host=mw1301.eqiad.wmnet', 'boot-timeout=4h'],
      "boot-timeout=4h: more than 3h; accepted: above 0, at most 3h (the max hold of this cookbook's lock)",
    ],
  ])(
    '%s %j: a timeout of 0 (never "no timeout"), negative or past the lock\'s max hold is exit 96 naming it and the range; nothing locked, changed or announced',
    async (name, args, want) => {
      await settled(lab, 'eqiad', 'jobrunner');
      const before = await etcdRange(lab, '/');
      announced.length = 0;
      const r = await cookbook(hookLab, [name, ...args]);
      expect(r.code).toBe(96);
      expect(r.stdout + r.stderr).toContain(want);
      expect(r.stdout + r.stderr).not.toContain('START');
      expect(announced).toEqual([]);
      // no lock key was ever written (a lock taken and released would still have moved the revision)
      expect((await etcdRange(lab, '/galley/locks/')).kvs.size).toBe(0);
      expect((await etcdRange(lab, '/')).revision).toBe(before.revision);
    },
  );

  it('a dry-run refused at its arguments planned nothing: no "Plan …: no changes" verdict, exit 96', async () => {
    const r = await cookbook(hookLab, ['-d', 'sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=abc', 'reason=e2e']);
    expect(r.code).toBe(96);
    expect(r.stdout + r.stderr).toContain('batch=abc:');
    expect(r.stdout + r.stderr).not.toContain('Plan for');
  });

  it('sre.lb.status dc=eqiad dc=codfw is a clear bad argument (it crashed with exit 99, "s.replace is not a function")', async () => {
    const r = await cookbook(lab, ['sre.lb.status', 'cluster=jobrunner', 'dc=eqiad', 'dc=codfw']);
    expect(r.code).toBe(96);
    expect(r.stdout + r.stderr).toContain('dc given 2 times (eqiad, codfw); give it once');
    expect(r.stdout + r.stderr).not.toContain('is not a function');
  });

  it('a valid run announces START and END to the webhook once its arguments are valid', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    announced.length = 0;
    const r = await cookbook(hookLab, [
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'hosts=mw1301.eqiad.wmnet',
      'sleep=0',
      'reason=e2e announced',
    ]);
    expect(r.code).toBe(0);
    expect(announced.map((a) => (JSON.parse(a) as { message: string }).message.split(' ')[0])).toEqual(['START', 'END']);
  });
});

describe('percentages and plans', () => {
  it('batch=30% of 4 hosts is 1 host per batch (rounded down, as Kubernetes maxUnavailable), and the plan says so; the plan and its warnings are printed once', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const before = await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'jobrunner'));
    const r = await cookbook(lab, ['-d', 'sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=30%', 'reason=e2e percent']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('batch=30%: 1 (30% of 4, rounded down, at least 1) host(s) per batch');
    expect(r.stdout.match(/^Batch \d+: /gm)).toHaveLength(4);
    // each intended change once: in the plan at the end, not also as it is recorded
    expect(r.stdout).not.toContain('would change');
    expect(r.stdout.match(/Plan for sre\.lb\.rolling-restart \(8 intended changes, in order\)/g)).toHaveLength(1);
    expect(r.stdout).not.toContain('DRY-RUN: DRY-RUN:');
    expect(r.stdout).not.toContain('WARNINGS:');
    expect((await etcdRange(lab, poolsPrefix(lab, 'eqiad', 'jobrunner'))).revision).toBe(before.revision);
  });

  it('99% of 4 hosts is 3: a percentage never takes the whole cluster', async () => {
    const r = await cookbook(lab, ['-d', 'sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=99%', 'reason=e2e percent']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('batch=99%: 3 (99% of 4, rounded down, at least 1) host(s) per batch');
  });
});

describe('safe (read-only) commands are reads', () => {
  it('a real 2-host restart: the connection warm-up `true` is never a change (not printed, not in summary.changes); with -v it shows as a debug read', async () => {
    await settled(lab, 'eqiad', 'jobrunner');
    const r = await cookbook(lab, [
      '-v',
      '--output',
      'json',
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'hosts=mw[1301-1302].eqiad.wmnet',
      'batch=1',
      'sleep=0',
      'reason=e2e safe reads',
    ]);
    expect(r.code).toBe(0);
    const changes = r.events.filter((e) => e.type === 'change');
    const commands = changes.filter((e) => e.kind === 'command').map((e) => String(e.object));
    expect(commands).toEqual(['systemctl restart nginx php-fpm', 'systemctl restart nginx php-fpm']);
    const finished = r.events.find((e) => e.type === 'run-finished' && e.depth === 0) as
      { summary: { changes: number; plan: { object: string }[] } } | undefined;
    // 2 hosts × (2 objects depooled + 2 repooled) + 2 restarts, and nothing else
    expect(finished?.summary.changes).toBe(10);
    expect(changes).toHaveLength(10);
    expect(finished?.summary.plan.map((p) => p.object)).not.toContain('true');
    expect(r.stderr).not.toMatch(/changed .*: run true/);
    expect(r.stderr).toMatch(/\[DEBUG\] read: true on mw130[12]\.eqiad\.wmnet/);
    // without -v, not at all
    const quiet = await cookbook(lab, [
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'hosts=mw1303.eqiad.wmnet',
      'sleep=0',
      'reason=e2e safe reads',
    ]);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).not.toMatch(/run true|read: true/);
  });
});
