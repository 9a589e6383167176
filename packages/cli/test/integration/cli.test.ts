// The built `cookbook` binary (packages/cli/dist/bin.js) as a child process, on fixture cookbooks,
// against the lab's etcd. Build first: `pnpm exec tsc -b packages/cli`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Conftool, connectEtcd } from '@galley/confctl';
import { sharedLab } from '@galley/lab/testing';

type Etcd3 = ReturnType<typeof connectEtcd>;

// Each case spawns a node process; on a loaded 2-core machine one takes seconds.
jest.setTimeout(60000);

const BIN = path.resolve(import.meta.dirname, '../../dist/bin.js');
const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/cookbooks');
let dir: string;
let cfgFile: string;
let logs: string;
let etcd: Etcd3;
let namespace: string;

interface Res {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(
  args: string[],
  opts: {
    env?: Record<string, string>;
    config?: string;
    colour?: boolean;
    onStdout?: (s: string, child: ReturnType<typeof spawn>) => void;
  } = {},
): Promise<Res> {
  // NO_COLOR keeps most cases readable; `colour: true` runs as a plain pipe would (no NO_COLOR, no FORCE_COLOR).
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env, NO_COLOR: '1' };
  if (opts.colour) {
    delete env.NO_COLOR;
    delete env.FORCE_COLOR;
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, '-c', opts.config ?? cfgFile, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      opts.onStdout?.(stdout, child);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The binary on a pseudo-terminal (util-linux script(1)), 120 columns; everything it drew, escape codes included. */
function runTty(
  args: string[],
  env: Record<string, string> = {},
  onOutput?: (out: string, type: (line: string) => void) => void,
): Promise<{ code: number | null; out: string }> {
  const q = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
  const cmd = `stty cols 120 rows 40; exec ${[process.execPath, BIN, '-c', cfgFile, ...args].map(q).join(' ')}`;
  const base: NodeJS.ProcessEnv = { ...process.env, ...env };
  // as an operator's terminal: no CI, no forced colour; NO_COLOR only when the case sets it
  for (const k of ['CI', 'FORCE_COLOR', ...(env.NO_COLOR === undefined ? ['NO_COLOR'] : [])]) delete base[k];
  return new Promise((resolve) => {
    // stdin is always a pipe (script(1) forwards it to the terminal); ended at once when nothing is typed
    const child = spawn('script', ['-q', '-e', '-c', cmd, '/dev/null'], { env: base, stdio: ['pipe', 'pipe', 'pipe'] });
    if (!onOutput) child.stdin.end();
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      onOutput?.(out, (line) => child.stdin.write(`${line}\n`));
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}
// eslint-disable-next-line no-control-regex
const SGR = /\x1b\[[\d;]*m/g;
// eslint-disable-next-line no-control-regex
const stripAnsi = (s: string) => s.replace(/\x1b\[[?\d;]*[A-Za-z]/g, '');

const auditLines = (name: string) =>
  fs
    .readFileSync(path.join(logs, ...name.split('.').slice(0, -1), `${name.split('.').at(-1)}.jsonl`), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const indexLines = () =>
  fs
    .readFileSync(path.join(logs, 'index.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
// START says `(run ID)`; a run refused at its arguments has no START, its END says `run ID in`.
const runIdOf = (r: Res) => /\(run (\S+)\)/.exec(r.stdout)?.[1] ?? /\) run (\S+) in /.exec(r.stdout)?.[1];

beforeAll(async () => {
  const lab = await sharedLab();
  namespace = lab.info.namespace;
  etcd = connectEtcd({ endpoints: lab.info.etcd.endpoints, dialTimeoutMs: 3000, requestTimeoutMs: 5000 });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-cli-'));
  logs = path.join(dir, 'logs');
  cfgFile = path.join(dir, 'cookbook.config.yaml');
  fs.writeFileSync(
    cfgFile,
    [
      'etcd:',
      `  endpoints: [${lab.info.etcd.endpoints.join(', ')}]`,
      'conftool:',
      `  namespace: ${namespace}`,
      'cookbooks:',
      `  dirs: [${FIXTURES}]`,
      'logs:',
      `  dir: ${logs}`,
      'locks:',
      '  leaseTtlSeconds: 3',
      '  waitTimeoutSeconds: 2',
      '',
    ].join('\n'),
  );
});
afterAll(() => {
  etcd?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('cookbook binary: exit codes and audit lines', () => {
  const table: { name: string; args?: string[]; code: number; stdout?: RegExp; status?: string }[] = [
    { name: 'fx.success', code: 0, stdout: /END \(PASS\) - Cookbook fx\.success \(exit_code=0\)/ },
    { name: 'fx.nonzero', code: 3, stdout: /END \(FAIL\) - Cookbook fx\.nonzero \(exit_code=3\)/ },
    { name: 'fx.throw', code: 99, stdout: /\[ERROR\] run: boom from run/ },
    { name: 'fx.rollback', code: 99, stdout: /rollback restoring yes after: run failed[\s\S]*rolled back/ },
    { name: 'fx.rollback-throws', code: 93, stdout: /\[ERROR\] rollback: rollback exploded/ },
    { name: 'fx.prepare-fails', code: 94, stdout: /\[ERROR\] prepare: cannot read state/ },
    { name: 'fx.init-success', code: 0, stdout: /already in the target state, nothing to do/ },
    { name: 'fx.args', args: ['dc=esams', 'cluster=x', 'reason=r'], code: 96, stdout: /dc.*esams.*eqiad.*codfw/ },
    { name: 'fx.args', args: ['cluster=x', 'reason=has "quotes"'], code: 96, stdout: /--reason: must not contain double quotes/ },
    { name: 'fx.args', args: ['cluster=x', 'reason=r', '-t', '123'], code: 96, stdout: /--task-id: invalid value "123"/ },
    { name: 'fx.args', args: ['cluster=x', 'reason=r', 'bogus=1'], code: 96, stdout: /[Uu]nknown argument.*bogus/ },
    { name: 'fx.args', args: ['cluster=x', 'cluster=y', 'reason=r'], code: 96, stdout: /cluster given 2 times \(x, y\); give it once/ },
    { name: 'fx.args', args: ['cluster=x', 'reason=r', 'batch=abc'], code: 96, stdout: /batch=abc: expected a number/ },
    {
      name: 'fx.bad-spec',
      code: 95,
      stdout: /cookbook fx\.bad-spec declares its arguments wrongly:\n {2}- option count: type "integer" is not one of/,
    },
    { name: 'fx.typed', code: 0 },
    { name: 'fx.typed', args: ['n=5'], code: 5 },
  ];
  for (const t of table) {
    it(`${t.name} ${(t.args ?? []).join(' ')} → ${t.code}`, async () => {
      const r = await run([t.name, ...(t.args ?? [])]);
      expect(r.code).toBe(t.code);
      if (t.stdout) expect(r.stdout).toMatch(t.stdout);
      const runId = runIdOf(r);
      expect(runId).toBeDefined();
      const lines = auditLines(t.name).filter((l) => l.runId === runId);
      // refused at the arguments (95, 96): no run-started (no START), but who tried what is recorded
      expect(lines[0]).toMatchObject({
        type: [95, 96].includes(t.code) ? 'args-refused' : 'run-started',
        cookbook: t.name,
        user: expect.stringMatching(/.+@.+/),
        dryRun: false,
      });
      if ([95, 96].includes(t.code)) expect(r.stdout).not.toContain('START');
      expect(lines.at(-1)).toMatchObject({ type: 'run-finished', exitCode: t.code });
      expect(indexLines().filter((l) => l.runId === runId)).toEqual([
        expect.objectContaining({ cookbook: t.name, exitCode: t.code, dryRun: false }),
      ]);
      if ([93, 94, 95, 96, 99].includes(t.code)) expect(lines.some((l) => l.type === 'error')).toBe(true);
    });
  }

  it('bad arguments: every problem listed at once, exit 96, before any lock (a held lock is not waited for) and with etcd untouched', async () => {
    // another run holds fx.args' lock (concurrency 1): a valid run would wait for it
    const { EtcdLocks } = await import('@galley/core/locks');
    const holder = new EtcdLocks(etcd, { leaseTtlSeconds: 5 }).session('holder-run', { dryRun: false });
    await holder.acquire('cookbooks', 'fx.args:codfw-x', { concurrency: 1, ttlSeconds: 60 });
    try {
      const before = Number((await etcd.get('/').exec()).header.revision);
      const started = Date.now();
      const r = await run([
        '--output',
        'json',
        'fx.args',
        'dc=codfw',
        'cluster=x',
        'cluster=y',
        'batch=abc',
        'bogus=1',
        'stray',
        'task=123',
      ]);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(r.code).toBe(96);
      const events = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(events.map((e) => e.type)).toEqual(['args-refused', 'error', 'run-finished']);
      expect((events[0]!.problems as { kind: string; arg?: string }[]).map((p) => `${p.kind}:${p.arg ?? ''}`)).toEqual([
        'positional:',
        'unknown:bogus',
        'repeated:cluster',
        'type:batch',
        'missing:reason',
        'invalid:task-id',
      ]);
      expect(r.stderr).toMatch(/fx\.args: 6 problems with the arguments:\n {2}- unexpected positional argument "stray"/);
      expect(Number((await etcd.get('/').exec()).header.revision)).toBe(before);
    } finally {
      await holder.close();
    }
  });

  it('a broken argument declaration: NAME --help is exit 95 naming the cookbook and each broken option (no yargs stack)', async () => {
    const r = await run(['fx.bad-spec', '--help']);
    expect(r.code).toBe(95);
    expect(r.stderr).toContain('cookbook fx.bad-spec declares its arguments wrongly:');
    expect(r.stderr).toContain('option mode: its default "c" is not valid: argument mode: invalid value "c", accepted values: "a", "b"');
    expect(r.stderr).toContain('option other: the name or alias r is already used by option reason');
    expect(r.stdout + r.stderr).not.toMatch(/at .*node_modules/);
  });

  it('on a TTY, a missing required reason= is asked for and the run goes on; without a TTY it stays 96', async () => {
    let asked = false;
    const r = await runTty(['--output', 'json', 'fx.args', 'cluster=jobrunner'], {}, (out, type) => {
      if (!asked && out.includes('fx.args needs a reason')) {
        asked = true;
        type('asked on the terminal');
      }
    });
    expect(asked).toBe(true);
    expect(r.code).toBe(0);
    expect(stripAnsi(r.out)).toContain('"reason":"asked on the terminal"');
    const piped = await run(['fx.args', 'cluster=jobrunner']);
    expect(piped.code).toBe(96);
    expect(piped.stdout).toContain('missing required argument reason');
    // with another problem as well, nobody is asked: every problem is listed
    const both = await runTty(['fx.args', 'cluster=jobrunner', 'batch=x']);
    expect(both.code).toBe(96);
    expect(stripAnsi(both.out)).not.toContain('needs a reason');
    expect(stripAnsi(both.out)).toMatch(/2 problems with the arguments/);
  });

  it('no config file at all: -l and NAME --help show the built-in cookbooks (exit 0); a run checks its arguments, then says it needs etcd', async () => {
    const empty = fs.mkdtempSync(path.join(dir, 'noconf-'));
    const env = { HOME: empty, XDG_STATE_HOME: path.join(empty, 'state'), XDG_CACHE_HOME: path.join(empty, 'cache') };
    const bare = (args: string[]) =>
      new Promise<Res>((resolve) => {
        const child = spawn(process.execPath, [BIN, ...args], {
          cwd: empty,
          env: { ...process.env, ...env, NO_COLOR: '1' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const list = await bare(['-l']);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('sre.lb.rolling-restart [Traffic]');
    const help = await bare(['sre.lb.rolling-restart', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--batch .*Accepts a host count/s);
    const bad = await bare(['sre.lb.rolling-restart', 'cluster=x', 'batch=0', 'reason=r']);
    expect(bad.code).toBe(96);
    expect(bad.stdout).toContain('batch=0:');
    const real = await bare(['sre.ping', 'cluster=x']);
    expect(real.code).toBe(1);
    expect(real.stderr).toContain('no config file was found, so there is no etcd to take the lock in');
    const dry = await bare(['-d', 'sre.ping', 'cluster=x']);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toContain('this cookbook needs the "etcd" config section');
  });

  it('args: key=value and --key value, defaults, reason and task, lock suffix from args', async () => {
    const r = await run(['--output', 'json', 'fx.args', 'cluster=jobrunner', '--batch', '3', '-r', 'rolling maintenance', 'task=T42']);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.find((e) => e.type === 'output')?.data).toEqual({
      args: { cluster: 'jobrunner', dc: 'eqiad', batch: 3 },
      reason: 'rolling maintenance',
      taskId: 'T42',
    });
    expect(events.find((e) => e.type === 'lock' && e.status === 'acquired')?.key).toMatch(
      /^\/galley\/locks\/cookbooks\/fx\.args:eqiad-jobrunner\//,
    );
  });

  it('not found → 98 with the closest names', async () => {
    const r = await run(['fx.sucess']);
    expect(r.code).toBe(98);
    expect(r.stderr).toContain('cookbook fx.sucess not found');
    expect(r.stderr).toMatch(/did you mean: fx\.success/);
  });

  it('a module that fails to load is reported and skipped; running it → 98', async () => {
    const l = await run(['-l']);
    expect(l.code).toBe(0);
    expect(l.stderr).toMatch(/skipped .*fx\/broken\.mjs: this module is broken on purpose/);
    expect(l.stdout).toContain('fx.success [SRE]');
    const r = await run(['fx.broken']);
    expect(r.code).toBe(98);
    expect(r.stderr).toMatch(/fx\.broken failed to load from .*broken\.mjs: this module is broken on purpose/);
  });

  it('-l prints the tree with inherited and own owners; -v adds titles; prefix filters', async () => {
    const r = await run(['-l', '-v', 'fx.n']);
    expect(r.stdout).toBe(
      [
        'cookbooks',
        '`-- fx: Runner fixtures',
        '    |-- fx.nested: Runs other cookbooks [SRE]',
        '    `-- fx.nonzero: Returns 3 [Traffic]',
        '',
      ].join('\n'),
    );
  });

  it('a group outside a TTY is listed and exits 98', async () => {
    const r = await run(['fx']);
    expect(r.code).toBe(98);
    expect(r.stdout).toContain('fx.success: Succeeds [SRE]');
  });

  it('NAME --help shows title, owner, args with defaults and the lock spec', async () => {
    const r = await run(['fx.args', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Takes arguments');
    expect(r.stdout).toContain('Cookbook owner team: SRE');
    expect(r.stdout).toMatch(/--dc.*\[choices: "eqiad", "codfw"\] \[default: "eqiad"\]/);
    expect(r.stdout).toMatch(/-r, --reason .*\[required\]/);
    expect(r.stdout).toContain('Lock: derived from the arguments');
    // each option's check is said next to it
    expect(r.stdout).toMatch(/--batch .*\[number\] \[default: 1\]/);
  });

  it('nested cookbooks return their own exit codes and share dry-run', async () => {
    const r = await run(['-d', '--output', 'json', 'fx.nested']);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.find((e) => e.type === 'output' && e.cookbook === 'fx.nested')?.data).toEqual({ codes: [3, 0, 98], dryRun: true });
    const finished = events.filter((e) => e.type === 'run-finished');
    expect(finished.map((e) => [e.cookbook, e.exitCode, e.dryRun])).toEqual([
      ['fx.nonzero', 3, true],
      ['fx.args', 0, true],
      ['fx.nested', 0, true],
    ]);
    // the index has the top-level run only; the nested runs are in the cookbook's audit file
    const runId = String(events[0]!.runId);
    expect(
      indexLines()
        .filter((l) => String(l.runId).startsWith(runId))
        .map((l) => l.cookbook),
    ).toEqual(['fx.nested']);
    expect(auditLines('fx.nested').filter((l) => l.type === 'run-finished' && String(l.runId).startsWith(runId))).toHaveLength(3);
  });

  it('first SIGINT: stop at the next safe point, rollback, exit 97, leftovers in the end report', async () => {
    let sent = false;
    const r = await run(['fx.interrupted'], {
      onStdout: (s, child) => {
        if (!sent && s.includes('waiting for a signal')) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(r.code).toBe(97);
    expect(r.stdout).toContain('safe point reached');
    expect(r.stdout).toContain('rollback after interrupt');
    expect(r.stdout).toMatch(/Left in a non-final state:\n {2}- mw1001\.eqiad\.wmnet: depooled \(interrupted between depool and repool\)/);
    expect(r.stdout).toMatch(/END \(FAIL\) - Cookbook fx\.interrupted \(exit_code=97\)/);
  });

  it('SIGTERM is handled like SIGINT: safe point, rollback, exit 97', async () => {
    let sent = false;
    const r = await run(['fx.interrupted'], {
      onStdout: (s, child) => {
        if (!sent && s.includes('waiting for a signal')) {
          sent = true;
          child.kill('SIGTERM');
        }
      },
    });
    expect(r.code).toBe(97);
    expect(r.stderr).toContain('SIGTERM: stopping at the next safe point');
    expect(r.stdout).toContain('rollback after interrupt');
    expect(r.stdout).toMatch(/END \(FAIL\) - Cookbook fx\.interrupted \(exit_code=97\)/);
  });

  it('nested cookbooks in a real run: own exit codes, one top-level index line, no lock left behind', async () => {
    const r = await run(['--output', 'json', 'fx.nested']);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.find((e) => e.type === 'output' && e.cookbook === 'fx.nested')?.data).toEqual({ codes: [3, 0, 98], dryRun: false });
    expect(
      events.filter((e) => e.type === 'lock' && e.status === 'acquired').map((e) => String(e.key).split('/').slice(0, -1).join('/')),
    ).toEqual(['/galley/locks/cookbooks/fx.nested', '/galley/locks/cookbooks/fx.nonzero', '/galley/locks/cookbooks/fx.args:eqiad-c1']);
    expect((await etcd.getAll().prefix('/galley/locks/cookbooks/fx.n').keys()).length).toBe(0);
  });

  it('second SIGINT: stop now with exit 97 and say what was left', async () => {
    let sent = 0;
    const r = await run(['fx.hang'], {
      onStdout: (s, child) => {
        if (sent === 0 && s.includes('hanging')) {
          sent = 1;
          child.kill('SIGINT');
          setTimeout(() => child.kill('SIGINT'), 300);
        }
      },
    });
    expect(r.code).toBe(97);
    expect(r.stderr).toContain('again: stopping now');
    expect(r.stderr).toContain('mw1002.eqiad.wmnet: depooled');
    // the audit's end record says what was done and left, not an empty summary
    const runId = runIdOf(r)!;
    const fin = auditLines('fx.hang').filter((l) => l.runId === runId && l.type === 'run-finished');
    expect(fin).toEqual([
      expect.objectContaining({
        exitCode: 97,
        durationMs: expect.any(Number),
        summary: expect.objectContaining({
          changes: 1,
          plan: [expect.objectContaining({ host: 'mw1002.eqiad.wmnet', from: 'yes', to: 'no' })],
          leftovers: [{ object: 'mw1002.eqiad.wmnet', state: 'depooled' }],
          interrupted: true,
        }),
      }),
    ]);
    expect(Number(fin[0]!.durationMs)).toBeGreaterThan(0);
    expect(indexLines().filter((l) => l.runId === runId)).toEqual([expect.objectContaining({ exitCode: 97, changes: 1 })]);
  });

  it('dry-run of a cookbook that writes: etcd revision unchanged, plan printed', async () => {
    // The shared lab has other writers: compare the objects the plan names, not etcd's global revision.
    const conftool = new Conftool(etcd, { namespace });
    const before = new Map((await conftool.select({ cluster: 'appserver' })).map((n) => [n.key, n.modRevision]));
    const r = await run(['-d', 'fx.writes', 'cluster=appserver']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Plan for fx\.writes \(2 intended changes, in order\):\n(DRY-RUN: {3}\d\. \S+: \S+ pooled yes → no\n){2}/);
    const planned = [...r.stdout.matchAll(/^DRY-RUN: {3}\d\. \S+: (\S+) pooled yes → no$/gm)].map((m) => m[1]!);
    expect(planned).toHaveLength(2);
    const after = new Map((await conftool.select({ cluster: 'appserver' })).map((n) => [n.key, n.modRevision]));
    for (const key of planned) {
      expect(before.get(key)).toBeDefined();
      expect(after.get(key)).toBe(before.get(key));
    }
    expect(r.stdout).toMatch(/^DRY-RUN: /m);
  });

  it('a real run of a cookbook that writes takes the host lock and fences the writes', async () => {
    const rev0 = BigInt((await etcd.get('none').exec()).header.revision);
    const r = await run(['--output', 'json', 'fx.writes', 'cluster=appserver']);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const locks = events.filter((e) => e.type === 'lock' && e.status === 'acquired').map((e) => String(e.key));
    expect(locks.some((k) => k.includes('/galley/locks/hosts/'))).toBe(true);
    expect(events.filter((e) => e.type === 'change').map((e) => e.to)).toEqual(['no', 'no', 'yes', 'yes']);
    expect(BigInt((await etcd.get('none').exec()).header.revision)).toBeGreaterThan(rev0);
  });

  it('non-TTY output has no escape codes; --output json is valid NDJSON with the documented events', async () => {
    // without NO_COLOR: a pipe alone must be enough
    const text = await run(['fx.steps'], { colour: true });
    expect(text.code).toBe(0);
    expect(text.stdout + text.stderr).not.toContain(String.fromCharCode(27));
    expect(text.stdout).toContain('✔ h1: depooling');
    expect(text.stdout).toContain('↓ h2: depooling [already depooled]');
    const json = await run(['--output', 'json', 'fx.steps']);
    expect(json.code).toBe(0);
    const events = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const e of events) expect(typeof e.ts === 'string' && typeof e.runId === 'string' && typeof e.type === 'string').toBe(true);
    expect(events[0]!.type).toBe('run-started');
    expect(events.at(-1)!.type).toBe('run-finished');
    expect(new Set(events.map((e) => e.type))).toEqual(
      new Set(['run-started', 'lock', 'step', 'host-phase', 'verification', 'change', 'output', 'run-finished']),
    );
    expect(json.stderr).toContain('END (PASS)');
    expect(json.stdout).not.toContain('END (PASS)');
  });

  it('secrets are redacted in the audit log', async () => {
    const r = await run(['fx.secret', 'token=s3cr3t-value']);
    expect(r.code).toBe(0);
    const raw = fs.readFileSync(path.join(logs, 'fx', 'secret.jsonl'), 'utf8');
    expect(raw).not.toContain('s3cr3t-value');
    expect(raw).not.toContain('hunter2');
  });

  it('secret argv values (--token VALUE, api-key=, a `secret: true` arg) never reach the audit, the output or the webhook; lock keys stay in the audit', async () => {
    const posted: string[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        posted.push(body);
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const cfg = path.join(dir, 'webhook.config.yaml');
    fs.writeFileSync(cfg, `${fs.readFileSync(cfgFile, 'utf8')}notifier:\n  webhook: http://127.0.0.1:${port}/sal\n`);
    try {
      const secrets = ['tok-s3cr3t-1', 'api-zzz-2', 'pin-7777-3'];
      const r = await run(
        ['--output', 'json', 'fx.secret', '--token', secrets[0]!, `api-key=${secrets[1]}`, '--pin', secrets[2]!, '--cluster', 'appserver'],
        { config: cfg },
      );
      expect(r.code).toBe(0);
      const runId = (JSON.parse(r.stdout.split('\n')[0]!) as { runId: string }).runId;
      const audit = auditLines('fx.secret').filter((l) => l.runId === runId);
      const index = indexLines().filter((l) => l.runId === runId);
      expect(posted).toHaveLength(2);
      for (const text of [JSON.stringify(audit), JSON.stringify(index), r.stdout, r.stderr, ...posted]) {
        for (const s of secrets) expect(text).not.toContain(s);
      }
      expect(audit[0]).toMatchObject({
        argv: ['--token', '***', 'api-key=***', '--pin', '***', '--cluster', 'appserver'],
        args: { token: '***', 'api-key': '***', pin: '***', cluster: 'appserver' },
      });
      expect(JSON.parse(posted[0]!)).toMatchObject({
        message: 'START - Cookbook fx.secret --token *** api-key=*** --pin *** --cluster appserver',
      });
      // the lock key is what `--break-lock KEY` takes: no secret, kept
      expect(audit.find((l) => l.type === 'lock' && l.status === 'acquired')?.key).toMatch(
        /^\/galley\/locks\/cookbooks\/fx\.secret\/[0-9a-f-]{36}$/,
      );
    } finally {
      server.close();
    }
  });

  it('--key VALUE keeps a value containing = (selectors, reasons) instead of reading it as a new argument', async () => {
    const r = await run(['--output', 'json', 'fx.args', '--cluster', 'dc=eqiad,cluster=jobrunner', '-r', 'note=a=b', '--batch', '2']);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.find((e) => e.type === 'output')?.data).toEqual({
      args: { cluster: 'dc=eqiad,cluster=jobrunner', dc: 'eqiad', batch: 2 },
      reason: 'note=a=b',
    });
  });

  it('prepare() that writes is refused before anything is written or locked: exit 94, ERR_WRITE_IN_PREPARE (also in dry-run)', async () => {
    const conftool = new Conftool(etcd, { namespace });
    const node = (await conftool.select({ cluster: 'appserver' }))[0]!;
    expect(node).toBeDefined();
    const name = node.tags.name.replace(/\./g, '\\.');
    const before = (await conftool.select({ name })).map((n) => [n.key, n.modRevision]);
    for (const dry of [false, true]) {
      const r = await run([...(dry ? ['-d'] : []), '--output', 'json', 'fx.prepare-writes', `name=${name}`]);
      expect(r.code).toBe(94);
      const events = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(events.find((e) => e.type === 'error')).toMatchObject({ phase: 'prepare', code: 'ERR_WRITE_IN_PREPARE' });
      expect(events.filter((e) => ['lock', 'change'].includes(String(e.type)))).toEqual([]);
    }
    expect((await conftool.select({ name })).map((n) => [n.key, n.modRevision])).toEqual(before);
    expect((await etcd.getAll().prefix(`/galley/locks/hosts/${node.tags.name}/`).keys()).length).toBe(0);
  });

  it('no logs.dir: the run is still audited, under $XDG_STATE_HOME/galley/audit, and says so', async () => {
    const state = fs.mkdtempSync(path.join(dir, 'state-'));
    const cfg = path.join(dir, 'no-logs.config.yaml');
    fs.writeFileSync(cfg, fs.readFileSync(cfgFile, 'utf8').replace(/^logs:\n {2}dir: .*\n/m, ''));
    expect(fs.readFileSync(cfg, 'utf8')).not.toContain('logs:');
    const r = await run(['fx.success'], { config: cfg, env: { XDG_STATE_HOME: state } });
    expect(r.code).toBe(0);
    const audit = path.join(state, 'galley', 'audit');
    expect(r.stderr).toContain(`[WARN] no logs.dir in the config: auditing this run under ${audit}`);
    const lines = fs
      .readFileSync(path.join(audit, 'fx', 'success.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.at(-1)).toMatchObject({ type: 'run-finished', runId: runIdOf(r), exitCode: 0 });
  });

  it('an audit write that fails is reported once on stderr; the run itself goes on', async () => {
    const broken = path.join(dir, 'broken-logs');
    // the cookbook's audit file is a directory: every append fails
    fs.mkdirSync(path.join(broken, 'fx', 'success.jsonl'), { recursive: true });
    const cfg = path.join(dir, 'broken-logs.config.yaml');
    fs.writeFileSync(cfg, fs.readFileSync(cfgFile, 'utf8').replace(/^( {2}dir: ).*logs$/m, `$1${broken}`));
    expect(fs.readFileSync(cfg, 'utf8')).toContain(broken);
    const r = await run(['fx.success'], { config: cfg });
    expect(r.code).toBe(0);
    const reported = r.stderr.split('\n').filter((l) => l.startsWith('[ERROR] audit log write to'));
    expect(reported).toHaveLength(1);
    expect(reported[0]).toContain(path.join(broken, 'fx', 'success.jsonl'));
    expect(reported[0]).toContain('incomplete');
  });

  it('a lifecycle write (inventory) on a host the run has not locked is refused; after ctx.lockHosts it goes through', async () => {
    const inv = path.join(dir, 'inventory.yaml');
    const host = 'mw9001.eqiad.wmnet';
    fs.writeFileSync(inv, `hosts:\n  ${host}:\n    status: active\n`);
    const cfg = path.join(dir, 'inventory.config.yaml');
    fs.writeFileSync(cfg, `${fs.readFileSync(cfgFile, 'utf8')}inventory:\n  type: file\n  path: ${inv}\n`);
    const refused = await run(['fx.inventory-set', `host=${host}`], { config: cfg });
    expect(refused.code).toBe(99);
    expect(refused.stdout).toContain(`does not hold the host lock hosts/${host}`);
    expect(fs.readFileSync(inv, 'utf8')).toContain('status: active');
    const ok = await run(['fx.inventory-set', `host=${host}`, 'lock'], { config: cfg });
    expect(ok.code).toBe(0);
    expect(fs.readFileSync(inv, 'utf8')).toContain('status: decommissioning');
  });

  it('config: a TypeScript config file works; an invalid one exits 1 listing every problem at once', async () => {
    const ts = path.join(dir, 'cookbook.config.ts');
    const endpoints = /endpoints: \[(.*)\]/.exec(fs.readFileSync(cfgFile, 'utf8'))![1]!.split(', ');
    fs.writeFileSync(
      ts,
      [
        'type Cfg = { etcd: { endpoints: string[] }; conftool: { namespace: string }; cookbooks: { dirs: string[] }; logs: { dir: string } };',
        `const cfg: Cfg = { etcd: { endpoints: ${JSON.stringify(endpoints)} }, conftool: { namespace: ${JSON.stringify(namespace)} }, cookbooks: { dirs: [${JSON.stringify(FIXTURES)}] }, logs: { dir: ${JSON.stringify(logs)} } };`,
        'export default cfg;',
        '',
      ].join('\n'),
    );
    const ok = await run(['fx.success'], { config: ts });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('END (PASS) - Cookbook fx.success');
    const bad = path.join(dir, 'invalid.config.yaml');
    fs.writeFileSync(
      bad,
      ['etcd:', '  endpoints: []', 'logs:', '  dir: 42', 'notifier:', '  webhook: ftp://sal', 'bogus: 1', ''].join('\n'),
    );
    const r = await run(['fx.success'], { config: bad });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`invalid configuration in ${bad}`);
    for (const p of ['etcd.endpoints', 'logs.dir', 'notifier.webhook', 'bogus', 'cookbooks: section is required here but missing'])
      expect(r.stderr).toContain(p);
    expect(r.stderr).toContain('[ERR_CONFIG_INVALID]');
  });

  it('on a TTY: listr2 draws the steps in colour; a failed host keeps its name; a warning shows while the step runs, not only after it', async () => {
    const r = await runTty(['fx.steps-fail']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(SGR);
    const plain = stripAnsi(r.out);
    expect(plain).toMatch(/✖ mw1009\.eqiad\.wmnet: restarting: restart timed out after 30s/);
    expect(plain).toMatch(/✔ mw1008\.eqiad\.wmnet: restarting/);
    // the warning came at 200 ms, the failure at 400 ms: on screen in that order
    const warned = plain.indexOf('[WARN] mw1009.eqiad.wmnet is slow to come back');
    expect(warned).toBeGreaterThanOrEqual(0);
    expect(warned).toBeLessThan(plain.indexOf('restart timed out'));
    expect(plain).toContain('END (FAIL) - Cookbook fx.steps-fail (exit_code=1)');
  });

  it('cookbook GROUP on a TTY: a menu; a picked cookbook runs and its status shows; q quits with 0', async () => {
    let step = 0;
    const r = await runTty(['--no-locks', 'fx'], {}, (out, type) => {
      if (step === 0 && out.includes('>>> ')) {
        step = 1;
        type('success');
      } else if (step === 1 && out.includes('[PASS] success: Succeeds [SRE]')) {
        step = 2;
        type('q');
      }
    });
    expect(r.code).toBe(0);
    expect(step).toBe(2);
    const plain = stripAnsi(r.out);
    expect(plain).toContain('#--- Runner fixtures ---#');
    expect(plain).toContain('[NOTRUN] success: Succeeds [SRE]');
    expect(plain).toMatch(/END \(PASS\) - Cookbook fx\.success \(exit_code=0\)/);
  });

  it('on a TTY with NO_COLOR: still drawn by listr2, without any colour code', async () => {
    const r = await runTty(['fx.steps-fail'], { NO_COLOR: '1' });
    expect(r.code).toBe(1);
    expect(r.out).not.toMatch(SGR);
    // cursor movement: the interactive renderer, not the plain text lines
    expect(r.out).toContain('\x1b[2K');
    expect(stripAnsi(r.out)).toMatch(/✖ mw1009\.eqiad\.wmnet: restarting: restart timed out after 30s/);
  });

  it('--version prints the version and exits 0', async () => {
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^cookbook \d+\.\d+\.\d+\n$/);
  });

  it('a busy lock: waiting shows the holders, then exit 1 with ERR_LOCK_TIMEOUT; dry-run reports it and runs', async () => {
    const { EtcdLocks } = await import('@galley/core/locks');
    const holder = new EtcdLocks(etcd, { leaseTtlSeconds: 3 }).session('holder-run-id');
    await holder.acquire('cookbooks', 'fx.nested', { concurrency: 1, ttlSeconds: 60 });
    try {
      const r = await run(['fx.nested']);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/waiting for lock cookbooks\/fx\.nested, held by:\n\s+\S+@\S+ \[\d+\] since \S+ \(run holder-run-id\)/);
      expect(r.stdout).toContain('ERR_LOCK_TIMEOUT');
      const d = await run(['-d', 'fx.nested']);
      expect(d.code).toBe(0);
      expect(d.stdout).toMatch(/lock fx\.nested is full/);
      const l = await run(['--locks', 'cookbooks/fx.nested']);
      expect(l.stdout).toContain('holder-run-id');
      const key = /key (\S+)/.exec(l.stdout)![1]!;
      const refused = await run(['--break-lock', key]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('ERR_CONFIRM_NO_TTY');
      const broken = await run(['--yes', '--break-lock', key]);
      expect(broken.code).toBe(0);
      expect(broken.stdout).toContain(`removed: ${key}`);
      expect((await run(['--locks', 'cookbooks/fx.nested'])).stdout).toBe('no locks held\n');
    } finally {
      await holder.close();
    }
  }, 120000);

  it('--no-locks bypasses locking, loudly', async () => {
    const r = await run(['--no-locks', 'fx.success']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('LOCKS BYPASSED (--no-locks)');
  });

  it('no etcd section: a real run is refused (exit 1, ERR_LOCKS_NO_ETCD) unless --no-locks; a dry-run goes on, loudly', async () => {
    const cfg = path.join(dir, 'no-etcd.config.yaml');
    fs.writeFileSync(cfg, ['cookbooks:', `  dirs: [${FIXTURES}]`, 'logs:', `  dir: ${logs}`, ''].join('\n'));
    const r = await run(['fx.success'], { config: cfg });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ERR_LOCKS_NO_ETCD');
    expect(r.stderr).toMatch(/hint: .*--no-locks/);
    expect(r.stdout).not.toContain('START - Cookbook');
    const bypass = await run(['--no-locks', 'fx.success'], { config: cfg });
    expect(bypass.code).toBe(0);
    expect(bypass.stdout).toContain('LOCKS BYPASSED (--no-locks)');
    const dry = await run(['-d', 'fx.success'], { config: cfg });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('LOCKS BYPASSED (no etcd section in the config; dry-run)');
    expect(dry.stdout + dry.stderr).not.toContain('(--no-locks)');
  });

  it("--resume: refused for another cookbook's run id", async () => {
    await etcd.put('/galley/runs/fake-run-1/meta').value(JSON.stringify({ cookbook: 'fx.other' }));
    const r = await run(['--resume', 'fake-run-1', 'fx.success']);
    expect(r.code).toBe(96);
    expect(r.stdout).toContain('run fake-run-1 was a run of fx.other, not fx.success');
    await etcd.delete().prefix('/galley/runs/fake-run-1/');
  });
});
