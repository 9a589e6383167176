/**
 * Global options: everything before the cookbook name; everything after it belongs to the
 * cookbook. Parsed by hand (a fixed, small table) so that `cookbook -l` does not pay for yargs;
 * `cookbook --help` renders the same table through yargs.
 */
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
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('-'))
      throw new UsageError('ERR_CLI_USAGE', `option ${flag} needs a value`, { hint: 'see `cookbook --help`' });
    return v;
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const raw = argv[i]!;
    if (!raw.startsWith('-') || raw === '-') break;
    const eq = raw.indexOf('=');
    const [flag, inline] = raw.startsWith('--') && eq > 0 ? [raw.slice(0, eq), raw.slice(eq + 1)] : [raw, undefined];
    const take = () => {
      if (inline !== undefined) return inline;
      const v = value(i, flag);
      i++;
      return v;
    };
    // Short flags can be combined: -dv, -lv.
    if (/^-[a-z]{2,}$/.test(flag) && flag !== '--') {
      const letters = flag.slice(1).split('');
      if (letters.every((l) => 'dvlyh'.includes(l))) {
        for (const l of letters) applyShort(o, l);
        continue;
      }
    }
    switch (flag) {
      case '-c':
      case '--config':
      case '--config-file':
        o.config = take();
        break;
      case '-d':
      case '--dry-run':
        o.dryRun = true;
        break;
      case '-v':
      case '--verbose':
        o.verbose = true;
        break;
      case '--no-locks':
        o.noLocks = true;
        break;
      case '--output': {
        const v = take();
        if (v !== 'text' && v !== 'json')
          throw new UsageError('ERR_CLI_USAGE', `--output: invalid value "${v}", accepted values: text, json`);
        o.output = v;
        break;
      }
      case '-y':
      case '--yes':
        o.yes = true;
        break;
      case '--resume':
        o.resume = take();
        break;
      case '-l':
      case '--list':
        o.list = true;
        break;
      case '--locks':
        o.locks = true;
        break;
      case '--break-lock':
        o.breakLock = take();
        break;
      case '--pause':
        o.pause = take();
        break;
      case '--continue':
        o.continue = take();
        break;
      case '--report':
        o.report = take();
        break;
      case '--report-file':
        o.reportFile = take();
        break;
      case '-h':
      case '--help':
        o.help = true;
        break;
      case '--version':
        o.version = true;
        break;
      case '--':
        i++;
        o.cookbook = argv[i];
        o.args = argv.slice(i + 1);
        return o;
      default:
        throw new UsageError('ERR_CLI_USAGE', `unknown global option ${flag}`, {
          hint: 'global options go before the cookbook name; see `cookbook --help`',
        });
    }
  }
  o.cookbook = argv[i];
  o.args = argv.slice(i + 1);
  if (o.cookbook?.endsWith('.js') || o.cookbook?.endsWith('.ts')) {
    // `sre/lb/status.ts` → `sre.lb.status` (Spicerack's cookbook_path_type)
    o.cookbook = o.cookbook
      .replace(/\.(m?js|ts)$/, '')
      .replace(/^\.?\/+/, '')
      .replace(/\//g, '.');
  }
  return o;
}

function applyShort(o: GlobalOptions, l: string): void {
  if (l === 'd') o.dryRun = true;
  else if (l === 'v') o.verbose = true;
  else if (l === 'l') o.list = true;
  else if (l === 'y') o.yes = true;
  else if (l === 'h') o.help = true;
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
