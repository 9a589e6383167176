/**
 * Cookbook arguments through yargs: the cookbook's declarative options plus the runner's
 * --reason/--task-id; `key=value` positionals are accepted as `--key=value`.
 */
import yargs from 'yargs';
import type { Argv, Options } from 'yargs';
import {
  type AnyCookbook,
  type ArgSpec,
  ArgsError,
  argvShape,
  checkReason,
  checkTaskId,
  cookbookArgSpec,
  normalizeArgv,
  type ParsedCookbookArgs,
  resolveLockSpec,
} from '@galley/core';

/** The spec without galley's own `secret` marker (yargs has no such option). */
function yargsOptions(spec: ArgSpec): Record<string, Options> {
  const out: Record<string, Options> = {};
  for (const [k, o] of Object.entries(spec)) {
    const copy: Options & { secret?: boolean } = { ...o };
    delete copy.secret;
    out[k] = copy;
  }
  return out;
}

function build(name: string, c: AnyCookbook, argv: readonly string[], owner: string): Argv {
  const spec = cookbookArgSpec(c);
  const { flags, valued } = argvShape(spec);
  return yargs(normalizeArgv(argv, flags, valued))
    .scriptName(`cookbook [GLOBAL_ARGS] ${name}`)
    .usage(`$0 [ARGS]\n\n${c.title}`)
    .options(yargsOptions(spec))
    .strict()
    .strictOptions()
    .version(false)
    .help(false)
    .wrap(Math.min(120, process.stdout.columns || 100))
    .exitProcess(false)
    .parserConfiguration({ 'camel-case-expansion': false })
    .epilog(`Cookbook owner team: ${owner}`)
    .fail((msg, err) => {
      throw new ArgsError(name, (msg || err?.message || 'invalid arguments').replace(/\n\s*/g, ' '));
    });
}

/** Throws ArgsError (→ 96) for bad input; anything else thrown means the parser itself failed (→ 95). */
export async function parseCookbookArgs(name: string, c: AnyCookbook, argv: readonly string[], owner = 'unowned'): Promise<ParsedCookbookArgs> {
  const y = build(name, c, argv, owner);
  const parsed = (await y.parseAsync()) as Record<string, unknown> & { _: (string | number)[] };
  if (parsed._.length > 0) {
    throw new ArgsError(name, `unexpected positional argument(s): ${parsed._.join(' ')}; use key=value or --key value`);
  }
  const spec = (c.args ?? {}) as ArgSpec;
  const args: Record<string, unknown> = {};
  for (const [key, opt] of Object.entries(spec)) {
    const v = parsed[key];
    if (opt.type === 'number' && v !== undefined) {
      for (const n of Array.isArray(v) ? (v as unknown[]) : [v]) {
        if (typeof n !== 'number' || Number.isNaN(n)) throw new ArgsError(name, `argument ${key}: invalid value, expected a number`);
      }
    }
    if (v !== undefined) args[key] = v;
  }
  return {
    args,
    reason: c.reason ? checkReason(name, parsed.reason) : undefined,
    taskId: c.task ? checkTaskId(name, parsed['task-id']) : undefined,
  };
}

/** `cookbook NAME --help`: title, owner, arguments with defaults, lock spec. */
export async function cookbookHelp(name: string, c: AnyCookbook, owner: string): Promise<string> {
  const y = build(name, c, [], owner);
  const text = await y.getHelp();
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
