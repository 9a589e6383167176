import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Etcd3 } from 'etcd3';
import { Conftool, connectEtcd } from '@galley/confctl';
import { connectEtcdReadOnly } from '@galley/etcd/gateway';

// The lab's etcd is plain HTTP without auth, so this file starts two throwaway etcd servers of its
// own: one with TLS and client-certificate auth, one with user/password auth.
jest.setTimeout(60000);

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

async function startEtcd(
  dir: string,
  name: string,
  scheme: 'http' | 'https',
  extra: string[],
): Promise<{ proc: ChildProcess; endpoint: string }> {
  const [cp, pp] = [await freePort(), await freePort()];
  const endpoint = `${scheme}://127.0.0.1:${cp}`;
  const proc = spawn(
    'etcd',
    [
      '--name',
      name,
      '--data-dir',
      path.join(dir, name),
      '--listen-client-urls',
      endpoint,
      '--advertise-client-urls',
      endpoint,
      '--listen-peer-urls',
      `http://127.0.0.1:${pp}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${pp}`,
      '--initial-cluster',
      `${name}=http://127.0.0.1:${pp}`,
      '--initial-cluster-state',
      'new',
      '--logger',
      'zap',
      '--log-level',
      'error',
      ...extra,
    ],
    { stdio: 'ignore' },
  );
  // Ready when the client port accepts connections.
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(cp, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    if (i > 200) throw new Error(`etcd ${name} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 300));
  return { proc, endpoint };
}

describe('etcd connection with TLS client certificates and with user/password auth', () => {
  let dir: string;
  const procs: ChildProcess[] = [];
  let tlsEndpoint: string;
  let authEndpoint: string;
  const pem = (f: string): string => path.join(dir, f);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'confctl-tls-'));
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=galley-test-ca',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
    );
    fs.writeFileSync(pem('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
    fs.writeFileSync(pem('client.ext'), 'extendedKeyUsage=clientAuth\n');
    for (const [who, cn] of [
      ['server', 'localhost'],
      ['client', 'root'],
    ] as const) {
      ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${who}.key`, '-out', `${who}.csr`);
      ssl(
        'x509',
        '-req',
        '-in',
        `${who}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '1',
        '-extfile',
        `${who}.ext`,
        '-out',
        `${who}.pem`,
      );
    }
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=other-ca',
      '-keyout',
      'other.key',
      '-out',
      'other.pem',
    );
    const tls = await startEtcd(dir, 'tls', 'https', [
      '--cert-file',
      pem('server.pem'),
      '--key-file',
      pem('server.key'),
      '--client-cert-auth',
      '--trusted-ca-file',
      pem('ca.pem'),
    ]);
    procs.push(tls.proc);
    tlsEndpoint = tls.endpoint;
    const auth = await startEtcd(dir, 'auth', 'http', []);
    procs.push(auth.proc);
    authEndpoint = auth.endpoint;
    const admin = new Etcd3({ hosts: authEndpoint });
    await admin.user('root').create('rootpw');
    await admin.user('root').addRole('root');
    await admin.auth.authEnable({});
    admin.close();
  });

  afterAll(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads and writes over TLS with a client certificate', async () => {
    const ct = new Conftool(
      connectEtcd({
        endpoints: [tlsEndpoint],
        tls: { ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client.key') },
        dialTimeoutMs: 2000,
        requestTimeoutMs: 3000,
      }),
    );
    try {
      await ct.sync({ eqiad: { appserver: { mw1001: { nginx: { pooled: 'yes', weight: 10 } } } } });
      expect(await ct.update({ name: 'mw1001' }, { pooled: 'no' })).toHaveLength(1);
      expect((await ct.select({ name: 'mw1001' }))[0]!.pooled).toBe('no');
    } finally {
      ct.close();
    }
  });

  it('fails clearly, naming the endpoint, with a CA that does not match or without a client certificate', async () => {
    for (const tls of [{ ca: pem('other.pem'), cert: pem('client.pem'), key: pem('client.key') }, { ca: pem('ca.pem') }]) {
      const ct = new Conftool(connectEtcd({ endpoints: [tlsEndpoint], tls, dialTimeoutMs: 1000, requestTimeoutMs: 2000 }));
      try {
        const err = await ct.get({}).then(
          (): Error & { code?: string } => new Error('no error'),
          (e: unknown) => e as Error & { code?: string },
        );
        expect(err.code).toBe('ERR_ETCD_UNAVAILABLE');
        expect(err.message).toContain(tlsEndpoint);
      } finally {
        ct.close();
      }
    }
    expect(() =>
      connectEtcd({ endpoints: [tlsEndpoint], tls: { ca: pem('missing.pem') }, dialTimeoutMs: 1000, requestTimeoutMs: 1000 }),
    ).toThrow(expect.objectContaining({ code: 'ERR_ETCD_TLS_FILE', message: expect.stringContaining('missing.pem') }));
  });

  it('authenticates with user/password; a wrong password is ERR_ETCD_AUTH naming the endpoint', async () => {
    const good = new Conftool(
      connectEtcd({
        endpoints: [authEndpoint],
        auth: { username: 'root', password: 'rootpw' },
        dialTimeoutMs: 2000,
        requestTimeoutMs: 3000,
      }),
    );
    try {
      await good.sync({ eqiad: { appserver: { mw1001: { nginx: null } } } });
      expect(await good.get({})).toHaveLength(1);
    } finally {
      good.close();
    }
    const bad = new Conftool(
      connectEtcd({
        endpoints: [authEndpoint],
        auth: { username: 'root', password: 'wrong' },
        dialTimeoutMs: 2000,
        requestTimeoutMs: 3000,
      }),
    );
    try {
      await expect(bad.get({})).rejects.toMatchObject({ code: 'ERR_ETCD_AUTH', message: expect.stringContaining(authEndpoint) });
    } finally {
      bad.close();
    }
    const anonymous = new Conftool(connectEtcd({ endpoints: [authEndpoint], dialTimeoutMs: 2000, requestTimeoutMs: 3000 }));
    try {
      await expect(anonymous.get({})).rejects.toMatchObject({ code: 'ERR_ETCD_AUTH' });
    } finally {
      anonymous.close();
    }
  });

  it('the read-only store over the JSON gateway (what `confctl select … get` reads through) does TLS and user/password auth, with the same error codes', async () => {
    const tls = { ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client.key') };
    const seed = new Conftool(connectEtcd({ endpoints: [tlsEndpoint], tls, dialTimeoutMs: 2000, requestTimeoutMs: 3000 }));
    try {
      await seed.sync({ eqiad: { appserver: { mw1009: { nginx: { pooled: 'yes', weight: 7 } } } } });
    } finally {
      seed.close();
    }
    const opts = { dialTimeoutMs: 1000, requestTimeoutMs: 3000 };
    expect(
      (await new Conftool(connectEtcdReadOnly({ endpoints: [tlsEndpoint], tls, ...opts })).select({ name: 'mw1009' })).map((n) => n.weight),
    ).toEqual([7]);
    for (const bad of [{ ca: pem('other.pem'), cert: pem('client.pem'), key: pem('client.key') }, { ca: pem('ca.pem') }]) {
      await expect(new Conftool(connectEtcdReadOnly({ endpoints: [tlsEndpoint], tls: bad, ...opts })).get({})).rejects.toMatchObject({
        code: 'ERR_ETCD_UNAVAILABLE',
        message: expect.stringContaining(tlsEndpoint),
      });
    }
    expect(() => connectEtcdReadOnly({ endpoints: [tlsEndpoint], tls: { ca: pem('missing.pem') }, ...opts })).toThrow(
      expect.objectContaining({ code: 'ERR_ETCD_TLS_FILE', message: expect.stringContaining('missing.pem') }),
    );
    expect(
      await new Conftool(connectEtcdReadOnly({ endpoints: [authEndpoint], auth: { username: 'root', password: 'rootpw' }, ...opts })).get(
        {},
      ),
    ).toHaveLength(1);
    for (const auth of [{ username: 'root', password: 'wrong' }, undefined]) {
      await expect(
        new Conftool(connectEtcdReadOnly({ endpoints: [authEndpoint], ...(auth ? { auth } : {}), ...opts })).get({}),
      ).rejects.toMatchObject({
        code: 'ERR_ETCD_AUTH',
        message: expect.stringContaining(authEndpoint),
      });
    }
  });
});
