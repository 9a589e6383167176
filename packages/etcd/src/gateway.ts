/**
 * A read-only KvStore over etcd's own JSON gateway (`POST /v3/kv/range`, served by every etcd v3 on
 * its client URL), for commands that only read: `confctl select … get` over 10,000 objects spends
 * about 0.2 s of CPU just loading etcd3, grpc-js and protobufjs, and ~80 ms decoding protobuf; this
 * needs node:http and JSON.parse. Same answers as EtcdKv (the KvStore read contract runs against
 * both, on the lab's etcd), same errors (ERR_ETCD_UNAVAILABLE / ERR_ETCD_AUTH / ERR_ETCD_TLS_FILE),
 * endpoints tried in order, TLS and user/password auth as the config gives them. Writes and watches
 * are a bug here: they throw.
 */
import http from 'node:http';
import https from 'node:https';
import { GalleyError } from '@galley/errors';
import type { EtcdConfig } from './config.js';
import { EtcdErrorCode, EtcdUnavailableError } from './errors.js';
import { readTlsFiles } from './tls.js';
import type { KvEntry, KvStore } from './kv.js';

interface GatewayKv {
  key: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
  lease?: string;
}
interface RangeReply {
  header?: { revision?: string };
  kvs?: GatewayKv[];
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));

/** etcd's range_end for "every key with this prefix": the prefix with its last byte incremented. */
function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix, 'utf8');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i]! += 1;
      return end.toString('base64');
    }
  }
  return Buffer.from([0]).toString('base64'); // all 0xff: to the end of the keyspace
}

function entryOf(kv: GatewayKv): KvEntry {
  // The gateway omits zero-valued fields (proto3 JSON): a missing revision is "0".
  return {
    key: unb64(kv.key),
    value: unb64(kv.value),
    createRevision: kv.create_revision ?? '0',
    modRevision: kv.mod_revision ?? '0',
    version: kv.version ?? '0',
    lease: kv.lease ?? '0',
  };
}

class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}: ${body.slice(0, 200)}`);
  }
}

export class EtcdGatewayKv implements KvStore {
  readonly kind = 'galley-kv' as const;
  readonly endpoints: readonly string[];
  readonly #cfg: EtcdConfig;
  readonly #tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  #token: Promise<string> | undefined;
  /** The endpoint that answered last: tried first next time. */
  #first = 0;

  constructor(cfg: EtcdConfig) {
    this.#cfg = cfg;
    this.endpoints = cfg.endpoints;
    this.#tls = readTlsFiles(cfg.tls);
  }

  async range(prefix: string): Promise<{ entries: KvEntry[]; revision: string }> {
    const r = await this.#call<RangeReply>('/v3/kv/range', { key: b64(prefix), range_end: prefixEnd(prefix) });
    return { entries: (r.kvs ?? []).map(entryOf), revision: r.header?.revision ?? '0' };
  }

  async get(key: string): Promise<KvEntry | undefined> {
    const r = await this.#call<RangeReply>('/v3/kv/range', { key: b64(key) });
    const kv = r.kvs?.[0];
    return kv ? entryOf(kv) : undefined;
  }

  async revision(): Promise<string> {
    const r = await this.#call<RangeReply>('/v3/kv/range', { key: b64('\0') });
    return r.header?.revision ?? '0';
  }

  txn(): never {
    throw new Error('EtcdGatewayKv is read-only: writes go through connectEtcd (a write txn must never be resent blindly)');
  }

  watch(): never {
    throw new Error('EtcdGatewayKv is read-only: watches go through connectEtcd');
  }

  close(): void {
    // Nothing to close: one request per connection (no keep-alive agent), none left open.
  }

  /** POST to each endpoint in turn until one answers; an answer that is an error is not retried elsewhere. */
  async #call<T>(path: string, body: unknown, auth = true): Promise<T> {
    const token = auth && this.#cfg.auth ? await this.#authToken() : undefined;
    let last: unknown;
    const n = this.endpoints.length;
    for (let i = 0; i < n; i++) {
      const at = (this.#first + i) % n;
      try {
        const out = await this.#post<T>(this.endpoints[at]!, path, body, token);
        this.#first = at;
        return out;
      } catch (err) {
        if (err instanceof HttpStatusError) throw this.#answered(err);
        last = err;
      }
    }
    throw new EtcdUnavailableError(this.endpoints, last);
  }

  #authToken(): Promise<string> {
    const auth = this.#cfg.auth!;
    this.#token ??= this.#call<{ token?: string }>('/v3/auth/authenticate', { name: auth.username, password: auth.password }, false).then(
      (r) => {
        if (!r.token) throw this.#authError('etcd answered the authentication without a token');
        return r.token;
      },
    );
    return this.#token;
  }

  #answered(err: HttpStatusError): Error {
    // gRPC codes through the gateway: 16 unauthenticated, 7 permission denied; auth errors come as 4xx/5xx with a JSON body.
    if (
      err.status === 401 ||
      err.status === 403 ||
      /authentication failed|permission denied|user name is empty|invalid auth token|unauthenticated/i.test(err.body)
    ) {
      return this.#authError(err.message, err);
    }
    return new EtcdUnavailableError(this.endpoints, err);
  }

  #authError(why: string, cause?: unknown): GalleyError {
    return new GalleyError(EtcdErrorCode.AUTH, `etcd at ${this.endpoints.join(', ')} refused our credentials: ${why}`, {
      hint: "check etcd.auth.username/password (and the user's role on the conftool prefix) and etcd.tls.cert/key in the config",
      cause,
      details: { endpoints: this.endpoints },
    });
  }

  #post<T>(endpoint: string, path: string, body: unknown, token: string | undefined): Promise<T> {
    const url = new URL(path, endpoint.endsWith('/') ? endpoint : `${endpoint}/`);
    const data = JSON.stringify(body);
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      const req = mod.request(
        url,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(data),
            ...(token ? { authorization: token } : {}),
          },
          timeout: this.#cfg.requestTimeoutMs,
          ...(url.protocol === 'https:' ? this.#tls : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200) return reject(new HttpStatusError(res.statusCode ?? 0, text));
            try {
              resolve(JSON.parse(text) as T);
            } catch (err) {
              reject(new Error(`etcd's JSON gateway answered something that is not JSON: ${(err as Error).message}`));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.#cfg.requestTimeoutMs} ms`)));
      req.on('error', reject);
      req.end(data);
    });
  }
}

/** A read-only KvStore for commands that only read (see the file comment); writes need connectEtcd. */
export function connectEtcdReadOnly(cfg: EtcdConfig): KvStore {
  return new EtcdGatewayKv(cfg);
}
