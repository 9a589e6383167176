/**
 * Argument helpers shared by the CLI's yargs parser and the test harness: `key=value` positionals
 * (the way SREs type them) become `--key=value`, and the runner's own `--reason`/`--task-id` checks.
 */
import type { AnyCookbook, ArgSpec } from './cookbook.js';
import { editDistance } from './discovery.js';
import { ArgsError } from './errors.js';

const KV = /^([A-Za-z][\w-]*)=(.*)$/s;

/**
 * `cluster=jobrunner` → `--cluster=jobrunner`; `reason=…`/`task=…` map to the runner's flags.
 * `flags`: boolean option names (a bare word naming one is that flag). `valued`: option names and
 * aliases that take a value: the word after `--name`/`-a` is that value and is kept as typed, even
 * when it looks like `key=value` (`--select dc=eqiad,cluster=x`, `-r note=…`).
 */
export function normalizeArgv(argv: readonly string[], flags: ReadonlySet<string> = new Set(), valued: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  let afterDashDash = false;
  let valueNext = false;
  for (const a of argv) {
    if (afterDashDash || valueNext) {
      valueNext = false;
      out.push(a);
      continue;
    }
    if (a === '--') {
      afterDashDash = true;
      out.push(a);
      continue;
    }
    const opt = /^--?([^=-][^=]*)$/.exec(a);
    if (opt && valued.has(opt[1]!)) {
      valueNext = true;
      out.push(a);
      continue;
    }
    const m = KV.exec(a);
    if (m && !a.startsWith('-')) {
      const key = m[1] === 'task' ? 'task-id' : m[1]!;
      out.push(`--${key}=${m[2]}`);
    } else if (flags.has(a)) {
      // A bare word naming a boolean option is that flag, as SREs type it: `reimage host=X os=Y new`.
      out.push(`--${a}`);
    } else {
      out.push(a);
    }
  }
  return out;
}

/** What normalizeArgv needs from a spec: boolean option names, and every name and alias that takes a value. */
export function argvShape(spec: ArgSpec): { flags: Set<string>; valued: Set<string> } {
  const flags = new Set<string>();
  const valued = new Set<string>();
  for (const [k, o] of Object.entries(spec)) {
    if (o.type === 'boolean') flags.add(k);
    else for (const n of [k, ...[o.alias ?? []].flat()]) valued.add(n);
  }
  return { flags, valued };
}

/** The options the runner adds when a cookbook asks for them (Spicerack's argument_*_required). */
export function runnerArgSpec(c: AnyCookbook): ArgSpec {
  const spec: ArgSpec = {};
  if (c.reason) {
    spec.reason = { alias: 'r', type: 'string', demandOption: c.reason === 'required', describe: 'why: logged and announced (no double quotes)' };
  }
  if (c.task) {
    spec['task-id'] = { alias: 't', type: 'string', demandOption: c.task === 'required', describe: 'Phabricator task, e.g. T12345' };
  }
  return spec;
}

/** Every option a cookbook takes: its own `args` plus the runner's (one spec for yargs, the harness and redaction). */
export function cookbookArgSpec(c: AnyCookbook): ArgSpec {
  return { ...((c.args ?? {}) as ArgSpec), ...runnerArgSpec(c) };
}

export function checkReason(name: string, reason: unknown): string | undefined {
  if (reason === undefined) return undefined;
  if (typeof reason !== 'string' || reason.trim() === '') throw new ArgsError(name, 'argument --reason: must be a non-empty string');
  if (reason.includes('"')) throw new ArgsError(name, 'argument --reason: must not contain double quotes (")');
  return reason;
}

export function checkTaskId(name: string, task: unknown): string | undefined {
  if (task === undefined) return undefined;
  if (typeof task !== 'string' || !/^T\d+$/.test(task)) {
    throw new ArgsError(name, `argument --task-id: invalid value ${JSON.stringify(task)}, expected T followed by digits (e.g. T12345)`);
  }
  return task;
}

/**
 * Validate already-parsed values against a spec (the harness's path; the CLI lets yargs do this):
 * defaults, demandOption, choices, type.
 */
export function applySpec(name: string, spec: ArgSpec, values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...values };
  const known = new Set(Object.keys(spec));
  for (const key of Object.keys(values)) {
    if (!known.has(key)) throw new ArgsError(name, `unknown argument ${key}; accepted: ${[...known].join(', ') || '(none)'}`);
  }
  for (const [key, opt] of Object.entries(spec)) {
    let v = out[key];
    if (v === undefined && opt.default !== undefined) v = out[key] = opt.default as unknown;
    if (v === undefined) {
      if (opt.demandOption) throw new ArgsError(name, `missing required argument ${key}`);
      continue;
    }
    if (opt.type === 'number' && typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) v = out[key] = Number(v);
    if (opt.type === 'boolean' && typeof v === 'string') v = out[key] = v === 'true';
    if ((opt.type === 'array' || opt.array) && !Array.isArray(v)) v = out[key] = [v];
    if (opt.type === 'number' && (typeof v !== 'number' || Number.isNaN(v))) {
      throw new ArgsError(name, `argument ${key}: invalid value ${JSON.stringify(v)}, expected a number`);
    }
    const choices = opt.choices as readonly unknown[] | undefined;
    if (choices) {
      for (const item of Array.isArray(v) ? (v as unknown[]) : [v]) {
        if (!choices.includes(item)) {
          throw new ArgsError(name, `argument ${key}: invalid value ${JSON.stringify(item)}, accepted values: ${choices.map((c) => JSON.stringify(c)).join(', ')}`);
        }
      }
    }
  }
  return out;
}

/** Minimal parser for the harness and nested runs in tests: `key=value`, `--key value`, `--key=value`, `--flag`. */
export function parseSimpleArgv(name: string, spec: ArgSpec, argv: readonly string[]): Record<string, unknown> {
  const { flags, valued } = argvShape(spec);
  const norm = normalizeArgv(argv, flags, valued);
  const values: Record<string, unknown> = {};
  const aliases = new Map<string, string>();
  for (const [k, o] of Object.entries(spec)) {
    for (const a of [o.alias ?? []].flat()) aliases.set(a, k);
  }
  const put = (k: string, v: unknown) => {
    const key = aliases.get(k) ?? k;
    const prev = values[key];
    const isArray = spec[key]?.type === 'array' || spec[key]?.array === true;
    values[key] = isArray ? [...(Array.isArray(prev) ? (prev as unknown[]) : prev === undefined ? [] : [prev]), v] : v;
  };
  for (let i = 0; i < norm.length; i++) {
    const a = norm[i]!;
    const m = /^--?([^=]+)(?:=(.*))?$/s.exec(a);
    if (!m) throw new ArgsError(name, `unexpected argument ${JSON.stringify(a)}; use key=value or --key value`);
    const key = m[1]!;
    if (m[2] !== undefined) put(key, m[2]);
    else if (spec[aliases.get(key) ?? key]?.type === 'boolean') put(key, true);
    else if (i + 1 < norm.length) put(key, norm[++i]);
    else throw new ArgsError(name, `argument ${key} needs a value`);
  }
  return values;
}

/** Argument names whose values are credentials even without `secret: true`. */
const SECRET_NAME = /(pass(word|wd|phrase)|secret|token|api[-_]?key|private[-_]?key|credential|authorization|^auth$)/i;
const REDACTED = '***';

/**
 * Whether an option name or alias of `spec` holds a secret. A name the spec does not know that is
 * one or two typos away from a secret one (`tokne=…`, `--pasword …`) is taken as that secret: the
 * run is refused for the unknown argument, but its START line and audit must not show the value.
 */
function secretTest(spec: ArgSpec): (name: string) => boolean {
  const canonical = new Map<string, string>();
  for (const [k, o] of Object.entries(spec)) for (const a of [o.alias ?? []].flat()) canonical.set(a, k);
  const secretNames = Object.keys(spec).filter((k) => spec[k]?.secret === true || SECRET_NAME.test(k));
  return (name) => {
    const key = canonical.get(name) ?? name;
    if (spec[key] !== undefined) return spec[key].secret === true || SECRET_NAME.test(key);
    if (SECRET_NAME.test(key)) return true;
    return key.length >= 4 && [...secretNames, ...SECRET_WORDS].some((s) => editDistance(key.toLowerCase(), s) <= 2);
  };
}

/** Credential words a misspelled argument name is compared with. */
const SECRET_WORDS = ['password', 'passwd', 'secret', 'token', 'api-key', 'apikey', 'private-key', 'credential'];

/** The values of the secret arguments as typed (to be redacted by value wherever they appear). */
export function secretArgvValues(argv: readonly string[], spec: ArgSpec): string[] {
  return walkArgv(argv, spec).hidden;
}

/** The values of the secret arguments once parsed (defaults included). */
export function secretArgValues(args: Record<string, unknown>, spec: ArgSpec): unknown[] {
  const isSecret = secretTest(spec);
  return Object.entries(args).flatMap(([k, v]) => (v !== undefined && isSecret(k) ? [v] : []));
}

/**
 * The argv as it may be shown and stored (audit, output, START/END lines): the value of every
 * secret argument replaced by `***`, in each form it can be typed: `token=…`, `--token=…`,
 * `--token …`, or an alias `-k …`.
 */
export function redactArgv(argv: readonly string[], spec: ArgSpec): string[] {
  return walkArgv(argv, spec).shown;
}

function walkArgv(argv: readonly string[], spec: ArgSpec): { shown: string[]; hidden: string[] } {
  const isSecret = secretTest(spec);
  const out: string[] = [];
  const hidden: string[] = [];
  let hideNext = false;
  let afterDashDash = false;
  for (const a of argv) {
    if (hideNext) {
      hideNext = false;
      hidden.push(a);
      out.push(REDACTED);
      continue;
    }
    if (afterDashDash) {
      out.push(a);
      continue;
    }
    if (a === '--') {
      afterDashDash = true;
      out.push(a);
      continue;
    }
    const m = /^(--?)?([A-Za-z][\w-]*)(=(.*))?$/s.exec(a);
    if (m && isSecret(m[2]!)) {
      if (m[3] !== undefined) {
        hidden.push(m[4]!);
        out.push(`${m[1] ?? ''}${m[2]}=${REDACTED}`);
        continue;
      }
      // `--token VALUE` / `-k VALUE`: the next word is the value (a bare `token` is a flag name)
      hideNext = m[1] !== undefined;
    }
    out.push(a);
  }
  return { shown: out, hidden };
}

/** Parsed arguments as they may be shown and stored: secret values replaced by `***`. */
export function redactArgs(args: Record<string, unknown>, spec: ArgSpec): Record<string, unknown> {
  const isSecret = secretTest(spec);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) out[k] = v !== undefined && isSecret(k) ? REDACTED : v;
  return out;
}
