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
if (res.stderr.length > 0) process.stderr.write(res.stderr.map((l) => `${l}\n`).join(''));
// Exit once stdout is flushed (a large `get` into a pipe); gRPC channels can otherwise keep the
// loop alive for a while after close().
process.stdout.write(res.stdout.map((l) => `${l}\n`).join(''), () => process.exit(res.exitCode));
