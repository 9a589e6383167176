import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { labSsh, privateLab } from '@galley/lab/testing';
import { NodeSet } from '@galley/remote';

// The built binary, as SREs run it (bin/galley-exec runs this file).
const BIN = path.resolve(import.meta.dirname, '../../dist/galley-exec-bin.js');

// A lab of our own: a test stops a host.
const env = privateLab({ hosts: 4, lbs: 0, pybal: false }, 90_000);
const names = () => env.lab.info.hosts.map((h) => h.name);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  child: ChildProcess;
  done: Promise<void>;
}

function start(args: string[]): Run {
  const child = spawn(process.execPath, [BIN, '-c', env.lab.info.config, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const r = { code: null, stdout: '', stderr: '', child } as unknown as Run;
  child.stdout?.on('data', (d: Buffer) => (r.stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (r.stderr += d.toString()));
  r.done = new Promise((resolve) =>
    child.on('close', (code) => {
      r.code = code;
      resolve();
    }),
  );
  return r;
}

async function galleyExec(args: string[]): Promise<Run> {
  const r = start(args);
  await r.done;
  return r;
}

async function pollUntil(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * pgrep on the host; the bracket keeps pgrep from matching its own command line, the ^ from
 * matching galley-exec's (lab hosts may share the test machine's process table).
 */
async function running(host: string, pattern: string): Promise<boolean> {
  const r = await labSsh(env.lab, host, `pgrep -f '${pattern}'`);
  return r.code === 0;
}

describe('galley-exec binary against the lab', () => {
  it('prints each host in its own node group and exits 0', async () => {
    const hosts = NodeSet.fromHosts(names());
    const r = await galleyExec(['--yes', hosts.toString(), 'hostname -f']);
    expect(r.stderr).toContain('100.0% (4/4) success ratio');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    for (const h of names()) {
      const i = lines.indexOf(`(1) ${h}`);
      expect(i).toBeGreaterThan(0);
      expect(lines[i - 1]).toBe('===== NODE GROUP =====');
      expect(lines[i + 1]).toBe("----- OUTPUT of command 'hostname -f' -----");
      expect(lines[i + 2]).toBe(h);
    }
  }, 60_000);

  it('a stopped host with -p 50: exit 1, the host reported unreachable, the others ran', async () => {
    const [down, ...up] = names();
    if (!down) throw new Error('no host');
    await env.lab.stopHost(down);
    try {
      const r = await galleyExec(['--yes', '-p', '50', NodeSet.fromHosts(names()).toString(), 'hostname -f']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`25.0% (1/4) of nodes failed (unreachable): ${down}`);
      expect(r.stderr).toContain('75.0% (3/4) success ratio (>= 50.0% threshold)');
      for (const h of up) expect(r.stdout).toContain(`(1) ${h}\n----- OUTPUT of command 'hostname -f' -----\n${h}\n`);
    } finally {
      await env.lab.startHost(down);
    }
  }, 60_000);

  it('--dry-run written after HOSTS is the flag: the command does not run', async () => {
    const host = names()[1] as string;
    const marker = `/tmp/galley-exec-dry-${process.pid}`;
    const r = await galleyExec(['--yes', host, '--dry-run', `touch ${marker}`]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`DRY-RUN: would run 'touch ${marker}' on 1 hosts: ${host}`);
    expect((await labSsh(env.lab, host, `test -e ${marker}`)).code).toBe(1);
  }, 30_000);

  it('Ctrl+C (SIGINT) while a command runs: partial report, exit 98', async () => {
    const host = names()[2] as string;
    const r = start(['--yes', host, 'sleep 987.64; echo never']);
    await pollUntil('the remote sleep to start', () => running(host, '^sleep 987[.]64'));
    const t0 = Date.now();
    r.child.kill('SIGINT');
    await r.done;
    expect(Date.now() - t0).toBeLessThan(5000);
    expect({ code: r.code, signal: r.child.signalCode, stderr: r.stderr }).toMatchObject({ code: 98, signal: null });
    expect(r.stderr).toContain('Execution interrupted by Ctrl+c');
    expect(r.stderr).toContain(`100.0% (1/1) of nodes failed (timeout): ${host}`);
    expect(r.stderr).toContain('0.0% (0/1) success ratio');
    // lab sshd logs in as root, where OpenSSH ignores the signal request: clean up ourselves
    await labSsh(env.lab, host, "pkill -f '^sleep 987[.]64'");
  }, 60_000);
});
