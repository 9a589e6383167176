/**
 * Argument helpers shared by the CLI's yargs parser and the test harness: `key=value` positionals
 * (the way SREs type them) become `--key=value`, and the runner's own `--reason`/`--task-id` checks.
 */
import type { AnyCookbook, ArgOption, ArgSpec } from './cookbook.js';
import { editDistance } from './discovery.js';
import { type ArgProblem, ArgsError, ArgSpecError } from './errors.js';

const KV = /^([A-Za-z][\w-]*)=(.*)$/s;

/**
 * `cluster=jobrunner` → `--cluster=jobrunner`; `reason=…`/`task=…` map to the runner's flags.
 * `flags`: boolean option names (a bare word naming one is that flag). `valued`: option names and
 * aliases that take a value: the word after `--name`/`-a` is that value and is kept as typed, even
 * when it looks like `key=value` (`--select dc=eqiad,cluster=x`, `-r note=…`).
 */
export function normalizeArgv(
  argv: readonly string[],
  flags: ReadonlySet<string> = new Set(),
  valued: ReadonlySet<string> = new Set(),
): string[] {
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
    spec.reason = {
      alias: 'r',
      type: 'string',
      demandOption: c.reason === 'required',
      describe: 'why: logged and announced (no double quotes)',
    };
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

/** Arguments after validation: the cookbook's own, and the runner's reason and task id. */
export interface ParsedCookbookArgs {
  args: Record<string, unknown>;
  reason?: string | undefined;
  taskId?: string | undefined;
}

function reasonProblem(reason: unknown): string | undefined {
  if (typeof reason !== 'string' || reason.trim() === '') return 'argument --reason: must be a non-empty string';
  if (reason.includes('"')) return 'argument --reason: must not contain double quotes (")';
  return undefined;
}

function taskIdProblem(task: unknown): string | undefined {
  if (typeof task !== 'string' || !/^T\d+$/.test(task))
    return `argument --task-id: invalid value ${JSON.stringify(task)}, expected T followed by digits (e.g. T12345)`;
  return undefined;
}

export function checkReason(name: string, reason: unknown): string | undefined {
  if (reason === undefined) return undefined;
  const p = reasonProblem(reason);
  if (p) throw new ArgsError(name, p);
  return reason as string;
}

export function checkTaskId(name: string, task: unknown): string | undefined {
  if (task === undefined) return undefined;
  const p = taskIdProblem(task);
  if (p) throw new ArgsError(name, p);
  return task as string;
}

const TYPES = new Set(['string', 'number', 'boolean', 'array']);
const NAME = /^[A-Za-z][\w-]*$/;
const isArrayOpt = (o: ArgOption) => o.type === 'array' || o.array === true;

/**
 * The cookbook's argument declaration itself, checked before any value is (a broken one is a bug in
 * the cookbook → ArgSpecError, exit 95, naming it): option names, types, aliases that collide,
 * choices, defaults of the wrong type or that fail their own check, `check` objects.
 */
export function checkArgSpec(name: string, c: AnyCookbook): void {
  const problems: string[] = [];
  const own: unknown = c.args ?? {};
  if (typeof own !== 'object' || own === null || Array.isArray(own)) {
    throw new ArgSpecError(name, [`args must be an object of options, got ${Array.isArray(own) ? 'an array' : typeof own}`]);
  }
  const spec: Record<string, unknown> = { ...(own as Record<string, unknown>) };
  for (const k of Object.keys(runnerArgSpec(c))) {
    if (Object.hasOwn(spec, k)) problems.push(`option ${k}: the runner adds it (reason:/task: on the cookbook); do not declare it in args`);
  }
  const names = new Map<string, string>();
  const claim = (n: string, owner: string) => {
    const prev = names.get(n);
    if (prev !== undefined && prev !== owner) problems.push(`option ${owner}: the name or alias ${n} is already used by option ${prev}`);
    else names.set(n, owner);
  };
  for (const [k, o] of Object.entries(runnerArgSpec(c))) for (const n of [k, ...[o.alias ?? []].flat()]) claim(n, k);
  for (const [key, raw] of Object.entries(spec)) {
    const bad = (m: string) => problems.push(`option ${key}: ${m}`);
    if (!NAME.test(key)) bad('the name must start with a letter and hold only letters, digits, - and _ (it is typed as key=value)');
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      bad(
        `must be an option object ({ type, describe, ... }), got ${Array.isArray(raw) ? 'an array' : raw === null ? 'null' : typeof raw}`,
      );
      continue;
    }
    const o = raw as ArgOption;
    claim(key, key);
    const aliases: unknown[] = [o.alias ?? []].flat();
    for (const a of aliases) {
      if (typeof a !== 'string' || !NAME.test(a)) bad(`alias ${JSON.stringify(a)} is not a valid option name`);
      else claim(a, key);
    }
    if (o.type !== undefined && !TYPES.has(o.type)) bad(`type ${JSON.stringify(o.type)} is not one of ${[...TYPES].join(', ')}`);
    if (o.choices !== undefined && (!Array.isArray(o.choices) || o.choices.length === 0)) bad('choices must be a non-empty array');
    if (
      o.check !== undefined &&
      (typeof o.check !== 'object' || o.check === null || typeof o.check.check !== 'function' || typeof o.check.accepts !== 'string')
    ) {
      bad('check must be an object { accepts: string, check(value, name) }');
      continue;
    }
    if (o.requires !== undefined && (typeof o.requires !== 'string' || !Object.hasOwn(spec, o.requires) || o.requires === key)) {
      bad(`requires ${JSON.stringify(o.requires)}, which is not another option of this cookbook`);
    }
    if (o.demandOption && o.default !== undefined) bad('is both required (demandOption) and has a default; pick one');
    if (o.default !== undefined) {
      const defaults: unknown[] = isArrayOpt(o) && Array.isArray(o.default) ? o.default : [o.default];
      for (const d of defaults) {
        const p = valueProblem(key, o, d);
        if (p) bad(`its default ${JSON.stringify(d)} is not valid: ${p}`);
      }
    }
  }
  if (problems.length) throw new ArgSpecError(name, problems);
}

/** The type, choices and check of one value; undefined when fine. Returns the converted value via `out`. */
function valueProblem(key: string, o: ArgOption, v: unknown, out?: { value: unknown }): string | undefined {
  let value = v;
  const shown = `${key}=${typeof v === 'string' ? v : JSON.stringify(v)}`;
  if (o.type === 'number') {
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    if (!Number.isFinite(n)) return `${shown}: expected a number`;
    value = n;
  } else if (o.type === 'boolean') {
    if (v === 'true' || v === 'false') value = v === 'true';
    else if (typeof v !== 'boolean') return `${shown}: expected true or false`;
  } else if (typeof v === 'number' || typeof v === 'boolean') {
    value = String(v);
  }
  const choices = o.choices as readonly unknown[] | undefined;
  if (Array.isArray(choices) && !choices.includes(value)) {
    return `argument ${key}: invalid value ${JSON.stringify(value)}, accepted values: ${choices.map((x) => JSON.stringify(x)).join(', ')}`;
  }
  const p = o.check?.check(value, key);
  if (p) return p;
  if (out) out.value = value;
  return undefined;
}

/** A secret option's value never appears in a problem text (it ends up in the audit log). */
function hideSecret(text: string, value: unknown): string {
  const s = typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);
  return s === '' ? text : text.split(s).join('***');
}

/**
 * The one argument check, for the CLI (after yargs has only split the argv into values) and the
 * test harness alike: unknown names, positionals, repeats, required ones, types, choices, each
 * option's `check`, the runner's reason and task id. Every problem is collected; any problem →
 * ArgsError (exit 96) listing them all. `values` are keyed by option name (aliases resolved).
 */
export function validateCookbookArgs(
  name: string,
  c: AnyCookbook,
  values: Record<string, unknown>,
  positionals: readonly string[] = [],
): ParsedCookbookArgs {
  checkArgSpec(name, c);
  const spec = cookbookArgSpec(c);
  const isSecret = secretTest(spec);
  const problems: ArgProblem[] = [];
  for (const p of positionals) {
    problems.push({ kind: 'positional', message: `unexpected positional argument ${JSON.stringify(p)}; use key=value or --key value` });
  }
  for (const key of Object.keys(values)) {
    if (!Object.hasOwn(spec, key))
      problems.push({
        arg: key,
        kind: 'unknown',
        message: `unknown argument ${key}; accepted: ${Object.keys(spec).join(', ') || '(none)'}`,
      });
  }
  const out: Record<string, unknown> = {};
  for (const [key, o] of Object.entries(spec)) {
    let v = values[key];
    if (v === undefined) {
      if (o.demandOption)
        problems.push({ arg: key, kind: 'missing', message: `missing required argument ${key}${o.describe ? ` (${o.describe})` : ''}` });
      else if (o.default !== undefined) out[key] = o.default;
      continue;
    }
    if (Array.isArray(v) && !isArrayOpt(o)) {
      const shownValues = isSecret(key) ? v.map(() => '***') : v.map((x) => String(x));
      problems.push({ arg: key, kind: 'repeated', message: `${key} given ${v.length} times (${shownValues.join(', ')}); give it once` });
      continue;
    }
    if (isArrayOpt(o) && !Array.isArray(v)) v = [v];
    const items = isArrayOpt(o) ? (v as unknown[]) : [v];
    const converted: unknown[] = [];
    for (const item of items) {
      const box = { value: item };
      const p = valueProblem(key, o, item, box);
      if (p) {
        const kind: ArgProblem['kind'] =
          o.choices !== undefined && p.includes('accepted values')
            ? 'choice'
            : /: expected (a number|true or false)$/.test(p)
              ? 'type'
              : 'invalid';
        problems.push({ arg: key, kind, message: isSecret(key) ? hideSecret(p, item) : p });
      } else converted.push(box.value);
    }
    out[key] = isArrayOpt(o) ? converted : converted[0];
  }
  // An option that only means something next to another is an error alone: the operator believes it applies.
  for (const [key, o] of Object.entries(spec)) {
    if (o.requires === undefined || values[key] === undefined || values[o.requires] !== undefined) continue;
    const shown = isSecret(key) ? '***' : JSON.stringify(values[key]).replace(/^"|"$/g, '');
    problems.push({
      arg: key,
      kind: 'requires',
      message: `${key}=${shown} has no effect without ${o.requires}; give ${o.requires} too, or drop ${key}`,
    });
  }
  for (const [key, problem] of [
    ['reason', reasonProblem],
    ['task-id', taskIdProblem],
  ] as const) {
    if (out[key] === undefined || !Object.hasOwn(spec, key)) continue;
    const p = problem(out[key]);
    if (p) problems.push({ arg: key, kind: 'invalid', message: p });
  }
  if (problems.length) throw new ArgsError(name, problems);
  const { reason, 'task-id': taskId, ...args } = out;
  return {
    args,
    reason: c.reason ? (reason as string | undefined) : undefined,
    taskId: c.task ? (taskId as string | undefined) : undefined,
  };
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
    // A repeated single-valued option is kept as every value given (as yargs does), so that the
    // check reports the repeat instead of the last one silently winning.
    values[key] = prev === undefined ? v : [...(Array.isArray(prev) ? (prev as unknown[]) : [prev]), v];
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
