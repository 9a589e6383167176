/**
 * The TTY rendering of a run's steps with listr2's default renderer. Cookbooks report progress
 * imperatively (`progress.task()` → handle); listr2 wants task functions, so each top-level step
 * becomes one Listr run whose task resolves when the step ends, and the subtasks created right
 * after it (one per host, typically) become its concurrent subtasks. Later subtasks show as output.
 *
 * The run's text lines (changes, logs, warnings) are written through `out`: while a step is drawn
 * they become lines of that step's block (kept when it ends), so the history reads in order. Written
 * to the terminal directly, listr2 would hold them back and print them after the step's final
 * `✔` line — a batch's depool/restart/repool lines under the next batch's heading.
 */
import { Listr } from 'listr2';
import type { RunEvent, RunSink } from '@galley/core';
import type { Writer } from './render.js';

interface Pending {
  title: string;
  done: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
  skipped?: string;
  /** The step ended: listr2 throws when a finished task's output is set, so nothing is written to it any more. */
  ended?: boolean;
  wrapper?: { title: string; output: string; skip(msg?: string): void };
  /** Text lines written before listr2 started drawing this step: shown first in its block. */
  queued?: string[];
}

/** Progress is best effort: write to a step's line only while it runs, and never let the renderer throw into the run. */
function draw(p: Pending | undefined, field: 'title' | 'output', text: string): void {
  if (!p?.wrapper || p.ended) return;
  try {
    p.wrapper[field] = text;
  } catch {
    // the renderer already let go of this task (it ended between our check and the write)
  }
}

function end(p: Pending | undefined): void {
  if (!p) return;
  p.ended = true;
  p.resolve();
}

function deferred(title: string): Pending {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => undefined);
  return { title, done, resolve, reject };
}

export interface ListrSink extends RunSink {
  /** Where the run's text lines go on a TTY (in place of the terminal itself). */
  out: Writer;
  /**
   * Resolves once the renderer has let go of the terminal (the last step ended and was drawn), so
   * a question can be written and read there. At once while a step is still open: it is never
   * waited for (a question asked inside a step would wait for that step's end forever).
   */
  idle(): Promise<void>;
  finish(): Promise<void>;
}

export function listrSink(opts: { noColor: boolean; out: Writer }): ListrSink {
  const steps = new Map<string, Pending>();
  const subtasksOf = new Map<string, { id: string; p: Pending }[]>();
  let chain: Promise<unknown> = Promise.resolve();
  let currentTop: string | undefined;

  const startTop = (id: string, p: Pending) => {
    subtasksOf.set(id, []);
    const list = new Listr(
      [
        {
          title: p.title,
          // every text line of the step stays in its block, above its subtasks
          rendererOptions: { outputBar: Infinity, persistentOutput: true },
          task: async (_ctx, task) => {
            p.wrapper = task;
            // Let the cookbook create this step's subtasks (same tick) before we build the sub-list.
            await new Promise((r) => setImmediate(r));
            // The task runs, so its output may be set even if the step already ended.
            for (const l of p.queued?.splice(0) ?? []) task.output = l;
            const subs = subtasksOf.get(id) ?? [];
            subtasksOf.delete(id);
            if (subs.length === 0) {
              await p.done;
              if (p.skipped !== undefined) task.skip(p.skipped);
              return undefined;
            }
            return task.newListr(
              subs.map((s) => ({
                title: s.p.title,
                task: async (_c, st) => {
                  s.p.wrapper = st;
                  await s.p.done;
                  if (s.p.skipped !== undefined) st.skip(s.p.skipped);
                },
              })),
              { concurrent: true, exitOnError: false },
            );
          },
        },
      ],
      // wrap, not truncate: a change line is read in full on a narrow terminal
      {
        renderer: 'default',
        exitOnError: false,
        registerSignalListeners: false,
        rendererOptions: { collapseSubtasks: false, formatOutput: 'wrap' },
      },
    );
    chain = chain.then(() => list.run().catch(() => undefined));
  };

  // A line goes into the running step's block; with no step drawn (START, the end report) or once
  // the step ended, to the terminal: listr2 prints what it held back after that step's block,
  // before the next one.
  let partial = '';
  const writeLine = (text: string) => {
    const p = currentTop === undefined ? undefined : steps.get(currentTop);
    if (p && !p.ended && !p.wrapper) (p.queued ??= []).push(text);
    else if (p && !p.ended) draw(p, 'output', text);
    else opts.out.write(`${text}\n`);
  };
  const out: Writer = {
    write(s: string) {
      partial += s;
      const nl = partial.lastIndexOf('\n');
      if (nl < 0) return;
      const lines = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      writeLine(lines);
    },
  };

  return {
    out,
    event(e: RunEvent) {
      if (e.type !== 'step') return;
      const ev = e as RunEvent & { id: string; parent?: string; title: string; status: string; message?: string };
      const p = steps.get(ev.id);
      switch (ev.status) {
        case 'started': {
          const np = deferred(ev.title);
          steps.set(ev.id, np);
          if (ev.parent === undefined) {
            if (currentTop !== undefined) end(steps.get(currentTop));
            currentTop = ev.id;
            startTop(ev.id, np);
          } else {
            const pending = subtasksOf.get(ev.parent);
            if (pending) pending.push({ id: ev.id, p: np });
            else draw(steps.get(ev.parent), 'output', ev.title);
          }
          break;
        }
        case 'updated':
          if (p) {
            p.title = ev.title;
            if (p.wrapper) draw(p, 'title', ev.title);
            else if (ev.parent !== undefined) draw(steps.get(ev.parent), 'output', ev.title);
          }
          break;
        case 'output':
          if (ev.message) draw(p, 'output', ev.message);
          break;
        case 'succeeded':
          if (p && ev.message) draw(p, 'title', `${p.title}: ${ev.message}`);
          end(p);
          break;
        case 'skipped':
          if (p) p.skipped = ev.message ?? p.title;
          end(p);
          break;
        case 'failed':
          // listr2 shows the error in place of the title: keep the title (the host) in it.
          if (p) p.ended = true;
          p?.reject(new Error(ev.message ? `${ev.title}: ${ev.message}` : `${ev.title} failed`));
          break;
      }
    },
    async idle() {
      const p = currentTop === undefined ? undefined : steps.get(currentTop);
      if (p && !p.ended) return;
      await chain;
    },
    async finish() {
      for (const p of steps.values()) end(p);
      await chain;
      if (partial !== '') opts.out.write(`${partial}\n`);
    },
  };
}
