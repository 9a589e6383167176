#!/usr/bin/env node
import readline from 'node:readline/promises';
import { runConfctl } from './cli.js';

const io = {
  isTTY: Boolean(process.stdin.isTTY && process.stderr.isTTY),
  async confirm(question: string): Promise<boolean> {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
    try {
      return /^y(es)?$/i.test((await rl.question(question)).trim());
    } finally {
      rl.close();
    }
  },
};

const res = await runConfctl(process.argv.slice(2), io);
for (const line of res.stderr) process.stderr.write(`${line}\n`);
for (const line of res.stdout) process.stdout.write(`${line}\n`);
process.exitCode = res.exitCode;
// gRPC channels can keep the loop alive for a while after close().
process.exit(res.exitCode);
