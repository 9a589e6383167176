// A reimage is not alone either (galley issue 11): while it has the host out, an operator depools it,
// or a hand edit corrupts one of its objects. Each case is one sre.hosts.reimage wrapped by the
// invariant harness (test/e2e/invariants.ts), the other actor triggered by the run's own NDJSON
// event at the reinstall (the host is out and verified, the install takes 4 s), against a private
// lab: 12 hosts, 2 LBs, threshold 0.5, PyBal delay 100 ms; eqiad jobrunner mw1301–mw1304 pooled.
import fs from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { LabLifecycle } from '@galley/lab';
import { privateLab } from '@galley/lab/testing';
import { Invariants, type Ev, type RunControl, type RunSpec } from './invariants.js';
import { settled, type RunResult } from './lb-helpers.js';

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
const at = (r: { events: readonly Ev[] }, ph: string) => r.events.find((e) => phase(e, ph));
const output = (r: { events: readonly Ev[] }) => r.events.filter((e) => e.type === 'output').at(-1)?.data as Record<string, unknown>;
const leftovers = (r: { events: readonly Ev[] }) =>
  (r.events.find((e) => e.type === 'run-finished') as { summary?: { leftovers?: { object: string; state: string }[] } } | undefined)
    ?.summary?.leftovers;
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
  it('sre.lb.depool of the host: exit 0 at once, names the reimage; the reimage does not put it back, says so, and succeeds', async () => {
    let op: Promise<RunResult> | undefined;
    const r = await inv.run(
      reimage((ctl) => {
        op = ctl.cookbook("the operator's sre.lb.depool", ['sre.lb.depool', `host=${H}`, 'reason=debug'], keysOf(H), {
          intentFrom: 'acted',
          wants: { pooled: 'inactive' },
        });
      }),
    );
    const d = await op!;
    const runId = String(r.run.events[0]!.runId);
    const owners = await inv.owners();
    const out = output(r.run);
    const opEnd = Date.parse(d.events.find((e) => e.type === 'run-finished')!.ts!);
    const putBackAt = at(r.run, PUT_BACK);
    // every expectation in one comparison, so that a failure shows them all
    expect({
      violations: r.violations,
      exit: r.run.code,
      status: out.status,
      operatorExit: d.code,
      // it said which run holds the host, and acted before that run came to put it back
      operatorNamesTheRun: (d.stdout + d.stderr).includes(runId),
      operatorDoneBeforePutBack: putBackAt !== undefined && opEnd < Date.parse(putBackAt.ts!),
      owners: keysOf(H).map((k) => JSON.parse(owners.get(k) ?? 'null') as unknown),
      final: keysOf(H).map((k) => pooled(r.final.get(k))),
      // the run wrote each object out once, and never back
      runWrites: r.writes.filter((w) => w.by === 'run').map((w) => pooled(w.raw ?? undefined)),
      leftAsFound: out.leftAsFound,
      conftoolNow: out.conftoolNow,
      leftovers: leftovers(r.run),
    }).toEqual({
      violations: [],
      exit: 0,
      status: 'succeeded',
      operatorExit: 0,
      operatorNamesTheRun: true,
      operatorDoneBeforePutBack: true,
      owners: keysOf(H).map(() => expect.objectContaining({ runId: expect.stringMatching(/^operator:/), reason: 'debug' })),
      final: ['inactive', 'inactive'],
      runWrites: ['inactive', 'inactive'],
      leftAsFound: SERVICES.map((s) =>
        expect.stringMatching(
          new RegExp(`^eqiad/jobrunner/${s}/mw1304\\.eqiad\\.wmnet: held out by operator:[^ ]+ \\([^)]*debug\\); left to them$`),
        ),
      ),
      conftoolNow: SERVICES.map((s) =>
        expect.objectContaining({
          object: `eqiad/jobrunner/${s}/${H}`,
          pooled: 'inactive',
          owner: expect.objectContaining({ reason: 'debug' }),
        }),
      ),
      leftovers: [],
    });
  });

  it('a corrupt value on one of its objects: nothing written over it, the other put back verified in, reported as read back (exit 1)', async () => {
    const [kNginx, kPhp] = keysOf(H) as [string, string];
    const garbage = '{"pooled": "inactive", "weight": ';
    let op: Promise<number> | undefined;
    const r = await inv.run(
      reimage((ctl) => {
        op = ctl.put('a hand edit gone wrong', kNginx, garbage);
      }),
    );
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
      error: expect.stringMatching(
        /^mw1304\.eqiad\.wmnet[\s\S]*eqiad\/jobrunner\/nginx\/mw1304\.eqiad\.wmnet: its value is not valid conftool data now/,
      ),
      final: [garbage, 'yes'],
      runWritesAfterTheEdit: [[kPhp, 'yes']],
      conftoolNow: [
        expect.objectContaining({ object: `eqiad/jobrunner/nginx/${H}`, pooled: 'invalid' }),
        expect.objectContaining({ object: `eqiad/jobrunner/php-fpm/${H}`, pooled: 'yes', weight: 10 }),
      ],
      // the host is not held out by the run (php-fpm is back, nginx is not readable): only its downtime is left
      leftovers: [expect.objectContaining({ object: expect.stringMatching(new RegExp(`^${H.replace(/\./g, '\\.')} downtime `)) })],
    });
    expect((out.conftoolNow as { owner?: unknown }[])[1]!.owner).toBeUndefined();
  });
});
