// The engine's take-out value (`no`, or `inactive` for the lifecycle cookbooks) and its inverse, on the
// in-memory fleet (the same PoolStore contract as the confctl adapter): what is written, what is put
// back, and what is left to whoever took an object over meanwhile.
import { describe, expect, it } from '@jest/globals';
import { newHold, putBack, readBack, stateText, takeOut, writeOut, type EngineDeps, type Hold, type OutValue } from './engine.js';
import type { OwnerMarker } from './ports.js';
import { escapeRegex } from './select.js';
import { FakeFleet } from './testing/index.js';

const H = 'mw1001.eqiad.wmnet';
const marker = (runId: string): OwnerMarker => ({
  runId,
  user: 'tester',
  reason: 'reimage with bookworm',
  time: '2026-12-04T00:00:00.000Z',
});
const RUN = marker('run-a');

function depsOf(f: FakeFleet): EngineDeps {
  const p = f.ports();
  return { store: p.store, verifier: p.verifier, capacity: p.capacity, clock: p.clock, emit: p.emit };
}

/** The host's pooled objects taken out to `to`; every object that is not inactive must be out. */
async function holdOf(f: FakeFleet, host: string, to?: OutValue): Promise<Hold> {
  const objs = await f.store.select({ name: escapeRegex(host) });
  return newHold(
    host,
    objs.filter((o) => o.pooled === 'yes'),
    objs.filter((o) => o.pooled !== 'inactive'),
    to ? { to } : {},
  );
}

const keyOf = (f: FakeFleet, host: string, service: string) =>
  [...f.objects.values()].find((o) => o.tags.name === host && o.tags.service === service)!.key;
const back = (deps: EngineDeps, hold: Hold) => putBack(deps, [hold], { ownerId: RUN.runId, owner: RUN });

describe('engine: the value taken out to, and its inverse', () => {
  it("takes out only pooled objects, to inactive with the run's marker in the same write, verified; puts back exactly those to yes, markers cleared", async () => {
    const f = FakeFleet.cluster(4, { pooled: { [H]: { 'php-fpm': 'no' } } });
    const d = depsOf(f);
    const hold = await holdOf(f, H, 'inactive');
    expect(hold.to).toBe('inactive');
    const out = await takeOut(d, [hold], { owner: RUN });
    expect(out).toMatchObject({ ok: true, report: expect.any(String) });
    const nginx = keyOf(f, H, 'nginx');
    expect({ nginx: f.state(H, 'nginx'), php: f.state(H, 'php-fpm'), owners: [...f.owners.keys()] }).toEqual({
      nginx: 'inactive',
      php: 'no',
      owners: [nginx],
    });
    expect(f.owners.get(nginx)).toEqual(RUN);
    expect(hold.changes).toEqual([expect.objectContaining({ key: nginx, from: 'yes', to: 'inactive', weight: 10 })]);

    const res = await back(d, hold);
    expect(res.hosts.map((h) => h.status)).toEqual(['in']);
    expect({ nginx: f.state(H, 'nginx'), php: f.state(H, 'php-fpm'), owners: f.owners.size, held: hold.changes }).toEqual({
      nginx: 'yes',
      php: 'no',
      owners: 0,
      held: [],
    });
    // the `no` object was never written, in either direction
    expect(f.writes.map((w) => [w.key, w.from, w.to])).toEqual([
      [nginx, 'yes', 'inactive'],
      [nginx, 'inactive', 'yes'],
    ]);
    expect(f.violations).toEqual([]);
  });

  it('takeOut not verified out (PyBal keeps a `no` object of the host pooled for its threshold): what it took is put back, verified in, and the reason given', async () => {
    const f = FakeFleet.cluster(4, {
      pooled: { [H]: { 'php-fpm': 'no' }, 'mw1002.eqiad.wmnet': { 'php-fpm': 'no' }, 'mw1003.eqiad.wmnet': { 'php-fpm': 'no' } },
    });
    const hold = await holdOf(f, H, 'inactive');
    const r = await takeOut(depsOf(f), [hold], { owner: RUN });
    expect(r).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^depool not verified on every LB: .*keeps mw1001\.eqiad\.wmnet pooled/),
      putBack: [expect.objectContaining({ status: 'in' })],
      failed: [],
    });
    expect({ nginx: f.state(H, 'nginx'), php: f.state(H, 'php-fpm'), owners: f.owners.size, held: hold.changes }).toEqual({
      nginx: 'yes',
      php: 'no',
      owners: 0,
      held: [],
    });
    expect(f.writes.map((w) => [w.from, w.to])).toEqual([
      ['yes', 'inactive'],
      ['inactive', 'yes'],
    ]);
  });

  it('no `to` given: `no`, as the rolling cookbooks take out', async () => {
    const f = FakeFleet.cluster(4);
    const hold = await holdOf(f, H);
    expect(await takeOut(depsOf(f), [hold], { owner: RUN })).toMatchObject({ ok: true });
    expect([f.state(H, 'nginx'), f.state(H, 'php-fpm')]).toEqual(['no', 'no']);
  });

  it('an object an operator takes over while it is held out (their marker, value unchanged) is not put back: left to them, reported, read back with their marker', async () => {
    const f = FakeFleet.cluster(4);
    const d = depsOf(f);
    const hold = await holdOf(f, H, 'inactive');
    expect(await takeOut(d, [hold], { owner: RUN })).toMatchObject({ ok: true });
    const nginx = keyOf(f, H, 'nginx');
    const alice = { ...marker('operator:alice'), reason: 'debug' };
    f.byHand([{ key: nginx }], 'inactive', alice);
    const writes = f.writes.length;

    const res = await back(d, hold);
    expect(res.hosts.map((h) => h.status)).toEqual(['in']);
    expect(hold.leftAsFound).toEqual([
      { key: nginx, why: expect.stringMatching(/^held out by operator:alice \(tester: debug\); left to them$/) },
    ]);
    expect({ nginx: f.state(H, 'nginx'), php: f.state(H, 'php-fpm'), nginxOwner: f.owners.get(nginx) }).toEqual({
      nginx: 'inactive',
      php: 'yes',
      nginxOwner: alice,
    });
    // one write only: php-fpm back to yes
    expect(f.writes.slice(writes).map((w) => [w.key, w.to])).toEqual([[keyOf(f, H, 'php-fpm'), 'yes']]);
    const now = await readBack(
      d,
      [...f.objects.values()].filter((o) => o.tags.name === H),
    );
    expect(now.map(stateText)).toEqual([
      expect.stringMatching(/nginx\/mw1001\.eqiad\.wmnet=inactive \(held out by operator:alice \(tester: debug\)\)$/),
      expect.stringMatching(/php-fpm\/mw1001\.eqiad\.wmnet=yes$/),
    ]);
  });

  it("not back in on every LB: taken out again to the value it was taken out to (inactive), verified out, still the run's", async () => {
    const f = FakeFleet.cluster(4);
    const d = depsOf(f);
    const hold = await holdOf(f, H, 'inactive');
    expect(await takeOut(d, [hold], { owner: RUN })).toMatchObject({ ok: true });
    // the host's health checks fail after the action: the LBs do not pool it back
    f.down.add(H);
    const res = await back(d, hold);
    expect(res.hosts).toEqual([
      expect.objectContaining({ status: 'out-again', reason: expect.stringMatching(/^repool not verified on every LB, depooled again: /) }),
    ]);
    expect([f.state(H, 'nginx'), f.state(H, 'php-fpm')]).toEqual(['inactive', 'inactive']);
    expect(hold.changes.map((c) => [c.from, c.to])).toEqual([
      ['yes', 'inactive'],
      ['yes', 'inactive'],
    ]);
    expect([...f.owners.values()]).toEqual([RUN, RUN]);
    expect(f.writes.map((w) => w.to)).toEqual(['inactive', 'inactive', 'yes', 'yes', 'inactive', 'inactive']);
  });

  it('a corrupt value on one object while it is held: nothing written over it, the rest put back and verified, read back as invalid', async () => {
    const f = FakeFleet.cluster(4);
    const d = depsOf(f);
    const hold = await holdOf(f, H, 'inactive');
    expect(await takeOut(d, [hold], { owner: RUN })).toMatchObject({ ok: true });
    const nginx = keyOf(f, H, 'nginx');
    f.corrupt.add(nginx);
    const writes = f.writes.length;
    const res = await back(d, hold);
    // an unreadable value is nobody's intent: the host is not back (stuck, read it back), the rest is
    expect(res.hosts.map((h) => [h.status, h.reason])).toEqual([
      ['stuck', expect.stringMatching(/^not put back: .*not valid conftool data now.*\(the rest is back, verified in on every LB\)$/)],
    ]);
    expect(hold.leftAsFound).toEqual([{ key: nginx, why: expect.stringMatching(/not valid conftool data now .*left as found/) }]);
    expect(f.writes.slice(writes).map((w) => [w.key, w.to])).toEqual([[keyOf(f, H, 'php-fpm'), 'yes']]);
    const now = await readBack(
      d,
      [...f.objects.values()].filter((o) => o.tags.name === H),
    );
    expect(now.map((s) => s.pooled)).toEqual(['invalid', 'yes']);
  });

  it('writeOut: an object someone set to no between the read and the write is left as found, not taken to inactive', async () => {
    const f = FakeFleet.cluster(4);
    const hold = await holdOf(f, H, 'inactive');
    f.byHand([{ key: keyOf(f, H, 'nginx') }], 'no');
    const w = await writeOut(depsOf(f), [hold], RUN);
    expect(w.failed).toEqual([]);
    expect(hold.changes.map((c) => c.tags.service)).toEqual(['php-fpm']);
    expect(hold.leftAsFound).toEqual([
      { key: keyOf(f, H, 'nginx'), why: expect.stringMatching(/pooled=no .*expected pooled=yes; left as found/) },
    ]);
    expect([f.state(H, 'nginx'), f.state(H, 'php-fpm')]).toEqual(['no', 'inactive']);
  });
});
