#!/usr/bin/env node
// The only process.exit of the cookbook binary.
import { version } from './version.js';

const argv = process.argv.slice(2);
// `cookbook --version` alone is answered before main.js and its ~20 modules load (target: within
// 1.5× a bare `node -e ''`); with any other argument main parses it as usual.
const { main } =
  argv.length === 1 && argv[0] === '--version'
    ? { main: async () => (process.stdout.write(`cookbook ${version()}\n`), 0) }
    : await import('./main.js');

const code = await main(argv, {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  onSignal(handler) {
    const h = (sig: NodeJS.Signals) => handler(sig);
    process.on('SIGINT', h);
    process.on('SIGTERM', h);
    return () => {
      process.off('SIGINT', h);
      process.off('SIGTERM', h);
    };
  },
});
process.exitCode = code;
// Let stdout drain; then make sure no stray handle (ssh keepalive, etcd channel) keeps us alive.
process.stdout.write('', () => process.exit(code));
