#!/usr/bin/env node
import readline from 'node:readline/promises';
import { EXIT_INTERRUPTED, runExec } from '@galley/remote/cli';
import { loadRemoteConfig } from './load-config.js';

// Ctrl+C / SIGTERM: stop scheduling, end the running commands (their channels are signalled and
// closed), print the partial report and exit 98 as Cumin does. A second Ctrl+C exits at once.
const interrupt = new AbortController();
let interrupted = 0;
const onSignal = () => {
  if (++interrupted > 1) process.exit(EXIT_INTERRUPTED);
  process.stderr.write('\nInterrupted: ending the running commands (Ctrl+C again to exit at once)\n');
  interrupt.abort(new Error('interrupted'));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const io = {
  isTTY: Boolean(process.stdin.isTTY && process.stderr.isTTY),
  async ask(question: string, signal?: AbortSignal): Promise<string> {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
    // readline keeps the terminal in raw mode: Ctrl+C reaches rl, not the process.
    rl.on('SIGINT', onSignal);
    try {
      return await rl.question(question, signal ? { signal } : {});
    } finally {
      rl.close();
    }
  },
  progress(line: string): void {
    process.stderr.write(`\r\x1b[2K${line}`);
  },
};

const res = await runExec(process.argv.slice(2), io, { signal: interrupt.signal, loadConfig: loadRemoteConfig });
for (const line of res.stderr) process.stderr.write(`${line}\n`);
for (const line of res.stdout) process.stdout.write(`${line}\n`);
process.exit(res.exitCode);
