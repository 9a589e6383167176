// What the operator reads is the truth (issue 15): a failed host says why in its own words, the batch
// counter is right before each batch, a verification names only the LBs that failed, a host left
// mid-way without any signal is not called "interrupted", a timeout names the host once, and a pool
// change someone else made while we waited is said as such. The built `cookbook` against a private lab.
// eqiad jobrunner: mw1301–mw1304, nginx + php-fpm, all pooled=yes; 2 LBs (lvs1019, lvs1020), threshold 0.5.
import crypto from 'node:crypto';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { privateLab } from '@galley/lab/testing';
import { cookbook, etcdPut, etcdRange, outputOf, poolsPrefix, settled } from './lb-helpers.js';

jest.setTimeout(120_000);

const J = ['mw1301', 'mw1302', 'mw1303', 'mw1304'].map((h) => `${h}.eqiad.wmnet`);
const env = privateLab({ hosts: 12, lbs: 2 });

afterEach(async () => {
  await env.lab.reset();
});

const SYSTEMD = 'Job for nginx.service failed because the control process exited with error code.';

describe('what a failed run says', () => {
  it('a failed restart shows the tail of the host\'s own stderr (systemd\'s "Job for nginx.service failed…"), in text and in JSON; never "exit code 1" twice', async () => {
    const lab = env.lab;
    await settled(lab, 'eqiad', 'jobrunner');
    await lab.failService(J[1]!, 'nginx', 'restart');
    const text = await cookbook(lab, [
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=1',
      'sleep=0',
      'reason=e2e failure tail',
    ]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(
      `Failed, STILL DEPOOLED: ${J[1]} (eqiad/jobrunner/nginx/${J[1]}, eqiad/jobrunner/php-fpm/${J[1]}): action failed: 'systemctl restart nginx php-fpm' exited with 1: ${SYSTEMD} | See "systemctl status nginx.service"`,
    );
    expect(text.stdout).not.toMatch(/exit code 1|exit-code:/);

    await lab.reset();
    await settled(lab, 'eqiad', 'jobrunner');
    await lab.failService(J[1]!, 'nginx', 'restart');
    const json = await cookbook(lab, [
      '--output',
      'json',
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=1',
      'sleep=0',
      'reason=e2e failure tail json',
    ]);
    expect(json.code).toBe(1);
    const failed = (outputOf(json)!.failed as { host: string; reason: string }[])[0]!;
    expect(failed.host).toBe(J[1]);
    expect(failed.reason).toContain(SYSTEMD);
    expect(json.events).toContainEqual(
      expect.objectContaining({ type: 'host-phase', host: J[1], phase: 'failed', reason: expect.stringContaining(SYSTEMD) }),
    );
    expect(json.events).toContainEqual(expect.objectContaining({ type: 'leftover', object: J[1], why: expect.stringContaining(SYSTEMD) }));
  });

  it('a restart that hangs past command-timeout: the reason names the host once', async () => {
    const lab = env.lab;
    await settled(lab, 'eqiad', 'jobrunner');
    await lab.failService(J[0]!, 'nginx', 'hang');
    const r = await cookbook(lab, [
      '--output',
      'json',
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=1',
      'sleep=0',
      'command-timeout=1s',
      'reason=e2e timeout once',
    ]);
    expect(r.code).toBe(1);
    const failed = (outputOf(r)!.failed as { host: string; reason: string }[])[0]!;
    expect(failed.reason).toMatch(/^action failed: command timed out after 1\.0s/);
    expect(failed.reason).not.toContain(J[0]);
    expect(r.stderr).toMatch(
      new RegExp(`Failed, STILL DEPOOLED: ${J[0]!.replace(/\./g, '\\.')} \\([^)]*\\): action failed: command timed out`),
    );
  });

  it('hosts left depooled shrink the next batches: the counter is re-planned before the batch, and says why (1/2, 2/3, 3/3; never 2/2 then 3/3)', async () => {
    const lab = env.lab;
    await settled(lab, 'eqiad', 'jobrunner');
    await lab.failService(J[0]!, 'nginx', 'restart');
    const r = await cookbook(lab, [
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=2',
      'max-failed-batches=1',
      'sleep=0',
      'reason=e2e batch counter',
    ]);
    expect(r.code).toBe(1);
    const counters = [...r.stdout.matchAll(/^❯ Batch (\d+\/\d+):/gm)].map((m) => m[1]);
    expect(counters).toEqual(['1/2', '2/3', '3/3']);
    expect(r.stdout).toMatch(
      /\[WARN\] re-planned: 1 host\(s\) left depooled by failures use up part of the batch size, so 3 batches instead of 2\n❯ Batch 2\/3/,
    );
  });

  it('one lagging LB: the verification headline names lvs1020 only (lvs1019 agreed)', async () => {
    const lab = env.lab;
    await settled(lab, 'eqiad', 'jobrunner');
    await lab.lb('lvs1020', 'lag', 6000);
    const r = await cookbook(lab, [
      'sre.lb.rolling-restart',
      'cluster=jobrunner',
      'dc=eqiad',
      'batch=1',
      'sleep=0',
      'verify-timeout=1s',
      'reason=e2e one lb lags',
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('PyBal verification failed: not depooled on lvs1020 (lvs1019 agreed) within the 1000 ms deadline');
    expect(r.stdout).not.toMatch(/not depooled on lvs1019/);
  });

  it('etcd gone mid-batch (no signal): the host left depooled is reported with what stopped the run, not as "interrupted"', async () => {
    const lab = env.lab;
    await settled(lab, 'eqiad', 'jobrunner');
    let stopped: Promise<void> | undefined;
    const r = await cookbook(
      lab,
      ['--output', 'json', 'sre.lb.rolling-restart', 'cluster=jobrunner', 'dc=eqiad', 'batch=1', 'sleep=0', 'reason=e2e etcd gone'],
      {
        // depooled, waiting on the LBs (~200 ms): the next journal write, before the action, fails
        onEvent: (e) => {
          if (!stopped && e.type === 'host-phase' && e.host === J[0] && e.phase === 'depooled') stopped = lab.etcdStop('etcd1');
        },
      },
    );
    await stopped;
    await lab.etcdStart('etcd1');
    expect(r.code).toBe(1);
    const left = r.events.filter((e) => e.type === 'leftover');
    expect(left).toEqual([expect.objectContaining({ object: J[0], why: expect.stringMatching(/^cannot write the run journal/) })]);
    expect(r.stderr).not.toMatch(/\(interrupted\)/);
    expect(r.events.find((e) => e.type === 'run-finished')).toMatchObject({ summary: { interrupted: false } });
  });

  it('sre.lb.pool takes the host lock before it reads: an object someone pooled while it waited is "nothing to do", decided from the state after the wait', async () => {
    const lab = env.lab;
    await settled(lab, 'eqiad', 'jobrunner');
    const key = `${poolsPrefix(lab, 'eqiad', 'jobrunner')}nginx/${J[2]}`;
    await etcdPut(lab, key, JSON.stringify({ pooled: 'no', weight: 10 }));
    // Another run holds the host lock of mw1303 (a holder key bound to its own lease).
    const ep = lab.info.etcd.endpoints[0]!;
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const grant = (await (await fetch(`${ep}/v3/lease/grant`, { method: 'POST', body: JSON.stringify({ TTL: 60 }) })).json()) as {
      ID: string;
    };
    const now = new Date().toISOString();
    const holder = `/galley/locks/hosts/${J[2]}/${crypto.randomUUID()}`;
    const value = { owner: 'someone@elsewhere [1]', runId: 'e2e-other-run', created: now, acquired: now, concurrency: 1, ttl: 600 };
    await fetch(`${ep}/v3/kv/put`, {
      method: 'POST',
      body: JSON.stringify({ key: b64(holder), value: b64(JSON.stringify(value)), lease: grant.ID }),
    });
    let released: Promise<unknown> | undefined;
    const r = await cookbook(lab, ['--output', 'json', 'sre.lb.pool', `host=${J[2]}`, 'service=nginx'], {
      onEvent: (e) => {
        if (released || e.type !== 'lock' || e.status !== 'waiting') return;
        // the worst moment: someone pools it by hand, then the other run lets go of the host
        released = etcdPut(lab, key, JSON.stringify({ pooled: 'yes', weight: 10 })).then(() =>
          fetch(`${ep}/v3/lease/revoke`, { method: 'POST', body: JSON.stringify({ ID: grant.ID }) }),
        );
      },
    });
    await released;
    expect(released).toBeDefined();
    expect(r.code).toBe(0);
    const out = r.events.filter((e) => e.type === 'output').at(-1) as { data: Record<string, unknown>; text: string } | undefined;
    expect(r.events.some((e) => e.type === 'lock' && e.status === 'waiting')).toBe(true);
    expect(out?.text).toBe(`nothing to do: ${J[2]} (nginx) is already pooled (eqiad/jobrunner/nginx/${J[2]}=yes)`);
    expect(out?.data).toMatchObject({ changed: [], nothingToDo: true });
    expect(r.stderr).not.toMatch(/pooled ;|nothing to verify/);
    const { kvs } = await etcdRange(lab, key);
    expect((JSON.parse(kvs.get(key)!.value) as { pooled: string }).pooled).toBe('yes');
  });
});
