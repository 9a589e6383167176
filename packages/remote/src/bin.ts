#!/usr/bin/env node
import readline from 'node:readline/promises';
import { runExec } from './cli.js';

const io = {
  isTTY: Boolean(process.stdin.isTTY && process.stderr.isTTY),
  async ask(question: string): Promise<string> {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  },
  progress(line: string): void {
    process.stderr.write(`\r\x1b[2K${line}`);
  },
};

const res = await runExec(process.argv.slice(2), io);
for (const line of res.stderr) process.stderr.write(`${line}\n`);
for (const line of res.stdout) process.stdout.write(`${line}\n`);
process.exit(res.exitCode);
