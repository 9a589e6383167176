import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { openLab, startLab, type Lab } from '@galley/lab';
import { labSsh } from '@galley/lab/testing';
import { labCli, statusLine } from './cli-run.js';

// jest's testTimeout is a global option: the integration project's 60 s does not reach here.
jest.setTimeout(120000);

/** Each host's restart time: as lab.json records it and as its state file (what systemctl reads) holds it. */
async function times(lab: Lab): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const h of lab.info.hosts) {
    const now = Number(fs.readFileSync(path.join(lab.dir, 'hosts', h.name, 'state', 'restart_ms'), 'utf8').trim());
    expect(now).toBe(h.restartMs);
    out[h.name] = now;
  }
  return out;
}

/** Wall time of a real `systemctl restart nginx` over ssh (OpenSSH, the lab's ssh_config). */
async function restartWall(lab: Lab, host: string): Promise<number> {
  const r = await labSsh(lab, host, 'systemctl restart nginx');
  expect(r.code).toBe(0);
  return r.ms;
}

const SMALL = ['--hosts', '3', '--lbs', '0', '--no-bastion'];
let base = '';

beforeAll(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-restart-'));
});

afterAll(async () => {
  for (const d of fs.existsSync(base) ? fs.readdirSync(base) : []) await labCli(path.join(base, d), 'down');
  if (base) fs.rmSync(base, { recursive: true, force: true });
}, 60000);

describe('per-host restart times (galley-lab up --restart-ms, slow; startLab restartMs)', () => {
  it('up --restart-ms 300:3000: each host gets a time within the range, status lists it, a real restart takes it, and a second up gives the same times', async () => {
    const dir = path.join(base, 'range');
    const up = await labCli(dir, 'up', ...SMALL, '--restart-ms', '300:3000');
    expect(up).toMatchObject({ code: 0, stdout: expect.stringMatching(/restarts\s+\d+–\d+ ms per host/) });
    const lab = await openLab(dir);
    const first = await times(lab);
    expect(Object.keys(first)).toHaveLength(3);
    for (const ms of Object.values(first)) {
      expect(ms).toBeGreaterThanOrEqual(300);
      expect(ms).toBeLessThanOrEqual(3000);
    }
    expect(new Set(Object.values(first)).size).toBeGreaterThan(1);
    expect(lab.options.restartMs).toEqual({ min: 300, max: 3000 });
    const st = await labCli(dir, 'status');
    for (const [h, ms] of Object.entries(first))
      expect(statusLine(st, h)).toMatch(new RegExp(`nginx=active php-fpm=active restart=${ms}ms$`));

    // The slowest host's restart really takes its time (generous upper bound: ssh under load).
    const [slowest, ms] = Object.entries(first).sort((a, b) => b[1] - a[1])[0]!;
    const wall = await restartWall(lab, slowest);
    expect(wall).toBeGreaterThanOrEqual(ms - 100);
    expect(wall).toBeLessThan(ms + 2000);

    expect((await labCli(dir, 'down')).code).toBe(0);
    expect((await labCli(dir, 'up', ...SMALL, '--restart-ms', '300:3000')).code).toBe(0);
    expect(await times(await openLab(dir))).toEqual(first);
    // --restart-seed: another pick of the same range, still within it.
    expect((await labCli(dir, 'down')).code).toBe(0);
    expect((await labCli(dir, 'up', ...SMALL, '--restart-ms', '300:3000', '--restart-seed', '7')).code).toBe(0);
    const seeded = await times(await openLab(dir));
    expect(seeded).not.toEqual(first);
    for (const v of Object.values(seeded)) expect(v >= 300 && v <= 3000).toBe(true);
    expect((await labCli(dir, 'down')).code).toBe(0);
  });

  it('slow HOST MS changes what a real `systemctl restart` takes; slow HOST, --reset and reset put the lab default back; unknown hosts and bad MS are refused', async () => {
    const dir = path.join(base, 'slow');
    expect((await labCli(dir, 'up', '--hosts', '2', '--lbs', '0', '--no-bastion')).code).toBe(0);
    const lab = await openLab(dir);
    const host = lab.info.hosts[0]!.name;
    const other = lab.info.hosts[1]!.name;
    expect(await times(lab)).toEqual({ [host]: 300, [other]: 300 });
    expect(await restartWall(lab, host)).toBeLessThan(1200);
    expect(statusLine(await labCli(dir, 'status'), host)).toMatch(/nginx=active php-fpm=active$/); // the default is not shown

    expect(await labCli(dir, 'slow', host, '1500')).toMatchObject({
      code: 0,
      stdout: `${host}: systemctl restart takes 1500 ms until \`galley-lab slow ${host}\` (at up: 300 ms)\n`,
    });
    expect(await restartWall(lab, host)).toBeGreaterThanOrEqual(1400);
    expect(await restartWall(lab, other)).toBeLessThan(1200); // only that host
    expect(statusLine(await labCli(dir, 'status'), host)).toContain('restart=1500ms (at up: 300ms)');
    expect(statusLine(await labCli(dir, 'status'), other)).not.toContain('restart=');

    expect(await labCli(dir, 'slow', host)).toMatchObject({
      code: 0,
      stdout: `${host}: systemctl restart takes 300 ms (its time at up)\n`,
    });
    expect(await restartWall(lab, host)).toBeLessThan(1200);
    expect(statusLine(await labCli(dir, 'status'), host)).not.toContain('restart=');

    expect((await labCli(dir, 'slow', host.split('.')[0]!, '2000')).code).toBe(0); // short names work too
    expect((await lab.restartMs(host)).now).toBe(2000);
    expect((await labCli(dir, 'slow', host, '--reset')).code).toBe(0);
    expect((await lab.restartMs(host)).now).toBe(300);
    await lab.setRestartMs(host, 900);
    expect((await labCli(dir, 'reset')).code).toBe(0);
    expect(await lab.restartMs(host)).toEqual({ now: 300, started: 300 });

    const unknown = await labCli(dir, 'slow', 'nope.eqiad.wmnet', '1500');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('ERR_LAB_UNKNOWN_NAME');
    expect(unknown.stderr).toContain('nope.eqiad.wmnet');
    for (const args of [
      [host, 'abc'],
      [host, '300:3000'],
      [host, '-5'],
      [host, '1500', '--reset'],
    ]) {
      const r = await labCli(dir, 'slow', ...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('ERR_LAB_BAD_OPTION');
    }
    expect((await lab.restartMs(host)).now).toBe(300); // nothing changed
    expect((await labCli(dir, 'down')).code).toBe(0);
  });

  it('bad --restart-ms values are refused (exit 2, naming the option and what to type) before anything starts', async () => {
    const dir = path.join(base, 'bad');
    for (const v of ['abc', '3000:300', '-5', '300:abc']) {
      const r = await labCli(dir, 'up', ...SMALL, `--restart-ms=${v}`);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--restart-ms ${v}`);
      expect(r.stderr).toContain('ERR_LAB_BAD_OPTION');
      expect(r.stderr).toContain('MIN:MAX (e.g. 300:3000)');
      expect(fs.existsSync(dir)).toBe(false); // nothing written, nothing started
    }
    const seedAlone = await labCli(dir, 'up', ...SMALL, '--restart-seed', '3');
    expect(seedAlone.code).toBe(2);
    expect(seedAlone.stderr).toContain('--restart-seed 3 needs --restart-ms MIN:MAX');
    expect(fs.existsSync(dir)).toBe(false);

    // The library checks the same, before creating the dir.
    await expect(startLab({ dir, hosts: 2, pybal: false, restartMs: { min: 3000, max: 300 } })).rejects.toMatchObject({
      code: 'ERR_LAB_BAD_OPTION',
    });
    await expect(startLab({ dir, hosts: 2, pybal: false, restartMs: (h) => (h.startsWith('mw1001') ? -1 : 300) })).rejects.toMatchObject({
      code: 'ERR_LAB_BAD_OPTION',
      message: expect.stringContaining('mw1001'),
    });
    await expect(startLab({ dir, hosts: 2, pybal: false, restartMs: -5 })).rejects.toMatchObject({ code: 'ERR_LAB_BAD_OPTION' });
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('startLab restartMs as a function of the host name: each host gets its time', async () => {
    const lab = await startLab({
      dir: path.join(base, 'fn'),
      hosts: 2,
      pybal: false,
      bastion: false,
      restartMs: (h) => (h.startsWith('mw1001.') ? 700 : 400),
    });
    try {
      expect(await times(lab)).toEqual({ 'mw1001.eqiad.wmnet': 700, 'mw1301.eqiad.wmnet': 400 });
      expect(lab.options.restartMs).toBe('per-host');
      expect(await lab.restartMs('mw1001')).toEqual({ now: 700, started: 700 });
      const wall = await restartWall(lab, 'mw1001.eqiad.wmnet');
      expect(wall).toBeGreaterThanOrEqual(650);
    } finally {
      await lab.stop();
    }
  });
});
