/**
 * `cookbook --report RUN_ID [--report-file FILE]`: one self-contained HTML picture of a run, from its
 * audit log (every event of the run) and its journal in etcd (host phases, when the audit lacks them:
 * an audit written on another machine, or cut short). Loaded only for --report.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { JournalEntry, RunEvent } from '@galley/core';
import { GalleyError } from '@galley/errors';
import { buildModel, renderReport, type PoolInfo } from './render.js';

export { buildModel, maxOut, renderReport, type PoolInfo, type ReportModel } from './render.js';

export class ReportRunNotFoundError extends GalleyError {
  constructor(runId: string, logsDir: string) {
    super('ERR_REPORT_RUN_NOT_FOUND', `no run ${runId} in the audit log under ${logsDir}, nor a journal of it in etcd`, {
      hint: 'the run id is printed at the start and the end of every run, and is in <logs.dir>/index.jsonl; use the -c of the config that ran it',
    });
  }
}

function readLines(file: string, runId: string): RunEvent[] {
  const out: RunEvent[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes(runId)) continue;
    try {
      const e = JSON.parse(line) as RunEvent;
      if (e.runId === runId) out.push(e);
    } catch {
      // a torn last line (a killed run): the rest still draws
    }
  }
  return out;
}

function* jsonlFiles(dir: string): Generator<string> {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const d of entries) {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) yield* jsonlFiles(p);
    else if (d.name.endsWith('.jsonl') && d.name !== 'index.jsonl') yield p;
  }
}

/** The run's events from the audit: the file the index names, else every cookbook file (a run killed before its index line). */
export function auditEvents(logsDir: string, runId: string): RunEvent[] {
  const index = path.join(logsDir, 'index.jsonl');
  if (fs.existsSync(index)) {
    const line = readLines(index, runId).at(-1) as unknown as { log?: string } | undefined;
    if (line?.log && fs.existsSync(line.log)) return readLines(line.log, runId);
  }
  for (const f of jsonlFiles(logsDir)) {
    const evs = readLines(f, runId);
    if (evs.length) return evs;
  }
  return [];
}

/** Host phases from the journal for the hosts the audit has none for. */
export function mergeJournal(events: readonly RunEvent[], runId: string, cookbook: string, journal: readonly JournalEntry[]): RunEvent[] {
  const seen = new Set(events.filter((e) => e.type === 'host-phase').map((e) => String((e as { host?: unknown }).host)));
  const extra = journal
    .filter((j) => j.type === 'lb-host-phase' && typeof j.host === 'string' && !seen.has(j.host) && typeof j.at === 'string')
    .map(
      (j) =>
        ({ type: 'host-phase', host: j.host, phase: j.phase, batch: j.batch, reason: j.reason, ts: j.at, runId, cookbook }) as RunEvent,
    );
  return [...events, ...extra];
}

export interface ReportRequest {
  runId: string;
  logsDir: string;
  file?: string | undefined;
  cwd: string;
  pools?: readonly PoolInfo[];
  /** The run's journal (etcd), when there is one. */
  journal?: { cookbook: string; entries: JournalEntry[] } | undefined;
}

/** Writes the page; returns its path. */
export function writeReport(req: ReportRequest): { file: string; hosts: number; events: number } {
  let events = auditEvents(req.logsDir, req.runId);
  if (!events.length && !req.journal) throw new ReportRunNotFoundError(req.runId, req.logsDir);
  if (req.journal) events = mergeJournal(events, req.runId, req.journal.cookbook, req.journal.entries);
  const model = buildModel(req.runId, events, req.pools);
  if (model.cookbook === '?' && req.journal) model.cookbook = req.journal.cookbook;
  const file = path.resolve(req.cwd, req.file ?? `galley-run-${req.runId}.html`);
  fs.writeFileSync(file, renderReport(model));
  return { file, hosts: model.hosts.length, events: events.length };
}
