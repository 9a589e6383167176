/**
 * Questions asked on the operator's terminal during a run (ctx.confirm, ctx.choose). The terminal
 * stays in canonical mode (no readline raw mode): the terminal edits the line, Ctrl+C stays a real
 * SIGINT (the runner's first-signal stop, also while a question waits), and an end of input (^D,
 * or the input closed before the question, which raw mode would never see) is "nobody to answer".
 */
import type { Writer } from './render.js';

export interface TerminalPrompt {
  /**
   * Writes `question` and reads lines until `accept` takes one (re-asking otherwise). Undefined
   * when nobody can answer: the input ended, or `signal` aborted (the run is stopping).
   */
  ask<T>(question: string, accept: (answer: string) => T | undefined, signal?: AbortSignal): Promise<T | undefined>;
}

export function terminalPrompt(input: NodeJS.ReadableStream, out: Writer): TerminalPrompt {
  let buffered = '';
  let ended = false;
  let listening = false;
  let wake: (() => void) | undefined;
  const listen = (): void => {
    if (listening) return;
    listening = true;
    input.setEncoding('utf8');
    input.on('data', (d: string) => {
      buffered += d;
      wake?.();
    });
    const end = (): void => {
      ended = true;
      wake?.();
    };
    input.on('end', end);
    input.on('close', end);
    input.on('error', end);
  };
  const nextLine = async (signal?: AbortSignal): Promise<string | undefined> => {
    for (;;) {
      const nl = buffered.indexOf('\n');
      if (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        return line.replace(/\r$/, '');
      }
      if (ended || signal?.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          wake = undefined;
          signal?.removeEventListener('abort', done);
          resolve();
        };
        wake = done;
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  };
  return {
    async ask(question, accept, signal) {
      listen();
      input.resume();
      try {
        for (;;) {
          out.write(question);
          const line = await nextLine(signal);
          if (line === undefined) {
            out.write('\n');
            return undefined;
          }
          const v = accept(line.trim());
          if (v !== undefined) return v;
        }
      } finally {
        // not read between questions: the process can end, and nothing typed meanwhile is lost
        input.pause();
      }
    },
  };
}
