import { describe, expect, it } from '@jest/globals';
import { FakeTransport } from './testing/index.js';
import { NodeSet } from './nodeset.js';
import { Remote } from './remote.js';
import { resolveBatchSize } from './scheduler.js';
import type { HostEvent } from './types.js';

const hosts = (n: number) => NodeSet.parse(`h[1-${n}]`).hosts();
const hostOf = (cmd: string) => cmd; // readability in handlers

describe('resolveBatchSize (Cumin rules)', () => {
  it('ints are capped at n, percentages round down and are at least 1 (as the rolling cookbooks count batch=N%)', () => {
    expect(resolveBatchSize(undefined, 7)).toBe(7);
    expect(resolveBatchSize(100, 7)).toBe(7);
    expect(resolveBatchSize('50%', 7)).toBe(3);
    expect(resolveBatchSize('1%', 7)).toBe(1);
    // Cumin's round() would give 2, 2, 4, 2 here (halves to even): galley rounds down everywhere
    expect(resolveBatchSize('50%', 5)).toBe(2);
    expect(resolveBatchSize('10%', 25)).toBe(2);
    expect(resolveBatchSize('10%', 35)).toBe(3);
    expect(resolveBatchSize('30%', 5)).toBe(1);
    expect(resolveBatchSize('10%', 30)).toBe(3);
    expect(resolveBatchSize('100%', 5)).toBe(5);
    expect(() => resolveBatchSize(0, 7)).toThrow(/positive integer/);
    expect(() => resolveBatchSize('0%', 7)).toThrow(/percentage/);
    expect(() => resolveBatchSize('abc%' as `${number}%`, 7)).toThrow();
  });
});

describe('Remote.run scheduling (fake transport)', () => {
  it('runs every host and groups identical output', async () => {
    const t = new FakeTransport((host) => ({ stdout: host === 'h3' ? 'odd\n' : 'same\n' }));
    const r = new Remote(undefined, { transport: t });
    const rep = await r.run(hosts(5), [{ argv: ['uname'] }]);
    expect(rep).toMatchObject({ status: 'succeeded', exitCode: 0, notRun: [] });
    expect(rep.results.every((x) => x.ok && x.exitCode === 0)).toBe(true);
    expect(rep.groups.map((g) => [g.hosts.toString(), g.output])).toEqual([
      ['h[1-2,4-5]', 'same'],
      ['h3', 'odd'],
    ]);
  });

  it('hosts that never completed a command and printed nothing are not a node group', async () => {
    const t = new FakeTransport((host) =>
      host === 'h2' ? { failure: 'unreachable', message: 'h2: refused' } : host === 'h3' ? { exitCode: 1 } : {},
    );
    const rep = await new Remote(undefined, { transport: t }).run(hosts(3), [{ argv: ['true'] }], { successThreshold: 0 });
    // h1 ran (no output), h3 ran and failed (no output): one group; h2 never ran
    expect(rep.groups.map((g) => [g.hosts.toString(), g.output])).toEqual([['h[1,3]', '']]);
  });

  it('moving window keeps at most batchSize in flight and honours the sleep between hosts', async () => {
    const t = new FakeTransport(() => ({ delayMs: 30 }));
    const r = new Remote(undefined, { transport: t });
    const t0 = Date.now();
    const rep = await r.run(hosts(6), [{ argv: ['true'] }], { batchSize: 2, batchSleepMs: 40 });
    expect(rep.status).toBe('succeeded');
    expect(t.peakInFlight).toBe(2);
    // 6 hosts, 2 wide, each host 30 ms then 40 ms sleep before the next: at least 2 rounds of sleep
    expect(Date.now() - t0).toBeGreaterThanOrEqual(30 + 40 + 30 + 40 + 30 - 5);
  });

  it('stops scheduling once below the success threshold (async), the rest is not-run', async () => {
    const t = new FakeTransport((host) => (host === 'h1' || host === 'h2' ? { exitCode: 1 } : { delayMs: 5 }));
    const r = new Remote(undefined, { transport: t });
    const rep = await r.run(hosts(10), [{ argv: ['x'] }], { batchSize: 2, successThreshold: 0.9 });
    expect(rep.status).toBe('failed');
    expect(rep.exitCode).toBe(2);
    // h1 fails: 90% still meets the threshold, so h3 takes its slot; h2 fails: 80% < 90%, stop.
    expect(t.calls.map((c) => c.host)).toEqual(['h1', 'h2', 'h3']);
    expect(rep.notRun).toHaveLength(7);
    expect(rep.results.find((x) => x.host === 'h1')).toMatchObject({ ok: false, failure: 'exit-code', exitCode: 1 });
    expect(rep.results.find((x) => x.host === 'h5')?.message).toMatch(/threshold/);
  });

  it('completes with failures (exit 1) when failures stay within the threshold', async () => {
    const t = new FakeTransport((host) => (host === 'h4' ? { failure: 'unreachable', message: 'h4: refused' } : {}));
    const rep = await new Remote(undefined, { transport: t }).run(hosts(10), [{ argv: ['x'] }], { batchSize: 3, successThreshold: 0.8 });
    expect(rep).toMatchObject({ status: 'completed-with-failures', exitCode: 1 });
    expect(rep.results.filter((x) => x.ok)).toHaveLength(9);
    expect(rep.results.find((x) => x.host === 'h4')).toMatchObject({ failure: 'unreachable', message: 'h4: refused' });
  });

  it('async: a host stops at its first failing command; okCodes widen success', async () => {
    const t = new FakeTransport((host, cmd) =>
      cmd.includes('second') && host === 'h2' ? { exitCode: 3 } : { stdout: `${hostOf(cmd)}\n` },
    );
    const r = new Remote(undefined, { transport: t });
    const rep = await r.run(hosts(3), [{ argv: ['first'] }, { argv: ['second'] }, { argv: ['third'] }], { successThreshold: 0 });
    expect(rep.results.find((x) => x.host === 'h2')?.commands.map((c) => c.exitCode)).toEqual([0, 3]);
    expect(rep.results.find((x) => x.host === 'h1')?.commands).toHaveLength(3);
    const rep2 = await r.run(['h2'], [{ argv: ['second'], okCodes: [0, 3] }, { argv: ['third'] }]);
    expect(rep2.status).toBe('succeeded');
    const rep3 = await r.run(['h2'], [{ argv: ['second'], okCodes: [] }]);
    expect(rep3.status).toBe('succeeded');
  });

  it('sync: command N finishes on all hosts before N+1 starts; failed hosts never run later commands', async () => {
    const t = new FakeTransport((host, cmd) =>
      cmd.includes('one') ? { delayMs: host === 'h1' ? 40 : 1, exitCode: host === 'h3' ? 1 : 0 } : {},
    );
    const r = new Remote(undefined, { transport: t });
    const rep = await r.run(hosts(3), [{ argv: ['one'] }, { argv: ['two'] }], { mode: 'sync', successThreshold: 0.5 });
    const seq = t.calls.map((c) => `${c.host}:${c.command.includes('one') ? 1 : 2}`);
    expect(seq.slice(0, 3).every((s) => s.endsWith(':1'))).toBe(true);
    expect(seq.slice(3).sort()).toEqual(['h1:2', 'h2:2']);
    expect(rep.status).toBe('completed-with-failures');
  });

  it('sync: below the threshold after a command, later commands are not run anywhere', async () => {
    const t = new FakeTransport((host, cmd) => (cmd.includes('one') && host !== 'h1' ? { exitCode: 1 } : {}));
    const rep = await new Remote(undefined, { transport: t }).run(hosts(3), [{ argv: ['one'] }, { argv: ['two'] }], {
      mode: 'sync',
      successThreshold: 0.5,
    });
    expect(rep.status).toBe('failed');
    expect(t.calls.filter((c) => c.command.includes('two'))).toHaveLength(0);
    expect(rep.notRun).toEqual(['h1']);
  });

  it('lockstep: a slice finishes before the next starts', async () => {
    const t = new FakeTransport((host) => ({ delayMs: host === 'h1' ? 50 : 1 }));
    const rep = await new Remote(undefined, { transport: t }).run(hosts(6), [{ argv: ['x'] }], { batchSize: 3, window: 'lockstep' });
    expect(rep.status).toBe('succeeded');
    const h1 = t.calls.find((c) => c.host === 'h1')?.at ?? 0;
    const h4 = t.calls.find((c) => c.host === 'h4')?.at ?? 0;
    expect(h4 - h1).toBeGreaterThanOrEqual(45);
  });

  it('per-command timeout marks the host timeout', async () => {
    const t = new FakeTransport((host) => ({ delayMs: host === 'h2' ? 1000 : 1 }));
    const rep = await new Remote(undefined, { transport: t }).run(hosts(3), [{ argv: ['x'], timeoutMs: 50 }], { successThreshold: 0.5 });
    expect(rep.results.find((x) => x.host === 'h2')).toMatchObject({ ok: false, failure: 'timeout' });
    expect(rep.status).toBe('completed-with-failures');
  });

  it('global timeout: exit 4, running hosts timeout, pending hosts not-run', async () => {
    const t = new FakeTransport(() => ({ delayMs: 200 }));
    const t0 = Date.now();
    const rep = await new Remote(undefined, { transport: t }).run(hosts(4), [{ argv: ['x'] }], { batchSize: 2, globalTimeoutMs: 50 });
    expect(Date.now() - t0).toBeLessThan(190);
    expect(rep).toMatchObject({ status: 'timeout', exitCode: 4 });
    expect(rep.results.filter((x) => x.failure === 'timeout').map((x) => x.host)).toEqual(['h1', 'h2']);
    expect(rep.notRun).toEqual(['h3', 'h4']);
  });

  it('the remote timeout is cut to what is left of the global deadline', async () => {
    const t = new FakeTransport();
    const r = new Remote(undefined, { transport: t });
    // default command timeout 300 s, deadline 2 s: the remote process must not outlive the run
    await r.run(['h1'], [{ shell: 'sleep 1000' }], { globalTimeoutMs: 2000 });
    const secs = Number(/^timeout -k 2 ([\d.]+)s sh -c 'sleep 1000'$/.exec(t.calls[0]?.command ?? '')?.[1]);
    expect(secs).toBeGreaterThan(1.5);
    expect(secs).toBeLessThanOrEqual(2);
    // a command timeout shorter than the deadline stays
    await r.run(['h1'], [{ shell: 'true', timeoutMs: 500 }], { globalTimeoutMs: 2000 });
    expect(t.calls[1]?.command).toBe('timeout -k 2 0.5s sh -c true');
  });

  it('an AbortSignal stops scheduling', async () => {
    const t = new FakeTransport(() => ({ delayMs: 30 }));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 10);
    const rep = await new Remote(undefined, { transport: t }).run(hosts(4), [{ argv: ['x'] }], { batchSize: 1, signal: ac.signal });
    expect(t.calls).toHaveLength(1);
    expect(rep.notRun).toEqual(['h2', 'h3', 'h4']);
  });

  it('emits queued, connecting, running and done/failed per host', async () => {
    const events: HostEvent[] = [];
    const t = new FakeTransport((host) => ({ exitCode: host === 'h2' ? 1 : 0 }));
    await new Remote(undefined, { transport: t }).run(hosts(2), [{ argv: ['x'] }], { onEvent: (e) => events.push(e), successThreshold: 0 });
    const phases = (h: string) => events.filter((e) => e.host === h).map((e) => e.phase);
    expect(phases('h1')).toEqual(['queued', 'connecting', 'running', 'done']);
    expect(phases('h2')).toEqual(['queued', 'connecting', 'running', 'failed']);
    expect(events.find((e) => e.phase === 'failed')?.result?.failure).toBe('exit-code');
  });
});

describe('dry-run and hooks', () => {
  it('skips unsafe commands with a DRY-RUN line, runs safe ones', async () => {
    const t = new FakeTransport(() => ({ stdout: 'up 5\n' }));
    const log: string[] = [];
    const seen: { cmd: string; dryRun: boolean }[] = [];
    let before = 0;
    const r = new Remote(undefined, {
      transport: t,
      dryRun: true,
      log: (l) => log.push(l),
      beforeRun: async () => {
        before++;
      },
      onCommand: (e) => seen.push({ cmd: e.cmd, dryRun: e.dryRun }),
    });
    const rep = await r.run(NodeSet.parse('mw[1001-1003]'), [{ argv: ['systemctl', 'restart', 'nginx'] }]);
    expect(t.calls).toHaveLength(0);
    expect(before).toBe(0);
    expect(rep.status).toBe('succeeded');
    expect(rep.results.every((x) => x.failure === 'skipped-dry-run')).toBe(true);
    expect(log).toContain("DRY-RUN: would run 'systemctl restart nginx' on 3 hosts: mw[1001-1003]");
    const safe = await r.run(['mw1001'], [{ argv: ['uptime'] }], { isSafe: true });
    expect(safe.results[0]?.stdout).toBe('up 5\n');
    expect(seen).toEqual([
      { cmd: 'systemctl restart nginx', dryRun: true },
      { cmd: 'uptime', dryRun: false },
    ]);
  });

  it('beforeRun is awaited before unsafe commands and can veto them', async () => {
    const t = new FakeTransport();
    const r = new Remote(undefined, { transport: t, beforeRun: () => Promise.reject(new Error('lock lost')) });
    await expect(r.run(['h1'], [{ argv: ['x'] }])).rejects.toThrow('lock lost');
    expect(t.calls).toHaveLength(0);
    await r.run(['h1'], [{ argv: ['x'] }], { isSafe: true });
    expect(t.calls).toHaveLength(1);
  });

  it('with() shares the transport and overrides hooks', async () => {
    const t = new FakeTransport();
    const base = new Remote(undefined, { transport: t });
    const seen: { cmd: string; dryRun: boolean }[] = [];
    const dry = base.with({ dryRun: true, onCommand: (e) => seen.push({ cmd: e.cmd, dryRun: e.dryRun }) });
    expect(dry.dryRun).toBe(false === base.dryRun);
    await dry.run(['h1'], [{ argv: ['rm', '-rf', '/tmp/x'] }]);
    await dry.run(['h1'], [{ argv: ['true'] }], { isSafe: true });
    expect(t.calls).toHaveLength(1);
    expect(seen).toEqual([
      { cmd: 'rm -rf /tmp/x', dryRun: true },
      { cmd: 'true', dryRun: false },
    ]);
    await dry.close();
    expect(t.closed).toBe(true);
  });

  it('rejects empty host sets and bad options as usage errors', async () => {
    const r = new Remote(undefined, { transport: new FakeTransport() });
    await expect(r.run([], [{ argv: ['x'] }])).rejects.toMatchObject({ code: 'ERR_REMOTE_NO_HOSTS' });
    await expect(r.run(['h1'], [{ argv: ['x'] }], { successThreshold: 2 })).rejects.toMatchObject({ code: 'ERR_REMOTE_RUN_OPTIONS' });
  });

  it('a command timeout of 0, negative or more than a day is refused before any hook or command: 0 never means "no timeout"', async () => {
    const t = new FakeTransport();
    const seen: string[] = [];
    const r = new Remote(undefined, {
      transport: t,
      beforeRun: async () => void seen.push('beforeRun'),
      onCommand: (e) => void seen.push(`onCommand ${e.cmd}`),
    });
    for (const timeoutMs of [0, -1, Number.NaN, 24 * 3600_000 + 1]) {
      await expect(r.run(['h1'], [{ argv: ['systemctl', 'restart', 'nginx'], timeoutMs }])).rejects.toMatchObject({
        code: 'ERR_REMOTE_RUN_OPTIONS',
        message: `timeout of 'systemctl restart nginx' must be above 0 and at most 86400000 ms (24h), got ${timeoutMs} ms`,
      });
      // dry-run fails the same way
      await expect(r.with({ dryRun: true }).run(['h1'], [{ argv: ['true'], timeoutMs }])).rejects.toMatchObject({
        code: 'ERR_REMOTE_RUN_OPTIONS',
      });
    }
    for (const opts of [
      { globalTimeoutMs: 0 },
      { globalTimeoutMs: 24 * 3600_000 + 1 },
      { batchSleepMs: -1 },
      { batchSleepMs: 24 * 3600_000 + 1 },
    ]) {
      await expect(r.run(['h1'], [{ argv: ['true'] }], opts)).rejects.toMatchObject({ code: 'ERR_REMOTE_RUN_OPTIONS' });
    }
    expect(seen).toEqual([]);
    expect(t.calls).toEqual([]);
    // at the bound, and unset (the config's commandTimeoutMs), it runs
    await r.run(['h1'], [{ argv: ['true'], timeoutMs: 24 * 3600_000 }, { argv: ['true'] }]);
    expect(t.calls).toHaveLength(2);
  });
});

describe('reboot helpers (fake transport)', () => {
  it('reboot counts a connection dropped while reboot ran as success and evicts the pooled connection', async () => {
    const t = new FakeTransport((host) =>
      host === 'h1' ? { failure: 'unreachable', message: 'connection to h1 lost while running', lostWhileRunning: true } : {},
    );
    const rep = await new Remote(undefined, { transport: t }).reboot(hosts(2), { batchSize: 1, sleepMs: 0 });
    expect(rep.status).toBe('succeeded');
    expect(t.evicted.sort()).toEqual(['h1', 'h2']);
  });

  it('reboot: a host never reached is a failed reboot, whatever the message says', async () => {
    for (const message of [
      'h1: cannot connect to 10.0.0.1:22: Connection lost before handshake',
      'h1: cannot connect to 10.0.0.1:22: read ECONNRESET',
      'connection pool is closed',
    ]) {
      const t = new FakeTransport(() => ({ failure: 'unreachable', message }));
      const rep = await new Remote(undefined, { transport: t }).reboot(['h1']);
      expect(rep.status).toBe('failed');
      expect(rep.results[0]).toMatchObject({ ok: false, failure: 'unreachable', message });
    }
  });

  it('reboot sleeps 180 s between batches by default (Spicerack), and not at all once below the threshold', async () => {
    const log: string[] = [];
    const t = new FakeTransport((host) => (host === 'h1' ? { failure: 'unreachable', message: 'h1: refused' } : {}));
    const t0 = Date.now();
    const rep = await new Remote(undefined, { transport: t, log: (l) => log.push(l) }).reboot(hosts(3));
    expect(log[0]).toBe('Rebooting 3 hosts in batches of 1 with 180.0s of sleep in between: h[1-3]');
    // h1 failed: nothing more starts, so no 180 s wait before the report
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(t.calls.map((c) => c.host)).toEqual(['h1']);
    expect(rep.status).toBe('failed');
  });

  it('waitRebootSince refuses boot ids that miss a host (it could never tell that host rebooted)', async () => {
    const t = new FakeTransport(() => ({ stdout: 'same-boot-id\n' }));
    const r = new Remote(undefined, { transport: t });
    await expect(r.waitRebootSince(['h1', 'h2'], new Map([['h1', 'same-boot-id']]), { pollMs: 5, timeoutMs: 200 })).rejects.toMatchObject({
      code: 'ERR_REMOTE_REBOOT_NO_BOOT_ID',
      hosts: ['h2'],
    });
    await expect(r.waitRebootSince(['h1'], new Map(), { pollMs: 5, timeoutMs: 200 })).rejects.toThrow(
      /no boot id recorded before the reboot for h1/,
    );
    expect(t.calls).toHaveLength(0);
  });

  it('waitRebootSince polls until the boot id changes, tolerating unreachable hosts', async () => {
    let polls = 0;
    const t = new FakeTransport((host, cmd) => {
      if (!cmd.includes('boot_id')) return {};
      if (host === 'h1') polls++;
      if (polls < 2) return { failure: 'unreachable', message: 'refused' };
      return { stdout: polls < 3 ? 'old\n' : 'new\n' };
    });
    const r = new Remote(undefined, { transport: t });
    await r.waitRebootSince(['h1'], new Map([['h1', 'old']]), { pollMs: 5, timeoutMs: 2000 });
    expect(polls).toBe(3);
    const stuck = new FakeTransport(() => ({ stdout: 'old\n' }));
    await expect(
      new Remote(undefined, { transport: stuck }).waitRebootSince(['h9'], new Map([['h9', 'old']]), { pollMs: 5, timeoutMs: 30 }),
    ).rejects.toMatchObject({ code: 'ERR_REMOTE_REBOOT_TIMEOUT', message: 'reboot of h9 not seen within 30 ms' });
  });

  it('waitRebootSince with a date compares uptime', async () => {
    const t = new FakeTransport(() => ({ stdout: '3.50 7.00\n' }));
    const r = new Remote(undefined, { transport: t });
    await r.waitRebootSince(['h1'], new Date(Date.now() - 10_000), { pollMs: 5, timeoutMs: 100 });
    await expect(r.waitRebootSince(['h1'], new Date(Date.now() - 1000), { pollMs: 5, timeoutMs: 30 })).rejects.toThrow(/not seen/);
    expect((await r.uptime(['h1'])).get('h1')).toBe(3.5);
  });
});
