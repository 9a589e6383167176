/**
 * Test helpers for cookbooks and the runner: `runCookbookForTest` runs a cookbook through the real
 * executor with injected clients (fakes), an in-memory lock table and journal.
 */
import { checkArgSpec, cookbookArgSpec, parseSimpleArgv, validateCookbookArgs } from '../args.js';
import type { ClientHooks, Clients, EtcdCompare } from '../clients.js';
import type { AnyCookbook, JournalEntry, PlannedChange } from '../cookbook.js';
import { LockTimeoutError, type LockHolderInfo } from '../errors.js';
import type { RunEvent } from '../events.js';
import { executeCookbook, type JournalStore, type ParsedCookbookArgs, type StoredJournal } from '../execute.js';
import { acquireEach, type AcquireOptions, type AcquireResult, type LockSession } from '../locks/types.js';

/** An in-memory lock table shared by the sessions created from it (concurrency, re-entrancy, no waiting). */
export class MemoryLocks {
  readonly held = new Map<string, { runId: string; owner: string; created: string }[]>();
  session(runId: string, opts: { dryRun?: boolean } = {}): LockSession {
    const mine = new Set<string>();
    const lost = new AbortController();
    const table = this.held;
    return {
      enabled: true,
      dryRun: opts.dryRun ?? false,
      lost: lost.signal,
      async acquire(kind: string, name: string, o: AcquireOptions): Promise<AcquireResult> {
        const key = `${kind}/${name}`;
        if (mine.has(key)) return { key, busy: false, holders: [], reentrant: true };
        const holders = table.get(key) ?? [];
        const infos: LockHolderInfo[] = holders.map((h) => ({ key, ...h }));
        if (holders.length >= o.concurrency) {
          if (opts.dryRun) return { key, busy: true, holders: infos, reentrant: false };
          throw new LockTimeoutError(key, o.concurrency, 0, infos);
        }
        if (!opts.dryRun) {
          table.set(key, [...holders, { runId, owner: 'test@localhost [0]', created: new Date().toISOString() }]);
          mine.add(key);
        }
        return { key, busy: false, holders: infos, reentrant: false };
      },
      acquireMany(kind, names, o) {
        return acquireEach(this, kind, names, o);
      },
      holds(kind: string, name: string): boolean {
        return mine.has(`${kind}/${name}`);
      },
      fence(): EtcdCompare[] {
        return [...mine].map((k) => ({ key: `/galley/locks/${k}`, target: 'Lease', op: '==', value: '1' }));
      },
      check() {
        if (lost.signal.aborted) throw lost.signal.reason as Error;
      },
      async verify() {
        if (lost.signal.aborted) throw lost.signal.reason as Error;
      },
      async close() {
        for (const key of mine) {
          const rest = (table.get(key) ?? []).filter((h) => h.runId !== runId);
          if (rest.length > 0) table.set(key, rest);
          else table.delete(key);
        }
        mine.clear();
      },
    };
  }
}

export class MemoryJournal implements JournalStore {
  readonly runs = new Map<string, StoredJournal>();
  async append(runId: string, cookbook: string, entry: JournalEntry): Promise<void> {
    const run = this.runs.get(runId) ?? { cookbook, entries: [] };
    run.entries.push(entry);
    this.runs.set(runId, run);
  }
  async read(runId: string): Promise<StoredJournal | undefined> {
    return this.runs.get(runId);
  }
}

function missingClient(name: string): never {
  throw new Error(`client ${name} was not provided to runCookbookForTest`);
}

export interface TestRunOptions {
  /** Parsed values (`{ cluster: 'jobrunner' }`) or argv (`['cluster=jobrunner', '--batch', '2']`). */
  args?: Record<string, unknown> | string[];
  /** Fakes; a function receives the runner's hooks (dry-run, fence, beforeWrite, onChange…) to bind them. */
  clients?: Partial<Clients> | ((hooks: ClientHooks) => Partial<Clients>);
  dryRun?: boolean;
  /** Dotted name used in events (default `test.cookbook`). */
  name?: string;
  /** Cookbooks reachable through `ctx.runCookbook`. */
  cookbooks?: Record<string, AnyCookbook>;
  /** Answers for `ctx.confirm` (default: yes). */
  confirm?: (message: string) => Promise<boolean>;
  signal?: AbortSignal;
  locks?: MemoryLocks;
  journal?: MemoryJournal;
  resumeRunId?: string;
  runId?: string;
}

export interface TestRunResult {
  exitCode: number;
  runId: string;
  events: RunEvent[];
  /** Every intended (dry-run) or performed change, in order. */
  plan: PlannedChange[];
  /** The last `ctx.output(data)` (undefined if none). */
  output: unknown;
  /** Every `ctx.output(data)`, in order. */
  outputs: unknown[];
  /** Log lines as `LEVEL msg`. */
  logs: string[];
  journal: MemoryJournal;
}

function parserFor(argsAreArgv: boolean, values: Record<string, unknown> | string[] | undefined) {
  return async (name: string, c: AnyCookbook, argv: readonly string[]): Promise<ParsedCookbookArgs> => {
    checkArgSpec(name, c);
    const raw =
      argsAreArgv || argv.length > 0 || values === undefined
        ? parseSimpleArgv(name, cookbookArgSpec(c), argv)
        : (values as Record<string, unknown>);
    return validateCookbookArgs(name, c, raw);
  };
}

export async function runCookbookForTest(cookbook: AnyCookbook, opts: TestRunOptions = {}): Promise<TestRunResult> {
  const events: RunEvent[] = [];
  const name = opts.name ?? 'test.cookbook';
  const locks = opts.locks ?? new MemoryLocks();
  const journal = opts.journal ?? new MemoryJournal();
  const dryRun = opts.dryRun ?? false;
  const runId = opts.runId ?? `test-${Math.random().toString(16).slice(2, 8)}`;
  const session = locks.session(runId, { dryRun });
  const argv = Array.isArray(opts.args) ? opts.args : [];
  const parse = parserFor(Array.isArray(opts.args), opts.args);
  try {
    const result = await executeCookbook(
      { name, cookbook, argv, dryRun, runId, resumeRunId: opts.resumeRunId },
      {
        sink: { event: (e) => events.push(e) },
        makeClients: (hooks) => {
          const given = typeof opts.clients === 'function' ? opts.clients(hooks) : (opts.clients ?? {});
          return {
            get confctl() {
              return given.confctl ?? missingClient('confctl');
            },
            get remote() {
              return given.remote ?? missingClient('remote');
            },
            get pybal() {
              return given.pybal ?? missingClient('pybal');
            },
          };
        },
        locks: session,
        journal,
        resolve: async (n) => opts.cookbooks?.[n],
        // nested runs always get argv
        parseArgs: (n, c, a) => (n === name ? parse(n, c, a) : parserFor(true, undefined)(n, c, a)),
        confirm: opts.confirm ?? (async () => true),
        signal: opts.signal ?? new AbortController().signal,
        user: 'test@localhost',
      },
    );
    const outputs = events.filter((e) => e.type === 'output').map((e) => (e as { data?: unknown }).data);
    return {
      exitCode: result.exitCode,
      runId,
      events,
      plan: result.summary.plan,
      output: outputs.at(-1),
      outputs,
      logs: events
        .filter((e) => e.type === 'log')
        .map((e) => e as unknown as { level: string; msg: string })
        .map((e) => `${e.level.toUpperCase()} ${e.msg}`),
      journal,
    };
  } finally {
    await session.close();
  }
}
