import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { conftoolKey, openLab, type Lab } from '@galley/lab';
import { labSsh } from '@galley/lab/testing';
import { labCli, statusLine, type Out } from './cli-run.js';
import { labEtcd } from '../../src/etcd-client.js';
import { tcpOpen, waitFor } from '../../src/procs.js';

// jest's testTimeout is a global option: the integration project's 60 s does not reach here.
jest.setTimeout(120000);

/** One `galley-lab` command through the built binary, against this file's own lab. */
const cli = (...args: string[]): Promise<Out> => labCli(dir, ...args);

type ServerJson = { pooled: boolean; weight: number; up: boolean; enabled: boolean };
async function server(host: string): Promise<ServerJson> {
  const res = await fetch(`${lb.url}/pools/${POOL}/${host}`, { headers: { accept: 'application/json' } });
  return (await res.json()) as ServerJson;
}
async function onLb(host: string, want: Partial<ServerJson>, timeoutMs = 10000): Promise<void> {
  await waitFor(
    `${host} to be ${JSON.stringify(want)} on ${lb.name}`,
    async () => {
      const s = await server(host);
      return Object.entries(want).every(([k, v]) => s[k as keyof ServerJson] === v) ? true : undefined;
    },
    { timeoutMs, intervalMs: 25 },
  );
}

async function setPooled(host: string, pooled: 'yes' | 'no'): Promise<void> {
  const etcd = labEtcd(lab.info.etcd.endpoints);
  try {
    await etcd
      .put(conftoolKey(lab.info.namespace, { dc: 'eqiad', cluster: 'jobrunner', service: 'nginx', name: host }))
      .value(JSON.stringify({ pooled, weight: 10 }));
  } finally {
    etcd.close();
  }
}

async function etcdHealth(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
    return ((await res.json()) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}

const DELAY = 200;
const POOL = 'jobrunner-nginx_eqiad';
const HOST = 'mw1301.eqiad.wmnet';
const OTHER = 'mw1302.eqiad.wmnet';
let base = '';
let dir = '';
let lab: Lab;
let lb: { name: string; url: string };

// Own lab, started and driven only through the CLI: 4 hosts, 1 LB, a real 3-member etcd.
beforeAll(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-labcli-'));
  dir = path.join(base, 'lab');
  const up = await cli('up', '--hosts', '4', '--lbs', '1', '--etcd-members', '3', '--no-bastion', '--pybal-delay', String(DELAY));
  expect(up).toMatchObject({ code: 0, stdout: expect.stringContaining('galley lab up in') });
  lab = await openLab(dir);
  lb = lab.info.loadBalancers[0]!;
}, 120000);

afterAll(async () => {
  if (dir) await cli('down');
  if (base) fs.rmSync(base, { recursive: true, force: true });
}, 60000);

describe('galley-lab CLI verbs (dist/bin.js, own lab)', () => {
  it('status: every etcd member, host and LB ok (text and --json)', async () => {
    const st = await cli('status');
    expect(st.code).toBe(0);
    expect(st.stdout).not.toContain('FAIL');
    for (const m of ['etcd1', 'etcd2', 'etcd3']) expect(statusLine(st, m)).toMatch(/^\s+ok\s+etcd\s.*healthy/);
    for (const h of lab.info.hosts)
      expect(statusLine(st, h.name)).toMatch(new RegExp(`^\\s+ok\\s+host\\s.*sshd up nginx=active php-fpm=active`));
    expect(statusLine(st, lb.name)).toMatch(/^\s+ok\s+pybal\s.*answering$/);
    expect(statusLine(st, 'alertmanager')).toMatch(
      new RegExp(`^\\s+ok\\s+alertmanager\\s.*${lab.info.alertmanager!.url.replace(/[.]/g, '\\.')} ready alerts=\\d+`),
    );
    const json = JSON.parse((await cli('status', '--json')).stdout) as { component: string; name: string; ok: boolean }[];
    expect(json.map((s) => `${s.component}:${s.name}:${s.ok}`).sort()).toEqual(
      [
        ...['etcd1', 'etcd2', 'etcd3'].map((m) => `etcd:${m}:true`),
        ...lab.info.hosts.map((h) => `host:${h.name}:true`),
        `pybal:${lb.name}:true`,
        'alertmanager:alertmanager:true',
      ].sort(),
    );
  });

  it('fail HOST SERVICE down|restart and heal HOST: the service state, systemctl on the host and the LB health check follow', async () => {
    expect(await cli('fail', HOST, 'nginx', 'down')).toMatchObject({ code: 0 });
    expect(await lab.serviceState(HOST, 'nginx')).toBe('failed');
    expect(statusLine(await cli('status'), HOST)).toContain('nginx=failed');
    expect((await labSsh(lab, HOST, 'systemctl is-active nginx')).code).not.toBe(0);
    await onLb(HOST, { up: false });

    expect(await cli('heal', HOST)).toMatchObject({ code: 0, stdout: `${HOST}: healed\n` });
    expect(await lab.serviceState(HOST, 'nginx')).toBe('active');
    expect((await labSsh(lab, HOST, 'systemctl is-active nginx')).code).toBe(0);
    await onLb(HOST, { up: true });

    expect(await cli('fail', HOST, 'nginx', 'restart')).toMatchObject({ code: 0 });
    expect((await labSsh(lab, HOST, 'systemctl restart nginx')).code).not.toBe(0);
    expect(await lab.serviceState(HOST, 'nginx')).toBe('failed');
    await cli('heal', HOST);
    expect((await labSsh(lab, HOST, 'systemctl restart nginx')).code).toBe(0);
    expect(await lab.serviceState(HOST, 'nginx')).toBe('active');
  });

  it('lb LB down|error|lag|up: connections refused, HTTP 500, slower propagation, then back to normal', async () => {
    const port = Number(new URL(lb.url).port);
    expect(await cli('lb', lb.name, 'down')).toMatchObject({ code: 0 });
    expect(await tcpOpen('127.0.0.1', port)).toBe(false);
    expect(statusLine(await cli('status'), lb.name)).toContain('faults={"down":true}');
    expect(await cli('lb', lb.name, 'error')).toMatchObject({ code: 0 });
    expect((await fetch(`${lb.url}/pools`)).status).toBe(500);
    expect(await cli('lb', lb.name, 'up')).toMatchObject({ code: 0 });
    expect((await fetch(`${lb.url}/pools`)).status).toBe(200);

    const LAG = 2000;
    expect(await cli('lb', lb.name, 'lag', String(LAG))).toMatchObject({ code: 0, stdout: `${lb.name}: lag ${LAG} ms\n` });
    const t0 = Date.now();
    await setPooled(OTHER, 'no');
    await onLb(OTHER, { enabled: false }, 15000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(DELAY + LAG - 100);
    expect(await cli('lb', lb.name, 'up')).toMatchObject({ code: 0 });
    const t1 = Date.now();
    await setPooled(OTHER, 'yes');
    await onLb(OTHER, { enabled: true }, 15000);
    expect(Date.now() - t1).toBeLessThan(LAG); // the lag is gone
  });

  it('host stop|start|reboot HOST: the host refuses connections, then answers hostname -f again; a reboot brings a new boot id', async () => {
    const h = lab.info.hosts.find((x) => x.name === HOST)!;
    expect(await cli('host', 'stop', HOST)).toMatchObject({ code: 0 });
    expect(await tcpOpen(h.address, h.port)).toBe(false);
    expect((await labSsh(lab, HOST, 'true', { timeoutMs: 15000 })).code).toBe(255);
    expect(statusLine(await cli('status'), HOST)).toMatch(/^\s+ok\s+host\s.* stopped /);
    expect(await cli('host', 'start', HOST)).toMatchObject({ code: 0 });
    expect((await labSsh(lab, HOST, 'hostname -f')).stdout.trim()).toBe(HOST);
    expect(statusLine(await cli('status'), HOST)).toContain('sshd up');

    // reboot: a new boot id once it is back, and the host answers again.
    const boot = await lab.bootId(HOST);
    expect(await cli('host', 'reboot', HOST)).toMatchObject({ code: 0, stdout: `${HOST}: rebooting\n` });
    await waitFor(
      `${HOST} to come back from its reboot`,
      async () => {
        const r = await labSsh(lab, HOST, 'cat /proc/sys/kernel/random/boot_id', { timeoutMs: 5000 });
        return r.code === 0 && r.stdout.trim() !== boot ? true : undefined;
      },
      { timeoutMs: 30000, intervalMs: 200 },
    );
    expect(await lab.bootId(HOST)).not.toBe(boot);
  });

  it('etcd stop|start MEMBER: the member stops answering, the cluster keeps serving, status fails until it is started', async () => {
    const [m1, m2] = lab.info.etcd.members;
    expect(await cli('etcd', 'stop', m2!.name)).toMatchObject({ code: 0 });
    expect(await etcdHealth(m2!.clientUrl)).toBe(false);
    const st = await cli('status');
    expect(st.code).toBe(1);
    expect(statusLine(st, m2!.name)).toMatch(/^\s+FAIL\s+etcd\s.*unhealthy/);
    // Two of three members are a quorum: writes still commit.
    const etcd = labEtcd([m1!.clientUrl]);
    try {
      await etcd.put('/galley-test/cli').value('v1');
      expect(await etcd.get('/galley-test/cli').string()).toBe('v1');
    } finally {
      etcd.close();
    }
    expect(await cli('etcd', 'start', m2!.name)).toMatchObject({ code: 0 });
    expect(await etcdHealth(m2!.clientUrl)).toBe(true);
    expect((await cli('status')).code).toBe(0);
  });

  it("alert HOST SERVICE: a real alert in the lab's Alertmanager, with the labels silences match on; a silence suppresses it", async () => {
    const am = lab.info.alertmanager!.url;
    expect(am).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const fired = await cli('alert', OTHER, 'php-fpm', '--for', '30s');
    expect(fired).toMatchObject({ code: 0, stdout: `${OTHER}: alert LabServiceDown for php-fpm fired: active\n` });
    const seen = (await lab.alerts()).find((a) => a.labels.instance === OTHER && a.labels.service === 'php-fpm')!;
    expect(seen.labels).toMatchObject({ alertname: 'LabServiceDown', severity: 'critical' });
    expect(Date.parse(seen.endsAt) - Date.now()).toBeLessThanOrEqual(30_000);
    // a silence as galley's Alertmanager client creates one: the host (FQDN or FQDN:port) and the service
    const r = await fetch(`${am}/api/v2/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        matchers: [
          { name: 'instance', value: `${OTHER.replace(/\./g, '\\.')}(:[0-9]+)?`, isRegex: true, isEqual: true },
          { name: 'service', value: 'php-fpm', isRegex: true, isEqual: true },
        ],
        startsAt: new Date().toISOString(),
        endsAt: new Date(Date.now() + 60_000).toISOString(),
        createdBy: 'test',
        comment: 'cli test',
      }),
    });
    const { silenceID } = (await r.json()) as { silenceID: string };
    const again = await cli('alert', OTHER, 'php-fpm', '--json');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ status: { state: 'suppressed', silencedBy: [silenceID] } });
    expect((await cli('alert', OTHER, 'nginx')).stdout).toContain('fired: active'); // another service: not silenced
    expect(statusLine(await cli('status'), 'alertmanager')).toMatch(/alerts=2 \(1 silenced\) silences=1 active/);
    // reset expires every silence it finds active
    await lab.reset();
    expect((await lab.silences()).filter((x) => x.status.state === 'active')).toEqual([]);
    expect((await cli('alert', OTHER, 'php-fpm', '--json', '--for', '1s')).stdout).toContain('"state": "active"');
    for (const args of [
      ['alert', 'nope.eqiad.wmnet', 'nginx'],
      ['alert', OTHER, 'mysql'],
    ]) {
      const bad = await cli(...args);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('ERR_LAB_UNKNOWN_NAME');
      expect(bad.stderr).toContain(args[1] === OTHER ? 'mysql' : 'nope.eqiad.wmnet');
    }
    expect((await cli('alert', OTHER, 'nginx', '--for', 'soon')).code).toBe(2);
  });

  it('unknown names exit 1 naming them (ERR_LAB_UNKNOWN_NAME); bad arguments exit 2', async () => {
    for (const args of [
      ['fail', 'nope.eqiad.wmnet', 'nginx', 'down'],
      ['lb', 'lvs9999', 'down'],
      ['etcd', 'stop', 'etcd9'],
      ['host', 'stop', 'nope.eqiad.wmnet'],
    ]) {
      const r = await cli(...args);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('ERR_LAB_UNKNOWN_NAME');
      expect(r.stderr).toContain(args.includes('stop') && args[0] === 'etcd' ? 'etcd9' : args[0] === 'lb' ? 'lvs9999' : 'nope.eqiad.wmnet');
    }
    expect((await cli('fail', HOST, 'nginx', 'explode')).code).toBe(2);
    expect((await cli('status')).code).toBe(0); // nothing changed
  });
});
