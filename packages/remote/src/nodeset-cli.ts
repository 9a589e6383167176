import yargs from 'yargs';
import { formatError, isConfigNotFoundError, isGalleyError, UsageError } from '@galley/errors';
import { Groups, needLoader, type RemoteConfigLoader } from './groups.js';
import { NodeSet } from './nodeset.js';

export interface NodesetResult {
  exitCode: number;
  stdout: string[];
  stderr: string[];
}

export interface NodesetDeps {
  /** Standard input, read when no expression is given (as `nodeset` does). */
  readStdin?: () => Promise<string>;
  /** Tests inject the groups; normal runs build them from the config. */
  groups?: Groups;
  /** Read the config file (--config, else the search) for its groups; the binary passes @galley/config's loader. */
  loadConfig?: RemoteConfigLoader;
}

const USAGE =
  'galley-nodeset -e|-f|-c [--config FILE] [-s SOURCE] [--] EXPRESSION...\n\n' +
  "ClusterShell's nodeset on galley's host sets: expand (-e), fold (-f) or count (-c) the union of the\n" +
  'EXPRESSIONs (read from stdin when there are none). @group and @source:group come from the groups:\n' +
  'section of the galley config, @conftool:dc=…,cluster=… from conftool. Exit 0, or 1 with the error on stderr.';

// Python's str.splitlines: `nodeset` takes each line of an argument as its own expression.
const LINE_BREAKS = new Set(['\n', '\r', '\v', '\f', '\u001c', '\u001d', '\u001e', '\u0085', '\u2028', '\u2029']);
function splitLines(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (!LINE_BREAKS.has(c)) {
      cur += c;
      continue;
    }
    if (c === '\r' && s[i + 1] === '\n') i++;
    out.push(cur);
    cur = '';
  }
  if (cur !== '') out.push(cur);
  return out;
}

/** `galley-nodeset`: returns what to print and the exit code (bin prints it). */
export async function runNodeset(argv: string[], deps: NodesetDeps = {}): Promise<NodesetResult> {
  const res: NodesetResult = { exitCode: 0, stdout: [], stderr: [] };
  let groups: Groups | undefined;
  try {
    const capture: string[] = [];
    const origLog = console.log;
    let args;
    try {
      console.log = (...a: unknown[]) => capture.push(a.map(String).join(' '));
      args = yargs(argv)
        .scriptName('galley-nodeset')
        .usage(USAGE)
        .parserConfiguration({ 'parse-positional-numbers': false, 'unknown-options-as-args': false })
        .option('expand', { alias: 'e', type: 'boolean', describe: 'print the hosts, space-separated' })
        .option('fold', { alias: 'f', type: 'boolean', describe: 'print the folded expression' })
        .option('count', { alias: 'c', type: 'boolean', describe: 'print the number of hosts' })
        .option('separator', { alias: 'S', type: 'string', default: ' ', describe: 'separator for -e' })
        .option('groupsource', { alias: 's', type: 'string', describe: 'group source used by @group without source:' })
        .option('config', {
          type: 'string',
          describe: 'galley config file for the groups: section (default: the usual search; none is fine)',
        })
        .strictOptions()
        .exitProcess(false)
        .help()
        .version(false)
        .fail((msg, err) => {
          throw err ?? new UsageError('ERR_REMOTE_NODESET_USAGE', msg, { hint: 'see galley-nodeset --help' });
        })
        .parseSync();
    } finally {
      console.log = origLog;
    }
    if (capture.length > 0) return { exitCode: 0, stdout: capture, stderr: [] };
    const commands = [args.expand, args.fold, args.count].filter(Boolean).length;
    if (commands !== 1) {
      throw new UsageError('ERR_REMOTE_NODESET_USAGE', commands === 0 ? 'no command given' : 'only one of -e, -f, -c may be given', {
        hint: 'galley-nodeset -e EXPR (expand), -f EXPR (fold) or -c EXPR (count)',
      });
    }
    let exprs = args._.map(String).flatMap(splitLines);
    if (args._.length === 0) {
      // as nodeset reads stdin: whitespace-separated expressions, '#' starts a comment
      const text = deps.readStdin ? await deps.readStdin() : '';
      exprs = text
        .split('\n')
        .flatMap((l) => (l.includes('#') ? l.slice(0, l.indexOf('#')) : l).split(/\s+/))
        .filter((w) => w !== '');
    }
    // A plain expression needs no groups: the config (cosmiconfig + its zod schema, ~100 ms) is read
    // only when one names a group or a wildcard (@, *, ?), -s names a source, or --config asks for it.
    const wantsGroups = args.config !== undefined || args.groupsource !== undefined || exprs.some((e) => /[@*?]/.test(e));
    groups = deps.groups ?? (wantsGroups ? await groupsFromConfig(deps.loadConfig, args.config) : new Groups(undefined));
    if (args.groupsource !== undefined) groups.setDefault(args.groupsource);
    const ns = await NodeSet.resolve(exprs, groups);
    if (args.expand) res.stdout.push(ns.hosts().join(args.separator));
    else if (args.fold) res.stdout.push(ns.toString());
    else res.stdout.push(String(ns.size));
  } catch (err) {
    res.stderr.push(formatError(err));
    res.exitCode = 1;
    if (!isGalleyError(err)) res.stderr.push('(this is a bug in galley-nodeset)');
  } finally {
    await groups?.close();
  }
  return res;
}

/** The config's groups when there is a config; without one, only plain expressions work. */
async function groupsFromConfig(load: RemoteConfigLoader | undefined, file: string | undefined): Promise<Groups> {
  try {
    return Groups.fromConfig(await needLoader(load, 'galley-nodeset')({ file }));
  } catch (err) {
    if (file === undefined && isConfigNotFoundError(err)) return new Groups(undefined);
    throw err;
  }
}
