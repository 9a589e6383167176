// Differential test: galley's ssh_config resolution against the real OpenSSH client (`ssh -G`,
// openssh-client from scripts/setup.sh), on the corpus in ssh-config.corpus.ts. For every
// config/host pair both answers are compared on the keys galley supports (SUPPORTED_KEYS); a
// config ssh refuses (exit 255) must be refused by galley too. HOME is a temp dir, so ~/.ssh is
// the corpus's own.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { CORPUS, type CorpusCase } from './ssh-config.corpus.js';
import { SshConfigResolver, SUPPORTED_KEYS } from './ssh-config.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-sshg-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const localUser = os.userInfo().username;

interface Answer {
  ok: boolean;
  lines: string[];
  error: string;
}

function materialize(c: CorpusCase, i: number): { home: string; dir: string; main: string } {
  const base = path.join(root, String(i));
  const home = path.join(base, 'home');
  const dir = path.join(base, 'd');
  fs.mkdirSync(path.join(home, '.ssh'), { recursive: true, mode: 0o700 });
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(c.files)) {
    const file = name.startsWith('~/') ? path.join(home, name.slice(2)) : path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text.replaceAll('@LU@', localUser).replaceAll('@D@', dir), { mode: 0o644 });
  }
  return { home, dir, main: path.join(dir, c.main) };
}

const keyOf = (line: string) => line.split(' ')[0]?.toLowerCase() ?? '';
const supported = new Set<string>(SUPPORTED_KEYS);

function openssh(c: CorpusCase, m: { home: string; main: string }, host: string): Answer {
  const args = [
    '-G',
    '-F',
    m.main,
    ...(c.user !== undefined ? ['-l', c.user] : []),
    ...(c.port !== undefined ? ['-p', String(c.port)] : []),
    host,
  ];
  const r = spawnSync('ssh', args, { env: { ...process.env, HOME: m.home, ...c.env }, encoding: 'utf8' });
  const lines = r.stdout.split('\n').filter((l) => supported.has(keyOf(l)));
  return { ok: r.status === 0, lines, error: r.stderr.trim() };
}

function galley(c: CorpusCase, m: { home: string; main: string }, host: string): Answer {
  try {
    const r = new SshConfigResolver({ configFile: m.main, local: { globHome: m.home, env: { ...process.env, HOME: m.home, ...c.env } } });
    return { ok: true, lines: r.dumpDestination(host, { user: c.user, port: c.port }), error: '' };
  } catch (err) {
    return { ok: false, lines: [], error: (err as Error).message };
  }
}

function agree(a: Answer, b: Answer): boolean {
  if (a.ok !== b.ok) return false;
  return !a.ok || JSON.stringify(a.lines) === JSON.stringify(b.lines);
}

const haveSsh = spawnSync('ssh', ['-V']).status === 0;

describe('ssh_config resolution agrees with ssh -G', () => {
  it('the corpus is big enough and ssh is installed (scripts/setup.sh installs openssh-client)', () => {
    expect(haveSsh).toBe(true);
    expect(CORPUS.length).toBeGreaterThanOrEqual(30);
    expect(execFileSync('ssh', ['-G', '-F', '/dev/null', 'x'], { encoding: 'utf8' })).toContain('hostname x');
  });

  const pairs = CORPUS.flatMap((c, i) => c.hosts.map((h) => [c, i, h] as const));
  let agreed = 0;
  it.each(pairs.map(([c, i, h]) => [`${c.name} :: ${h}`, c, i, h] as const))('%s', (_label, c, i, host) => {
    const m = materialize(c, i);
    const want = openssh(c, m, host);
    const got = galley(c, m, host);
    if (agree(want, got)) {
      agreed++;
      return;
    }
    const input = Object.entries(c.files)
      .map(([f, t]) => `--- ${f}\n${t}`)
      .join('');
    const show = (a: Answer) => (a.ok ? a.lines.join('\n') : `ERROR: ${a.error}`);
    throw new Error(
      `ssh -G -F ${c.main}${c.user ? ` -l ${c.user}` : ''}${c.port ? ` -p ${c.port}` : ''} ${host} disagrees\n== input\n${input}== ssh -G\n${show(want)}\n== galley\n${show(got)}`,
    );
  });

  afterAll(() => {
    // The agreement number for the README (printed, not asserted: each pair above is asserted).
    process.stdout.write(`ssh -G agreement: ${agreed}/${pairs.length} config/host pairs (${CORPUS.length} configs)\n`);
  });
});
