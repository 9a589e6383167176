import { InvalidValueError } from './errors.js';
import { POOLED_VALUES, type Change, type ConftoolNode, type NodeTags, type NodeValues, type Pooled } from './types.js';

export const NODE_DEFAULTS: NodeValues = { pooled: 'inactive', weight: 0 };

function problemWith(field: 'pooled' | 'weight', v: unknown): string | undefined {
  if (field === 'pooled') {
    return typeof v === 'string' && (POOLED_VALUES as readonly string[]).includes(v)
      ? undefined
      : `pooled must be one of ${POOLED_VALUES.join('|')}, got ${JSON.stringify(v) ?? 'nothing'}`;
  }
  return typeof v === 'number' && Number.isInteger(v) && v >= 0
    ? undefined
    : `weight must be an integer >= 0, got ${JSON.stringify(v) ?? 'nothing'}`;
}

/** Parse and validate a stored value; throws InvalidValueError naming the key. */
export function parseStored(key: string, raw: string): { values: NodeValues; extra: Record<string, unknown> } {
  let obj: unknown;
  try {
    obj = JSON.parse(raw);
  } catch {
    throw new InvalidValueError(key, raw, 'not valid JSON');
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new InvalidValueError(key, raw, 'not a JSON object');
  const { pooled, weight, ...extra } = obj as Record<string, unknown>;
  for (const [field, v] of [
    ['pooled', pooled],
    ['weight', weight],
  ] as const) {
    const p = problemWith(field, v);
    if (p) throw new InvalidValueError(key, raw, p);
  }
  return { values: { pooled: pooled as Pooled, weight: weight as number }, extra };
}

/** Validate requested changes before anything is sent. */
export function validateChanges(key: string, changes: Partial<Record<string, unknown>>): Partial<NodeValues> {
  const out: Partial<NodeValues> = {};
  for (const [field, v] of Object.entries(changes)) {
    if (v === undefined) continue;
    if (field !== 'pooled' && field !== 'weight')
      throw new InvalidValueError(key, changes, `unknown field ${field} (fields: pooled, weight)`, { onWrite: true });
    const p = problemWith(field, v);
    if (p) throw new InvalidValueError(key, changes, p, { onWrite: true });
    (out as Record<string, unknown>)[field] = v;
  }
  return out;
}

export function serialize(values: NodeValues, extra: Record<string, unknown>): string {
  return JSON.stringify({ pooled: values.pooled, weight: values.weight, ...extra });
}

export function nodeFromEntry(key: string, tags: NodeTags, raw: string, modRevision: string): ConftoolNode {
  const { values, extra } = parseStored(key, raw);
  return { key, tags, pooled: values.pooled, weight: values.weight, extra, modRevision };
}

/** `eqiad/jobrunner/nginx/mw1001.eqiad.wmnet`: how conftool names an object to humans. */
export function displayName(tags: NodeTags): string {
  return `${tags.dc}/${tags.cluster}/${tags.service}/${tags.name}`;
}

/** The field changes `want` makes to `n` (none: it already has them). */
export function diff(n: ConftoolNode, want: Partial<NodeValues>): Change[] {
  const out: Change[] = [];
  for (const f of ['pooled', 'weight'] as const) {
    if (want[f] !== undefined && n[f] !== want[f]) out.push({ key: n.key, tags: n.tags, field: f, from: n[f], to: want[f] });
  }
  return out;
}
