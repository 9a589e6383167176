import fs from 'node:fs';
import os from 'node:os';
import yargs from 'yargs';
import { GalleyError, UsageError, formatError, isGalleyError } from '@galley/errors';
import type { Conftool } from './conftool.js';
import { parseFleet } from './fleet.js';
import { escapeRegex, parseSelector } from './selector.js';
import type { Change, ConftoolNode, NodeValues, Selector } from './types.js';
import { diff, displayName } from './value.js';

/** What a confctl invocation produced; src/bin.ts prints it and exits with `exitCode`. */
export interface CliResult {
  stdout: string[];
  stderr: string[];
  exitCode: number;
}

export interface CliIo {
  /** Can we ask the user? (stdin and stdout are terminals) */
  isTTY: boolean;
  /** Ask a yes/no question on the terminal; only called when isTTY. */
  confirm(question: string): Promise<boolean>;
  /** Build the Conftool (tests inject one); default: from the config file's etcd + conftool sections. */
  conftool?: (opts: { config: string | undefined; dryRun: boolean; log: (line: string) => void }) => Promise<Conftool>;
}

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

/** More objects than this need confirmation (TTY) or --yes for a write. */
export const CONFIRM_ABOVE = 10;

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

const USAGE_CODES = new Set(['ERR_CONFCTL_BAD_SELECTOR', 'ERR_CONFCTL_BAD_ACTION', 'ERR_CONFCTL_FLEET_INVALID', 'ERR_CONFCTL_BAD_ARGS', 'ERR_CONFCTL_FILE_NOT_FOUND']);

interface Argv {
  config?: string | undefined;
  'dry-run': boolean;
  yes: boolean;
  json: boolean;
  selector?: string;
  action?: string;
  host?: string;
  service?: string;
  file?: string;
  delete?: boolean;
  _: (string | number)[];
}

function buildParser(args: string[]) {
  return yargs(args)
    .scriptName('confctl')
    .usage('$0 [-c CONFIG] [--dry-run] [--yes] [--json] COMMAND ...\n\nRead and change the conftool node objects in etcd.')
    .option('config', { alias: 'c', type: 'string', describe: 'config file (default: the cookbook config search, then /etc/galley/config.yaml)' })
    .option('dry-run', { type: 'boolean', default: false, describe: 'read for real, write nothing, print what would change' })
    .option('yes', { alias: 'y', type: 'boolean', default: false, describe: `do not ask before deleting or changing more than ${CONFIRM_ABOVE} objects` })
    .option('json', { type: 'boolean', default: false, describe: 'one JSON object per line' })
    .command('select <selector> <action>', "act on the objects matching SELECTOR ('dc=eqiad,cluster=jobrunner,service=nginx,name=mw10.*'): get | set/pooled=no:weight=10 | del")
    .command('pool [host]', 'pooled=yes on every service of HOST (etcd only, no PyBal check)', (y) => y.option('service', { type: 'string', describe: 'only this service' }))
    .command('depool [host]', 'pooled=no on every service of HOST (etcd only, no PyBal check)', (y) => y.option('service', { type: 'string' }))
    .command('decommission [host]', 'pooled=inactive on every service of HOST (etcd only)', (y) => y.option('service', { type: 'string' }))
    .command('drain [host]', 'weight=0 on every service of HOST (etcd only)', (y) => y.option('service', { type: 'string' }))
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

/** `set/pooled=no:weight=10` → {pooled: 'no', weight: 10}; values are checked here. */
export function parseSetAction(action: string): Partial<NodeValues> {
  const bad = (why: string) =>
    new GalleyError('ERR_CONFCTL_BAD_ACTION', `invalid action "${action}": ${why}`, { hint: 'actions: get | set/pooled=yes|no|inactive[:weight=N] | del' });
  const body = action.slice('set/'.length);
  if (body === '') throw bad('nothing to set');
  const out: Partial<NodeValues> = {};
  for (const part of body.split(':')) {
    const [field, value, ...rest] = part.split('=');
    if (value === undefined || rest.length > 0) throw bad(`"${part}" is not FIELD=VALUE`);
    if (field === 'pooled') {
      if (value !== 'yes' && value !== 'no' && value !== 'inactive') throw bad(`pooled must be yes, no or inactive, not "${value}"`);
      out.pooled = value;
    } else if (field === 'weight') {
      if (!/^\d+$/.test(value)) throw bad(`weight must be an integer >= 0, not "${value}"`);
      out.weight = Number(value);
    } else throw bad(`unknown field "${field}" (fields: pooled, weight)`);
  }
  return out;
}

/** conftool's `get` line: `{"mw1001.eqiad.wmnet": {"weight": 10, "pooled": "yes"}, "tags": "dc=eqiad,cluster=appserver,service=nginx"}`. */
export function formatGetLine(n: ConftoolNode): string {
  return pyJson({ [n.tags.name]: { weight: n.weight, pooled: n.pooled, ...n.extra }, tags: `dc=${n.tags.dc},cluster=${n.tags.cluster},service=${n.tags.service}` });
}

/** conftool's `set` line: `eqiad/appserver/nginx/mw1001.eqiad.wmnet: pooled changed yes => no`. */
export function formatChange(c: Change): string {
  const line = `${displayName(c.tags)}: ${c.field} changed ${String(c.from)} => ${String(c.to)}`;
  return c.ambiguous ? `${line} (etcd's reply was lost; read back as written)` : line;
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

async function defaultConftool(opts: { config: string | undefined; dryRun: boolean; log: (line: string) => void }): Promise<Conftool> {
  // Loaded lazily: config loading (cosmiconfig) and gRPC cost about a second of CPU at startup, which
  // --help and usage errors do not need.
  const [{ loadConfig }, { Conftool }, { connectEtcd }] = await Promise.all([import('@galley/config'), import('./conftool.js'), import('./etcd.js')]);
  const { config } = await loadConfig({ file: opts.config, require: ['etcd'] });
  return new Conftool(connectEtcd(config.etcd!), { namespace: config.conftool.namespace, dryRun: opts.dryRun, log: opts.log });
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
  const log = (line: string): void => void (line.startsWith('DRY-RUN:') ? (argv.json ? undefined : res.stdout.push(line)) : res.stderr.push(line));
  let ct: Conftool | undefined;
  // Printed after the error: what a failed command had already done.
  const after: string[] = [];
  try {
    const command = String(argv._[0]);
    // Validate what we can before connecting anywhere.
    let run: (ct: Conftool) => Promise<void>;
    if (command === 'select') {
      const sel = parseSelector(argv.selector ?? '');
      const action = argv.action ?? '';
      if (action === 'get') run = (c) => cmdGet(c, sel, argv, res);
      else if (action.startsWith('set/')) {
        const changes = parseSetAction(action);
        run = (c) => cmdSet(c, sel, changes, argv, io, res, after);
      } else if (action === 'del' || action === 'delete') run = (c) => cmdDel(c, sel, argv, io, res);
      else throw new GalleyError('ERR_CONFCTL_BAD_ACTION', `unknown action "${action}"`, { hint: 'actions: get | set/pooled=no:weight=10 | del' });
    } else if (command in SHORTCUTS) {
      const sc = SHORTCUTS[command as keyof typeof SHORTCUTS];
      const host = argv.host ?? os.hostname();
      const sel: Selector = { name: escapeRegex(host), ...(argv.service !== undefined ? { service: escapeRegex(argv.service) } : {}) };
      res.stderr.push(
        `WARNING: confctl ${command} only changes conftool in etcd; it does not verify with PyBal that ${host} is really ${command === 'pool' ? 'pooled' : 'out of traffic'} ` +
          `(PyBal may keep a server pooled to respect the depool threshold). ${sc.use}`,
      );
      run = (c) => cmdSet(c, sel, sc.changes, argv, io, res, after);
    } else if (command === 'sync') {
      const file = argv.file ?? '';
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err) {
        throw new GalleyError('ERR_CONFCTL_FILE_NOT_FOUND', `cannot read fleet file ${file}: ${(err as Error).message}`, { hint: 'pass the path of a fleet YAML file' });
      }
      const fleet = parseFleet(text, file);
      run = (c) => cmdSync(c, fleet, file, argv, io, res);
    } else {
      throw new UsageError('ERR_CONFCTL_BAD_ARGS', `unknown command ${command}`);
    }
    ct = await (io.conftool ?? defaultConftool)({ config: argv.config, dryRun, log });
    await run(ct);
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
  if (USAGE_CODES.has(err.code) || err.code.startsWith('ERR_CONFIG_')) return CONFCTL_EXIT.USAGE;
  return CONFCTL_EXIT.FAILED;
}

async function confirmOrRefuse(what: string, nodes: readonly { tags: ConftoolNode['tags'] }[], argv: Argv, io: CliIo): Promise<void> {
  if (argv.yes || argv['dry-run']) return;
  const list = nodes.map((n) => `  ${displayName(n.tags)}`);
  if (!io.isTTY) {
    throw new GalleyError('ERR_CONFCTL_NOT_CONFIRMED', `refusing to ${what} ${nodes.length} objects without confirmation (not a terminal)`, {
      hint: 'check the selection with `select ... get` (or --dry-run), then pass --yes',
    });
  }
  const ok = await io.confirm(`${list.join('\n')}\nOk to ${what} these ${nodes.length} objects? [y/N] `);
  if (!ok) throw new GalleyError('ERR_CONFCTL_NOT_CONFIRMED', `aborted: ${what} on ${nodes.length} objects not confirmed`, { hint: 'nothing was changed' });
}

async function cmdGet(ct: Conftool, sel: Selector, argv: Argv, res: CliResult): Promise<void> {
  for (const n of await ct.select(sel)) res.stdout.push(argv.json ? JSON.stringify(n) : formatGetLine(n));
}

async function cmdSet(ct: Conftool, sel: Selector, changes: Partial<NodeValues>, argv: Argv, io: CliIo, res: CliResult, after: string[]): Promise<void> {
  const nodes = await ct.select(sel);
  const desc = Object.entries(changes)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(':');
  if (nodes.length > CONFIRM_ABOVE) await confirmOrRefuse(`set ${desc} on`, nodes, argv, io);
  // Each change is printed as soon as it is written: when a later object fails, the ones already
  // changed (up to `concurrency` in flight) must not disappear behind the error.
  const changedKeys = new Set<string>();
  const print = (c: Change): void => {
    changedKeys.add(c.key);
    if (argv.json) res.stdout.push(JSON.stringify({ ...c, dryRun: ct.dryRun }));
    else if (!ct.dryRun) res.stdout.push(formatChange(c));
  };
  let done: Change[];
  try {
    done = await ct.with({ onChange: print }).update(nodes, changes);
  } catch (err) {
    const toChange = nodes.filter((n) => diff(n, changes).length > 0).length;
    if (!ct.dryRun) after.push(`${changedKeys.size} of ${toChange} changed before the failure${changedKeys.size > 0 ? ' (listed on stdout)' : ''}`);
    throw err;
  }
  if (done.length === 0) res.stderr.push(`nothing to change: all ${nodes.length} selected objects already have ${desc}`);
}

async function cmdDel(ct: Conftool, sel: Selector, argv: Argv, io: CliIo, res: CliResult): Promise<void> {
  // Unvalidated: deleting is how one gets rid of an object with a broken value.
  const nodes = await ct.selectRaw(sel);
  await confirmOrRefuse('delete', nodes, argv, io);
  const deleted = await ct.remove(nodes);
  if (ct.dryRun) return;
  for (const n of nodes.filter((x) => deleted.includes(x.key))) {
    res.stdout.push(argv.json ? JSON.stringify({ deleted: n.key, tags: n.tags }) : `${displayName(n.tags)}: deleted`);
  }
}

async function cmdSync(ct: Conftool, fleet: ReturnType<typeof parseFleet>, file: string, argv: Argv, io: CliIo, res: CliResult): Promise<void> {
  const del = argv.delete ?? false;
  if (del && !ct.dryRun) {
    const plan = await ct.with({ dryRun: true, log: () => undefined }).sync(fleet, { delete: true });
    if (plan.removed.length > 0) {
      await confirmOrRefuse('delete', plan.removed.map((k) => ({ tags: ct.tagsOf(k)! })), argv, io);
    }
  }
  const r = await ct.sync(fleet, { delete: del });
  if (argv.json) {
    res.stdout.push(JSON.stringify({ created: r.created.map((n) => n.key), removed: r.removed, kept: r.kept, stale: r.stale, dryRun: ct.dryRun }));
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
