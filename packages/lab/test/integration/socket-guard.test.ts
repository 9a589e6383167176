// Integration tests reach the lab's non-loopback addresses (the bastion): the unit project's
// socket guard must never be left installed in a worker that ran a unit file before this one.
import { describe, expect, it } from '@jest/globals';
import net from 'node:net';

const GUARD = Symbol.for('galley.unitSocketGuard');

describe('integration worker', () => {
  it('has no unit socket guard on net.Socket', () => {
    const connect = net.Socket.prototype.connect as unknown as Record<symbol, unknown>;
    expect(connect[GUARD]).toBeUndefined();
  });
});
