// Unit tests never open a socket except to loopback: fail loudly if one tries.
//
// `node:net` is shared by every test file a jest worker runs, in both projects: a patch left in
// place would also refuse the integration tests that worker runs next (the lab's bastion lives
// on a non-loopback address). So the guard is installed for this test file only and removed in
// afterAll (this is a setupFilesAfterEnv module, where afterAll exists).
/* global afterAll */
import net from 'node:net';

const GUARD = Symbol.for('galley.unitSocketGuard');
const isLoopback = (host) => host === undefined || host === 'localhost' || /^127\./.test(host) || host === '::1' || host === '0.0.0.0';

const proto = net.Socket.prototype;
// A guard left by a crashed file is replaced, never stacked.
const origConnect = proto.connect[GUARD] ?? proto.connect;
function guardedConnect(...args) {
  const opts = typeof args[0] === 'object' && args[0] !== null ? args[0] : { port: args[0], host: args[1] };
  if (opts.path === undefined && !isLoopback(opts.host)) {
    throw new Error(`unit tests may not open a socket to ${String(opts.host)}:${String(opts.port)}; put this test in test/integration`);
  }
  return origConnect.apply(this, args);
}
guardedConnect[GUARD] = origConnect;
proto.connect = guardedConnect;

afterAll(() => {
  if (proto.connect === guardedConnect) proto.connect = origConnect;
});
