// Unit tests never open a socket except to loopback: fail loudly if one tries.
import net from 'node:net';
const isLoopback = (host) =>
  host === undefined || host === 'localhost' || /^127\./.test(host) || host === '::1' || host === '0.0.0.0';
const origConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function patchedConnect(...args) {
  const opts = typeof args[0] === 'object' && args[0] !== null ? args[0] : { port: args[0], host: args[1] };
  if (opts.path === undefined && !isLoopback(opts.host)) {
    throw new Error(`unit tests may not open a socket to ${String(opts.host)}:${String(opts.port)}; put this test in test/integration`);
  }
  return origConnect.apply(this, args);
};
