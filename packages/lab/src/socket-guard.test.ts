// The unit project's socket guard (jest.unit-setup.js): unit tests reach loopback only.
import { describe, expect, it } from '@jest/globals';
import net from 'node:net';

const GUARD = Symbol.for('galley.unitSocketGuard');

describe('unit socket guard', () => {
  it('refuses a socket to a non-loopback address, naming it', () => {
    const sock = new net.Socket();
    expect(() => sock.connect({ host: '192.0.2.1', port: 22 })).toThrow(
      'unit tests may not open a socket to 192.0.2.1:22; put this test in test/integration',
    );
    sock.destroy();
  });

  it('lets a loopback socket through', async () => {
    const server = net.createServer((s) => s.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect({ host: '127.0.0.1', port }, () => {
        sock.destroy();
        resolve();
      });
      sock.on('error', reject);
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('is installed for this file only (removed in afterAll, so integration files in the same worker are free)', () => {
    const connect = net.Socket.prototype.connect as unknown as Record<symbol, unknown>;
    expect(typeof connect[GUARD]).toBe('function');
  });
});
