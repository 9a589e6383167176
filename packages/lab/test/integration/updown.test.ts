import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it, jest } from '@jest/globals';
import { startLab, stopDir, type Lab } from '@galley/lab';
import { labSsh } from '@galley/lab/testing';
import { cmdline, isAlive, pidsInMountNs, waitFor } from '../../src/procs.js';
import { readState, writeState, type LabState } from '../../src/state.js';

// jest's testTimeout is a global option: the integration project's 60 s does not reach here.
jest.setTimeout(120000);

const run = promisify(execFile);
const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/bin.js');

/** Every trace a lab leaves on the machine while it runs: processes, host namespaces, links, tmpfs. */
function traces(dir: string, s: LabState): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || !isAlive(Number(entry))) continue;
    const cl = cmdline(Number(entry));
    if (cl.includes(dir) || cl.includes(s.shmDir)) out.push(`process ${entry}: ${cl}`);
  }
  for (const p of s.processes)
    if (p.mntns) for (const pid of pidsInMountNs(p.mntns)) if (isAlive(pid)) out.push(`${p.name} namespace ${p.mntns}: pid ${pid}`);
  for (const l of s.links ?? []) if (fs.existsSync(`/sys/class/net/${l}`)) out.push(`link ${l}`);
  if (fs.existsSync(s.shmDir)) out.push(`tmpfs ${s.shmDir}`);
  return out;
}

describe('lab up/down', () => {
  it('two labs run side by side in different dirs, and stop() leaves no process, namespace, link or tmpfs behind', async () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-twolabs-'));
    const dirs = [path.join(base, 'a'), path.join(base, 'b')];
    let labs: Lab[] = [];
    try {
      // allSettled: when one start fails, the lab that did start must still be stopped below
      // (its processes would outlive the removed dir).
      const started = await Promise.allSettled(dirs.map((dir) => startLab({ dir, hosts: 3, lbs: 1, bastion: true })));
      labs = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      for (const r of started) if (r.status === 'rejected') throw r.reason;
      const states = labs.map((l) => readState(l.dir)!);
      expect(new Set(labs.map((l) => l.info.etcd.endpoints[0])).size).toBe(2);
      expect(new Set(labs.map((l) => l.info.loadBalancers[0]!.url)).size).toBe(2);
      for (const lab of labs) {
        const h = lab.info.hosts[0]!;
        expect((await labSsh(lab, h.name, 'hostname -f')).stdout.trim()).toBe(h.name);
        expect((await labSsh(lab, 'restricted1002.eqiad.wmnet', 'hostname -f')).stdout.trim()).toBe('restricted1002.eqiad.wmnet');
        expect((await lab.status()).filter((s) => !s.ok)).toEqual([]);
      }
      // Each lab's known_hosts pins its own keys: lab a's file does not open lab b's host.
      const wrong = await labSsh(labs[1]!, labs[1]!.info.hosts[0]!.name, 'true', { knownHosts: labs[0]!.info.knownHosts });
      expect(wrong.code).toBe(255);
      expect(traces(labs[0]!.dir, states[0]!).length).toBeGreaterThan(0);

      await labs[0]!.stop();
      expect(traces(dirs[0]!, states[0]!)).toEqual([]);
      expect(fs.existsSync(path.join(dirs[0]!, 'lab.json'))).toBe(false);
      // The other lab is untouched.
      expect((await labSsh(labs[1]!, labs[1]!.info.hosts[1]!.name, 'hostname -f')).code).toBe(0);
      await labs[1]!.stop();
      expect(traces(dirs[1]!, states[1]!)).toEqual([]);
    } finally {
      for (const l of labs) await l.stop();
      // A start that failed half-way cleans up after itself; stopDir also covers one that did not.
      for (const d of dirs) await stopDir(d).catch(() => undefined);
      fs.rmSync(base, { recursive: true, force: true });
    }
  });

  it('`galley-lab up` survives the CLI exiting; `down` cleans up, also once lab.json is lost and processes are missing from state.json', async () => {
    expect(fs.existsSync(bin)).toBe(true); // built by `pnpm build` (CI builds before testing)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-cli-'));
    try {
      const up = await run(process.execPath, [bin, 'up', '--dir', dir, '--hosts', '2', '--lbs', '1', '--no-bastion'], {
        env: { ...process.env, NODE_OPTIONS: '' },
      });
      expect(up.stdout).toContain(`galley lab up in`);
      const s = readState(dir)!;
      expect(s.processes.filter((p) => p.kind === 'alertmanager')).toHaveLength(1);
      const status = await run(process.execPath, [bin, 'status', '--dir', dir], { env: { ...process.env, NODE_OPTIONS: '' } });
      expect(status.stdout).toMatch(/ok {3}alertmanager .* ready/);
      expect(status.stdout).toMatch(/ok {3}etcd/);
      expect(status.stdout).not.toContain('FAIL');
      // A crash between `up` and `down` loses lab.json; state.json is enough to clean up.
      fs.rmSync(path.join(dir, 'lab.json'));
      // And an `up` killed between starting a process and recording it leaves it out of
      // state.json: `down` finds those by the lab files they run (a host's supervisor, the
      // simulator's sim.json, etcd's data dir in the lab's tmpfs, Alertmanager's storage in DIR).
      writeState({
        ...s,
        processes: s.processes.filter(
          (p) =>
            p.kind !== 'pybal' &&
            p.kind !== 'etcd' &&
            p.kind !== 'alertmanager' &&
            p.name !== s.processes.find((q) => q.kind === 'host')!.name,
        ),
      });
      const down = await run(process.execPath, [bin, 'down', '--dir', dir], { env: { ...process.env, NODE_OPTIONS: '' } });
      expect(down.stdout).toContain('stopped');
      expect(traces(dir, s)).toEqual([]);
      expect(fs.existsSync(path.join(dir, 'state.json'))).toBe(false);
      const again = await run(process.execPath, [bin, 'down', '--dir', dir], { env: { ...process.env, NODE_OPTIONS: '' } });
      expect(again.stdout).toContain('nothing to stop');
    } finally {
      await run(process.execPath, [bin, 'down', '--dir', dir]).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // `up` killed mid-start: at the first etcd (nothing else yet), and at the first host (its
  // namespace possibly not recorded yet). `down` must still find and stop everything.
  it.each([
    ['an etcd', 'etcd'],
    ['a host', 'host'],
  ] as const)(
    '`galley-lab down` after `galley-lab up` was SIGKILLed once state.json listed %s: no process, namespace or tmpfs left, dir removed',
    async (_what, kind) => {
      const base = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-crash-'));
      const dir = path.join(base, 'lab'); // does not exist: `up` creates it, so `down` removes it
      const env = { ...process.env, NODE_OPTIONS: '' };
      const up = spawn(process.execPath, [bin, 'up', '--dir', dir, '--hosts', '4', '--lbs', '1'], { env, stdio: 'ignore' });
      const exited = once(up, 'exit');
      try {
        await waitFor(
          `state.json to list ${kind}`,
          async () => (readState(dir)?.processes.some((p) => p.kind === kind) ? true : undefined),
          { timeoutMs: 60000, intervalMs: 2 },
        );
        up.kill('SIGKILL');
        const [code, sig] = await exited;
        expect({ code, sig }).toEqual({ code: null, sig: 'SIGKILL' });
        // It really was cut short, and it left things running.
        expect(fs.existsSync(path.join(dir, 'lab.json'))).toBe(false);
        const s = readState(dir)!;
        expect(traces(dir, s).length).toBeGreaterThan(0);

        const down = await run(process.execPath, [bin, 'down', '--dir', dir], { env });
        expect(down.stdout).toContain('stopped');
        // Processes that were still being tracked when `up` died are in the final state.json only.
        expect(traces(dir, s)).toEqual([]);
        expect(fs.existsSync(dir)).toBe(false);
      } finally {
        if (up.exitCode === null && up.signalCode === null) up.kill('SIGKILL');
        await run(process.execPath, [bin, 'down', '--dir', dir], { env }).catch(() => undefined);
        fs.rmSync(base, { recursive: true, force: true });
      }
    },
  );

  it('in a DIR that already existed, `down` removes only what `up` created (a logs/ that was there stays, with its files); `up` refuses to overwrite a file it did not create', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-existing-'));
    const listing = (d: string): string[] => fs.readdirSync(d, { recursive: true, encoding: 'utf8' }).sort();
    try {
      fs.mkdirSync(path.join(dir, 'logs'));
      fs.writeFileSync(path.join(dir, 'logs', 'mine.log'), 'mine\n');
      fs.mkdirSync(path.join(dir, 'hosts'));
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'notes\n');
      const before = listing(dir);
      const lab = await startLab({ dir, hosts: 2, lbs: 1, ssh: false });
      const s = readState(dir)!;
      expect(s.created).toEqual(expect.arrayContaining(['lab.json', 'lb', 'state.json']));
      expect(s.created).not.toContain('logs');
      expect(fs.readdirSync(path.join(dir, 'logs'))).toEqual(expect.arrayContaining(['mine.log', 'etcd1.log']));
      expect(fs.readdirSync(path.join(dir, 'hosts')).length).toBe(2);
      await lab.stop();
      expect(traces(dir, s)).toEqual([]);
      expect(listing(dir)).toEqual(before);
      expect(fs.readFileSync(path.join(dir, 'logs', 'mine.log'), 'utf8')).toBe('mine\n');

      // A known_hosts (or key, ssh_config…) that is not the lab's is never overwritten.
      fs.writeFileSync(path.join(dir, 'known_hosts'), 'theirs\n');
      await expect(startLab({ dir, hosts: 2, lbs: 1, ssh: false })).rejects.toMatchObject({
        code: 'ERR_LAB_DIR_CONFLICT',
        message: expect.stringContaining('known_hosts'),
      });
      expect(fs.readFileSync(path.join(dir, 'known_hosts'), 'utf8')).toBe('theirs\n');
      expect(fs.existsSync(path.join(dir, 'state.json'))).toBe(false);
    } finally {
      await stopDir(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start a second lab in a dir where one runs', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-twice-'));
    const lab = await startLab({ dir, ssh: false, pybal: false });
    try {
      await expect(startLab({ dir, ssh: false, pybal: false })).rejects.toMatchObject({ code: 'ERR_LAB_RUNNING' });
      // Without sshd, service state still works; host stop/start does not, and says why.
      const h = lab.plan.hosts[0]!.name;
      await lab.failService(h, 'nginx', 'down');
      expect(await lab.serviceState(h, 'nginx')).toBe('failed');
      await expect(lab.stopHost(h)).rejects.toMatchObject({ code: 'ERR_LAB_NO_SSHD' });
      await expect(lab.failService('nope.eqiad.wmnet', 'nginx', 'down')).rejects.toMatchObject({ code: 'ERR_LAB_UNKNOWN_NAME' });
      expect((await lab.status()).every((s) => s.ok)).toBe(true);
    } finally {
      await lab.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a 3-member etcd keeps serving with one member stopped', async () => {
    const lab = await startLab({ etcdMembers: 3, ssh: false, pybal: false });
    try {
      const { labEtcd } = await import('../../src/etcd-client.js');
      await lab.etcdStop('etcd2');
      const etcd = labEtcd(lab.info.etcd.endpoints.filter((_, i) => i !== 1));
      try {
        await etcd.put('/galley-test/k').value('v1');
        expect(await etcd.get('/galley-test/k').string()).toBe('v1');
      } finally {
        etcd.close();
      }
      expect((await lab.status()).find((s) => s.name === 'etcd2')?.ok).toBe(false);
      await lab.etcdStart('etcd2');
      expect((await lab.status()).filter((s) => s.component === 'etcd').every((s) => s.ok)).toBe(true);
    } finally {
      await lab.stop();
    }
  });
});
