/**
 * The read-only store over etcd's JSON gateway (@galley/etcd/gateway, what `confctl select … get`
 * reads through) against the gRPC store (EtcdKv), on the lab's real etcd: every read answers the
 * same, entry for entry, including the revisions; the conftool model on top of each selects the
 * same; errors are the same codes. A disagreement prints the input and both answers.
 */
import net from 'node:net';
import { describe, expect, it } from '@jest/globals';
import { Etcd3 } from 'etcd3';
import { Conftool, connectEtcd, EtcdKv } from '@galley/confctl';
import { connectEtcdReadOnly } from '@galley/etcd/gateway';
import { sharedLab } from '@galley/lab/testing';

const ns = `/galley-test/gateway-${process.pid}-${Date.now()}`;

describe('read-only KvStore over the JSON gateway = EtcdKv (real etcd)', () => {
  it('range, get and revision answer exactly as the gRPC store does, over awkward keys and values', async () => {
    const lab = await sharedLab();
    const cfg = { endpoints: lab.info.etcd.endpoints, dialTimeoutMs: 3000, requestTimeoutMs: 5000 };
    const grpc = new EtcdKv(connectEtcd(cfg));
    const http = connectEtcdReadOnly(cfg);
    try {
      // Unicode, spaces, an empty value, a value with newlines and quotes, a key that is a prefix of
      // others, 0-revision-looking data, and enough keys to need more than one TCP read.
      const entries: [string, string][] = [
        [`${ns}/a`, ''],
        [`${ns}/a/b`, '{"pooled": "yes", "weight": 10}'],
        [`${ns}/a/b c`, 'line1\nline2 "quoted" \\ back'],
        [`${ns}/ünï/cødé/✓`, 'välue ✓'],
        [`${ns}/zz\u007f`, 'del char'],
        ...Array.from({ length: 1500 }, (_, i): [string, string] => [
          `${ns}/bulk/mw${1000 + i}.eqiad.wmnet`,
          JSON.stringify({ pooled: i % 3 ? 'yes' : 'no', weight: i }),
        ]),
      ];
      for (let i = 0; i < entries.length; i += 100) {
        await grpc.txn(
          [],
          entries.slice(i, i + 100).map(([key, value]) => ({ type: 'put' as const, key, value })),
        );
      }
      await grpc.txn([], [{ type: 'put', key: `${ns}/a/b`, value: '{"pooled": "no", "weight": 10}' }]); // version 2, mod > create
      for (const prefix of [`${ns}/`, `${ns}/a`, `${ns}/a/`, `${ns}/ünï/`, `${ns}/bulk/mw10`, `${ns}/none/`]) {
        const [a, b] = await Promise.all([grpc.range(prefix), http.range(prefix)]);
        expect({ prefix, gateway: b }).toEqual({ prefix, gateway: a });
      }
      for (const key of [`${ns}/a`, `${ns}/a/b`, `${ns}/ünï/cødé/✓`, `${ns}/missing`]) {
        const [a, b] = await Promise.all([grpc.get(key), http.get(key)]);
        expect({ key, gateway: b }).toEqual({ key, gateway: a });
      }
      expect(await http.revision()).toBe(await grpc.revision());
      expect((await http.range(`${ns}/`)).entries).toHaveLength(entries.length);

      // The conftool model over each store: the same selection, the same values.
      await grpc.txn(
        [],
        [
          { type: 'put', key: `${ns}/v1/pools/eqiad/jobrunner/nginx/mw1001.eqiad.wmnet`, value: '{"pooled": "yes", "weight": 10}' },
          {
            type: 'put',
            key: `${ns}/v1/pools/eqiad/jobrunner/nginx/mw1002.eqiad.wmnet`,
            value: '{"pooled": "inactive", "weight": 0, "note": "kept"}',
          },
        ],
      );
      const viaGrpc = await new Conftool(grpc, { namespace: ns }).select({ cluster: 'job.*' });
      const viaHttp = await new Conftool(http, { namespace: ns }).select({ cluster: 'job.*' });
      expect({ gateway: viaHttp }).toEqual({ gateway: viaGrpc });
      expect(viaHttp.map((n) => `${n.tags.name}=${n.pooled}`)).toEqual(['mw1001.eqiad.wmnet=yes', 'mw1002.eqiad.wmnet=inactive']);
      expect(() => http.txn([], [])).toThrow(/read-only/);
    } finally {
      const raw = new Etcd3({ hosts: lab.info.etcd.endpoints });
      await raw.delete().prefix(`${ns}/`);
      raw.close();
      grpc.close();
      http.close();
    }
  });

  it('an endpoint that does not answer: the next one is asked; none answering is ERR_ETCD_UNAVAILABLE naming them', async () => {
    const lab = await sharedLab();
    // A port nothing listens on (bound, then closed).
    const dead = await new Promise<string>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as net.AddressInfo;
        s.close(() => resolve(`http://127.0.0.1:${port}`));
      });
    });
    const ok = connectEtcdReadOnly({ endpoints: [dead, ...lab.info.etcd.endpoints], dialTimeoutMs: 1000, requestTimeoutMs: 3000 });
    expect(Number(await ok.revision())).toBeGreaterThan(0);
    const none = connectEtcdReadOnly({ endpoints: [dead], dialTimeoutMs: 1000, requestTimeoutMs: 1000 });
    await expect(none.range('/conftool/')).rejects.toMatchObject({ code: 'ERR_ETCD_UNAVAILABLE', message: expect.stringContaining(dead) });
  });
});
