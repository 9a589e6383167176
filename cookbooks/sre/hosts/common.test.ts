import { describe, expect, it } from '@jest/globals';
import { resolveLockSpec } from '@galley/core';
import {
  checkLockBudget,
  decommissionHostMs,
  expand,
  LOCK_BUDGET_CAPS,
  lockTtlSeconds,
  reimageHostMs,
  restoreCommands,
  STEP_MS,
} from './_common.js';
import decommission from './decommission-host.js';
import reimage from './reimage.js';

describe('sre.hosts helpers', () => {
  it('prints one exact confctl command per recorded object', () => {
    expect(
      restoreCommands([
        { key: 'k', tags: { dc: 'eqiad', cluster: 'jobrunner', service: 'php-fpm', name: 'mw1301.eqiad.wmnet' }, pooled: 'no', weight: 7 },
      ]),
    ).toEqual(["confctl select 'dc=eqiad,cluster=jobrunner,service=php-fpm,name=mw1301.eqiad.wmnet' set/pooled=no:weight=7"]);
  });

  it('substitutes {host}/{os} inside single argv elements', () => {
    expect(expand(['puppet', '--certname={host}', '{os} x'], { host: 'h.x', os: 'trixie' })).toEqual([
      'puppet',
      '--certname=h.x',
      'trixie x',
    ]);
  });
});

describe('sre.hosts lock hold time', () => {
  const H = 3600;
  const clients = (over: { installTimeoutMs?: number; verifyTimeoutMs?: number; callTimeoutMs?: number }) =>
    ({
      hosts: { installTimeoutMs: over.installTimeoutMs },
      pybal: { verifyTimeoutMs: over.verifyTimeoutMs ?? 30_000 },
      provisioner: { callTimeoutMs: over.callTimeoutMs ?? 600_000 },
    }) as unknown as Parameters<typeof checkLockBudget>[0];

  it('decommission: the cookbook (and host) lock outlives 20 hosts each at every step deadline (a wipe alone is 1 h)', () => {
    const ttl = resolveLockSpec(decommission, { host: 'mw[1001-1020].eqiad.wmnet' }).ttlSeconds;
    expect(ttl).toBeGreaterThanOrEqual(20 * (STEP_MS.wipe / 1000));
    expect(ttl * 1000).toBeGreaterThanOrEqual(
      20 *
        decommissionHostMs({
          installTimeoutMs: LOCK_BUDGET_CAPS.installTimeoutMs,
          verifyTimeoutMs: LOCK_BUDGET_CAPS.verifyTimeoutMs,
          provisionerCallMs: LOCK_BUDGET_CAPS.provisionerCallMs,
        }),
    );
    // Sized by the host count: one host needs far less, and a bad pattern gets the largest run's budget.
    const one = resolveLockSpec(decommission, { host: 'mw1001.eqiad.wmnet' }).ttlSeconds;
    expect(one).toBeGreaterThanOrEqual(STEP_MS.wipe / 1000);
    expect(one).toBeLessThan(ttl / 10);
    expect(resolveLockSpec(decommission, { host: 'mw[9-1].x' }).ttlSeconds).toBe(ttl);
  });

  it('reimage: the lock outlives a run at every step deadline, install at its cap plus a 3 h post-install', () => {
    const ttl = resolveLockSpec(reimage, { host: 'mw1301.eqiad.wmnet' }).ttlSeconds;
    expect(ttl).toBeGreaterThanOrEqual((LOCK_BUDGET_CAPS.installTimeoutMs + STEP_MS.postInstall) / 1000);
    expect(ttl * 1000).toBeGreaterThanOrEqual(
      reimageHostMs({
        installTimeoutMs: LOCK_BUDGET_CAPS.installTimeoutMs,
        verifyTimeoutMs: LOCK_BUDGET_CAPS.verifyTimeoutMs,
        provisionerCallMs: LOCK_BUDGET_CAPS.provisionerCallMs,
      }),
    );
    expect(ttl).toBe(lockTtlSeconds('reimage', 1));
  });

  it('refuses up front a config whose timeouts the lock budget does not cover; accepts the defaults and the caps', () => {
    expect(() => checkLockBudget(clients({}))).not.toThrow();
    expect(() =>
      checkLockBudget(
        clients({
          installTimeoutMs: LOCK_BUDGET_CAPS.installTimeoutMs,
          verifyTimeoutMs: LOCK_BUDGET_CAPS.verifyTimeoutMs,
          callTimeoutMs: LOCK_BUDGET_CAPS.provisionerCallMs,
        }),
      ),
    ).not.toThrow();
    expect(() => checkLockBudget(clients({ installTimeoutMs: 5 * H * 1000 }))).toThrow(
      expect.objectContaining({ code: 'ERR_HOSTS_LOCK_TTL', message: expect.stringContaining('hosts.installTimeoutMs=18000000') }),
    );
    expect(() => checkLockBudget(clients({ verifyTimeoutMs: 10 * 60_000 }))).toThrow(
      expect.objectContaining({ code: 'ERR_HOSTS_LOCK_TTL' }),
    );
    expect(() => checkLockBudget(clients({ callTimeoutMs: H * 1000 }))).toThrow(expect.objectContaining({ code: 'ERR_HOSTS_LOCK_TTL' }));
  });
});
