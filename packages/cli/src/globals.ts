/**
 * Global options: everything before the cookbook name; everything after it belongs to the
 * cookbook. Parsed with node:util parseArgs (no load cost, unlike yargs, so that `cookbook -l`
 * stays fast); `cookbook --help` prints GLOBAL_OPTIONS.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '@galley/errors';

export interface GlobalOptions {
  config?: string | undefined;
  dryRun: boolean;
  verbose: boolean;
  noLocks: boolean;
  output: 'text' | 'json';
  yes: boolean;
  resume?: string | undefined;
  list: boolean;
  locks: boolean;
  breakLock?: string | undefined;
  pause?: string | undefined;
  continue?: string | undefined;
  report?: string | undefined;
  reportFile?: string | undefined;
  help: boolean;
  version: boolean;
  cookbook?: string | undefined;
  args: string[];
}

export const GLOBAL_OPTIONS = [
  { flags: '-c, --config FILE', describe: 'configuration file (default: cosmiconfig search for "cookbook", then /etc/galley/config.yaml)' },
  { flags: '-d, --dry-run', describe: 'real reads, recorded writes; prints the plan at the end' },
  { flags: '-v, --verbose', describe: 'with -l: show titles; otherwise also show debug lines' },
  { flags: '--no-locks', describe: 'bypass every lock (emergency only; logged loudly)' },
  { flags: '--output text|json', describe: 'json: NDJSON events on stdout, human output on stderr' },
  { flags: '-y, --yes', describe: 'answer yes to confirmations (needed without a TTY)' },
  { flags: '--resume RUN_ID', describe: 'run the cookbook again with the journal of an earlier run of it' },
  { flags: '-l, --list [PREFIX]', describe: 'print the cookbook tree (owners; titles with -v), filtered by a dotted prefix' },
  { flags: '--locks [PREFIX]', describe: 'list current lock holders' },
  { flags: '--break-lock KEY', describe: 'remove one lock holder (asks for confirmation)' },
  { flags: '--pause RUN_ID', describe: 'pause a running run at its next safe point (it keeps its locks); from any terminal' },
  { flags: '--continue RUN_ID', describe: 'let a paused run go on' },
  { flags: '--report RUN_ID', describe: 'write a picture of a run (one self-contained HTML file) from its audit log and journal' },
  { flags: '--report-file FILE', describe: 'with --report: where to write it (default: ./galley-run-RUN_ID.html)' },
  { flags: '-h, --help', describe: 'this help; `cookbook NAME --help` for a cookbook' },
  { flags: '--version', describe: 'print the version and exit' },
] as const;

/** parseArgs' table: every global option (GLOBAL_OPTIONS is the help's), by long name. */
const PARSE_OPTIONS = {
  config: { type: 'string', short: 'c' },
  'config-file': { type: 'string' },
  'dry-run': { type: 'boolean', short: 'd' },
  verbose: { type: 'boolean', short: 'v' },
  'no-locks': { type: 'boolean' },
  output: { type: 'string' },
  yes: { type: 'boolean', short: 'y' },
  resume: { type: 'string' },
  list: { type: 'boolean', short: 'l' },
  locks: { type: 'boolean' },
  'break-lock': { type: 'string' },
  pause: { type: 'string' },
  continue: { type: 'string' },
  report: { type: 'string' },
  'report-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

type OptionName = keyof typeof PARSE_OPTIONS;

const usage = (message: string) => new UsageError('ERR_CLI_USAGE', message, { hint: 'see `cookbook --help`' });

/**
 * Everything before the cookbook name is a global option; the first positional (or what follows
 * `--`) is the cookbook and the rest is its own. node:util parseArgs reads the tokens (not strict:
 * it would refuse the cookbook's own options); each one is then checked here, so every problem has
 * galley's message: an unknown option, a value missing or given to a flag, a bad --output.
 */
export function parseGlobals(argv: readonly string[]): GlobalOptions {
  const o: GlobalOptions = {
    dryRun: false,
    verbose: false,
    noLocks: false,
    output: 'text',
    yes: false,
    list: false,
    locks: false,
    help: false,
    version: false,
    args: [],
  };
  const { tokens } = parseArgs({ args: [...argv], options: PARSE_OPTIONS, strict: false, allowPositionals: true, tokens: true });
  let rest = argv.length;
  for (const t of tokens) {
    if (t.kind === 'positional') {
      rest = t.index;
      break;
    }
    if (t.kind === 'option-terminator') {
      rest = t.index + 1;
      break;
    }
    if (!Object.hasOwn(PARSE_OPTIONS, t.name)) {
      throw new UsageError('ERR_CLI_USAGE', `unknown global option ${t.rawName}`, {
        hint: 'global options go before the cookbook name; see `cookbook --help`',
      });
    }
    const name = t.name as OptionName;
    if (PARSE_OPTIONS[name].type === 'boolean') {
      if (t.value !== undefined) throw usage(`option ${t.rawName} takes no value`);
      setFlag(o, name);
      continue;
    }
    // `-c -d`: parseArgs would take "-d" as the file; a value never starts with "-" unless given inline (--config=-x)
    if (t.value === undefined || (!t.inlineValue && t.value.startsWith('-'))) throw usage(`option ${t.rawName} needs a value`);
    setValue(o, name, t.value);
  }
  o.cookbook = argv[rest];
  o.args = argv.slice(rest + 1);
  if (o.cookbook?.endsWith('.js') || o.cookbook?.endsWith('.ts')) {
    // `sre/lb/status.ts` → `sre.lb.status` (Spicerack's cookbook_path_type)
    o.cookbook = o.cookbook
      .replace(/\.(m?js|ts)$/, '')
      .replace(/^\.?\/+/, '')
      .replace(/\//g, '.');
  }
  return o;
}

function setFlag(o: GlobalOptions, name: OptionName): void {
  if (name === 'dry-run') o.dryRun = true;
  else if (name === 'verbose') o.verbose = true;
  else if (name === 'no-locks') o.noLocks = true;
  else if (name === 'yes') o.yes = true;
  else if (name === 'list') o.list = true;
  else if (name === 'locks') o.locks = true;
  else if (name === 'help') o.help = true;
  else if (name === 'version') o.version = true;
}

function setValue(o: GlobalOptions, name: OptionName, v: string): void {
  if (name === 'config' || name === 'config-file') o.config = v;
  else if (name === 'output') {
    if (v !== 'text' && v !== 'json') throw new UsageError('ERR_CLI_USAGE', `--output: invalid value "${v}", accepted values: text, json`);
    o.output = v;
  } else if (name === 'resume') o.resume = v;
  else if (name === 'break-lock') o.breakLock = v;
  else if (name === 'pause') o.pause = v;
  else if (name === 'continue') o.continue = v;
  else if (name === 'report') o.report = v;
  else if (name === 'report-file') o.reportFile = v;
}

export function globalHelp(): string {
  const w = Math.max(...GLOBAL_OPTIONS.map((g) => g.flags.length));
  return [
    'usage: cookbook [GLOBAL OPTIONS] [COOKBOOK] [COOKBOOK ARGS...]',
    '',
    'Galley cookbook runner. Global options go before the cookbook; everything after it belongs to the cookbook',
    '(key=value or --key value).',
    '',
    ...GLOBAL_OPTIONS.map((g) => `  ${g.flags.padEnd(w)}  ${g.describe}`),
    '',
    "Exit codes: 0 ok, 1-89 the cookbook's own (1 also lock/config failures; sre.lb: 2 not confirmed, 3 stopped by the",
    'operator at a gate), 93 rollback failed, 94 prepare failed, 95 argument parser failed, 96 bad arguments, 97 interrupted,',
    '98 not found, 99 uncaught exception.',
  ].join('\n');
}
