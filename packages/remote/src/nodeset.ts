/**
 * Host sets in ClusterShell NodeSet syntax and semantics (ClusterShell 1.9, what Cumin and
 * `nodeset` use): ranges with padding and steps (`mw[1001-1004,1010/2]`), several bracket groups
 * per name (`r[1-2]n[1-4]`), the operators `,` (union), `!` (difference), `&` (intersection) and
 * `^` (symmetric difference) read left to right, `@group` / `@source:group` resolved through a
 * GroupResolver, `*`/`?` wildcards over the default source's nodes, folding and ordering exactly as
 * ClusterShell's `nodeset -f` / `-e`. Everything ClusterShell refuses is a NodeSetSyntaxError with
 * the position. Galley's one addition: `@conftool:dc=eqiad,cluster=jobrunner` takes a whole conftool
 * selector (commas included) as the group name.
 *
 * This module imports nothing heavy (no ssh2): `@galley/remote/nodeset` is safe to load anywhere.
 */
import { NodeSetGroupError, NodeSetSizeError, NodeSetSyntaxError } from './errors.js';
import {
  cmpText,
  MAX_NODESET_SIZE,
  padNum,
  pyLstrip,
  pyRstrip,
  pyStrip,
  RangeParseError,
  RangeSet,
  RangeSetND,
  RangeSizeError,
} from './rangeset.js';

export { MAX_NODESET_SIZE } from './rangeset.js';
export { NodeSetGroupError, NodeSetSizeError, NodeSetSyntaxError } from './errors.js';

/**
 * Where `@group`, `@source:group`, `@*` and wildcards are looked up (ClusterShell's GroupResolver).
 * Each answer is the raw text of the group: node set expressions separated by whitespace or lines.
 */
export interface GroupResolver {
  /** The source used by `@group` without `source:`; undefined when there is none. */
  readonly defaultSource: string | undefined;
  /** The expressions of one group. Unknown group or source: a NodeSetGroupError. */
  groupNodes(group: string, source: string | undefined): Promise<string[]> | string[];
  /** Every node of a source (`@*`, `@source:*`, wildcards). */
  allNodes(source: string | undefined): Promise<string[]> | string[];
  /** The group names of a source (`@@source`). */
  groupList(source: string | undefined): Promise<string[]> | string[];
}

type Op = ',' | '!' | '&' | '^';
type Entry = RangeSet | RangeSetND | null;

/** One operand of the expression: an operator and a node pattern (`mw%s.eqiad.wmnet` with its index sets). */
interface Item {
  op: Op;
  /** ClusterShell's pattern text: `%s` stands for an index, `%%` for a literal `%`. */
  pat: string;
  rsets: RangeSet[];
  pos: number;
}

type Lookup =
  | { kind: 'map'; group: string; source: string | undefined }
  | { kind: 'all'; source: string | undefined }
  | { kind: 'list'; source: string | undefined };

const CONFTOOL_PREFIX = '@conftool:';
const MAX_GROUP_DEPTH = 32;

/** A set of host names in ClusterShell NodeSet semantics. Immutable. */
export class NodeSet {
  readonly #patterns: Map<string, Entry>;
  #hosts: string[] | undefined;
  #index: Set<string> | undefined;

  private constructor(patterns: Map<string, Entry>) {
    this.#patterns = patterns;
  }

  /**
   * Parse one or more expressions (their union, as `nodeset -f A B` does). Groups and wildcards
   * need a resolver: use NodeSet.resolve for those.
   */
  static parse(...expressions: string[]): NodeSet {
    const acc = new Patterns();
    for (const e of expressions) {
      const gen = evaluate(e, { namespace: undefined, wildcards: true, depth: 0, resolver: false });
      const r = gen.next();
      if (!r.done) {
        const what = r.value.kind === 'map' ? `the group @${r.value.group}` : r.value.kind === 'all' ? 'a wildcard or @*' : '@@source';
        throw new NodeSetGroupError(
          e,
          `${what} needs a group source, and none was given here`,
          'host groups come from the groups: section of the galley config (galley-exec and galley-nodeset read it); write the host names out here',
        );
      }
      acc.update(r.value);
    }
    return new NodeSet(acc.map);
  }

  /** Parse expressions, resolving `@group`, `@source:group` and wildcards through the resolver. */
  static async resolve(expressions: string | readonly string[], resolver: GroupResolver): Promise<NodeSet> {
    const acc = new Patterns();
    for (const e of typeof expressions === 'string' ? [expressions] : expressions) {
      const gen = evaluate(e, { namespace: undefined, wildcards: true, depth: 0, resolver: true });
      let r = gen.next();
      while (!r.done) {
        const q = r.value;
        const answer =
          q.kind === 'map'
            ? await resolver.groupNodes(q.group, q.source)
            : q.kind === 'all'
              ? await resolver.allNodes(q.source)
              : await resolver.groupList(q.source);
        r = gen.next(answer);
      }
      acc.update(r.value);
    }
    return new NodeSet(acc.map);
  }

  /** Exactly these host names, each taken as one node (ClusterShell's fromlist of single names). */
  static fromHosts(hosts: Iterable<string>): NodeSet {
    const acc = new Patterns();
    for (const h of hosts) {
      const { pat, rsets } = scanSingle(h, h, 0);
      acc.apply(',', pat, rsets);
    }
    return new NodeSet(acc.map);
  }

  get size(): number {
    let n = 0;
    for (const e of this.#patterns.values()) n += e === null ? 1 : e.size;
    return n;
  }

  /** Host names in ClusterShell's order (`nodeset -e`). */
  hosts(): string[] {
    this.#hosts ??= expandPatterns(this.#patterns);
    return [...this.#hosts];
  }

  [Symbol.iterator](): Iterator<string> {
    return this.hosts()[Symbol.iterator]();
  }

  has(host: string): boolean {
    this.#index ??= new Set(this.hosts());
    return this.#index.has(host);
  }

  /** Folded form, as `nodeset -f` prints it: `mw[1001-1004].eqiad.wmnet,lvs1019.eqiad.wmnet`. */
  toString(): string {
    return foldPatterns(this.#patterns);
  }

  toJSON(): string {
    return this.toString();
  }

  union(other: NodeSet): NodeSet {
    return this.#combine(',', other);
  }

  intersection(other: NodeSet): NodeSet {
    return this.#combine('&', other);
  }

  difference(other: NodeSet): NodeSet {
    return this.#combine('!', other);
  }

  symmetricDifference(other: NodeSet): NodeSet {
    return this.#combine('^', other);
  }

  #combine(op: Op, other: NodeSet): NodeSet {
    const acc = new Patterns(new Map(this.#patterns));
    acc.combine(op, other.#patterns);
    return new NodeSet(acc.map);
  }

  /** At most n near-equal slices, in order (ClusterShell's NodeSet.split: the first ones get the extra host). */
  split(n: number): NodeSet[] {
    if (!Number.isInteger(n) || n < 1) throw new Error(`NodeSet.split needs a positive integer, got ${n}`);
    const hosts = this.hosts();
    const total = hosts.length;
    const slices = Math.min(n, total);
    const base = Math.floor(total / Math.max(slices, 1));
    const extra = total - base * slices;
    const out: NodeSet[] = [];
    let i = 0;
    for (let s = 0; s < slices; s++) {
      const len = base + (s < extra ? 1 : 0);
      out.push(NodeSet.fromHosts(hosts.slice(i, i + len)));
      i += len;
    }
    return out;
  }
}

/** The pattern → index-set map of a node set, with ClusterShell's per-pattern set operations. */
class Patterns {
  constructor(readonly map = new Map<string, Entry>()) {}

  get size(): number {
    let n = 0;
    for (const e of this.map.values()) n += e === null ? 1 : e.size;
    return n;
  }

  apply(op: Op, pat: string, rsets: RangeSet[]): void {
    const entry: Entry = rsets.length === 0 ? null : rsets.length === 1 ? rsets[0]! : RangeSetND.product(rsets);
    this.combine(op, new Map([[pat, entry]]));
  }

  update(other: Patterns): void {
    this.combine(',', other.map);
  }

  combine(op: Op, other: ReadonlyMap<string, Entry>): void {
    const m = this.map;
    for (const [pat, e] of other) {
      const mine = m.get(pat);
      const has = m.has(pat);
      if (op === ',') {
        if (!has) m.set(pat, e);
        else if (mine && e) m.set(pat, unite(mine, e));
      } else if (op === '!') {
        if (mine && e) {
          const d = subtract(mine, e);
          if (d.size === 0) m.delete(pat);
          else m.set(pat, d);
        } else if (has) m.delete(pat);
      } else if (op === '^') {
        if (!has) m.set(pat, e);
        else if (mine && e) {
          const d = xor(mine, e);
          if (d.size === 0) m.delete(pat);
          else m.set(pat, d);
        } else m.delete(pat);
      }
    }
    if (op === '&') {
      for (const [pat, mine] of [...m]) {
        if (!other.has(pat)) {
          m.delete(pat);
          continue;
        }
        const e = other.get(pat) ?? null;
        if (mine && e) {
          const i = intersect(mine, e);
          if (i.size === 0) m.delete(pat);
          else m.set(pat, i);
        }
      }
    }
    if (this.size > MAX_NODESET_SIZE) throw new RangeSizeError(this.size);
  }
}

// The entries of one pattern always have the same dimension (it is the number of %s in it).
const unite = (a: RangeSet | RangeSetND, b: RangeSet | RangeSetND) =>
  a instanceof RangeSet ? a.union(b as RangeSet) : a.union(b as RangeSetND);
const subtract = (a: RangeSet | RangeSetND, b: RangeSet | RangeSetND) =>
  a instanceof RangeSet ? a.difference(b as RangeSet) : a.difference(b as RangeSetND);
const intersect = (a: RangeSet | RangeSetND, b: RangeSet | RangeSetND) =>
  a instanceof RangeSet ? a.intersection(b as RangeSet) : a.intersection(b as RangeSetND);
const xor = (a: RangeSet | RangeSetND, b: RangeSet | RangeSetND) =>
  a instanceof RangeSet ? a.symmetricDifference(b as RangeSet) : a.symmetricDifference(b as RangeSetND);

/** Fill a pattern's `%s` with args, `%%` becomes `%`. */
function format(pat: string, args: readonly string[]): string {
  let out = '';
  let k = 0;
  for (let i = 0; i < pat.length; i++) {
    const c = pat[i]!;
    if (c === '%' && i + 1 < pat.length) {
      const n = pat[++i];
      out += n === 's' ? (args[k++] ?? '') : n;
    } else out += c;
  }
  return out;
}

const sortedPatterns = (m: ReadonlyMap<string, Entry>) => [...m].sort((a, b) => cmpText(a[0], b[0]));

function expandPatterns(m: ReadonlyMap<string, Entry>): string[] {
  const out: string[] = [];
  for (const [pat, e] of sortedPatterns(m)) {
    if (e === null) out.push(format(pat, []));
    else if (e instanceof RangeSet) for (const x of e.sorted()) out.push(format(pat, [x]));
    else for (const p of e.points()) out.push(format(pat, p));
  }
  return out;
}

function foldPatterns(m: ReadonlyMap<string, Entry>): string {
  const out: string[] = [];
  const axis = (r: RangeSet) => (r.size > 1 ? `[${r.toString()}]` : r.toString());
  for (const [pat, e] of sortedPatterns(m)) {
    if (e === null) out.push(format(pat, []));
    else if (e instanceof RangeSet) out.push(format(pat, [axis(e)]));
    else for (const vec of e.vectors()) out.push(format(pat, vec.map(axis)));
  }
  return out.join(',');
}

const escapePct = (s: string) => s.replace(/%/g, '%%');
const OPS = new Set([',', '!', '&', '^']);

function nextOp(s: string): [number, Op | undefined] {
  for (let i = 0; i < s.length; i++) if (OPS.has(s[i]!)) return [i, s[i] as Op];
  return [-1, undefined];
}

/**
 * A name without brackets: every run of digits is an index (`r1n12` → pattern `r%sn%s`, indexes
 * 1 and 12, padding kept as written).
 */
function scanSingle(text: string, expr: string, pos: number): { pat: string; rsets: RangeSet[] } {
  if (text === '') throw new NodeSetSyntaxError(expr, pos, 'parse error');
  let pat = '';
  const rsets: RangeSet[] = [];
  const re = /([^0-9]*)([0-9]*)/y;
  let i = 0;
  while (i < text.length) {
    re.lastIndex = i;
    const m = re.exec(text)!;
    const [all, pfx = '', idx = ''] = m;
    i += all.length;
    pat += escapePct(pfx);
    if (idx !== '') {
      if (BigInt(idx) > 10n ** 100n) throw new NodeSetSyntaxError(expr, pos, `invalid rangeset index "${idx}"`);
      pat += '%s';
      rsets.push(RangeSet.of(idx));
    }
  }
  return { pat, rsets };
}

function parseRange(text: string, expr: string, pos: number): RangeSet {
  try {
    return RangeSet.parse(text);
  } catch (err) {
    if (err instanceof RangeParseError) throw new NodeSetSyntaxError(expr, pos, `bad range: ${err.why} "${err.part}"`);
    if (err instanceof RangeSizeError) throw new NodeSetSizeError(expr, pos, err.count);
    throw err;
  }
}

/** Digits right after `]` join the range (`[1-2]0` is 10 and 20, as `[10-20/10]`). */
function amendTrailing(outer: string, inner: string, expr: string, pos: number): [string, string] {
  const stripped = outer.replace(/^[0-9]+/, '');
  if (stripped.length === outer.length) return [outer, inner];
  if (inner.includes('/')) throw new NodeSetSyntaxError(expr, pos, 'illegal trailing digits after range with steps');
  const digits = outer.slice(0, outer.length - stripped.length);
  const amended = inner.split(',').map((elem) => {
    const shifted = elem
      .split('-')
      .map((b) => b + digits)
      .join('-');
    return shifted.includes('-') ? `${shifted}/1${'0'.repeat(digits.length)}` : shifted;
  });
  return [stripped, amended.join(',')];
}

/** Digits right before `[` join the range (`mw1[001-003]` is mw[1001-1003]). */
function amendLeading(outer: string, inner: string, expr: string, pos: number): [string, string] {
  const stripped = outer.replace(/[0-9]+$/, '');
  if (stripped.length === outer.length) return [outer, inner];
  const digits = outer.slice(stripped.length);
  const runs = parseRange(inner, expr, pos).runs();
  const amended = runs.map((r) => {
    const s = r.start === r.stop ? padNum(r.start, r.pad) : `${padNum(r.start, r.pad)}-${padNum(r.stop, r.pad)}`;
    return s
      .split('-')
      .map((b) => digits + b)
      .join('-');
  });
  return [stripped, amended.join(',')];
}

/**
 * `@conftool:` takes a conftool selector as its group name: tag=regex items joined by commas
 * (a comma inside {m,n} or brackets belongs to the regex). It ends at whitespace, at `!`, `&`,
 * `^`, or at a comma not followed by `tag=`.
 */
function conftoolSelectorEnd(s: string, from: number): number {
  let depth = 0;
  let i = from;
  for (; i < s.length; i++) {
    const c = s[i]!;
    if (c === '{' || c === '(' || c === '[') depth++;
    else if ((c === '}' || c === ')' || c === ']') && depth > 0) depth--;
    else if (depth === 0) {
      if (/\s/.test(c) || c === '!' || c === '&' || c === '^') break;
      if (c === ',' && !/^\s*[A-Za-z_]+\s*=/.test(s.slice(i + 1))) break;
    }
  }
  return i;
}

/** ClusterShell's string scanner: the expression as a list of (operator, pattern, index sets). */
function scan(expr: string): Item[] {
  const items: Item[] = [];
  let lead = 0;
  while (lead < expr.length && pyLstrip(expr.slice(lead, lead + 1)) === '') lead++;
  let rest: string | undefined = pyStrip(expr);
  let restPos = lead;
  let next: Op | undefined = ',';
  while (rest) {
    const l = pyLstrip(rest);
    restPos += rest.length - l.length;
    rest = l;
    const op: Op = next ?? ',';
    const rsets: RangeSet[] = [];
    const itemPos = restPos;

    if (rest.startsWith(CONFTOOL_PREFIX)) {
      const end = conftoolSelectorEnd(rest, CONFTOOL_PREFIX.length);
      const name = rest.slice(0, end);
      const after = pyLstrip(rest.slice(end));
      const afterPos = restPos + rest.length - after.length;
      if (after === '') {
        rest = undefined;
        next = undefined;
      } else if (OPS.has(after[0]!)) {
        next = after[0] as Op;
        rest = after.slice(1);
        if (!rest) throw new NodeSetSyntaxError(expr, afterPos, `missing nodeset operand with '${next}' operator`);
        restPos = afterPos + 1;
      } else {
        throw new NodeSetSyntaxError(expr, afterPos, `unexpected text after the conftool selector '${name}'`);
      }
      items.push({ op, pat: escapePct(name), rsets: [], pos: itemPos });
      continue;
    }

    let [opIdx, nop] = nextOp(rest);
    let bIdx = rest.indexOf('[');
    let pat = '';
    if (bIdx >= 0 && (opIdx > bIdx || opIdx < 0)) {
      let sfx = rest;
      let sfxPos = restPos;
      while (bIdx >= 0 && (opIdx > bIdx || opIdx < 0)) {
        const ob = sfx.indexOf('[');
        let pfx = sfx.slice(0, ob);
        const pfxPos = sfxPos;
        const after = sfx.slice(ob + 1);
        const cb = after.indexOf(']');
        if (cb < 0) throw new NodeSetSyntaxError(expr, sfxPos + ob, 'missing bracket');
        let rng = after.slice(0, cb);
        const rngPos = sfxPos + ob + 1;
        sfx = after.slice(cb + 1);
        sfxPos = rngPos + cb + 1;
        if (pfx.includes(']')) throw new NodeSetSyntaxError(expr, pfxPos + pfx.indexOf(']'), 'illegal closing bracket');
        if (sfx.length > 0) {
          const braEnd = sfx.indexOf(']');
          let braStart = sfx.indexOf('[');
          if (braStart === -1) braStart = braEnd + 1;
          if (braEnd >= 0 && braEnd < braStart) throw new NodeSetSyntaxError(expr, sfxPos + braEnd, 'illegal closing bracket');
        }
        if (sfx.length > 0) {
          const before = sfx.length;
          [sfx, rng] = amendTrailing(sfx, rng, expr, sfxPos);
          sfxPos += before - sfx.length;
        }
        let pfxPat = '';
        if (pfx.length > 0) {
          [pfx, rng] = amendLeading(pfx, rng, expr, rngPos);
          if (pfx) {
            const single = scanSingle(pfx, expr, pfxPos);
            pfxPat = single.pat;
            rsets.push(...single.rsets);
          }
        }
        bIdx = sfx.indexOf('[');
        [opIdx, nop] = nextOp(sfx);
        if (sfx.length > 0 && sfx[0] === '[') throw new NodeSetSyntaxError(expr, sfxPos, 'illegal reopening bracket');
        pat += `${pfxPat}%s`;
        rsets.push(parseRange(rng, expr, rngPos));
      }
      [opIdx, nop] = nextOp(sfx);
      if (opIdx < 0) rest = undefined;
      else {
        rest = sfx.slice(opIdx + 1);
        restPos = sfxPos + opIdx + 1;
        sfx = sfx.slice(0, opIdx);
        if (!rest) throw new NodeSetSyntaxError(expr, sfxPos + opIdx, `missing nodeset operand with '${nop}' operator`);
      }
      sfx = pyRstrip(sfx);
      if (sfx) {
        const single = scanSingle(sfx, expr, sfxPos);
        pat += single.pat;
        rsets.push(...single.rsets);
      }
    } else {
      let node: string;
      if (opIdx < 0) {
        node = rest;
        rest = undefined;
      } else {
        node = rest.slice(0, opIdx);
        rest = rest.slice(opIdx + 1);
        if (!node || !rest) throw new NodeSetSyntaxError(expr, restPos + opIdx, `missing nodeset operand with '${nop}' operator`);
        restPos += opIdx + 1;
      }
      if (node.includes(']')) throw new NodeSetSyntaxError(expr, itemPos + node.indexOf(']'), 'illegal closing bracket');
      const single = scanSingle(pyRstrip(node), expr, itemPos);
      pat = single.pat;
      rsets.push(...single.rsets);
    }
    next = nop;
    items.push({ op, pat, rsets, pos: itemPos });
  }
  return items;
}

interface EvalCtx {
  namespace: string | undefined;
  /** False while the wildcard's reference set (all nodes) is being built: no wildcards inside it. */
  wildcards: boolean;
  depth: number;
  resolver: boolean;
  allNodes?: Set<string> | undefined;
}

/** fnmatch with `*` and `?` (brackets were already taken as ranges). */
function wildcardRegex(mask: string): RegExp {
  const body = [...mask].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`, 's');
}

/**
 * Evaluate an expression left to right. Group and wildcard look-ups are yielded to the caller
 * (sync parse refuses them, NodeSet.resolve awaits the resolver) and answered through next().
 */
function* evaluate(expr: string, ctx: EvalCtx): Generator<Lookup, Patterns, string[]> {
  const acc = new Patterns();
  let items: Item[];
  try {
    items = scan(expr);
  } catch (err) {
    if (err instanceof RangeSizeError) throw new NodeSetSizeError(expr, 0, err.count);
    throw err;
  }
  for (const it of items) {
    try {
      if (it.pat.startsWith('@')) {
        if (ctx.depth >= MAX_GROUP_DEPTH) {
          throw new NodeSetGroupError(
            expr,
            `groups nested more than ${MAX_GROUP_DEPTH} deep (a group that includes itself?)`,
            'check the group definitions',
          );
        }
        const group = new Patterns();
        for (const name of expandPatterns(itemMap(it))) {
          const body = name.slice(1);
          let ns = ctx.namespace;
          let g = body;
          const colon = body.indexOf(':');
          if (colon >= 0) {
            ns = body.slice(0, colon);
            g = body.slice(colon + 1);
          }
          let members: string[];
          if (g === '*') members = yield { kind: 'all', source: ns };
          else if (g.startsWith('@')) members = yield* groupNames(body.slice(1));
          else members = yield { kind: 'map', group: g, source: ns };
          const text = members.join(',');
          if (text) group.update(yield* evaluate(text, { ...ctx, namespace: ns, depth: ctx.depth + 1, allNodes: undefined }));
        }
        acc.combine(it.op, group.map);
      } else if (ctx.wildcards && (it.pat.includes('*') || it.pat.includes('?'))) {
        if (!ctx.allNodes) {
          const all = new Patterns();
          const res: string[] = yield { kind: 'all', source: ctx.namespace };
          for (const r of res) all.update(yield* evaluate(r, { ...ctx, wildcards: false, depth: ctx.depth + 1, allNodes: undefined }));
          ctx.allNodes = new Set(expandPatterns(all.map));
        }
        const pool = new Set(ctx.allNodes);
        const wc = new Patterns();
        for (const mask of expandPatterns(itemMap(it))) {
          const re = wildcardRegex(mask);
          for (const node of [...pool]) {
            if (!re.test(node)) continue;
            pool.delete(node);
            const s = scanSingle(node, node, 0);
            wc.apply(',', s.pat, s.rsets);
          }
        }
        acc.combine(it.op, wc.map);
      } else {
        acc.apply(it.op, it.pat, it.rsets);
      }
    } catch (err) {
      if (err instanceof RangeSizeError) throw new NodeSetSizeError(expr, it.pos, err.count);
      throw err;
    }
  }
  return acc;
}

function itemMap(it: Item): Map<string, Entry> {
  const p = new Patterns();
  p.apply(',', it.pat, it.rsets);
  return p.map;
}

/** `@@source`: the group names of a source, each scanned as a node set (so `web[1-2]` names two groups). */
function* groupNames(source: string): Generator<Lookup, string[], string[]> {
  const names: string[] = yield { kind: 'list', source: source === '' ? undefined : source };
  const acc = new Patterns();
  for (const n of names) {
    for (const it of scan(pyStrip(n))) acc.apply(it.op, it.pat, it.rsets);
  }
  return expandPatterns(acc.map);
}
