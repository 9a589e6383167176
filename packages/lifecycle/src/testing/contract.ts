/**
 * One contract per interface, run against every implementation: the file/none ones in unit tests
 * (temp dirs), the lab ones in integration tests. A fake must pass the same suite.
 */
import { describe, expect, it } from '@jest/globals';
import type { Inventory, Monitoring, Provisioner } from '../types.js';

/** Lab implementations reboot machines: more than jest's default 5 s per test. */
const TIMEOUT_MS = 60_000;

export interface InventoryFixture {
  /** A fresh inventory (own hooks) whose store holds `known` as active, and nothing else we touch. */
  make(opts: { dryRun: boolean }): Promise<Inventory>;
  /** A host the store holds with status `active`; the suite changes and removes it. */
  known(): string;
  /** Read the store behind the client's back (to prove dry-run changed nothing). */
  snapshot(): Promise<string>;
  cleanup?(): Promise<void>;
}

export function inventoryContract(name: string, fx: () => InventoryFixture): void {
  describe(`Inventory contract: ${name}`, () => {
    it(
      'get() returns the record of a known host and undefined for an unknown one',
      async () => {
        const inv = await fx().make({ dryRun: false });
        try {
          const rec = await inv.get(fx().known());
          expect(rec).toMatchObject({ host: fx().known(), status: 'active' });
          expect(await inv.get('nosuchhost9999.eqiad.wmnet')).toBeUndefined();
        } finally {
          await inv.close();
        }
      },
      TIMEOUT_MS,
    );

    it(
      'setStatus() is read back, remove() makes the host unknown; both are recorded as actions',
      async () => {
        const inv = await fx().make({ dryRun: false });
        const host = fx().known();
        try {
          await inv.setStatus(host, 'decommissioning');
          expect((await inv.get(host))?.status).toBe('decommissioning');
          await inv.setStatus(host, 'offline');
          expect((await inv.get(host))?.status).toBe('offline');
          await inv.remove(host);
          expect(await inv.get(host)).toBeUndefined();
          expect(inv.actions.map((a) => `${a.action}:${a.host}:${a.detail ?? ''}:${a.dryRun}`)).toEqual([
            `set-status:${host}:decommissioning:false`,
            `set-status:${host}:offline:false`,
            `remove:${host}::false`,
          ]);
        } finally {
          await inv.close();
        }
      },
      TIMEOUT_MS,
    );

    it(
      'writes to an unknown host fail with ERR_INVENTORY_UNKNOWN_HOST',
      async () => {
        const inv = await fx().make({ dryRun: false });
        try {
          await expect(inv.setStatus('nosuchhost9999.eqiad.wmnet', 'offline')).rejects.toMatchObject({
            code: 'ERR_INVENTORY_UNKNOWN_HOST',
          });
          await expect(inv.remove('nosuchhost9999.eqiad.wmnet')).rejects.toMatchObject({ code: 'ERR_INVENTORY_UNKNOWN_HOST' });
        } finally {
          await inv.close();
        }
      },
      TIMEOUT_MS,
    );

    it(
      'dry-run: reads are real, writes are recorded and logged, the store is unchanged',
      async () => {
        const lines: string[] = [];
        const inv = (await fx().make({ dryRun: true })).with({ log: (l) => lines.push(l) });
        const host = fx().known();
        const before = await fx().snapshot();
        try {
          expect((await inv.get(host))?.status).toBe('active');
          await inv.setStatus(host, 'offline');
          await inv.remove(host);
          expect((await inv.get(host))?.status).toBe('active');
          expect(await fx().snapshot()).toBe(before);
          expect(inv.actions.map((a) => `${a.action}:${a.dryRun}`)).toEqual(['set-status:true', 'remove:true']);
          expect(lines.filter((l) => l.startsWith('DRY-RUN: would '))).toHaveLength(2);
          await expect(inv.setStatus('nosuchhost9999.eqiad.wmnet', 'offline')).rejects.toMatchObject({
            code: 'ERR_INVENTORY_UNKNOWN_HOST',
          });
        } finally {
          await inv.close();
        }
      },
      TIMEOUT_MS,
    );
  });
}

export interface MonitoringFixture {
  make(opts: { dryRun: boolean }): Promise<Monitoring>;
  /**
   * What the monitoring system holds for the host: active downtime ids (undefined when the
   * implementation has no backend to ask, e.g. `none`).
   */
  activeDowntimes(host: string): Promise<string[] | undefined>;
}

export function monitoringContract(name: string, fx: () => MonitoringFixture): void {
  describe(`Monitoring contract: ${name}`, () => {
    const host = 'mw1001.eqiad.wmnet';

    it(
      'downtime() returns a distinct id per call; removeDowntime() ends it',
      async () => {
        const m = await fx().make({ dryRun: false });
        try {
          const a = await m.downtime(host, { durationMs: 3_600_000, reason: 'contract test' });
          const b = await m.downtime(host, { durationMs: 60_000, reason: 'contract test 2' });
          expect(typeof a).toBe('string');
          expect(a).not.toBe(b);
          const active = await fx().activeDowntimes(host);
          if (active !== undefined) expect(active).toEqual(expect.arrayContaining([a, b]));
          await m.removeDowntime(a);
          await m.removeDowntime(b);
          const after = await fx().activeDowntimes(host);
          if (after !== undefined) {
            expect(after).not.toContain(a);
            expect(after).not.toContain(b);
          }
          expect(m.actions.map((x) => `${x.action}:${x.dryRun}`)).toEqual([
            'downtime:false',
            'downtime:false',
            'remove-downtime:false',
            'remove-downtime:false',
          ]);
        } finally {
          await m.close();
        }
      },
      TIMEOUT_MS,
    );

    it(
      'dry-run: nothing is set, the intended downtime is recorded and logged',
      async () => {
        const lines: string[] = [];
        const m = (await fx().make({ dryRun: true })).with({ log: (l) => lines.push(l) });
        try {
          const before = await fx().activeDowntimes(host);
          const id = await m.downtime(host, { durationMs: 60_000, reason: 'dry' });
          await m.removeDowntime(id);
          expect(await fx().activeDowntimes(host)).toEqual(before);
          expect(m.actions.map((x) => `${x.action}:${x.dryRun}`)).toEqual(['downtime:true', 'remove-downtime:true']);
          expect(lines.filter((l) => l.startsWith('DRY-RUN: would '))).toHaveLength(2);
        } finally {
          await m.close();
        }
      },
      TIMEOUT_MS,
    );
  });
}

export interface ProvisionerFixture {
  make(opts: { dryRun: boolean }): Promise<Provisioner>;
  /** A machine the provisioner manages, currently on and reachable. */
  host(): string;
  /** What the machine really runs/serves, observed independently of the provisioner. */
  observe(host: string): Promise<{ os: string; hostKey: string; power: 'on' | 'off' }>;
  /** Wait until the machine is up again after a reinstall/cycle. */
  waitUp(host: string): Promise<void>;
}

export function provisionerContract(name: string, fx: () => ProvisionerFixture): void {
  describe(`Provisioner contract: ${name}`, () => {
    it(
      'hostKey() is the key the machine serves; reinstall changes OS and key, and hostKey() follows',
      async () => {
        const p = await fx().make({ dryRun: false });
        const host = fx().host();
        try {
          const before = await fx().observe(host);
          expect(await p.hostKey(host)).toBe(before.hostKey);
          const os = before.os === 'trixie' ? 'bookworm' : 'trixie';
          await p.reinstall(host, os);
          await fx().waitUp(host);
          const after = await fx().observe(host);
          expect(after.os).toBe(os);
          expect(after.hostKey).not.toBe(before.hostKey);
          expect(await p.hostKey(host)).toBe(after.hostKey);
          expect(p.actions.map((a) => `${a.action}:${a.host}:${a.detail ?? ''}`)).toEqual([`reinstall:${host}:${os}`]);
        } finally {
          await p.close();
        }
      },
      TIMEOUT_MS,
    );

    it(
      'powerOff/powerOn are reflected by powerStatus and by the machine',
      async () => {
        const p = await fx().make({ dryRun: false });
        const host = fx().host();
        try {
          expect(await p.powerStatus(host)).toBe('on');
          await p.powerOff(host);
          expect(await p.powerStatus(host)).toBe('off');
          expect((await fx().observe(host)).power).toBe('off');
          await p.powerOn(host);
          await fx().waitUp(host);
          expect(await p.powerStatus(host)).toBe('on');
          expect((await fx().observe(host)).power).toBe('on');
        } finally {
          await p.close();
        }
      },
      TIMEOUT_MS,
    );

    it(
      'dry-run: reads are real, reinstall and power changes are only recorded',
      async () => {
        const lines: string[] = [];
        const p = (await fx().make({ dryRun: true })).with({ log: (l) => lines.push(l) });
        const host = fx().host();
        try {
          const before = await fx().observe(host);
          await p.reinstall(host, 'trixie');
          await p.powerOff(host);
          await p.powerCycle(host);
          expect(await p.powerStatus(host)).toBe('on');
          expect(await p.hostKey(host)).toBe(before.hostKey);
          expect(await fx().observe(host)).toEqual(before);
          expect(p.actions.map((a) => `${a.action}:${a.dryRun}`)).toEqual(['reinstall:true', 'power-off:true', 'power-cycle:true']);
          expect(lines.filter((l) => l.startsWith('DRY-RUN: would '))).toHaveLength(3);
        } finally {
          await p.close();
        }
      },
      TIMEOUT_MS,
    );
  });
}
