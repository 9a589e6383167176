#!/usr/bin/env node
import readline from 'node:readline/promises';
import { runConfctl, type CliIo } from '@galley/confctl/cli';
import { loadGalleyConfig } from './load-config.js';

// conftool's command line on @galley/confctl; the config file is read through @galley/config.
const io: CliIo = {
  loadConfig: loadGalleyConfig,
  // conftool asks only when stdin and stdout are terminals, and asks on stdout.
  isTTY: Boolean(process.stdin.isTTY && process.stdout.isTTY),
  async ask(text: string, prompt: string): Promise<string> {
    process.stdout.write(text);
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
    try {
      return await rl.question(prompt);
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
