import { NodeSetSyntaxError } from './errors.js';

/**
 * A set of host names in ClusterShell NodeSet syntax: `mw[1001-1004,1010].eqiad.wmnet`,
 * several comma-separated patterns, zero-padded ranges (`db[01-10]`) and steps (`[1-9/2]`).
 * Iteration order is ClusterShell's: folded patterns sorted, then numerically.
 */
export class NodeSet {
  readonly #hosts: string[];

  private constructor(hosts: Iterable<string>) {
    this.#hosts = sortHosts([...new Set(hosts)]);
  }

  /** Parse one or more patterns (each may itself hold several comma-separated patterns). */
  static parse(...patterns: string[]): NodeSet {
    const out: string[] = [];
    for (const p of patterns) {
      for (const part of splitTopLevel(p)) {
        const trimmed = part.trim();
        if (trimmed === '') continue;
        out.push(...expandPattern(trimmed, p));
      }
    }
    return new NodeSet(out);
  }

  /** A NodeSet holding exactly these names (no pattern expansion). */
  static fromHosts(hosts: Iterable<string>): NodeSet {
    return new NodeSet(hosts);
  }

  get size(): number {
    return this.#hosts.length;
  }

  hosts(): string[] {
    return [...this.#hosts];
  }

  [Symbol.iterator](): Iterator<string> {
    return this.#hosts[Symbol.iterator]();
  }

  has(host: string): boolean {
    return this.#hosts.includes(host);
  }

  /** Folded form, e.g. `mw[1001-1004].eqiad.wmnet,lvs1019.eqiad.wmnet`. */
  toString(): string {
    return fold(this.#hosts);
  }

  toJSON(): string {
    return this.toString();
  }

  /** At most n near-equal slices, in order (ClusterShell's NodeSet.split: the first ones get the extra host). */
  split(n: number): NodeSet[] {
    if (!Number.isInteger(n) || n < 1) throw new Error(`NodeSet.split needs a positive integer, got ${n}`);
    const total = this.#hosts.length;
    const slices = Math.min(n, total);
    const base = Math.floor(total / Math.max(slices, 1));
    const extra = total - base * slices;
    const out: NodeSet[] = [];
    let i = 0;
    for (let s = 0; s < slices; s++) {
      const len = base + (s < extra ? 1 : 0);
      out.push(new NodeSet(this.#hosts.slice(i, i + len)));
      i += len;
    }
    return out;
  }
}

/** Split on commas that are not inside brackets. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '[') depth++;
    else if (ch === ']') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

function expandPattern(pattern: string, whole: string): string[] {
  const open = pattern.indexOf('[');
  if (open === -1) {
    if (pattern.includes(']')) throw new NodeSetSyntaxError(whole, `unbalanced ']' in '${pattern}'`);
    if (/\s/.test(pattern)) throw new NodeSetSyntaxError(whole, `whitespace in host name '${pattern}'`);
    return [pattern];
  }
  const close = pattern.indexOf(']', open);
  if (close === -1) throw new NodeSetSyntaxError(whole, `missing ']' in '${pattern}'`);
  const prefix = pattern.slice(0, open);
  const body = pattern.slice(open + 1, close);
  if (body.includes('[')) throw new NodeSetSyntaxError(whole, `nested '[' in '${pattern}'`);
  const rest = expandPattern(pattern.slice(close + 1), whole);
  const out: string[] = [];
  for (const v of expandRangeSet(body, whole)) for (const r of rest) out.push(prefix + v + r);
  return out;
}

function expandRangeSet(body: string, whole: string): string[] {
  const out: string[] = [];
  for (const item of body.split(',')) {
    const m = /^(\d+)(?:-(\d+)(?:\/(\d+))?)?$/.exec(item.trim());
    if (!m) throw new NodeSetSyntaxError(whole, `bad range '${item}'`);
    const [, lo = '', hi, stepStr] = m;
    if (hi === undefined) {
      out.push(lo);
      continue;
    }
    const a = Number(lo);
    const b = Number(hi);
    const step = stepStr === undefined ? 1 : Number(stepStr);
    if (b < a) throw new NodeSetSyntaxError(whole, `range '${item}' goes backwards`);
    if (step < 1) throw new NodeSetSyntaxError(whole, `range '${item}' has a zero step`);
    if ((b - a) / step > 1_000_000) throw new NodeSetSyntaxError(whole, `range '${item}' is too large`);
    // Zero padding only when the lower bound is written with a leading zero (ClusterShell rule).
    const pad = lo.length > 1 && lo.startsWith('0') ? lo.length : 0;
    for (let v = a; v <= b; v += step) out.push(String(v).padStart(pad, '0'));
  }
  return out;
}

interface Parsed {
  head: string;
  num: string | null;
  tail: string;
}

/** Split a name around its last run of digits: the dimension ClusterShell folds on for simple names. */
function parseName(host: string): Parsed {
  const m = /^(.*?)(\d+)(\D*)$/.exec(host);
  if (!m) return { head: host, num: null, tail: '' };
  return { head: m[1] ?? '', num: m[2] ?? null, tail: m[3] ?? '' };
}

function sortHosts(hosts: string[]): string[] {
  return hosts
    .map((h) => ({ h, p: parseName(h) }))
    .sort((x, y) => {
      const a = x.p;
      const b = y.p;
      const t = cmp(a.head + '\0' + a.tail, b.head + '\0' + b.tail);
      if (t !== 0) return t;
      if (a.num === null || b.num === null) return cmp(x.h, y.h);
      return Number(a.num) - Number(b.num) || a.num.length - b.num.length;
    })
    .map((x) => x.h);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function fold(hosts: string[]): string {
  const groups = new Map<string, { head: string; tail: string; nums: string[] }>();
  const order: string[] = [];
  for (const h of hosts) {
    const p = parseName(h);
    const key = p.num === null ? `=${h}` : `${p.head}\0${p.tail}`;
    let g = groups.get(key);
    if (!g) {
      g = { head: p.num === null ? h : p.head, tail: p.tail, nums: [] };
      groups.set(key, g);
      order.push(key);
    }
    if (p.num !== null) g.nums.push(p.num);
  }
  const parts: string[] = [];
  for (const key of order) {
    const g = groups.get(key);
    if (!g) continue;
    if (g.nums.length === 0) parts.push(g.head);
    else if (g.nums.length === 1) parts.push(g.head + (g.nums[0] ?? '') + g.tail);
    else parts.push(`${g.head}[${foldNumbers(g.nums)}]${g.tail}`);
  }
  return parts.join(',');
}

/** `['01','02','03','07']` → `01-03,07`; numbers of different padding never share a range. */
function foldNumbers(nums: string[]): string {
  const items = nums.map((s) => ({ s, v: Number(s), pad: s.length > 1 && s.startsWith('0') ? s.length : 0 }));
  const widths = new Set(items.filter((i) => i.pad > 0).map((i) => i.pad));
  // An unpadded number as wide as a padded class (10 among 01..09) belongs to that class.
  for (const i of items) if (i.pad === 0 && widths.has(i.s.length)) i.pad = i.s.length;
  items.sort((a, b) => a.pad - b.pad || a.v - b.v);
  const ranges: string[] = [];
  let start = items[0];
  let prev = items[0];
  const flush = () => {
    if (!start || !prev) return;
    ranges.push(start === prev ? start.s : `${start.s}-${prev.s}`);
  };
  for (const it of items.slice(1)) {
    if (prev && it.v === prev.v + 1 && it.pad === prev.pad) {
      prev = it;
      continue;
    }
    flush();
    start = it;
    prev = it;
  }
  flush();
  return ranges.join(',');
}
