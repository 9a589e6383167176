/**
 * Human and machine renderings of the run's event stream. `--output json`: every event as one JSON
 * line on stdout (human lines then go to stderr). Text: plain lines without escape codes (pipes,
 * CI); on a TTY the listr2 renderer (listr.ts) takes over the steps.
 */
import { formatError } from '@galley/errors';
import type { PlannedChange, RunEvent, RunSink } from '@galley/core';

export interface Writer {
  write(s: string): void;
}

export function ndjsonSink(out: Writer): RunSink {
  return { event: (e) => out.write(`${JSON.stringify(e)}\n`) };
}

const fmt = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

export function describeChange(c: PlannedChange): string {
  const where = c.host ? `${c.host}: ` : '';
  if (c.kind === 'command') return `${where}run ${c.object}`;
  // A change with no earlier value (a downtime set) is `object → new`, never `undefined → new`.
  const arrow = c.from !== undefined ? ` ${fmt(c.from)} → ${fmt(c.to)}` : c.to !== undefined ? ` → ${fmt(c.to)}` : '';
  return `${where}${c.object}${arrow}`;
}

export interface TextSinkOptions {
  out: Writer;
  verbose: boolean;
  /** Steps are rendered elsewhere (listr2 on a TTY). */
  skipSteps?: boolean;
  /** The command that draws a run (`cookbook --report RUN_ID`), printed after the END of a real top-level run. */
  reportCommand?: (runId: string) => string;
}

/** Plain lines, one per event; the end report (plan, leftovers, exit code, run id) for every run. */
export function textSink(opts: TextSinkOptions): RunSink {
  const { out, verbose } = opts;
  const dry = new Map<string, boolean>();
  const refused = new Set<string>();
  // Client libraries say `DRY-RUN: would …` themselves (their own CLIs print it): never doubled.
  const line = (runId: string, s: string) => out.write(`${dry.get(runId) && !/^(\[\w+\] )?DRY-RUN: /.test(s) ? 'DRY-RUN: ' : ''}${s}\n`);
  return {
    event(e: RunEvent) {
      const ev = e as RunEvent & Record<string, unknown>;
      switch (e.type) {
        case 'run-started': {
          dry.set(e.runId, ev.dryRun === true);
          const argv = (ev.argv as string[]).join(' ');
          line(
            e.runId,
            `START - Cookbook ${String(ev.cookbook)}${argv ? ` ${argv}` : ''} (run ${e.runId})${ev.reason ? ` reason: ${fmt(ev.reason)}` : ''}`,
          );
          break;
        }
        case 'args-refused':
          // no START: the run was refused at its arguments; the error event lists every problem
          dry.set(e.runId, ev.dryRun === true);
          refused.add(e.runId);
          break;
        case 'log': {
          if (ev.level === 'debug' && !verbose) break;
          const lvl = ev.level === 'info' ? '' : `[${String(ev.level).toUpperCase()}] `;
          line(e.runId, `${lvl}${String(ev.msg)}`);
          break;
        }
        case 'step': {
          if (opts.skipSteps) break;
          const mark = { started: '❯', updated: '›', output: '›', succeeded: '✔', failed: '✖', skipped: '↓' }[String(ev.status)] ?? '-';
          const title = String(ev.title);
          // An end message is often the title restated for the TTY (where it replaces the title):
          // on a line it would name the host twice, so only what it adds is shown.
          let message = ev.message === undefined || ev.message === '' ? '' : fmt(ev.message);
          if (message === title) message = '';
          else if (message.startsWith(`${title} — `)) message = message.slice(title.length + 3);
          const text = ev.status === 'output' ? `${title}: ${fmt(ev.message)}` : `${title}${message ? ` [${message}]` : ''}`;
          line(e.runId, `${mark} ${text}`);
          break;
        }
        case 'change':
          // A dry-run's intended changes are the plan printed at its end, in order: not twice.
          if (!ev.dryRun || verbose)
            line(e.runId, `${ev.dryRun ? 'would change' : 'changed'} ${describeChange(ev as unknown as PlannedChange)}`);
          break;
        case 'output':
          out.write(`${typeof ev.text === 'string' ? ev.text : JSON.stringify(ev.data, null, 2)}\n`);
          break;
        case 'leftover':
          line(e.runId, `[WARN] left: ${String(ev.object)} is ${String(ev.state)}${ev.why ? ` (${fmt(ev.why)})` : ''}`);
          break;
        case 'lock': {
          const holders = (ev.holders as { owner: string; created: string; runId: string }[] | undefined) ?? [];
          const who = holders.map((h) => `\n    ${h.owner} since ${h.created} (run ${h.runId})`).join('');
          if (ev.status === 'waiting') line(e.runId, `waiting for lock ${String(ev.key)}, held by:${who}`);
          else if (ev.status === 'busy') line(e.runId, `[WARN] ${fmt(ev.message ?? `lock ${String(ev.key)} is busy`)}:${who}`);
          else if (ev.status === 'bypassed') line(e.runId, `[WARN] ${fmt(ev.message)}`);
          else if (verbose) line(e.runId, `lock ${String(ev.key)}: ${String(ev.status)}`);
          break;
        }
        case 'error':
          line(e.runId, `[ERROR] ${String(ev.phase)}: ${fmt(ev.message).replace(/^error: /, '')}`);
          break;
        case 'journal':
          if (verbose) line(e.runId, `journal: ${JSON.stringify(ev.entry)}`);
          break;
        case 'run-finished': {
          const s = ev.summary as {
            status: string;
            plan: PlannedChange[];
            leftovers: { object: string; state: string; why?: string }[];
            rolledBack: boolean;
            interrupted: boolean;
          };
          if (ev.dryRun && s.plan.length > 0) {
            line(e.runId, `Plan for ${String(ev.cookbook)} (${s.plan.length} intended change${s.plan.length === 1 ? '' : 's'}, in order):`);
            s.plan.forEach((c, i) => line(e.runId, `  ${i + 1}. ${describeChange(c)}`));
          } else if (ev.dryRun && !refused.has(e.runId)) {
            // refused at its arguments, nothing was planned: "no changes" would read as a verdict
            line(e.runId, `Plan for ${String(ev.cookbook)}: no changes`);
          }
          if (s.leftovers.length > 0) {
            line(e.runId, 'Left in a non-final state:');
            for (const l of s.leftovers) line(e.runId, `  - ${l.object}: ${l.state}${l.why ? ` (${l.why})` : ''}`);
          }
          const status = Number(ev.exitCode) === 0 ? 'PASS' : 'FAIL';
          line(
            e.runId,
            `END (${status}) - Cookbook ${String(ev.cookbook)} (exit_code=${Number(ev.exitCode)}) run ${e.runId} in ${(Number(ev.durationMs) / 1000).toFixed(1)}s` +
              `${s.rolledBack ? ', rolled back' : ''}${s.interrupted ? ', interrupted' : ''}`,
          );
          // a run refused at its arguments did nothing: there is no timeline to draw
          if (opts.reportCommand && !ev.dryRun && !refused.has(e.runId) && Number(ev.depth ?? 0) === 0)
            line(e.runId, `picture of this run: ${opts.reportCommand(e.runId)}`);
          break;
        }
        default:
          // cookbook-defined events (host-phase, verification…) are for --output json and the audit log
          if (verbose) line(e.runId, `${e.type}: ${JSON.stringify({ ...ev, ts: undefined, runId: undefined, type: undefined })}`);
      }
    },
  };
}

export function errorText(err: unknown): string {
  return formatError(err);
}
