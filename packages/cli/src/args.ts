/**
 * Cookbook arguments: yargs only splits the argv (`key=value` positionals are accepted as
 * `--key=value`) and renders `--help`; every check is @galley/core's validateCookbookArgs, the one
 * the test harness uses too, so all problems are listed at once, before any client is built.
 */
import yargs from 'yargs';
import type { Argv, Options } from 'yargs';
import {
  type AnyCookbook,
  type ArgOption,
  type ArgSpec,
  argvShape,
  checkArgSpec,
  cookbookArgSpec,
  normalizeArgv,
  type ParsedCookbookArgs,
  resolveLockSpec,
  validateCookbookArgs,
} from '@galley/core';

/** The spec as yargs shows it in `--help`: galley's `secret` dropped, a `check` said in the description. */
function helpOptions(spec: ArgSpec): Record<string, Options> {
  const out: Record<string, Options> = {};
  for (const [k, o] of Object.entries(spec)) {
    const { secret: _secret, check, requires, ...copy }: ArgOption = { ...o };
    if (check) copy.describe = `${copy.describe ? `${copy.describe}. ` : ''}Accepts ${check.accepts}`;
    if (requires) copy.describe = `${copy.describe ? `${copy.describe}. ` : ''}Only with ${requires}`;
    out[k] = copy;
  }
  return out;
}

/**
 * The spec as the splitter sees it: names, aliases, booleans and arrays only. No types, defaults,
 * demands or choices: yargs would turn `abc` into NaN, stop at the first problem, or let the last
 * of a repeated option win; validateCookbookArgs sees what was typed and reports all of it.
 */
function splitOptions(spec: ArgSpec): Record<string, Options> {
  const out: Record<string, Options> = {};
  for (const [k, o] of Object.entries(spec)) {
    out[k] = {
      type: o.type === 'boolean' ? 'boolean' : 'string',
      ...(o.alias !== undefined ? { alias: o.alias } : {}),
      ...(o.type === 'array' || o.array ? { array: true } : {}),
    };
  }
  return out;
}

function base(name: string, c: AnyCookbook, argv: readonly string[], owner: string): Argv {
  return yargs([...argv])
    .scriptName(`cookbook [GLOBAL_ARGS] ${name}`)
    .usage(`$0 [ARGS]\n\n${c.title}`)
    .version(false)
    .help(false)
    .wrap(Math.min(120, process.stdout.columns || 100))
    .exitProcess(false)
    .parserConfiguration({
      'camel-case-expansion': false,
      'parse-numbers': false,
      'parse-positional-numbers': false,
      'boolean-negation': true,
    })
    .epilog(`Cookbook owner team: ${owner}`);
}

/**
 * Throws ArgsError (→ 96) listing every problem of the input, ArgSpecError (→ 95) for a broken
 * declaration; anything else thrown means the parser itself failed (→ 95).
 */
export async function parseCookbookArgs(
  name: string,
  c: AnyCookbook,
  argv: readonly string[],
  owner = 'unowned',
): Promise<ParsedCookbookArgs> {
  checkArgSpec(name, c);
  const spec = cookbookArgSpec(c);
  const { flags, valued } = argvShape(spec);
  const parsed = (await base(name, c, normalizeArgv(argv, flags, valued), owner)
    .options(splitOptions(spec))
    .parseAsync()) as Record<string, unknown> & {
    _: (string | number)[];
  };
  // yargs lists every alias under its own key too: keep the canonical names (and unknown ones).
  const aliases = new Set(Object.values(spec).flatMap((o) => [o.alias ?? []].flat()));
  const values: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (k === '_' || k === '$0' || aliases.has(k) || v === undefined) continue;
    values[k] = v;
  }
  return validateCookbookArgs(name, c, values, parsed._.map(String));
}

/** `cookbook NAME --help`: title, owner, arguments with defaults and what each accepts, lock spec. */
export async function cookbookHelp(name: string, c: AnyCookbook, owner: string): Promise<string> {
  checkArgSpec(name, c);
  const text = await base(name, c, [], owner)
    .options(helpOptions(cookbookArgSpec(c)))
    .getHelp();
  let lock: string;
  if (typeof c.lock === 'function') {
    lock = 'derived from the arguments';
    try {
      const probe = resolveLockSpec({ ...c, lock: undefined }, {});
      lock += ` (defaults: concurrency ${probe.concurrency}, ttl ${probe.ttlSeconds}s)`;
    } catch {
      // keep the short form
    }
  } else {
    const s = resolveLockSpec(c, {});
    lock = `cookbooks/${name}${s.suffix ? `:${s.suffix}` : ''}, concurrency ${s.concurrency}, ttl ${s.ttlSeconds}s`;
  }
  return `${text}\nLock: ${lock}; plus a per-host lock on every host the run acts on.`;
}
