/**
 * `cookbook`: the composition root. Reads config, discovers cookbooks, builds the real clients,
 * the lock session and the sinks, runs the cookbook and returns its exit code (bin.ts exits).
 * Heavy modules (etcd3, ssh2, undici, listr2, yargs) are imported only on the paths that need them.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline/promises';
import type { GalleyConfig } from '@galley/config';
import { type Catalog, ConfirmationError, CookbookNotFoundError, discover, type JournalEntry, renderTree } from '@galley/core';
import { addSecrets, ExitCode, formatError, isConfigNotFoundError, secretValuesIn } from '@galley/errors';
import type { BaseClients } from './factories.js';
import { globalHelp, parseGlobals, type GlobalOptions } from './globals.js';
import type { Writer } from './render.js';
import { currentUser, defaultAuditDir, runCookbook } from './run-cookbook.js';
import { version } from './version.js';

export interface CliIo {
  stdout: Writer & { isTTY?: boolean | undefined; columns?: number | undefined };
  stderr: Writer;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean | undefined };
  env: NodeJS.ProcessEnv;
  /** Registers SIGINT/SIGTERM; returns an unregister function. */
  onSignal?(handler: (sig: string) => void): () => void;
  cwd?: string;
}

export interface CliDeps {
  loadConfig?(file: string | undefined): Promise<GalleyConfig>;
  clients?(cfg: GalleyConfig, dryRun: boolean): BaseClients;
}

/**
 * The cookbook tree shipped with galley (cookbooks/dist next to packages/cli), used when no config
 * file exists: `cookbook -l` and `cookbook NAME --help` read nothing else, and a run without a
 * config still gets its arguments checked before it is told what it lacks.
 */
function builtinCookbookDirs(): string[] {
  const dir = fileURLToPath(new URL('../../../cookbooks/dist', import.meta.url));
  return fs.existsSync(dir) ? [dir] : [];
}

/** The config when no file exists (and none was named with -c): no client section at all. */
function noFileConfig(): GalleyConfig {
  return { conftool: { namespace: '/conftool' }, cookbooks: { dirs: builtinCookbookDirs() } };
}

async function defaultLoadConfig(file: string | undefined, cwd?: string): Promise<GalleyConfig> {
  const { loadConfig } = await import('@galley/config');
  const loaded = await loadConfig({ file, ...(cwd ? { cwd } : {}), require: ['cookbooks'] });
  const { rememberCookbookDirs } = await import('@galley/config/fast');
  rememberCookbookDirs(loaded.file, loaded.config.cookbooks?.dirs ?? []);
  return loaded.config;
}

/**
 * `-l` without validating the whole config: the cookbook dirs cached for an unchanged file, or the
 * built-in tree when there is surely no config file (cosmiconfig and zod are never loaded then).
 */
async function fastCookbookDirs(g: GlobalOptions, io: CliIo): Promise<string[] | undefined> {
  const { locateConfig, cachedCookbookDirs } = await import('@galley/config/fast');
  const file = locateConfig({ file: g.config, cwd: io.cwd });
  if (file === null) return builtinCookbookDirs();
  return file === undefined ? undefined : cachedCookbookDirs(file);
}

export async function main(argv: readonly string[], io: CliIo, deps: CliDeps = {}): Promise<number> {
  const err = (s: string) => io.stderr.write(s.endsWith('\n') ? s : `${s}\n`);
  let g: GlobalOptions;
  try {
    g = parseGlobals(argv);
  } catch (e) {
    err(formatError(e));
    return ExitCode.ARG_PARSER_FAILED;
  }
  if (g.version) {
    io.stdout.write(`cookbook ${version()}\n`);
    return 0;
  }
  if (g.help && g.cookbook === undefined) {
    io.stdout.write(`${globalHelp()}\n`);
    return 0;
  }

  if (g.list && !g.locks && g.breakLock === undefined && g.pause === undefined && g.continue === undefined && !deps.loadConfig) {
    const dirs = await fastCookbookDirs(g, io);
    if (dirs) {
      const catalog = await discover(dirs);
      for (const f of catalog.errors) err(`[WARN] skipped ${f.file}: ${f.error}`);
      io.stdout.write(`${renderTree(catalog, { prefix: g.cookbook ?? '', verbose: g.verbose })}\n`);
      return 0;
    }
  }

  let cfg: GalleyConfig;
  let noConfigFile = false;
  try {
    cfg = deps.loadConfig ? await deps.loadConfig(g.config) : await defaultLoadConfig(g.config, io.cwd);
  } catch (e) {
    // No file anywhere (and none named): the built-in tree. Listing and help need nothing more; a
    // run is told what it lacks when it needs it (etcd for its lock, a client's section).
    if (g.config !== undefined || !isConfigNotFoundError(e)) {
      err(formatError(e));
      return ExitCode.FAILURE;
    }
    cfg = noFileConfig();
    noConfigFile = true;
    if (
      !g.list &&
      !g.help &&
      !g.locks &&
      g.breakLock === undefined &&
      g.pause === undefined &&
      g.continue === undefined &&
      !g.args.some((a) => a === '--help' || a === '-h')
    ) {
      err(
        '[WARN] no config file found (.cookbookrc*, cookbook.config.*, /etc/galley/config.yaml; or -c FILE): the built-in cookbooks, without etcd, ssh or pybal',
      );
    }
  }
  // The config's passwords and tokens are masked by value in everything shown or stored from now on.
  addSecrets(secretValuesIn(cfg));

  if (g.report !== undefined) return report(g.report, g, cfg, io, deps);
  if (g.reportFile !== undefined) {
    err('error: --report-file needs --report RUN_ID [ERR_CLI_USAGE]\nhint: cookbook --report RUN_ID --report-file FILE');
    return ExitCode.ARG_PARSER_FAILED;
  }
  if (g.locks || g.breakLock !== undefined) return lockAdmin(g, cfg, io, deps);
  if (g.pause !== undefined || g.continue !== undefined) return pauseAdmin(g, cfg, io, deps);

  const catalog = await discover(cfg.cookbooks?.dirs ?? []);
  const reportLoadErrors = () => {
    for (const f of catalog.errors) err(`[WARN] skipped ${f.file}: ${f.error}`);
  };

  if (g.list) {
    reportLoadErrors();
    io.stdout.write(`${renderTree(catalog, { prefix: g.cookbook ?? '', verbose: g.verbose })}\n`);
    return 0;
  }

  const name = g.cookbook ?? '';
  if (!catalog.cookbooks.has(name)) {
    if (name === '' || catalog.isGroup(name)) {
      if (io.stdin.isTTY && io.stdout.isTTY) return menu(name, catalog, g, io, deps, cfg);
      io.stdout.write(`${renderTree(catalog, { prefix: name === '' ? '' : `${name}.`, verbose: true })}\n`);
      err(`${name === '' ? 'no cookbook given' : `${name} is a group`}; not a TTY, so no menu: pick a cookbook from the list`);
      return ExitCode.NOT_FOUND;
    }
    const failed = catalog.errors.filter((f) => f.file.replace(/\.(m?js|ts)$/, '').endsWith(name.replace(/\./g, '/')));
    for (const f of failed) err(`cookbook ${name} failed to load from ${f.file}: ${f.error}`);
    err(formatError(new CookbookNotFoundError(name, catalog.suggest(name))));
    return ExitCode.NOT_FOUND;
  }
  reportLoadErrors();
  return runCookbook({ name, argv: g.args, catalog, g, io, deps, cfg, noConfigFile });
}

/** `--report RUN_ID`: the picture of a run, from its audit log (and its journal in etcd when there is one). */
async function report(runId: string, g: GlobalOptions, cfg: GalleyConfig, io: CliIo, deps: CliDeps): Promise<number> {
  const err = (s: string) => io.stderr.write(`${s}\n`);
  const { writeReport } = await import('./report/index.js');
  let journal: { cookbook: string; entries: JournalEntry[] } | undefined;
  if (cfg.etcd) {
    const clients = (deps.clients ?? (await import('./factories.js')).realClients)(cfg, true);
    try {
      const { EtcdJournal } = await import('@galley/core/locks');
      journal = await new EtcdJournal(await clients.etcd()).read(runId);
    } catch (e) {
      // The audit alone still draws the run.
      err(`[WARN] the journal of run ${runId} could not be read from etcd: ${formatError(e)}`);
    } finally {
      await clients.close();
    }
  }
  try {
    const r = writeReport({
      runId,
      logsDir: cfg.logs?.dir ?? defaultAuditDir(io.env),
      file: g.reportFile,
      cwd: io.cwd ?? process.cwd(),
      pools: cfg.pybal?.pools ?? [],
      journal,
    });
    io.stdout.write(`wrote ${r.file} (run ${runId}: ${r.hosts} host(s), ${r.events} events); open it in a browser, it needs no network\n`);
    return 0;
  } catch (e) {
    err(formatError(e));
    return ExitCode.FAILURE;
  }
}

async function lockAdmin(g: GlobalOptions, cfg: GalleyConfig, io: CliIo, deps: CliDeps): Promise<number> {
  const err = (s: string) => io.stderr.write(`${s}\n`);
  if (!cfg.etcd) {
    err('error: no etcd section in the config: there are no locks to show');
    return ExitCode.FAILURE;
  }
  const clients = (deps.clients ?? (await import('./factories.js')).realClients)(cfg, false);
  try {
    const { EtcdLocks } = await import('@galley/core/locks');
    const locks = new EtcdLocks(await clients.etcd(), cfg.locks ?? {});
    if (g.breakLock !== undefined) {
      const key = g.breakLock;
      const all = await locks.list();
      const entry = all.find((e) => e.key === key || e.key === `${locks.prefix}/${key}`);
      if (!entry) {
        err(`error: no lock holder with key ${key} [ERR_LOCK_NOT_FOUND]\nhint: list them with \`cookbook --locks\``);
        return ExitCode.FAILURE;
      }
      const msg = `Remove ${entry.key} held by ${entry.owner} since ${entry.created} (run ${entry.runId})? That run loses its slot and its fenced writes will fail.`;
      let ok = g.yes;
      if (!ok) {
        if (!io.stdin.isTTY) throw new ConfirmationError(msg);
        const rl = readline.createInterface({ input: io.stdin, output: io.stderr as unknown as NodeJS.WritableStream });
        ok = (await rl.question(`==> ${msg}\nType "go" to proceed or "abort"\n> `)).trim() === 'go';
        rl.close();
      }
      if (!ok) {
        err('aborted: nothing removed');
        return ExitCode.FAILURE;
      }
      const removed = await locks.breakLock(entry.key);
      io.stdout.write(`${removed ? 'removed' : 'already gone'}: ${entry.key}\n`);
      return 0;
    }
    const list = await locks.list(g.cookbook ?? '');
    if (g.output === 'json') {
      for (const e of list) io.stdout.write(`${JSON.stringify(e)}\n`);
    } else if (list.length === 0) {
      io.stdout.write('no locks held\n');
    } else {
      for (const e of list)
        io.stdout.write(
          `${e.lock}  ${e.owner}  since ${e.created}  run ${e.runId}  (concurrency ${e.concurrency}, ttl ${e.ttl}s)  key ${e.key}\n`,
        );
    }
    return 0;
  } catch (e) {
    err(formatError(e));
    return ExitCode.FAILURE;
  } finally {
    await clients.close();
  }
}

/**
 * `--pause RUN_ID` / `--continue RUN_ID`: the pause key of a running run (core's EtcdPauses), from
 * any terminal. The operator is recorded as who paused it; the run shows it at its next safe point.
 */
async function pauseAdmin(g: GlobalOptions, cfg: GalleyConfig, io: CliIo, deps: CliDeps): Promise<number> {
  const err = (s: string) => io.stderr.write(`${s}\n`);
  const runId = (g.pause ?? g.continue)!;
  if (g.pause !== undefined && g.continue !== undefined) {
    err('error: --pause and --continue together [ERR_CLI_USAGE]\nhint: one of them, with the run id');
    return ExitCode.ARG_PARSER_FAILED;
  }
  if (!cfg.etcd) {
    err('error: no etcd section in the config: there is no run to pause or continue [ERR_LOCKS_NO_ETCD]');
    return ExitCode.FAILURE;
  }
  const clients = (deps.clients ?? (await import('./factories.js')).realClients)(cfg, false);
  try {
    const { EtcdJournal, EtcdLocks, EtcdPauses } = await import('@galley/core/locks');
    const etcd = await clients.etcd();
    const journal = new EtcdJournal(etcd);
    const pauses = new EtcdPauses(etcd, new EtcdLocks(etcd, cfg.locks ?? {}), (id) => journal.read(id));
    const print = (data: Record<string, unknown>, text: string) =>
      io.stdout.write(g.output === 'json' ? `${JSON.stringify(data)}\n` : `${text}\n`);
    if (g.pause !== undefined) {
      const r = await pauses.pause(runId, currentUser());
      print(
        { runId, ...r },
        r.status === 'paused'
          ? `run ${runId}: paused by ${r.info.by}; it stops at its next safe point (between batches, before taking a host out) and keeps its locks. \`cookbook --continue ${runId}\` lets it go on`
          : `run ${runId}: already paused by ${r.info.by} since ${r.info.since}; nothing changed`,
      );
      return 0;
    }
    const r = await pauses.continue(runId);
    print(
      { runId, ...r },
      r.status === 'continued'
        ? `run ${runId}: continued (it was paused by ${r.info!.by} since ${r.info!.since})`
        : `run ${runId}: not paused; nothing changed`,
    );
    return 0;
  } catch (e) {
    err(formatError(e));
    return ExitCode.FAILURE;
  } finally {
    await clients.close();
  }
}

/** `cookbook GROUP` on a TTY: list the group, read `name [args...]`, run it; `q` quits. A menu returns 0. */
async function menu(group: string, catalog: Catalog, g: GlobalOptions, io: CliIo, deps: CliDeps, cfg: GalleyConfig): Promise<number> {
  const rl = readline.createInterface({ input: io.stdin, output: io.stdout as unknown as NodeJS.WritableStream });
  const status = new Map<string, string>();
  try {
    for (;;) {
      const prefix = group === '' ? '' : `${group}.`;
      const items = catalog.list(prefix);
      io.stdout.write(`#--- ${catalog.groups.get(group)?.title ?? (group || 'cookbooks')} ---#\n`);
      for (const c of items)
        io.stdout.write(`[${status.get(c.name) ?? 'NOTRUN'}] ${c.name.slice(prefix.length)}: ${c.title} [${c.owner}]\n`);
      io.stdout.write('q - Quit\n');
      const line = (await rl.question('>>> ')).trim();
      if (line === 'q' || line === '') return 0;
      const [pick, ...rest] = line.split(/\s+/);
      const full = catalog.cookbooks.has(`${prefix}${pick}`) ? `${prefix}${pick}` : pick!;
      if (!catalog.cookbooks.has(full)) {
        io.stdout.write('==> Invalid input <==\n');
        continue;
      }
      rl.pause();
      const code = await runCookbook({ name: full, argv: rest, catalog, g, io, deps, cfg });
      rl.resume();
      status.set(full, code === 0 ? 'PASS' : 'FAIL');
    }
  } finally {
    rl.close();
  }
}
