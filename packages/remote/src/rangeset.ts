/**
 * ClusterShell's RangeSet (1.9) semantics, reimplemented: a set of node indexes kept as strings so
 * that `01` and `1` are different members (mixed zero padding is allowed since ClusterShell 1.9),
 * ordered and folded exactly as ClusterShell orders and folds them. Behaviour was read from
 * ClusterShell/RangeSet.py (Debian's python3-clustershell); the differential test in
 * nodeset.differential.test.ts checks every rule here against the real library.
 */

/** Largest number of hosts one expression may name: a clear error instead of exhausting memory. */
export const MAX_NODESET_SIZE = 100_000;

/** A range item ClusterShell refuses; `why` is ClusterShell's reason, `part` the faulty item. */
export class RangeParseError extends Error {
  constructor(
    readonly part: string,
    readonly why: string,
  ) {
    super(`${why}: "${part}"`);
  }
}

/** The set grew past MAX_NODESET_SIZE. */
export class RangeSizeError extends Error {
  constructor(readonly count: number | bigint) {
    super(`more than ${MAX_NODESET_SIZE} hosts (${count})`);
  }
}

// Python's str.strip()/str.isspace() whitespace (ASCII and Latin-1 part, plus the Unicode spaces).
const PY_SPACE = new Set([
  ' ',
  '\t',
  '\n',
  '\r',
  '\x0b',
  '\x0c',
  '\x1c',
  '\x1d',
  '\x1e',
  '\x1f',
  '\x85',
  '\xa0',
  '\u1680',
  '\u2000',
  '\u2001',
  '\u2002',
  '\u2003',
  '\u2004',
  '\u2005',
  '\u2006',
  '\u2007',
  '\u2008',
  '\u2009',
  '\u200a',
  '\u2028',
  '\u2029',
  '\u202f',
  '\u205f',
  '\u3000',
]);
export const isPySpace = (c: string | undefined): boolean => c !== undefined && PY_SPACE.has(c);

export function pyLstrip(s: string): string {
  let i = 0;
  while (i < s.length && isPySpace(s[i])) i++;
  return s.slice(i);
}
export function pyRstrip(s: string): string {
  let j = s.length;
  while (j > 0 && isPySpace(s[j - 1])) j--;
  return s.slice(0, j);
}
export const pyStrip = (s: string): string => pyRstrip(pyLstrip(s));

/** Python's int(str) for the forms a range bound can take: sign, digits, `_` between digits, outer spaces. */
function pyInt(s: string): bigint | undefined {
  const t = pyStrip(s);
  if (!/^[+-]?\d+(?:_\d+)*$/.test(t)) return undefined;
  return BigInt(t.replace(/_/g, ''));
}

/** Python's "%0*d" % (pad, n). */
export function padNum(n: bigint | number, pad: number): string {
  const v = typeof n === 'bigint' ? n : BigInt(n);
  const neg = v < 0n;
  const digits = (neg ? -v : v).toString();
  const width = neg ? pad - 1 : pad;
  return (neg ? '-' : '') + digits.padStart(Math.max(width, 0), '0');
}

/** ClusterShell's member order: negatives first (longest first, then by value), then by length, then by text. */
export function compareIndex(a: string, b: string): number {
  const an = a.startsWith('-');
  const bn = b.startsWith('-');
  if (an !== bn) return an ? -1 : 1;
  if (an) {
    if (a.length !== b.length) return b.length - a.length;
    const d = BigInt(a) - BigInt(b);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  }
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

const isPadded = (s: string) => s.length > 1 && s.startsWith('0');

export class RangeSet {
  readonly #items: Set<string>;
  #sorted: string[] | undefined;

  constructor(items?: Iterable<string>) {
    this.#items = new Set(items);
  }

  /**
   * Parse ClusterShell's range syntax (`1-5,7,09-12,1-9/2`): padding from the written bounds, a
   * padded bound needs the other one the same width, `/step` only on ranges.
   */
  static parse(text: string, budget = MAX_NODESET_SIZE): RangeSet {
    const out = new RangeSet();
    for (const raw of text.split(',')) {
      const sub = pyStrip(raw);
      let base = sub;
      let step = 1n;
      const slash = sub.indexOf('/');
      if (slash >= 0) {
        base = sub.slice(0, slash);
        const s = pyInt(sub.slice(slash + 1));
        if (s === undefined) throw new RangeParseError(sub, 'cannot convert string to integer');
        step = s;
      }
      let begin: string;
      let end: string;
      let beginSign = 1n;
      let endSign = 1n;
      if (!base.includes('-')) {
        if (step !== 1n) throw new RangeParseError(sub, 'invalid step usage');
        begin = base;
        end = base;
      } else {
        const parts = base.split('-').map(pyStrip);
        if (parts.length === 2) {
          [begin, end] = parts as [string, string];
          if (begin === '') {
            begin = end; // a single negative number: -5
            beginSign = -1n;
            endSign = -1n;
          }
        } else if (parts.length === 3) {
          // -0-3 (ClusterShell ignores whatever stands before the first '-')
          begin = parts[1]!;
          end = parts[2]!;
          beginSign = -1n;
        } else if (parts.length === 4) {
          // -8--4
          begin = parts[1]!;
          end = parts[3]!;
          beginSign = -1n;
          endSign = -1n;
        } else {
          throw new RangeParseError(sub, 'too many values to unpack');
        }
      }
      const bi = pyInt(begin);
      const ei = pyInt(end);
      if (bi === undefined || ei === undefined)
        throw new RangeParseError(sub, sub.length === 0 ? 'empty range' : 'cannot convert string to integer');
      let pad = 0;
      let start: bigint;
      if (bi !== 0n) {
        const stripped = begin.replace(/^0+/, '');
        if (begin.length - stripped.length > 0) pad = begin.length;
        const si = pyInt(stripped);
        if (si === undefined) throw new RangeParseError(sub, 'cannot convert string to integer');
        start = si;
      } else {
        if (begin.length > 1) pad = begin.length;
        start = 0n;
      }
      const ends = ei !== 0n ? end.replace(/^0+/, '') : end;
      const endpad = end.length - ends.length > 0 ? end.length : 0;
      if ((pad > 0 || endpad > 0) && begin.length !== end.length) throw new RangeParseError(sub, 'padding length mismatch');
      const stopAbs = pyInt(ends);
      if (stopAbs === undefined) throw new RangeParseError(sub, 'cannot convert string to integer');
      if (pad > 0 && beginSign < 0n) throw new RangeParseError(sub, 'padding not supported in negative ranges');
      const lo = start * beginSign;
      const hi = stopAbs * endSign;
      if (stopAbs > 10n ** 100n || lo > hi || step < 1n) throw new RangeParseError(sub, 'invalid values in range');
      if (hi + 1n - lo >= 1_000_000_000n) throw new RangeParseError(sub, 'range too large');
      const count = (hi - lo) / step + 1n;
      if (BigInt(out.size) + count > BigInt(budget)) throw new RangeSizeError(BigInt(out.size) + count);
      for (let v = lo; v <= hi; v += step) out.#items.add(padNum(v, pad));
    }
    return out;
  }

  /** One member, written as it appears in a node name (`007`). */
  static of(index: string): RangeSet {
    return new RangeSet([index]);
  }

  get size(): number {
    return this.#items.size;
  }

  has(index: string): boolean {
    return this.#items.has(index);
  }

  /** Members in ClusterShell's order. */
  sorted(): readonly string[] {
    this.#sorted ??= [...this.#items].sort(compareIndex);
    return this.#sorted;
  }

  first(): string {
    return this.sorted()[0] ?? '';
  }

  last(): string {
    const s = this.sorted();
    return s[s.length - 1] ?? '';
  }

  copy(): RangeSet {
    return new RangeSet(this.#items);
  }

  union(o: RangeSet): RangeSet {
    const out = this.copy();
    for (const x of o.#items) out.#items.add(x);
    return out;
  }

  intersection(o: RangeSet): RangeSet {
    return new RangeSet([...this.#items].filter((x) => o.#items.has(x)));
  }

  difference(o: RangeSet): RangeSet {
    return new RangeSet([...this.#items].filter((x) => !o.#items.has(x)));
  }

  symmetricDifference(o: RangeSet): RangeSet {
    const out = this.difference(o);
    for (const x of o.#items) if (!this.#items.has(x)) out.#items.add(x);
    return out;
  }

  equals(o: RangeSet): boolean {
    return this.size === o.size && this.isSubsetOf(o);
  }

  isSubsetOf(o: RangeSet): boolean {
    for (const x of this.#items) if (!o.#items.has(x)) return false;
    return true;
  }

  intersects(o: RangeSet): boolean {
    const [small, big] = this.size <= o.size ? [this, o] : [o, this];
    for (const x of small.#items) if (big.#items.has(x)) return true;
    return false;
  }

  /**
   * Contiguous runs in member order, as ClusterShell folds without autostep: a run goes on while
   * the next index is the previous plus one and its padding fits the run's first member (a padded
   * run takes members of the same width, an unpadded run takes no padded member).
   */
  runs(): { start: bigint; stop: bigint; pad: number }[] {
    const out: { start: bigint; stop: bigint; pad: number }[] = [];
    let cur: { start: bigint; stop: bigint; pad: number; padded: boolean; width: number } | undefined;
    for (const s of this.sorted()) {
      const v = BigInt(s);
      const padded = isPadded(s);
      if (cur) {
        const fits = cur.padded ? s.length === cur.width : !padded;
        if (fits && v === cur.stop + 1n) {
          cur.stop = v;
          continue;
        }
        out.push({ start: cur.start, stop: cur.stop, pad: cur.padded ? cur.width : 0 });
      }
      cur = { start: v, stop: v, pad: 0, padded, width: s.length };
    }
    if (cur) out.push({ start: cur.start, stop: cur.stop, pad: cur.padded ? cur.width : 0 });
    return out;
  }

  /** `1-3,5,09-10`, as ClusterShell prints a RangeSet. */
  toString(): string {
    return this.runs()
      .map((r) => (r.start === r.stop ? padNum(r.start, r.pad) : `${padNum(r.start, r.pad)}-${padNum(r.stop, r.pad)}`))
      .join(',');
  }
}

/**
 * An n-dimensional index set (`r[1-2]n[1-4]` has two axes), kept as its points. The folded form
 * is what ClusterShell's RangeSetND folds to: a full cartesian product is one vector; anything else
 * goes through ClusterShell's multivariate merge (points expanded, sorted, neighbours that differ
 * on one axis merged, repeated until nothing changes), which also fixes the expansion order.
 */
export class RangeSetND {
  readonly #points = new Map<string, readonly string[]>();
  #folded: RangeSet[][] | undefined;

  constructor(readonly dims: number) {}

  static product(axes: readonly RangeSet[], budget = MAX_NODESET_SIZE): RangeSetND {
    let count = 1n;
    for (const a of axes) count *= BigInt(a.size);
    if (count > BigInt(budget)) throw new RangeSizeError(count);
    const out = new RangeSetND(axes.length);
    const rec = (i: number, acc: string[]) => {
      if (i === axes.length) {
        out.#add(acc.slice());
        return;
      }
      for (const x of axes[i]!.sorted()) {
        acc.push(x);
        rec(i + 1, acc);
        acc.pop();
      }
    };
    rec(0, []);
    // A product folds to itself: keep it so a large product is not merged point by point.
    out.#folded = [axes.map((a) => a.copy())];
    return out;
  }

  #add(p: readonly string[]): void {
    this.#points.set(p.join(','), p);
    this.#folded = undefined;
  }

  get size(): number {
    return this.#points.size;
  }

  copy(): RangeSetND {
    const out = new RangeSetND(this.dims);
    for (const [k, p] of this.#points) out.#points.set(k, p);
    out.#folded = this.#folded;
    return out;
  }

  #filter(keep: (k: string) => boolean): RangeSetND {
    const out = new RangeSetND(this.dims);
    for (const [k, p] of this.#points) if (keep(k)) out.#points.set(k, p);
    return out;
  }

  union(o: RangeSetND): RangeSetND {
    const out = this.copy();
    out.#folded = undefined;
    for (const [k, p] of o.#points) out.#points.set(k, p);
    return out;
  }

  intersection(o: RangeSetND): RangeSetND {
    return this.#filter((k) => o.#points.has(k));
  }

  difference(o: RangeSetND): RangeSetND {
    return this.#filter((k) => !o.#points.has(k));
  }

  symmetricDifference(o: RangeSetND): RangeSetND {
    const out = this.difference(o);
    for (const [k, p] of o.#points) if (!this.#points.has(k)) out.#points.set(k, p);
    return out;
  }

  /** The folded vectors, in ClusterShell's order. */
  vectors(): readonly RangeSet[][] {
    this.#folded ??= this.#fold();
    return this.#folded;
  }

  /** Points in ClusterShell's iteration order: vector by vector, each a product with the last axis fastest. */
  *points(): Generator<string[]> {
    for (const vec of this.vectors()) {
      const axes = vec.map((r) => r.sorted());
      const idx = axes.map(() => 0);
      if (axes.some((a) => a.length === 0)) continue;
      for (;;) {
        yield axes.map((a, i) => a[idx[i]!]!);
        let d = axes.length - 1;
        while (d >= 0 && ++idx[d]! === axes[d]!.length) idx[d--] = 0;
        if (d < 0) break;
      }
    }
  }

  #fold(): RangeSet[][] {
    if (this.#points.size === 0) return [];
    const axes = Array.from({ length: this.dims }, (_, i) => new RangeSet([...this.#points.values()].map((p) => p[i]!)));
    if (axes.reduce((n, a) => n * a.size, 1) === this.#points.size) return [axes];
    let vecs: RangeSet[][] = [...this.#points.values()].map((p) => p.map((x) => RangeSet.of(x)));
    let full = false;
    let changed = true;
    while (changed) {
      changed = false;
      vecs = sortVectors(vecs);
      let i1 = 0;
      while (i1 + 1 < vecs.length) {
        let item1 = vecs[i1]!;
        let i2 = i1 + 1;
        i1++;
        while (i2 < vecs.length) {
          const item2 = vecs[i2]!;
          i2++;
          const merged = mergeVectors(item1, item2);
          if (merged) {
            changed = true;
            item1 = vecs[i1 - 1] = merged;
            i2--;
            vecs.splice(i2, 1);
          } else if (!full) {
            // the quick pass only compares each vector with its next one
            break;
          }
        }
      }
      if (!changed && !full) {
        changed = true;
        full = true;
      }
    }
    return vecs;
  }
}

/** Two vectors that differ on at most one axis (disjoint there, or one containing the other) merge into one. */
function mergeVectors(a: readonly RangeSet[], b: readonly RangeSet[]): RangeSet[] | undefined {
  const out: RangeSet[] = [];
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.equals(y)) out.push(x);
    else if (!x.intersects(y)) {
      if (++diff > 1) return undefined;
      out.push(x.union(y));
    } else if (x.isSubsetOf(y) || y.isSubsetOf(x)) {
      if (++diff > 1) return undefined;
      out.push(x.size >= y.size ? x : y);
    } else return undefined;
  }
  return out;
}

/** ClusterShell's vector order: more points first, then per axis: more members first, lower first/last member (as text). */
function sortVectors(vecs: RangeSet[][]): RangeSet[][] {
  const keyed = vecs.map((v) => ({ v, n: v.reduce((n, r) => n * r.size, 1) }));
  keyed.sort((p, q) => {
    if (p.n !== q.n) return q.n - p.n;
    for (let i = 0; i < p.v.length; i++) {
      const a = p.v[i]!;
      const b = q.v[i]!;
      if (a.size !== b.size) return b.size - a.size;
      const c = cmpText(a.first(), b.first()) || cmpText(a.last(), b.last());
      if (c !== 0) return c;
    }
    return 0;
  });
  return keyed.map((k) => k.v);
}

/** Python's str comparison (by code point). */
export function cmpText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}
