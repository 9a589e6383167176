/**
 * Differential test: galley's NodeSet against ClusterShell's own (Debian python3-clustershell,
 * installed by scripts/setup.sh). A generated corpus of host expressions — every operator,
 * padding, steps, multi-dimensional names, groups, wildcards and many invalid forms — goes to one
 * python process (test/clustershell-oracle.py) and through NodeSet.resolve; expansion (with its
 * order), folding, count and refusal must agree. A disagreement prints the input and both answers.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { isGalleyError } from '@galley/errors';
import { Groups } from './groups.js';
import { NodeSet } from './nodeset.js';

const ORACLE = path.join(import.meta.dirname, '..', 'test', 'clustershell-oracle.py');
const PYTHON = '/usr/bin/python3'; // the Debian python that has ClusterShell (not a pyenv shim)

/** The same group sources on both sides. */
const SOURCES: Record<string, Record<string, string | string[]>> = {
  site: {
    web: 'mw[1001-1004].eqiad.wmnet',
    api: 'mw[1003-1006].eqiad.wmnet',
    db: 'db[2001-2003].codfw.wmnet,db1001.eqiad.wmnet',
    nested: '@web,@db',
    mixed: 'mw[1001-1010].eqiad.wmnet!@api',
    rack1: 'r1n[1-4]',
    rack2: 'r2n[1-4]',
    spaced: 'a1 a2\na3',
    listed: ['b1', 'b[2-3]'],
    cache: 'cp[3050-3055].esams.wmnet&cp[3052-3060].esams.wmnet',
    padded: 'ms-be[01-12].wmnet',
  },
  lab: {
    web: 'lab[1-2].wmcloud',
    all: 'lab[1-5].wmcloud',
    ref: '@web',
    wild: 'lab*',
    cross: '@site:web,@web',
  },
};
const DEFAULT = 'site';

interface Answer {
  ok: boolean;
  hosts?: string[];
  fold?: string;
  count?: number;
  error?: string;
}

/** A small deterministic PRNG (mulberry32), so the corpus is the same on every run. */
function rng(seed: number) {
  let a = seed;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)]!;
  return { next, int, pick };
}

const HAND: string[] = [
  // plain names, lists, whitespace
  'mw1001.eqiad.wmnet',
  'bastion',
  'a,b',
  ' a , b ',
  'a b',
  'x@y',
  'a%b',
  'a%s',
  '%',
  'foo-bar_baz.qux',
  'a1b2c3',
  '007',
  'a0',
  'a00',
  'a-5',
  // ranges, padding, steps
  'mw[1001-1004,1010].eqiad.wmnet',
  'db[01-10]',
  'db[001-010,100]',
  'a[0-10]',
  'a[00-10]',
  'a[09-10]',
  'a[9,09-10,8]',
  'a[8-9,09-10]',
  'n[1-9/2]',
  'n[0-20/5]',
  'n[01-19/3]',
  'n[1-3,5-9/2,11]',
  'n[ 1 - 3 ]',
  'n[1,1,1]',
  'n[3,2,1]',
  'h[1-3],h[01-02]',
  'h[08-11]',
  'a[1-2]3',
  'a[1-2]30',
  'a[01-02]3',
  'a1[001-003]',
  'a1[1-10]',
  'a12[3-5]b',
  'mw1[001-003].eqiad.wmnet',
  'a1[01-02,3]',
  'a[5]',
  'a[05]',
  'a[0]',
  'a[-5]',
  'a[-1-1]',
  'a[-3--1]',
  'a[+5]',
  'a[1_0]',
  'a[1-1_0]',
  // multi-dimensional
  'r[1-2]n[1-2]',
  'r[1-2]n[1-2],r3n1',
  'r[1-2]n[1-2]!r1n1',
  'r[1-3]n[1-3]&r[2-4]n[2-4]',
  'r[1-2]n[1-2]^r[2-3]n[2-3]',
  'a[1-2]b[1-2]c[1-2]',
  'a[1-2]b[1-2]c[1-2]!a1b1c1',
  'db[1001-1002].eqiad1.wmnet',
  'rack[1-2]-node[01-04]',
  'x1y[1-3]',
  'x[1-3]y1',
  'r1n1,r1n2,r2n1',
  'r1n1,r2n2',
  'r[1-4]n[1-4]!r[2-3]n[2-3]',
  'c[1-3]p[1-3],c[2-4]p[4-6]',
  'a1b1,a1b2,a2b1,a2b2,a3b3',
  'a[1-2]b[1-3]!a1b2',
  'n[1-2]-[1-2]',
  'z[1-3].[1-3].[1-2]',
  // operators and left-to-right precedence
  'mw[1001-1010].eqiad.wmnet!mw1005.eqiad.wmnet',
  'a[1-10]&a[5-15]',
  'a[1-10]^a[5-15]',
  'a[1-10]!a[2-9],a5',
  'a[1-3],a[2-5]!a[3-4]',
  'a[1-5]&a[2-3],a9',
  'a[1-5]^a[3-7]&a[1-6]',
  'a1!a1',
  'a1&a2',
  'a!a',
  'a,a',
  'a^a',
  'a^b',
  'a & b',
  'a ! a',
  'a[1-3] ! a2',
  'a[1-3] , b',
  'a[1-10]!a[1-10]',
  'mw[1001-1010].eqiad.wmnet!mw[1003-1004].eqiad.wmnet&mw[1001-1008].eqiad.wmnet',
  'x!y',
  'a[1-2],b[1-2]&b2',
  'a[1-3]&a[2-3]!a3',
  // groups, sources, nesting, wildcards
  '@web',
  '@site:web',
  '@lab:web',
  '@nested',
  '@mixed',
  '@rack[1-2]',
  '@rack1,@rack2',
  '@spaced',
  '@listed',
  '@cache',
  '@padded',
  '@web!@api',
  '@web&@api',
  '@web^@api',
  '@lab:ref',
  '@lab:cross',
  '@*',
  '@lab:*',
  '@site:*',
  '@@site',
  '@@lab',
  '@@',
  'mw[1001-1010].eqiad.wmnet!@api',
  '@web,db1001.eqiad.wmnet',
  'mw100*',
  'mw100?.eqiad.wmnet',
  '*.codfw.wmnet',
  'db?00?.*',
  '*',
  '?',
  'nomatch*',
  '@lab:wild',
  'r*n[1-2]',
  '@web!mw100*',
  'mw10*!@web',
  '@x:y',
  '@lab:nosuch:x',
  // invalid
  'a[1-',
  'a[1-3',
  'a]',
  'a]1',
  'a[1-3]]',
  '[1-3',
  'a[1-2[3]]',
  'a[3-1]',
  'a[a-b]',
  'a[1-2-3-4-5]',
  'a[]',
  'a[,]',
  'a[1,]',
  'a[,1]',
  'a[1-3/0]',
  'a[5/2]',
  'a[1-3/x]',
  'a[1-3/-1]',
  'db[01-100]',
  'a[01-3]',
  'a[1-03]',
  'a[001-10]',
  'a[-01]',
  'a[-01-3]',
  'a1,,a2',
  ',a',
  'a,',
  '!a',
  'a!',
  'a&',
  '^a',
  'a,,',
  'a[1-2][3-4]',
  'a[1-2]3[4-5]',
  'a[1-10/2]5',
  'a[1-3]b]',
  'a][',
  'a[1]]b[2]',
  'a[1-2],,b',
  'a[1-2]!',
  'a, ,b',
  'a[1 2]',
  'a[1-2]b[3',
  '][',
  '[',
  ']',
  ',',
  '!',
  '&&',
  'a[0x10]',
  'a[1e3]',
  'a[1.5]',
];

function generate(): string[] {
  const r = rng(12);
  const prefixes = ['mw', 'db', 'cp', 'lvs', 'a', 'node-', 'x.y', 'ms-be', 'r', 'host_', 'an-worker', 'n1x'];
  const suffixes = ['', '.eqiad.wmnet', '.codfw.wmnet', '-ilo', 'a', '.wmnet', '.eqiad1.wmnet', 'x2'];
  const num = (width: number) => {
    const v = r.int(0, 10 ** Math.min(width, 4) - 1);
    return r.next() < 0.5 ? String(v) : String(v).padStart(width, '0');
  };
  const item = (): string => {
    const w = r.int(1, 4);
    const padded = r.next() < 0.35;
    const lo = r.int(0, 12);
    const hi = lo + r.int(0, 12);
    const f = (v: number) => (padded ? String(v).padStart(w, '0') : String(v));
    switch (r.int(0, 4)) {
      case 0:
        return f(lo);
      case 1:
        return `${f(lo)}-${f(hi)}`;
      case 2:
        return `${f(lo)}-${f(hi)}/${r.int(1, 4)}`;
      case 3:
        return `${f(lo)}-${f(hi)},${f(hi + r.int(2, 5))}`;
      default:
        return `${num(w)}`;
    }
  };
  const bracket = () => `[${Array.from({ length: r.int(1, 3) }, item).join(',')}]`;
  const operand = (): string => {
    const roll = r.next();
    if (roll < 0.12)
      return r.pick(['@web', '@api', '@db', '@site:web', '@lab:web', '@nested', '@rack[1-2]', '@lab:*', '@mixed', '@padded', '@cache']);
    if (roll < 0.17) return r.pick(['mw100*', 'db*', '*.eqiad.wmnet', 'r?n?', 'lab*', 'ms-be0?.wmnet']);
    const pre = r.pick(prefixes);
    const suf = r.pick(suffixes);
    const dims = r.next() < 0.25 ? 2 : 1;
    if (dims === 2) return `${pre}${bracket()}${r.pick(['n', '-', '.', 'x'])}${bracket()}${suf}`;
    if (r.next() < 0.2) return `${pre}${num(r.int(1, 3))}${suf}`;
    const lead = r.next() < 0.15 ? String(r.int(1, 9)) : '';
    const trail = r.next() < 0.1 && suf === '' ? String(r.int(0, 9)) : '';
    return `${pre}${lead}${bracket()}${trail}${suf}`;
  };
  const expr = () => {
    const n = r.int(1, 4);
    let s = operand();
    for (let i = 1; i < n; i++) {
      const op = r.pick([',', ',', '!', '&', '^']);
      const sp = r.next() < 0.15 ? ' ' : '';
      s += `${sp}${op}${sp}${operand()}`;
    }
    return s;
  };
  const mutate = (s: string): string => {
    const at = r.int(0, s.length);
    switch (r.int(0, 5)) {
      case 0:
        return s.slice(0, at) + r.pick(['[', ']', ',', '!', '&', '^', '/', '-', ' ', '[]', '][', ',,', '0']) + s.slice(at);
      case 1:
        return s.slice(0, at) + s.slice(at + 1);
      case 2:
        return s.replace(/\[(\d+)-(\d+)\]/, (_m, a: string, b: string) => `[${b}-${a}]`);
      case 3:
        return s.replace(/\d+-(\d+)/, (_m, b: string) => `0${b.length > 1 ? b.slice(1) : '1'}-${b}0`);
      case 4:
        return `${s}${r.pick([',', '!', '&', '^', ']', '[1'])}`;
      default:
        return `${r.pick([',', '!', '&', '^', ']'])}${s}`;
    }
  };
  const out: string[] = [];
  for (let i = 0; i < 420; i++) out.push(expr());
  for (let i = 0; i < 260; i++) out.push(mutate(expr()));
  return out;
}

function oracle(exprs: readonly string[]): Answer[] {
  const input =
    [JSON.stringify({ sources: SOURCES, default: DEFAULT }), ...exprs.map((expr) => JSON.stringify({ expr }))].join('\n') + '\n';
  const res = spawnSync(PYTHON, [ORACLE], { input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (res.status !== 0)
    throw new Error(`ClusterShell oracle failed (is Debian's clustershell installed? scripts/setup.sh does it): ${res.stderr}`);
  return res.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Answer);
}

async function galley(expr: string, groups: Groups): Promise<Answer> {
  try {
    const ns = await NodeSet.resolve(expr, groups);
    return { ok: true, hosts: ns.hosts(), fold: ns.toString(), count: ns.size };
  } catch (err) {
    if (isGalleyError(err) && err.code.startsWith('ERR_REMOTE_NODESET_')) return { ok: false, error: `${err.code}: ${err.message}` };
    return { ok: false, error: `CRASH ${(err as Error).stack ?? String(err)}` };
  }
}

const agree = (a: Answer, b: Answer) =>
  a.ok === b.ok &&
  (!a.ok
    ? !String(b.error).startsWith('CRASH')
    : JSON.stringify([a.hosts, a.fold, a.count]) === JSON.stringify([b.hosts, b.fold, b.count]));

describe('NodeSet agrees with ClusterShell 1.9 (differential)', () => {
  it('expands, orders, folds, counts and refuses every expression of the corpus as ClusterShell does', async () => {
    const corpus = [...new Set([...HAND, ...generate()])];
    expect(corpus.length).toBeGreaterThanOrEqual(500);
    const want = oracle(corpus);
    expect(want).toHaveLength(corpus.length);
    const groups = new Groups({ sources: SOURCES, default: DEFAULT, files: [], aliases: {} });
    const bad: string[] = [];
    let refused = 0;
    for (const [i, expr] of corpus.entries()) {
      const cs = want[i]!;
      if (!cs.ok) refused++;
      const g = await galley(expr, groups);
      if (!agree(cs, g))
        bad.push(`input:       ${JSON.stringify(expr)}\n  ClusterShell: ${JSON.stringify(cs)}\n  galley:       ${JSON.stringify(g)}`);
    }
    console.log(
      `NodeSet differential: ${corpus.length - bad.length} of ${corpus.length} expressions agree with ClusterShell (${refused} refused by both sides' oracle)`,
    );
    expect(bad.slice(0, 25).join('\n')).toBe('');
  });
});
