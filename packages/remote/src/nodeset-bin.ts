#!/usr/bin/env node
import { runNodeset } from './nodeset-cli.js';

const readStdin = async (): Promise<string> => {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

const res = await runNodeset(process.argv.slice(2), { readStdin });
for (const line of res.stderr) process.stderr.write(`${line}\n`);
for (const line of res.stdout) process.stdout.write(`${line}\n`);
// exitCode, not exit(): only src/bin.ts calls process.exit, and stdout is flushed this way
process.exitCode = res.exitCode;
