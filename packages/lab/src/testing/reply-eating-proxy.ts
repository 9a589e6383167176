import net from 'node:net';

export interface ReplyEatingProxy {
  url: string;
  /** While set, etcd's bytes to the client are kept back (the request still goes through). */
  hold: boolean;
  /**
   * Set `hold` once, the moment a request containing `needle` passes (before etcd can answer it):
   * the reply to that one request is lost, whichever connection the client sends it on.
   */
  holdOnce(needle: string): Promise<void>;
  /** Cut every connection, as a network failure would. */
  drop(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of one etcd member that can lose replies, for the tests of what a client
 * does when a write's answer never comes (confctl's conftool writes, core's lock writes). `hold`
 * keeps etcd's bytes back from now on; `holdOnce(needle)` starts holding the moment a request
 * containing `needle` passes, since etcd3 may open a new connection for the very request whose
 * reply is to be lost, and that connection's handshake must still get through.
 */
export async function replyEatingProxy(target: string): Promise<ReplyEatingProxy> {
  const u = new URL(target);
  const sockets = new Set<net.Socket>();
  let trigger: { needle: Buffer; fire: () => void } | undefined;
  const state: ReplyEatingProxy = {
    url: '',
    hold: false,
    holdOnce: (needle) =>
      new Promise<void>((resolve) => {
        trigger = { needle: Buffer.from(needle), fire: resolve };
      }),
    drop: (): void => {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    close: async (): Promise<void> => {
      state.drop();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(u.port), u.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (d) => {
      if (trigger && d.includes(trigger.needle)) {
        state.hold = true;
        trigger.fire();
        trigger = undefined;
      }
      upstream.write(d);
    });
    upstream.on('data', (d) => void (state.hold ? undefined : client.write(d)));
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return state;
}
