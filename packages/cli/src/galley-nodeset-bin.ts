#!/usr/bin/env node
import { runNodeset } from '@galley/remote/nodeset-cli';
import { loadRemoteConfig } from './load-config.js';

const readStdin = async (): Promise<string> => {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

const res = await runNodeset(process.argv.slice(2), { readStdin, loadConfig: loadRemoteConfig });
for (const line of res.stderr) process.stderr.write(`${line}\n`);
for (const line of res.stdout) process.stdout.write(`${line}\n`);
// exitCode, not exit(): stdout is flushed this way
process.exitCode = res.exitCode;
