/**
 * galley-nodeset through the built binary (bin/galley-nodeset → packages/cli/dist/galley-nodeset-bin.js), side by side
 * with ClusterShell's own `nodeset` (Debian clustershell) for the same command lines.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';

const ROOT = path.join(import.meta.dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'bin', 'galley-nodeset');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-nodeset-cli-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const run = (cmd: string, args: string[], input?: string) => {
  // cwd without a galley config, so the binary's config search finds none
  const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8', input: input ?? '', env: { ...process.env, HOME: dir } });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('galley-nodeset (the built binary)', () => {
  it('expands, folds and counts as ClusterShell nodeset does, several arguments unioned, -- ending the options', () => {
    const lines: string[][] = [
      ['-e', 'mw[1001-1004].eqiad.wmnet!mw1002.eqiad.wmnet'],
      ['-f', 'mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet', 'db[2001-2002].codfw.wmnet'],
      ['-c', 'a[1-10]&a[5-15]', 'b'],
      ['-f', '--', 'r[1-2]n[1-2],r3n1'],
      ['-e', '-S', ',', 'h[08-11]'],
      ['-f', 'a\nb[1-2]'],
      ['-c', ''],
    ];
    for (const args of lines) {
      const g = run(BIN, args);
      const cs = run('nodeset', args);
      expect({ args, code: g.code, out: g.out }).toEqual({ args, code: cs.code, out: cs.out });
      expect(g.code).toBe(0);
    }
  });

  it('reads stdin when no expression is given', () => {
    const input = 'x[1-2] y # a comment\nz1\n';
    expect(run(BIN, ['-f'], input).out).toBe(run('nodeset', ['-f'], input).out);
  });

  it('exits 1 with the error on stderr for what nodeset refuses, and for a bad command line', () => {
    for (const args of [
      ['-e', 'a1,,a2'],
      ['-f', 'db[01-100]'],
      ['-c', 'a[1-3]&'],
      ['-f', 'a[1-2][3-4]'],
    ]) {
      const g = run(BIN, args);
      expect(run('nodeset', args).code).toBe(1);
      expect(g.code).toBe(1);
      expect(g.out).toBe('');
      expect(g.err).toMatch(/ERR_REMOTE_NODESET_SYNTAX/);
      expect(g.err).toContain(args[1]);
    }
    const big = run(BIN, ['-c', 'a[1-1000000]']);
    expect([big.code, big.err]).toEqual([1, expect.stringMatching(/ERR_REMOTE_NODESET_TOO_LARGE/)]);
    for (const args of [['a1'], ['-e', '-f', 'a1'], ['-e', '--bogus', 'a1']]) {
      const g = run(BIN, args);
      expect([g.code, g.err]).toEqual([1, expect.stringMatching(/ERR_REMOTE_NODESET_USAGE/)]);
    }
  });

  it('resolves @group and @source:group from the groups: section of --config (inline sources and groups.d files)', () => {
    const groupsFile = path.join(dir, 'cluster.yaml');
    fs.writeFileSync(groupsFile, 'rack:\n  r1: "r1n[1-4]"\n');
    const cfg = path.join(dir, 'galley.yaml');
    fs.writeFileSync(
      cfg,
      'groups:\n  default: site\n  sources:\n    site:\n      web: "mw[1001-1004].eqiad.wmnet"\n  files: [cluster.yaml]\n',
    );
    expect(run(BIN, ['--config', cfg, '-f', '@web!mw1001.eqiad.wmnet', '@rack:r1'])).toMatchObject({
      code: 0,
      out: 'mw[1002-1004].eqiad.wmnet,r1n[1-4]\n',
    });
    expect(run(BIN, ['--config', cfg, '-s', 'rack', '-c', '@r1'])).toMatchObject({ code: 0, out: '4\n' });
    const typo = run(BIN, ['--config', cfg, '-f', '@wbe']);
    expect([typo.code, typo.err]).toEqual([1, expect.stringMatching(/no group 'wbe' in the site group source.*ERR_REMOTE_NODESET_GROUP/)]);
  });
});
