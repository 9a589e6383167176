import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Start a process that outlives its parent (own process group, no stdio tie), so `galley-lab up`
 * can exit while the fleet keeps running. Output goes to `logFile`.
 */
export function spawnDetached(cmd: string, args: string[], opts: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string }): number {
  const fd = fs.openSync(opts.logFile, 'a');
  try {
    const child = spawn(cmd, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    child.on('error', () => {
      // Reported through readiness polling (the log file says why); keep the parent alive.
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
    return child.pid;
  } finally {
    fs.closeSync(fd);
  }
}

/** Ask the kernel for a free loopback port. Racy in theory; labs retry the whole start on EADDRINUSE. */
export async function freePort(address = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, address, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export async function freePorts(n: number, address = '127.0.0.1'): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await freePort(address));
  return [...out];
}

/** Running (a zombie is not: our orphans are reaped by a PID 1 that may take a second to do it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

export function mountNs(pid: number | 'self'): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

export function netNs(pid: number | 'self'): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

/** Every pid whose mount namespace is `ns` (never our own namespace: that would be the whole machine). */
export function pidsInMountNs(ns: string): number[] {
  if (ns === mountNs('self')) return [];
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (mountNs(Number(entry)) === ns) out.push(Number(entry));
  }
  return out;
}

/** One pass over /proc: the pids of each of the given mount namespaces (never our own). */
export function pidsInMountNamespaces(namespaces: Iterable<string>): Map<string, number[]> {
  const own = mountNs('self');
  const out = new Map<string, number[]>();
  for (const ns of namespaces) if (ns !== own) out.set(ns, []);
  if (out.size === 0) return out;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ns = mountNs(Number(entry));
    if (ns !== undefined) out.get(ns)?.push(Number(entry));
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * SIGTERM, wait up to `graceMs`, then SIGKILL; resolves when every pid is gone. `groups` are
 * process-group leaders we started detached: the whole group is signalled.
 */
export async function terminate(pids: number[], graceMs = 3000, groups: number[] = []): Promise<void> {
  const live = [...pids, ...groups].filter(isAlive);
  for (const p of pids) signal(p, 'SIGTERM');
  for (const g of groups) signal(-g, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && live.some(isAlive)) await sleep(50);
  for (const p of live.filter(isAlive)) signal(groups.includes(p) ? -p : p, 'SIGKILL');
  const hard = Date.now() + 3000;
  while (Date.now() < hard && live.some(isAlive)) await sleep(20);
}

/** Kill a detached child and its process group (it was started as a group leader). */
export async function terminateGroup(pid: number, graceMs = 3000): Promise<void> {
  if (!isAlive(pid)) return;
  signal(-pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && isAlive(pid)) await sleep(50);
  if (isAlive(pid)) signal(-pid, 'SIGKILL');
  const hard = Date.now() + 3000;
  while (Date.now() < hard && isAlive(pid)) await sleep(20);
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
    }
    await sleep(opts.intervalMs ?? 50);
  }
}

/** Connect-probe a TCP port (sshd, PyBal): resolves true once something accepts. */
export function tcpOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * A loopback address of the lab's own (127.A.B.C; the whole of 127/8 is the loopback) for its hosts'
 * sshds. A free port is only free until someone binds it: two labs starting at once (parallel test
 * workers) could each be handed the same port on 127.0.0.1, and one lab's host would then answer
 * for the other's. On an address of its own, that takes the same address and the same port.
 */
export function labLoopbackAddress(): string {
  const b = crypto.randomInt(1, 255);
  return `127.${b}.${crypto.randomInt(0, 256)}.${crypto.randomInt(1, 255)}`;
}
