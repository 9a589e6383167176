#!/usr/bin/env node
import { runLabCli } from './cli.js';

const res = await runLabCli(process.argv.slice(2));
for (const line of res.stderr) process.stderr.write(`${line}\n`);
for (const line of res.stdout) process.stdout.write(`${line}\n`);
process.exit(res.exitCode);
