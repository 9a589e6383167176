import { describe, expect, it, jest } from '@jest/globals';
import { labSsh, privateLab } from '@galley/lab/testing';
import { tcpOpen, waitFor } from '../../src/procs.js';

// jest's testTimeout is a global option: the integration project's 60 s does not reach here.
jest.setTimeout(60000);

// Faults and reboots need a lab of their own: the shared one is in use by other test files.
const p = privateLab({ hosts: 3, pybal: false, restartMs: 400, rebootMs: 1500 });

describe('lab host simulation (private lab)', () => {
  it('systemctl restart takes restartMs, during which the service is down', async () => {
    const { lab } = p;
    const h = lab.info.hosts[0]!.name;
    const restart = labSsh(lab, h, 'systemctl restart nginx; echo rc=$?');
    await waitFor('nginx to be restarting', async () => ((await lab.serviceState(h, 'nginx')) === 'restarting' ? true : undefined), {
      timeoutMs: 10000,
      intervalMs: 10,
    });
    const r = await restart;
    expect(r.stdout.trim()).toBe('rc=0');
    expect(await lab.serviceState(h, 'nginx')).toBe('active');
    expect((await lab.systemctlLog(h)).some((l) => l.endsWith('restart nginx'))).toBe(true);
  });

  it('failure modes: restart fails, hang never returns, down is down; heal brings all back', async () => {
    const { lab } = p;
    const h = lab.info.hosts[1]!.name;
    await lab.failService(h, 'nginx', 'restart');
    const failed = await labSsh(lab, h, 'systemctl restart nginx; echo rc=$?; systemctl is-active nginx; echo rc=$?');
    expect(failed.stdout.trim().split('\n')).toEqual(['rc=1', 'failed', 'rc=3']);
    expect(failed.stderr).toContain('Job for nginx.service failed');

    await lab.failService(h, 'php-fpm', 'hang');
    const hung = await labSsh(lab, h, 'timeout 2 systemctl restart php-fpm; echo rc=$?');
    expect(hung.stdout.trim()).toBe('rc=124');
    expect(await lab.serviceState(h, 'php-fpm')).toBe('restarting');

    await lab.heal(h);
    await lab.failService(h, 'nginx', 'down');
    expect(await lab.serviceState(h, 'nginx')).toBe('failed');
    await lab.heal(h);
    const ok = await labSsh(lab, h, 'systemctl is-active nginx php-fpm');
    expect(ok.stdout.trim().split('\n')).toEqual(['active', 'active']);
  });

  it('hostProcesses: what a command over ssh left running on the host, not sshd; gone once it ends', async () => {
    const { lab } = p;
    const h = lab.info.hosts[0]!.name;
    expect(await lab.hostProcesses(h)).toEqual([]);
    // A client that goes away while its command runs: the command stays (sshd does not kill it).
    const cut = labSsh(lab, h, 'sleep 2.5; echo done', { timeoutMs: 500 });
    await waitFor(
      'the sleep to run on the host',
      async () => ((await lab.hostProcesses(h)).some((x) => x.cmdline.startsWith('sleep 2.5')) ? true : undefined),
      { timeoutMs: 5000, intervalMs: 20 },
    );
    await cut;
    await new Promise((r) => setTimeout(r, 300));
    expect((await lab.hostProcesses(h)).map((x) => x.cmdline)).toContain('sleep 2.5');
    await waitFor('the sleep to end', async () => ((await lab.hostProcesses(h)).length === 0 ? true : undefined), {
      timeoutMs: 6000,
      intervalMs: 50,
    });
  });

  it('reboot: sshd goes away, comes back with a new boot id and a fresh uptime', async () => {
    const { lab } = p;
    const h = lab.info.hosts[2]!;
    await new Promise((r) => setTimeout(r, 3000)); // so that the uptime before is ≥ 3 s
    const before = await labSsh(lab, h.name, 'cat /proc/sys/kernel/random/boot_id; cut -d. -f1 /proc/uptime');
    const [bootBefore, uptimeBefore] = before.stdout.trim().split('\n');
    expect(bootBefore).toBe(await lab.bootId(h.name));
    expect(Number(uptimeBefore)).toBeGreaterThanOrEqual(3);
    const r = await labSsh(lab, h.name, 'reboot');
    expect(r.stdout).toContain(`Rebooting ${h.name}`);
    await waitFor('sshd to go away', async () => ((await tcpOpen(h.address, h.port)) ? undefined : true), {
      timeoutMs: 5000,
      intervalMs: 20,
    });
    expect(await lab.serviceState(h.name, 'nginx')).toBe('inactive');
    await waitFor('sshd to come back', async () => ((await tcpOpen(h.address, h.port)) ? true : undefined), {
      timeoutMs: 15000,
      intervalMs: 50,
    });
    const after = await labSsh(lab, h.name, 'cat /proc/sys/kernel/random/boot_id; cut -d. -f1 /proc/uptime');
    const [bootAfter, uptime] = after.stdout.trim().split('\n');
    expect(bootAfter).not.toBe(bootBefore);
    expect(bootAfter).toBe(await lab.bootId(h.name));
    expect(Number(uptime)).toBeLessThan(Number(uptimeBefore));
    expect(await lab.serviceState(h.name, 'nginx')).toBe('active');
  });

  it('hangReboot: the next reboot never comes back (sshd stays down past rebootMs) until startHost, which boots it anew', async () => {
    const { lab } = p;
    const h = lab.info.hosts[1]!;
    const bootBefore = await lab.bootId(h.name);
    await lab.hangReboot(h.name);
    expect((await labSsh(lab, h.name, 'reboot')).stdout).toContain(`Rebooting ${h.name}`);
    await waitFor('sshd to go away', async () => ((await tcpOpen(h.address, h.port)) ? undefined : true), {
      timeoutMs: 5000,
      intervalMs: 20,
    });
    // a plain reboot is back after rebootMs (1.5 s): this one is still away a second later
    await new Promise((r) => setTimeout(r, 2500));
    expect(await tcpOpen(h.address, h.port)).toBe(false);
    expect(await lab.bootId(h.name)).toBe(bootBefore);
    await lab.startHost(h.name);
    expect((await labSsh(lab, h.name, 'cat /proc/sys/kernel/random/boot_id')).stdout.trim()).not.toBe(bootBefore);
  });

  it('stopHost makes a host unreachable (other hosts unaffected) until startHost', async () => {
    const { lab } = p;
    const [a, b] = lab.info.hosts;
    await lab.stopHost(a!.name);
    const down = await labSsh(lab, a!.name, 'true');
    expect(down.code).toBe(255);
    expect(down.stderr).toMatch(/Connection refused/);
    expect((await labSsh(lab, b!.name, 'true')).code).toBe(0);
    await lab.startHost(a!.name);
    expect((await labSsh(lab, a!.name, 'hostname -f')).stdout.trim()).toBe(a!.name);
  });
});
