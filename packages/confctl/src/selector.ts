import { SelectorError } from './errors.js';
import type { NodeTags, Selector } from './types.js';

export const TAGS = ['dc', 'cluster', 'service', 'name'] as const;
export type Tag = (typeof TAGS)[number];

export type Matcher = (tags: NodeTags) => boolean;

/**
 * Compile a selector. Each value is wrapped as `^(?:expr)$` so that `a|b` means exactly a or b —
 * Spicerack's `^a|b$` turns alternations into prefix matches.
 */
export function compileSelector(sel: Selector): Matcher {
  const tests: [Tag, RegExp][] = [];
  for (const tag of TAGS) {
    const expr = sel[tag];
    if (expr === undefined) continue;
    try {
      tests.push([tag, new RegExp(`^(?:${expr})$`)]);
    } catch (err) {
      throw new SelectorError(`invalid regex for ${tag}: ${expr} (${(err as Error).message})`);
    }
  }
  return (tags) => tests.every(([tag, re]) => re.test(tags[tag]));
}

const LITERAL = /^[A-Za-z0-9_-]+$/;

/**
 * The longest key path the selector pins down exactly (dc, then cluster, then service), so that a
 * select on one cluster reads only that subtree — still one range read.
 */
export function literalPath(sel: Selector): string[] {
  const out: string[] = [];
  for (const tag of ['dc', 'cluster', 'service'] as const) {
    const v = sel[tag];
    if (v === undefined || !LITERAL.test(v)) break;
    out.push(v);
  }
  return out;
}

/** Parse the CLI form `dc=eqiad,cluster=jobrunner,name=mw10.*`. */
export function parseSelector(text: string): Selector {
  const sel: Selector = {};
  if (text.trim() === '') throw new SelectorError('empty selector');
  // Values are regexes and may contain commas inside {m,n}; split only on ",tag=".
  const parts = text.split(/,(?=\s*(?:dc|cluster|service|name)\s*=)/);
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new SelectorError(`selector part "${part}" is not tag=regex`);
    const tag = part.slice(0, eq).trim();
    const value = part.slice(eq + 1);
    if (!(TAGS as readonly string[]).includes(tag))
      throw new SelectorError(`unknown tag "${tag}" in selector "${text}" (tags: ${TAGS.join(', ')})`);
    if (sel[tag as Tag] !== undefined) throw new SelectorError(`tag ${tag} given twice in selector "${text}"`);
    if (value === '') throw new SelectorError(`empty value for ${tag} in selector "${text}"`);
    sel[tag as Tag] = value;
  }
  compileSelector(sel);
  return sel;
}

/** Escape a literal (e.g. an FQDN) for use as a selector value. */
export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
