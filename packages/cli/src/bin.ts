#!/usr/bin/env node
// The only process.exit of the cookbook binary.
import { main } from './main.js';

const code = await main(process.argv.slice(2), {
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
