import { spawnSync } from 'node:child_process';
import dns from 'node:dns/promises';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as shellParse } from 'shell-quote';
import type * as YamlNs from 'yaml';
import yargs from 'yargs';
import { GalleyError, UsageError, formatError, isConfigError, isGalleyError } from '@galley/errors';
import type { EtcdConfig } from '@galley/etcd/config';
import type { ConftoolConfig } from './config.js';
import type { Conftool, RawObject } from './conftool.js';
import { ConflictError } from './errors.js';
import type { parseFleet } from './fleet.js';
import { operatorOwner, operatorUser } from './operator.js';
import { escapeRegex, parseSelector } from './selector.js';
import type { Change, ConftoolNode, NodeTags, NodeValues, Selector } from './types.js';
import { diff, displayName, validateChanges } from './value.js';

/** What a confctl invocation produced; the binary (@galley/cli's confctl-bin.ts) prints it and exits with `exitCode`. */
export interface CliResult {
  stdout: string[];
  stderr: string[];
  exitCode: number;
}

export interface CliIo {
  /** Can we ask the user? (stdin and stdout are terminals) */
  isTTY: boolean;
  /**
   * Print `text` (stdout lines, as conftool prints its questions), then `prompt`, and return the
   * line the user typed. Only called when isTTY.
   */
  ask(text: string, prompt: string): Promise<string>;
  /** Run the editor command on a file (`edit`); default: spawn it on this terminal. Returns its exit status. */
  editor?: (argv: string[]) => Promise<number>;
  /** This host's FQDN, the default HOST of pool/depool/…; default: {@link fqdn}. */
  fqdn?: () => Promise<string>;
  /** Build the Conftool (tests inject one); default: from the config file's etcd + conftool sections, read with `loadConfig`. */
  conftool?: (opts: ConftoolOpenOptions) => Promise<Conftool>;
  /** Read the galley config file (`-c FILE`, else the search); the confctl binary passes @galley/config's loader. */
  loadConfig?: ConfctlConfigLoader;
}

/**
 * The galley config file's sections confctl reads, validated, rejecting with the config's errors
 * (`isConfigError`); `require` lists the sections that must be there. confctl does not load files
 * itself: its binary (in @galley/cli) hands @galley/config's loader in.
 */
export type ConfctlConfigLoader = (opts: {
  file: string | undefined;
  require: readonly 'etcd'[];
}) => Promise<{ etcd?: EtcdConfig | undefined; conftool: ConftoolConfig }>;

/** Exit codes (README.md): */
export const CONFCTL_EXIT = {
  OK: 0,
  /** The operation failed: no match, invalid stored value, conflict, fence, etcd unreachable, not confirmed. */
  FAILED: 1,
  /** Bad command line, selector, action, requested value, fleet file or config. */
  USAGE: 2,
  /** A bug (uncaught non-galley error). */
  EXCEPTION: 99,
} as const;

/** conftool's answers (conftool/cli/tool.py): the typed sentence for acting on half the objects or more. */
export const SURE_SENTENCE = 'Yes, I am sure of what I am doing.';
/** conftool's prompt for every question. */
const PROMPT = 'confctl>';
/** conftool's default editor (conftool/action.py EditAction). */
const DEFAULT_EDITOR = '/usr/bin/editor';

/** `use`: what to run instead, to change and verify on every load balancer. */
const useCookbook = (name: string): string => `Use \`cookbook ${name}\` to change and verify on every load balancer.`;
const SHORTCUTS = {
  pool: { changes: { pooled: 'yes' }, use: useCookbook('sre.lb.pool') },
  depool: { changes: { pooled: 'no' }, use: useCookbook('sre.lb.depool') },
  decommission: {
    changes: { pooled: 'inactive' },
    use: 'To decommission a host use `cookbook sre.hosts.decommission-host host=HOST task-id=T…`: it takes the host out of every pool, verified with PyBal, before removing it from conftool.',
  },
  drain: { changes: { weight: 0 }, use: useCookbook('sre.lb.depool') },
} as const satisfies Record<string, { changes: Partial<NodeValues>; use: string }>;

const USAGE_CODES = new Set([
  'ERR_CONFCTL_BAD_SELECTOR',
  'ERR_CONFCTL_BAD_ACTION',
  'ERR_CONFCTL_FLEET_INVALID',
  'ERR_CONFCTL_BAD_ARGS',
  'ERR_CONFCTL_FILE_NOT_FOUND',
  'ERR_CONFCTL_OBJECT_TYPE',
]);

interface Argv {
  config?: string | undefined;
  'dry-run': boolean;
  yes: boolean;
  json: boolean;
  quiet: boolean;
  yaml: boolean;
  host: boolean;
  'object-type': string;
  selector?: string;
  action?: string | string[];
  taglist?: string;
  fqdn?: string;
  hostname?: string;
  service?: string;
  file?: string;
  delete?: boolean;
  _: (string | number)[];
}

function buildParser(args: string[]) {
  const shortcut = (verb: string, what: string) => (y: ReturnType<typeof yargs>) =>
    y
      .positional('fqdn', { type: 'string', describe: 'the host (same as --hostname)' })
      .option('service', { type: 'string', describe: `only ${verb} this service` })
      .option('hostname', { type: 'string', describe: `the host to ${verb} (default: this machine's FQDN); ${what}` });
  return yargs(args)
    .scriptName('confctl')
    .usage('$0 [-c CONFIG] [--dry-run] [--yes] [--json] COMMAND ...\n\nRead and change the conftool node objects in etcd.')
    .option('config', {
      alias: 'c',
      type: 'string',
      describe: 'config file (default: the cookbook config search, then /etc/galley/config.yaml)',
    })
    .option('dry-run', { type: 'boolean', default: false, describe: 'read for real, write nothing, print what would change' })
    .option('yes', {
      alias: 'y',
      type: 'boolean',
      default: false,
      describe: 'answer the "Ok to continue? [y/N]" questions with yes (not the typed sentence)',
    })
    .option('json', { type: 'boolean', default: false, describe: 'one JSON object per line' })
    .option('quiet', {
      type: 'boolean',
      default: false,
      describe: 'conftool: do not announce to IRC (galley announces nothing; accepted for runbooks)',
    })
    .option('object-type', { type: 'string', default: 'node', describe: 'conftool object type; only node' })
    .option('yaml', { type: 'boolean', default: false, describe: 'tags … --action get all and the selection list in YAML' })
    .option('host', { type: 'boolean', default: false, describe: 'select: do not ask when all the objects belong to one host' })
    .command(
      'select <selector> <action>',
      "act on the objects matching SELECTOR ('dc=eqiad,cluster=jobrunner,service=nginx,name=mw10.*'): get | set/pooled=no:weight=10 | set/@FILE.yaml | del | edit",
    )
    .command(
      'tags <taglist>',
      "act on objects of one dc/cluster/service ('dc=eqiad,cluster=jobrunner,service=nginx'): --action ACTION NAME|all|re:REGEX (repeatable)",
      (y) =>
        y.option('action', {
          type: 'string',
          array: true,
          describe: 'ACTION NAMEDEF: get | set/k=v:… | set/@FILE | delete | edit, then NAME | all | re:REGEX',
        }),
    )
    .command('pool [fqdn]', 'pooled=yes on every service of HOST (etcd only, no PyBal check)', shortcut('pool', 'a literal name'))
    .command('depool [fqdn]', 'pooled=no on every service of HOST (etcd only, no PyBal check)', shortcut('depool', 'a literal name'))
    .command('decommission [fqdn]', 'pooled=inactive on every service of HOST (etcd only)', shortcut('decommission', 'a literal name'))
    .command('drain [fqdn]', 'weight=0 on every service of HOST (etcd only)', shortcut('drain', 'a literal name'))
    .command('sync <file>', 'create/remove objects to match a fleet YAML file (values of existing objects are never changed)', (y) =>
      y.option('delete', { type: 'boolean', default: false, describe: 'also delete objects that are not in the file' }),
    )
    .demandCommand(1, 'a command is required')
    .strict()
    .version(false)
    .help()
    .exitProcess(false)
    .wrap(Math.min(110, process.stdout.columns || 100));
}

async function parseArgs(args: string[]): Promise<{ argv?: Argv; output: string; error?: Error }> {
  return new Promise((resolve) => {
    void buildParser(args).parse(args, {}, (err: Error | undefined, argv: unknown, output: string) => {
      resolve({ argv: argv as Argv, output, ...(err ? { error: err } : {}) });
    });
  });
}

const ACTIONS_HINT = 'actions: get | set/pooled=yes|no|inactive[:weight=N] | set/@FILE.yaml | del | edit';

function badAction(action: string, why: string): GalleyError {
  return new GalleyError('ERR_CONFCTL_BAD_ACTION', `invalid action "${action}": ${why}`, { hint: ACTIONS_HINT });
}

/** `set/pooled=no:weight=10` → {pooled: 'no', weight: 10}; values are checked here. */
export function parseSetAction(action: string): Partial<NodeValues> {
  const body = action.slice('set/'.length);
  if (body === '') throw badAction(action, 'nothing to set');
  const out: Partial<NodeValues> = {};
  for (const part of body.split(':')) {
    const [field, value, ...rest] = part.split('=');
    if (value === undefined || rest.length > 0) throw badAction(action, `"${part}" is not FIELD=VALUE`);
    if (field === 'pooled') {
      if (value !== 'yes' && value !== 'no' && value !== 'inactive')
        throw badAction(action, `pooled must be yes, no or inactive, not "${value}"`);
      out.pooled = value;
    } else if (field === 'weight') {
      if (!/^\d+$/.test(value)) throw badAction(action, `weight must be an integer >= 0, not "${value}"`);
      out.weight = Number(value);
    } else throw badAction(action, `unknown field "${field}" (fields: pooled, weight)`);
  }
  return out;
}

type YamlModule = typeof YamlNs;
let yamlModule: YamlModule | undefined;
/** yaml costs ~80 ms to load: runConfctl loads it only for a command that reads or prints YAML (`get` does not). */
async function loadYaml(): Promise<void> {
  yamlModule ??= await import('yaml');
}
function YAML(): YamlModule {
  if (yamlModule === undefined) throw new Error('confctl: YAML used by a command that did not load it (runConfctl decides which do)');
  return yamlModule;
}

/**
 * The values of a YAML mapping (`set/@FILE.yaml`, `edit`): only the node schema's fields, a weight
 * may be written as a digit string (conftool's validator is Python's int()). Returns the problem
 * instead of the values when there is one.
 */
export function valuesFromYaml(text: string): Partial<NodeValues> | string {
  let doc: unknown;
  try {
    doc = YAML().parse(text);
  } catch (err) {
    return `not valid YAML: ${(err as Error).message.split('\n')[0]}`;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return 'not a YAML mapping of fields (pooled: …, weight: …)';
  const values: Record<string, unknown> = { ...(doc as Record<string, unknown>) };
  if (typeof values.weight === 'string' && /^\d+$/.test(values.weight)) values.weight = Number(values.weight);
  try {
    return validateChanges('(the file)', values);
  } catch (err) {
    return (err as GalleyError).details?.problem as string;
  }
}

/** `set/@FILE.yaml`: conftool's set from a YAML file, read and checked before anything connects. */
function parseSetFile(action: string): Partial<NodeValues> {
  const file = action.slice('set/@'.length);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new GalleyError('ERR_CONFCTL_FILE_NOT_FOUND', `cannot read ${file} (from ${action}): ${(err as Error).message}`, {
      hint: 'set/@FILE takes the path of a YAML file such as `pooled: "no"` / `weight: 10`',
    });
  }
  const v = valuesFromYaml(text);
  if (typeof v === 'string') throw badAction(action, `${file}: ${v}`);
  if (Object.keys(v).length === 0) throw badAction(action, `${file} sets nothing`);
  return v;
}

type Act = { kind: 'get' } | { kind: 'set'; changes: Partial<NodeValues> } | { kind: 'del' } | { kind: 'edit' };

function parseAction(action: string): Act {
  if (action === 'get') return { kind: 'get' };
  if (action === 'del' || action === 'delete') return { kind: 'del' };
  if (action === 'edit') return { kind: 'edit' };
  if (action.startsWith('set/@')) return { kind: 'set', changes: parseSetFile(action) };
  if (action.startsWith('set/')) return { kind: 'set', changes: parseSetAction(action) };
  throw new GalleyError('ERR_CONFCTL_BAD_ACTION', `unknown action "${action}"`, { hint: ACTIONS_HINT });
}

/** conftool's `get` line: `{"mw1001.eqiad.wmnet": {"weight": 10, "pooled": "yes"}, "tags": "dc=eqiad,cluster=appserver,service=nginx"}`. */
export function formatGetLine(n: ConftoolNode): string {
  return pyJson({
    [n.tags.name]: { weight: n.weight, pooled: n.pooled, ...n.extra },
    tags: `dc=${n.tags.dc},cluster=${n.tags.cluster},service=${n.tags.service}`,
  });
}

/** conftool's `set` line: `eqiad/appserver/nginx/mw1001.eqiad.wmnet: pooled changed yes => no`. */
export function formatChange(c: Change): string {
  const line = `${displayName(c.tags)}: ${c.field} changed ${String(c.from)} => ${String(c.to)}`;
  return c.ambiguous ? `${line} (etcd's reply was lost; read back as written)` : line;
}

/**
 * conftool's delete line, character for character (conftool/action.py DelAction formats a
 * one-element tuple, hence `('Node',)`): `Deleted ('Node',) mw1001.eqiad.wmnet.`
 */
export function formatDeleted(tags: NodeTags): string {
  return `Deleted ('Node',) ${tags.name}.`;
}

/** JSON with Python's json.dumps separators (", " and ": "), as conftool prints. */
function pyJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(pyJson).join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${JSON.stringify(k)}: ${pyJson(x)}`)
      .join(', ')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * This machine's FQDN as Python's socket.getfqdn() finds it (conftool's default --hostname): the
 * host name resolved to an address and that address back to its canonical name; the host name
 * itself when that fails or gives a name without a dot.
 */
export async function fqdn(): Promise<string> {
  const name = os.hostname();
  try {
    const { address } = await dns.lookup(name);
    const { hostname } = await dns.lookupService(address, 0);
    return hostname.includes('.') || !name.includes('.') ? hostname : name;
  } catch {
    return name;
  }
}

async function spawnEditor(argv: string[]): Promise<number> {
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: 'inherit' });
  if (r.error)
    throw new GalleyError('ERR_CONFCTL_EDITOR', `cannot run the editor ${argv[0]}: ${r.error.message}`, {
      hint: 'set EDITOR to an editor command (e.g. EDITOR=vim)',
    });
  return r.status ?? 1;
}

/** How runConfctl opens conftool for one command. */
export interface ConftoolOpenOptions {
  config: string | undefined;
  dryRun: boolean;
  log: (line: string) => void;
  /** The command only reads (`select … get`, `tags … --action get …`): no write, no watch. */
  readOnly: boolean;
}

async function defaultConftool(load: ConfctlConfigLoader | undefined, opts: ConftoolOpenOptions): Promise<Conftool> {
  if (load === undefined)
    throw new Error("runConfctl needs io.loadConfig or io.conftool (the confctl binary passes @galley/config's loader)");
  // Loaded lazily: config loading (cosmiconfig) and gRPC cost about a second of CPU at startup, which
  // --help and usage errors do not need. A command that only reads goes through etcd's JSON gateway
  // (node:http; etcd3/grpc-js/protobufjs are never loaded): `pnpm bench confctl` measures both.
  const [config, { Conftool }, kv] = await Promise.all([
    load({ file: opts.config, require: ['etcd'] }),
    import('./conftool.js'),
    opts.readOnly ? import('@galley/etcd/gateway').then((m) => m.connectEtcdReadOnly) : import('@galley/etcd').then((m) => m.connectEtcd),
  ]);
  return new Conftool(kv(config.etcd!), { namespace: config.conftool.namespace, dryRun: opts.dryRun, log: opts.log });
}

/** Everything one command's handlers share. */
interface Ctx {
  ct: Conftool;
  argv: Argv;
  io: CliIo;
  res: CliResult;
  /** Printed after an error: what a failed command had already done. */
  after: string[];
}

/** One thing to do: which objects, and what to do with them. */
interface Unit {
  act: Act;
  /** The objects (validated: every action but del reads them validated). */
  nodes: (c: Ctx) => Promise<readonly (RawObject | ConftoolNode)[]>;
  /** Ask before a write as conftool does for this mode. */
  guard: (c: Ctx, nodes: readonly { tags: NodeTags }[]) => Promise<void>;
  /** Print a `get` differently from one conftool line per object. */
  printGet?: (c: Ctx, nodes: readonly ConftoolNode[]) => void;
}

/** `tags dc=…,cluster=…,service=…`: all three tags, literal values (they name a directory). */
function parseTagList(text: string): Omit<NodeTags, 'name'> {
  const out: Record<string, string> = {};
  const bad = (why: string) =>
    new GalleyError('ERR_CONFCTL_BAD_SELECTOR', `invalid tag list "${text}": ${why}`, {
      hint: "tags takes all three tags with literal values: 'dc=eqiad,cluster=jobrunner,service=nginx'",
    });
  for (const part of text.split(',')) {
    const [k, v, ...rest] = part.split('=').map((x) => x.trim());
    if (v === undefined || rest.length > 0 || k === '' || v === '') throw bad(`"${part}" is not tag=value`);
    if (!['dc', 'cluster', 'service'].includes(k!))
      throw bad(`unknown tag "${k}" (tags: dc, cluster, service; the name goes after --action ACTION)`);
    if (v.includes('/')) throw bad(`"${v}" contains a /`);
    out[k!] = v;
  }
  for (const t of ['dc', 'cluster', 'service']) if (out[t] === undefined) throw bad(`we're missing tag: ${t}`);
  return out as Omit<NodeTags, 'name'>;
}

/** `--action A N --action B M` → [[A, N], [B, M]] (yargs gives one flat list). */
function actionPairs(v: string | string[] | undefined): [string, string][] {
  const flat = v === undefined ? [] : Array.isArray(v) ? v : [v];
  if (flat.length === 0 || flat.length % 2 !== 0) {
    throw new UsageError(
      'ERR_CONFCTL_BAD_ARGS',
      `tags needs --action ACTION NAMEDEF (two values each time), got ${flat.length === 0 ? 'none' : flat.map((x) => `"${x}"`).join(' ')}`,
      {
        hint: "e.g. confctl tags 'dc=eqiad,cluster=jobrunner,service=nginx' --action set/pooled=no mw1001.eqiad.wmnet",
      },
    );
  }
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

/** Parse and run one confctl command line. Never throws, never exits. */
export async function runConfctl(args: string[], io: CliIo): Promise<CliResult> {
  const res: CliResult = { stdout: [], stderr: [], exitCode: CONFCTL_EXIT.OK };
  const parsed = await parseArgs(args);
  if (parsed.error || !parsed.argv) {
    // yargs' output already ends with the error message
    res.stderr.push(parsed.output || `error: ${parsed.error?.message ?? 'bad arguments'}`);
    res.exitCode = CONFCTL_EXIT.USAGE;
    return res;
  }
  const argv = parsed.argv;
  if (parsed.output) {
    // --help
    res.stdout.push(parsed.output);
    return res;
  }
  const dryRun = argv['dry-run'];
  // The library's DRY-RUN lines are this command's output; other log lines (retries) are diagnostics.
  const log = (line: string): void =>
    void (line.startsWith('DRY-RUN:') ? (argv.json ? undefined : res.stdout.push(line)) : res.stderr.push(line));
  let ct: Conftool | undefined;
  const after: string[] = [];
  try {
    const command = String(argv._[0]);
    if (argv['object-type'] !== 'node') {
      throw new GalleyError(
        'ERR_CONFCTL_OBJECT_TYPE',
        `object type "${argv['object-type']}" is not available: galley's confctl knows only conftool's node objects`,
        {
          hint: 'drop --object-type (node is the default), or use conftool itself for other object types',
        },
      );
    }
    // Validate what we can before connecting anywhere.
    let run: (c: Ctx) => Promise<void>;
    // A command that only reads (`select … get`, `tags … --action get …`) goes through etcd's JSON
    // gateway and, unless it prints YAML, never loads yaml: both loads cost more than the read.
    const tagActions = (): string[] => {
      try {
        return actionPairs(argv.action).map(([a]) => a);
      } catch {
        return []; // reported below, in its turn
      }
    };
    const actions = command === 'select' ? [String(argv.action ?? '')] : command === 'tags' ? tagActions() : [];
    const readOnly = actions.length > 0 && actions.every((a) => a === 'get');
    if (!readOnly || argv.yaml) await loadYaml();
    if (command === 'select') {
      const sel = parseSelector(argv.selector ?? '');
      const act = parseAction(String(argv.action ?? ''));
      run = (c) =>
        runUnit(c, { act, nodes: (x) => (act.kind === 'del' ? x.ct.selectRaw(sel) : x.ct.select(sel)), guard: selectGuard(act) });
    } else if (command === 'tags') {
      const tags = parseTagList(argv.taglist ?? '');
      const units = actionPairs(argv.action).map(([a, namedef]) => tagsUnit(tags, parseAction(a), namedef));
      run = async (c) => {
        for (const u of units) await runUnit(c, u);
      };
    } else if (command in SHORTCUTS) {
      const sc = SHORTCUTS[command as keyof typeof SHORTCUTS];
      if (argv.fqdn !== undefined && argv.hostname !== undefined && argv.fqdn !== argv.hostname) {
        throw new UsageError('ERR_CONFCTL_BAD_ARGS', `two hosts given: ${argv.fqdn} and --hostname ${argv.hostname}`, {
          hint: 'give the host once',
        });
      }
      const host = argv.hostname ?? argv.fqdn ?? (await (io.fqdn ?? fqdn)());
      const sel: Selector = { name: escapeRegex(host), ...(argv.service !== undefined ? { service: escapeRegex(argv.service) } : {}) };
      res.stderr.push(
        `WARNING: confctl ${command} only changes conftool in etcd; it does not verify with PyBal that ${host} is really ${command === 'pool' ? 'pooled' : 'out of traffic'} ` +
          `(PyBal may keep a server pooled to respect the depool threshold). ${sc.use}`,
      );
      // conftool's pool/depool/… act on one host and never ask.
      run = (c) => runUnit(c, { act: { kind: 'set', changes: sc.changes }, nodes: (x) => x.ct.select(sel), guard: async () => undefined });
    } else if (command === 'sync') {
      const file = argv.file ?? '';
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err) {
        throw new GalleyError('ERR_CONFCTL_FILE_NOT_FOUND', `cannot read fleet file ${file}: ${(err as Error).message}`, {
          hint: 'pass the path of a fleet YAML file',
        });
      }
      const fleet = (await import('./fleet.js')).parseFleet(text, file);
      run = (c) => cmdSync(c, fleet, file);
    } else {
      throw new UsageError('ERR_CONFCTL_BAD_ARGS', `unknown command ${command}`);
    }
    ct = await (io.conftool ?? ((o) => defaultConftool(io.loadConfig, o)))({ config: argv.config, dryRun, log, readOnly });
    await run({ ct, argv, io, res, after });
  } catch (err) {
    res.stderr.push(isGalleyError(err) ? formatError(err) : `confctl bug: ${(err as Error).stack ?? String(err)}`);
    res.stderr.push(...after);
    res.exitCode = exitCodeFor(err);
  } finally {
    ct?.close();
  }
  return res;
}

export function exitCodeFor(err: unknown): number {
  if (!isGalleyError(err)) return CONFCTL_EXIT.EXCEPTION;
  if (USAGE_CODES.has(err.code) || isConfigError(err)) return CONFCTL_EXIT.USAGE;
  return CONFCTL_EXIT.FAILED;
}

async function runUnit(c: Ctx, u: Unit): Promise<void> {
  const nodes = await u.nodes(c);
  if (u.act.kind !== 'get') await u.guard(c, nodes);
  if (u.act.kind === 'get') {
    if (u.printGet && !c.argv.json) u.printGet(c, nodes as ConftoolNode[]);
    else for (const n of nodes as ConftoolNode[]) c.res.stdout.push(c.argv.json ? JSON.stringify(n) : formatGetLine(n));
  } else if (u.act.kind === 'set') await cmdSet(c, nodes as ConftoolNode[], u.act.changes);
  else if (u.act.kind === 'del') await cmdDel(c, nodes);
  else await cmdEdit(c, nodes as ConftoolNode[]);
}

/** Ask on the terminal (pending stdout lines are printed first, to keep their order). */
async function ask(c: Ctx, lines: string[], refusal: () => GalleyError, prompt = PROMPT): Promise<string> {
  if (!c.io.isTTY) throw refusal();
  const pending = c.res.stdout.splice(0);
  return c.io.ask([...pending, ...lines].map((l) => `${l}\n`).join(''), prompt);
}

/** YAML as PyYAML's dump prints it for conftool (YAML 1.1 quoting of 'yes'/'no', sorted keys, single quotes). */
function pyYaml(v: unknown): string {
  return YAML().stringify(v, { version: '1.1', singleQuote: true, sortMapEntries: true, indentSeq: false });
}

/**
 * `select`'s question (conftool's ToolCliByLabel.raise_warning): a write on more than one object
 * lists them by dc/cluster/service and asks `Ok to continue? [y/N]`; `--host` skips it when all
 * the objects belong to one host. galley also asks before every delete, and takes `--yes`.
 */
function selectGuard(act: Act) {
  return async (c: Ctx, nodes: readonly { tags: NodeTags }[]): Promise<void> => {
    if (c.argv.yes || c.argv['dry-run']) return;
    const hosts = new Set(nodes.map((n) => n.tags.name));
    if (act.kind !== 'del' && (nodes.length <= 1 || (c.argv.host && hosts.size <= 1))) return;
    const byPath: Record<string, string[]> = {};
    for (const n of nodes) (byPath[`/${n.tags.dc}/${n.tags.cluster}/${n.tags.service}`] ??= []).push(n.tags.name);
    const what = act.kind === 'set' ? `set ${describe(act.changes)} on` : act.kind === 'del' ? 'delete' : 'edit';
    const answer = await ask(
      c,
      [
        'The selector you chose has selected the following objects:',
        c.argv.yaml ? pyYaml(byPath).trimEnd() : pyJson(byPath),
        'Ok to continue? [y/N]',
      ],
      () =>
        new GalleyError('ERR_CONFCTL_NOT_CONFIRMED', `refusing to ${what} ${nodes.length} objects without confirmation (not a terminal)`, {
          hint: 'check the selection with `select ... get` (or --dry-run), then pass --yes',
        }),
    );
    if (answer.trim().toLowerCase() !== 'y') {
      c.res.stdout.push('Aborting');
      throw new GalleyError('ERR_CONFCTL_NOT_CONFIRMED', `aborted: ${what} on ${nodes.length} objects not confirmed`, {
        hint: 'nothing was changed',
      });
    }
  };
}

/**
 * `tags … --action ACTION NAMEDEF` (conftool's ToolCli): NAMEDEF is one object's name, `all`, or
 * `re:REGEX` matched from the start of the name (Python's re.match), grouped so that `re:a|b`
 * means (a|b). set/delete on `all`, or on `re:` matching half the objects or more, needs the typed
 * sentence on a terminal — never --yes: conftool makes those not scriptable.
 */
function tagsUnit(tags: Omit<NodeTags, 'name'>, act: Act, namedef: string): Unit {
  const dir: Selector = { dc: escapeRegex(tags.dc), cluster: escapeRegex(tags.cluster), service: escapeRegex(tags.service) };
  let match: ((name: string) => boolean) | undefined;
  if (namedef.startsWith('re:')) {
    const expr = namedef.slice(3);
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${expr})`);
    } catch (err) {
      throw new GalleyError('ERR_CONFCTL_BAD_SELECTOR', `invalid regexp: ${expr} (${(err as Error).message})`, {
        hint: 're:REGEX is matched from the start of the name',
      });
    }
    match = (name) => re.test(name);
  } else if (namedef === 'all') match = () => true;
  else if (namedef === '')
    throw new UsageError('ERR_CONFCTL_BAD_ARGS', 'empty NAMEDEF after --action', { hint: 'give a name, all, or re:REGEX' });
  let total = 0;
  return {
    act,
    nodes: async (c) => {
      // Deleting reads unvalidated: that is how one gets rid of an object with a broken value.
      const read = (sel: Selector): Promise<readonly (RawObject | ConftoolNode)[]> =>
        act.kind === 'del' ? c.ct.selectRaw(sel) : c.ct.select(sel);
      if (match === undefined) return read({ ...dir, name: escapeRegex(namedef) });
      // One range read of the directory: every object counts for "half of the objects".
      const all = await read(dir);
      total = all.length;
      const chosen = all.filter((n) => match(n.tags.name));
      if (chosen.length === 0)
        throw new GalleyError('ERR_CONFCTL_NO_MATCH', `no object under ${displayName({ ...tags, name: '' })} matches ${namedef}`, {
          hint: 'check the names with `--action get all`',
        });
      return chosen;
    },
    // conftool prints `get all` as one JSON object (or YAML document) of name → value.
    ...(namedef === 'all'
      ? {
          printGet: (c: Ctx, nodes: readonly ConftoolNode[]) => {
            const all = Object.fromEntries(nodes.map((n) => [n.tags.name, { weight: n.weight, pooled: n.pooled, ...n.extra }]));
            c.res.stdout.push(c.argv.yaml ? pyYaml(all) : pyJson(all));
          },
        }
      : {}),
    guard: async (c, nodes) => {
      if (match === undefined || c.argv['dry-run'] || (act.kind !== 'set' && act.kind !== 'del')) return;
      if (namedef !== 'all' && total > 2 * nodes.length) return;
      const answer = await ask(
        c,
        [
          'You are operating on more than half of the objects, this is potentially VERY DANGEROUS: do you want to continue?',
          `If so, please type: '${SURE_SENTENCE}'`,
        ],
        () =>
          new GalleyError(
            'ERR_CONFCTL_NOT_SCRIPTABLE',
            `Destructive operations are not scriptable and should be run from the command line: ${namedef} selects ${nodes.length} of ${total} objects`,
            {
              hint: 'run it on a terminal and type the sentence, or name fewer objects (a name, or a re: matching less than half); --yes does not answer this question',
            },
          ),
      );
      if (answer !== SURE_SENTENCE) {
        c.res.stdout.push('Aborting');
        throw new GalleyError('ERR_CONFCTL_NOT_CONFIRMED', `aborted: ${namedef} on ${nodes.length} of ${total} objects not confirmed`, {
          hint: `nothing was changed; the answer must be exactly '${SURE_SENTENCE}'`,
        });
      }
    },
  };
}

const describe = (changes: Partial<NodeValues>): string =>
  Object.entries(changes)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(':');

async function cmdSet(c: Ctx, nodes: ConftoolNode[], changes: Partial<NodeValues>): Promise<void> {
  const { ct, argv, res } = c;
  // Each change is printed as soon as it is written: when a later object fails, the ones already
  // changed (up to `concurrency` in flight) must not disappear behind the error.
  const changedKeys = new Set<string>();
  const print = (ch: Change): void => {
    changedKeys.add(ch.key);
    if (argv.json) res.stdout.push(JSON.stringify({ ...ch, dryRun: ct.dryRun }));
    else if (!ct.dryRun) res.stdout.push(formatChange(ch));
  };
  let done: Change[];
  try {
    // A dry-run says what conftool would (no owner marker is written, so none is announced).
    done =
      changes.pooled !== undefined && !ct.dryRun
        ? await setWithIntent(c, nodes, changes, print)
        : await ct.with({ onChange: print }).update(nodes, changes);
  } catch (err) {
    const toChange = nodes.filter((n) => diff(n, changes).length > 0).length;
    if (!ct.dryRun)
      c.after.push(`${changedKeys.size} of ${toChange} changed before the failure${changedKeys.size > 0 ? ' (listed on stdout)' : ''}`);
    throw err;
  }
  if (done.length === 0) res.stderr.push(`nothing to change: all ${nodes.length} selected objects already have ${describe(changes)}`);
}

/**
 * A `pooled` change by hand records the operator's intent next to the object, in the same txn
 * (galley's owner marker): `no` makes the operator the owner, so no rolling run puts the object
 * back (even when it was `no` already, out under that run); `yes`/`inactive` clear any marker.
 * conftool's semantics otherwise: the value is set whatever it was (no expected value).
 */
async function setWithIntent(c: Ctx, nodes: ConftoolNode[], changes: Partial<NodeValues>, print: (ch: Change) => void): Promise<Change[]> {
  const user = operatorUser();
  const marker = {
    runId: operatorOwner(user),
    user,
    reason: `confctl ${changes.pooled === 'no' ? 'depool' : 'set'} by hand`,
    time: new Date().toISOString(),
  };
  const owner = changes.pooled === 'no' ? { set: marker } : { clear: true as const };
  const out = await c.ct.with({ onChange: print }).transition(nodes.map((node) => ({ node, change: changes, expect: {}, owner })));
  const done: Change[] = [];
  for (const o of out) {
    if (o.status === 'changed') done.push(...diff({ ...o.node, ...o.before }, changes));
    else if (o.status === 'invalid') throw new ConflictError(o.key, 1, 'it was changed concurrently to a value that breaks the schema');
    else if (o.status === 'failed') throw o.error;
    else if (o.status === 'changed-by-someone-else') throw new ConflictError(o.key, 1, 'it was deleted while being written');
  }
  return done;
}

async function cmdDel(c: Ctx, nodes: readonly (RawObject | ConftoolNode)[]): Promise<void> {
  // Unvalidated: deleting is how one gets rid of an object with a broken value.
  const deleted = await c.ct.remove(nodes as readonly RawObject[]);
  if (c.ct.dryRun) return;
  for (const n of (nodes as readonly { key: string; tags: NodeTags }[]).filter((x) => deleted.includes(x.key))) {
    c.res.stdout.push(c.argv.json ? JSON.stringify({ deleted: n.key, tags: n.tags }) : formatDeleted(n.tags));
  }
}

/**
 * conftool's `edit`: each object's fields as YAML in $EDITOR (default /usr/bin/editor); an invalid
 * result is shown and `Continue editing? [y/n]` asked; the result is written with compare-and-set on
 * the revision that was shown, so a change someone made meanwhile is never overwritten.
 */
async function cmdEdit(c: Ctx, nodes: ConftoolNode[]): Promise<void> {
  const { ct, res } = c;
  const editorCmd = process.env.EDITOR ?? DEFAULT_EDITOR;
  const editorArgv = shellParse(editorCmd).filter((x): x is string => typeof x === 'string');
  if (editorArgv.length === 0)
    throw new UsageError('ERR_CONFCTL_BAD_ARGS', `EDITOR="${editorCmd}" is not a command`, {
      hint: 'set EDITOR to an editor command (e.g. EDITOR=vim)',
    });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confctl-edit-'));
  try {
    for (const n of nodes) {
      const name = displayName(n.tags);
      const file = path.join(dir, `${n.tags.name}.yaml`);
      fs.writeFileSync(file, `# Editing object ${name}\n${pyYaml({ pooled: n.pooled, weight: n.weight })}`);
      let values: Partial<NodeValues>;
      for (;;) {
        const rc = await (c.io.editor ?? spawnEditor)([...editorArgv, file]);
        if (rc !== 0)
          throw new GalleyError('ERR_CONFCTL_EDITOR', `Editor ${editorCmd} returned nonzero ${rc}; ${name} was not changed`, {
            hint: 'save and quit the editor normally to write the object',
          });
        const v = valuesFromYaml(fs.readFileSync(file, 'utf8'));
        if (typeof v !== 'string') {
          values = v;
          break;
        }
        const invalid = () => badAction('edit', `the edited ${name} is not valid: ${v}; nothing was written`);
        let again = await ask(
          c,
          ['The modified object is not valid, please check it!', `Reported reason: ${v}`],
          invalid,
          'Continue editing? [y/n] ',
        );
        while (!['y', 'n'].includes(again.trim().toLowerCase()))
          again = await ask(c, ['Please answer y/n!'], invalid, 'Continue editing? [y/n] ');
        if (again.trim().toLowerCase() === 'n') throw invalid();
      }
      const conflict = (current: string) =>
        new GalleyError('ERR_CONFCTL_EDIT_CONFLICT', `${name} changed while it was being edited (${current}); your edit was not written`, {
          hint: 'look at it again (`confctl select ... get`) and rerun edit',
        });
      // Compare-and-set on the revision shown in the editor: the fence makes every write attempt of
      // this update fail if the object moved since, instead of merging into someone else's value.
      const [now] = await ct.get({
        dc: escapeRegex(n.tags.dc),
        cluster: escapeRegex(n.tags.cluster),
        service: escapeRegex(n.tags.service),
        name: escapeRegex(n.tags.name),
      });
      if (!now) throw conflict('it was deleted');
      if (now.modRevision !== n.modRevision) throw conflict(`it is now ${formatGetLine(now)}`);
      try {
        await ct.with({ fence: () => [{ key: n.key, target: 'Mod', op: '==', value: n.modRevision }] }).update([now], values);
      } catch (err) {
        if (isGalleyError(err) && (err.code === 'ERR_CONFCTL_FENCED' || err.code === 'ERR_CONFCTL_CONFLICT'))
          throw conflict('it was written while we wrote');
        throw err;
      }
      if (!ct.dryRun) res.stdout.push(`Entity ${name} successfully updated`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function cmdSync(c: Ctx, fleet: ReturnType<typeof parseFleet>, file: string): Promise<void> {
  const { ct, argv, res } = c;
  const del = argv.delete ?? false;
  if (del && !ct.dryRun) {
    const plan = await ct.with({ dryRun: true, log: () => undefined }).sync(fleet, { delete: true });
    if (plan.removed.length > 0)
      await selectGuard({ kind: 'del' })(
        c,
        plan.removed.map((k) => ({ tags: ct.tagsOf(k)! })),
      );
  }
  const r = await ct.sync(fleet, { delete: del });
  if (argv.json) {
    res.stdout.push(
      JSON.stringify({ created: r.created.map((n) => n.key), removed: r.removed, kept: r.kept, stale: r.stale, dryRun: ct.dryRun }),
    );
    return;
  }
  if (!ct.dryRun) {
    for (const n of r.created) res.stdout.push(`${displayName(n.tags)}: created with pooled=${n.pooled} weight=${n.weight}`);
    for (const k of r.removed) res.stdout.push(`${displayName(ct.tagsOf(k)!)}: deleted`);
  }
  if (!del) for (const k of r.stale) res.stderr.push(`${displayName(ct.tagsOf(k)!)}: not in ${file} (pass --delete to remove it)`);
  res.stdout.push(
    `${ct.dryRun ? 'DRY-RUN: ' : ''}sync ${file}: ${r.created.length} created, ${r.removed.length} deleted, ${r.kept} unchanged, ${del ? 0 : r.stale.length} stale`,
  );
}
