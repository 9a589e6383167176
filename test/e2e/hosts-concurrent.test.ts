// A reimage is not alone either (galley issue 11): while it has the host out, a hand edit corrupts
// one of its objects. Each case is one sre.hosts.reimage wrapped by the
// invariant harness (test/e2e/invariants.ts), the other actor triggered by the run's own NDJSON
// event at the reinstall (the host is out and verified, the install takes 4 s), against a private
// lab: 12 hosts, 2 LBs, threshold 0.5, PyBal delay 100 ms; eqiad jobrunner mw1301–mw1304 pooled.
import fs from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { LabLifecycle } from '@galley/lab';
import { privateLab } from '@galley/lab/testing';
import { Invariants, type Ev, type RunControl, type RunSpec } from './invariants.js';
import { settled } from './lb-helpers.js';

jest.setTimeout(120_000);

const p = privateLab({ hosts: 12, lbs: 2, pybalDelayMs: 100, rebootMs: 500 });
const H = 'mw1304.eqiad.wmnet';
const SERVICES = ['nginx', 'php-fpm'];
const REINSTALL = 'reinstall with bookworm';
const PUT_BACK = 'put back what it took out and verify on every LB';
let inv: Invariants;
let lc: LabLifecycle;
let savedProvisioner: string;

beforeAll(() => {
  inv = new Invariants(p.lab);
  lc = new LabLifecycle(p.lab);
  savedProvisioner = fs.readFileSync(`${lc.dir}/provisioner.json`, 'utf8');
});
afterAll(() => inv.close());
beforeEach(async () => {
  await p.lab.reset();
  lc.reset();
  // A 4 s install: the other actor surely acts while the reimage has the host out.
  const prov = JSON.parse(savedProvisioner) as { hosts: Record<string, { rebootMs: number }> };
  prov.hosts[H]!.rebootMs = 4000;
  fs.writeFileSync(`${lc.dir}/provisioner.json`, JSON.stringify(prov));
  await settled(p.lab, 'eqiad', 'jobrunner');
});

const keysOf = (host: string) => SERVICES.map((s) => inv.key(host, s));
const phase = (e: Ev, ph: string) => e.type === 'host-phase' && e.host === H && e.phase === ph;
const output = (r: { events: readonly Ev[] }) => r.events.filter((e) => e.type === 'output').at(-1)?.data as Record<string, unknown>;
const leftovers = (r: { events: readonly Ev[] }) => (r.events.find((e) => e.type === 'run-finished') as { summary?: { leftovers?: { object: string; state: string }[] } } | undefined)?.summary?.leftovers;
const pooled = (raw: string | undefined) => (JSON.parse(raw ?? 'null') as { pooled?: string } | null)?.pooled;

/** A reimage of mw1304, with `fn` called once at the reinstall (the host is out and verified). */
function reimage(fn: (ctl: RunControl) => void): RunSpec {
  let fired = false;
  return {
    globals: ['--yes'],
    argv: ['sre.hosts.reimage', `host=${H}`, 'os=bookworm', 'reason=inv reimage'],
    scope: { hosts: [H] },
    maxOut: 1,
    writes: 'inactive',
    report: 'reimage',
    actions: ['systemctl', 'lifecycle'],
    onEvent: (e, ctl) => {
      if (fired || !phase(e, REINSTALL)) return;
      fired = true;
      fn(ctl);
    },
  };
}

describe('sre.hosts.reimage with someone else acting while it has the host out', () => {
  it('a corrupt value on one of its objects: nothing written over it, the other put back verified in, reported as read back (exit 1)', async () => {
    const [kNginx, kPhp] = keysOf(H) as [string, string];
    const garbage = '{"pooled": "inactive", "weight": ';
    let op: Promise<number> | undefined;
    const r = await inv.run(reimage((ctl) => {
      op = ctl.put('a hand edit gone wrong', kNginx, garbage);
    }));
    const rev = await op!;
    const out = output(r.run);
    expect({
      violations: r.violations,
      exit: r.run.code,
      status: out.status,
      failedStep: out.failedStep,
      error: out.error,
      final: [r.final.get(kNginx), pooled(r.final.get(kPhp))],
      // nothing written over the corrupt value; php-fpm out and back
      runWritesAfterTheEdit: r.writes.filter((w) => w.by === 'run' && w.rev > rev).map((w) => [w.key, pooled(w.raw ?? undefined)]),
      conftoolNow: out.conftoolNow,
      leftovers: leftovers(r.run),
    }).toEqual({
      violations: [],
      exit: 1,
      status: 'failed',
      failedStep: PUT_BACK,
      // php-fpm put back and verified in; nginx named with what is wrong with it
      error: expect.stringMatching(/^mw1304\.eqiad\.wmnet[\s\S]*eqiad\/jobrunner\/nginx\/mw1304\.eqiad\.wmnet: its value is not valid conftool data now/),
      final: [garbage, 'yes'],
      runWritesAfterTheEdit: [[kPhp, 'yes']],
      conftoolNow: [expect.objectContaining({ object: `eqiad/jobrunner/nginx/${H}`, pooled: 'invalid' }), expect.objectContaining({ object: `eqiad/jobrunner/php-fpm/${H}`, pooled: 'yes', weight: 10 })],
      // the host is not held out by the run (php-fpm is back, nginx is not readable): only its downtime is left
      leftovers: [expect.objectContaining({ object: expect.stringMatching(new RegExp(`^${H.replace(/\./g, '\\.')} downtime `)) })],
    });
    expect((out.conftoolNow as { owner?: unknown }[])[1]!.owner).toBeUndefined();
  });
});
