/**
 * Cumin's query grammar over galley's host sets (read from cumin/grammar.py and
 * cumin/backends/direct.py): items joined by `and not`, `and`, `xor`, `or` (caseless), applied
 * strictly left to right with no precedence, parentheses for subgroups, `D{…}` for the direct
 * backend (whose own grammar is the same booleans over host expressions) and `A:alias` for the
 * aliases of the config. As Cumin does with a default backend, a bare host expression is a query
 * item too (galley's default backend is the direct one), so `mw[1001-1004].eqiad.wmnet` and
 * `D{mw[1001-1004].eqiad.wmnet} and not A:canaries` both work. Host expressions are full galley
 * NodeSet expressions (groups included).
 */
import { UsageError } from '@galley/errors';
import type { GroupResolver } from './nodeset.js';
import { NodeSet } from './nodeset.js';

export type BoolOp = 'or' | 'and' | 'and not' | 'xor';
export type QueryNode =
  { kind: 'hosts'; expr: string } | { kind: 'alias'; name: string } | { kind: 'group'; items: { op: BoolOp | null; node: QueryNode }[] };

/** A query that is neither Cumin's grammar nor a host expression. */
export class HostQueryError extends UsageError {
  constructor(query: string, position: number, why: string) {
    super('ERR_REMOTE_HOST_QUERY', `invalid host query '${query}' at position ${position + 1}: ${why}`, {
      hint: "write a host expression ('mw[1001-1004].eqiad.wmnet') or a Cumin query ('D{mw[1001-1004].eqiad.wmnet} and not D{mw1002.eqiad.wmnet}', 'A:alias or (D{a1} xor D{a2})')",
      details: { query, position },
    });
  }
}

/** An A:alias that the config does not define, or aliases that refer to each other in a loop. */
export class HostAliasError extends UsageError {
  constructor(name: string, why: string) {
    super('ERR_REMOTE_HOST_ALIAS', `alias A:${name}: ${why}`, {
      hint: 'aliases are defined under groups.aliases in the galley config (name: query)',
    });
  }
}

const IDENT = /[A-Za-z0-9_$]/;
const BOOLS: BoolOp[] = ['and not', 'and', 'xor', 'or'];

class Parser {
  i = 0;
  constructor(readonly text: string) {}

  fail(why: string, at = this.i): never {
    throw new HostQueryError(this.text, at, why);
  }

  skip(): void {
    while (this.i < this.text.length && /\s/.test(this.text[this.i]!)) this.i++;
  }

  /** A boolean keyword at the cursor (caseless, not followed by an identifier character). */
  peekBool(): { op: BoolOp; len: number } | undefined {
    const rest = this.text.slice(this.i);
    for (const op of BOOLS) {
      const re = new RegExp(`^${op.replace(' ', '\\s+')}`, 'i');
      const m = re.exec(rest);
      if (m && !IDENT.test(rest[m[0].length] ?? '')) return { op, len: m[0].length };
    }
    return undefined;
  }

  query(direct: boolean, close: string | undefined): QueryNode {
    const items: { op: BoolOp | null; node: QueryNode }[] = [{ op: null, node: this.item(direct) }];
    for (;;) {
      this.skip();
      if (this.i >= this.text.length || (close !== undefined && this.text[this.i] === close)) break;
      const b = this.peekBool();
      if (!b) this.fail(`expected one of and, or, and not, xor${close ? ` or '${close}'` : ''}`);
      this.i += b.len;
      items.push({ op: b.op, node: this.item(direct) });
    }
    return { kind: 'group', items };
  }

  item(direct: boolean): QueryNode {
    this.skip();
    const t = this.text;
    if (this.i >= t.length) this.fail('a query item is missing');
    if (t[this.i] === '(') {
      this.i++;
      const g = this.query(direct, ')');
      if (t[this.i] !== ')') this.fail("missing ')'");
      this.i++;
      return g;
    }
    if (this.peekBool()) this.fail('a boolean operator where a query item should be');
    if (!direct && /^[Dd]\{/.test(t.slice(this.i))) {
      const start = this.i + 2;
      const end = t.indexOf('}', start);
      if (end < 0) this.fail("missing '}' of D{…}");
      if (/[A-Za-z]\{/.test(t.slice(start, end))) this.fail('a backend query inside D{…}', start);
      const inner = new Parser(t.slice(start, end));
      let node: QueryNode;
      try {
        node = inner.query(true, undefined);
      } catch (err) {
        if (err instanceof HostQueryError)
          this.fail(`inside D{…}: ${err.message.replace(/^invalid host query '.*?' /, '')}`, start + inner.i);
        throw err;
      }
      this.i = end + 1;
      return node;
    }
    if (!direct) {
      const m = /^[Aa]:([A-Za-z0-9_.+-]+)/.exec(t.slice(this.i));
      if (m) {
        this.i += m[0].length;
        return { kind: 'alias', name: m[1]! };
      }
    }
    const m = /^[^\s(){}]+/.exec(t.slice(this.i));
    if (!m) this.fail(`unexpected '${t[this.i]}'`);
    this.i += m[0].length;
    return { kind: 'hosts', expr: m[0] };
  }
}

/** Parse a Cumin query (HostQueryError when it is not one). */
export function parseHostQuery(text: string): QueryNode {
  const p = new Parser(text);
  return p.query(false, undefined);
}

export interface HostQueryOptions {
  groups: GroupResolver;
  aliases?: Readonly<Record<string, string>>;
}

/**
 * The hosts a galley-exec HOSTS argument selects: a Cumin query, or else (as Cumin falls back
 * between its grammars) the whole text as one host expression, so that `mw1, mw2` still works.
 */
export async function resolveHostQuery(text: string, opts: HostQueryOptions): Promise<NodeSet> {
  let ast: QueryNode;
  try {
    ast = parseHostQuery(text);
  } catch (err) {
    // Not Cumin's grammar: a plain host expression (its own error, when it is none either,
    // unless the text used the query grammar's parentheses or braces).
    if (err instanceof HostQueryError && !/[(){}]/.test(text)) return NodeSet.resolve(text, opts.groups);
    throw err;
  }
  return evaluate(ast, opts, []);
}

async function evaluate(node: QueryNode, opts: HostQueryOptions, aliasStack: string[]): Promise<NodeSet> {
  if (node.kind === 'hosts') return NodeSet.resolve(node.expr, opts.groups);
  if (node.kind === 'alias') {
    const q = opts.aliases?.[node.name];
    if (q === undefined) throw new HostAliasError(node.name, 'no such alias in the configuration');
    if (aliasStack.includes(node.name))
      throw new HostAliasError(node.name, `the aliases refer to each other in a loop: ${[...aliasStack, node.name].join(' → ')}`);
    return evaluate(parseHostQuery(q), opts, [...aliasStack, node.name]);
  }
  // Cumin aggregates left to right: the first item is added, each next one applied with its operator.
  let acc = NodeSet.parse();
  for (const { op, node: child } of node.items) {
    const hosts = await evaluate(child, opts, aliasStack);
    acc =
      op === null || op === 'or'
        ? acc.union(hosts)
        : op === 'and'
          ? acc.intersection(hosts)
          : op === 'and not'
            ? acc.difference(hosts)
            : acc.symmetricDifference(hosts);
  }
  return acc;
}
