import { AsyncLocalStorage } from 'node:async_hooks';
import { handleWhen, noop, retry } from 'cockatiel';
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  GRPCUnauthenticatedError,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  isRecoverableError,
  type IKeyValue,
  type IOptions,
  type Watcher,
} from 'etcd3';
import { GalleyError, isGalleyError } from '@galley/errors';
import type { EtcdConfig } from './config.js';
import { EtcdErrorCode, EtcdUnavailableError } from './errors.js';
import { readTlsFiles } from './tls.js';
import { registerEtcd3, type EtcdCompare, type KvEntry, type KvOp, type KvStore, type KvTxnResult, type KvWatchHandlers } from './kv.js';

const endpointsOf = new WeakMap<Etcd3, readonly string[]>();

/**
 * Set while EtcdKv sends a write txn. etcd3's global retry must not resend a txn after an error
 * that leaves open whether it was applied (deadline, dropped connection): the resend fails its
 * mod-revision compare and the first write looks like someone else's. The callers (Conftool, core's
 * locks) resolve those themselves (re-read, then record or report). The policy is per client, the call is not: this
 * async-context flag tells the retry predicate which kind of call failed.
 */
const inWriteTxn = new AsyncLocalStorage<true>();

/**
 * Run `fn` with etcd3's resend of a failed request off (clients from connectEtcd only), unless the
 * request never left this process. For writes whose resend would be misread: a txn whose compare
 * the first, applied attempt has made false, a delete whose count the first attempt has taken. The
 * caller resolves an isAmbiguousWriteError itself, by re-reading.
 */
export function asWriteTxn<T>(fn: () => Promise<T>): Promise<T> {
  return inWriteTxn.run(true, fn);
}

/**
 * The request never left this process (no connection to the member, or a request that could not
 * even be serialized): resending cannot apply it twice.
 */
export function neverSent(err: unknown): boolean {
  return err instanceof Error && /No connection established|ECONNREFUSED|serialization failure/.test(err.message);
}

/** kv.ts's isAmbiguousWriteError, for etcd3's errors (registered below). */
function ambiguousEtcd3Error(err: unknown): boolean {
  // EtcdKv wraps deadline/unavailable errors; the cause is what etcd3 threw.
  const raw = isGalleyError(err) && err.code === EtcdErrorCode.UNAVAILABLE ? (err as { cause?: unknown }).cause : err;
  if (!(raw instanceof Error) || neverSent(raw)) return false;
  return isRecoverableError(raw) || isUnavailable(raw);
}

/**
 * Build an etcd v3 client from config. No circuit breaker: with etcd3's default one, a single
 * malformed request opens the host breaker and the next good call fails for 5 s
 * (toolchain.md §3). Instead a recoverable error (member down, timeout) is retried once per
 * endpoint, each attempt on the next endpoint, so a cluster with one member down keeps working.
 * Write txns (EtcdKv.txn) are resent only when the request never left this process.
 */
export function connectEtcd(cfg: EtcdConfig): Etcd3 {
  const opts: IOptions = {
    hosts: cfg.endpoints,
    dialTimeout: cfg.dialTimeoutMs,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + cfg.requestTimeoutMs }),
    faultHandling: {
      host: () => noop,
      global: retry(
        handleWhen((err) => isRecoverableError(err) && (inWriteTxn.getStore() === undefined || neverSent(err))),
        { maxAttempts: cfg.endpoints.length },
      ),
    },
  };
  if (cfg.tls?.ca !== undefined || cfg.tls?.cert !== undefined) {
    const { ca, cert, key } = readTlsFiles(cfg.tls);
    opts.credentials = {
      rootCertificate: ca ?? Buffer.alloc(0),
      ...(key ? { privateKey: key } : {}),
      ...(cert ? { certChain: cert } : {}),
    };
    if (ca === undefined) delete (opts.credentials as { rootCertificate?: Buffer }).rootCertificate;
  }
  if (cfg.auth) opts.auth = { username: cfg.auth.username, password: cfg.auth.password };
  const client = new Etcd3(opts);
  endpointsOf.set(client, cfg.endpoints);
  return client;
}

export function isUnavailable(err: unknown): boolean {
  return (
    err instanceof GRPCUnavailableError ||
    err instanceof GRPCDeadlineExceededError ||
    (err instanceof Error && /UNAVAILABLE|DEADLINE_EXCEEDED|No connection established|ECONNREFUSED/.test(err.message))
  );
}

function entryOf(kv: IKeyValue): KvEntry {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    modRevision: String(kv.mod_revision),
    createRevision: String(kv.create_revision),
    version: String(kv.version),
    lease: String(kv.lease),
  };
}

/** KvStore over a real etcd v3 (gRPC; the v2 API is never used). */
export class EtcdKv implements KvStore {
  readonly kind = 'galley-kv' as const;
  readonly endpoints: readonly string[];

  constructor(readonly client: Etcd3) {
    this.endpoints = endpointsOf.get(client) ?? [];
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isUnavailable(err)) throw new EtcdUnavailableError(this.endpoints, err);
      if (
        err instanceof EtcdAuthenticationFailedError ||
        err instanceof GRPCUnauthenticatedError ||
        err instanceof EtcdPermissionDeniedError ||
        // auth is enabled on the server but the config has no credentials
        (err instanceof Error && /user name is empty/.test(err.message))
      ) {
        throw new GalleyError(EtcdErrorCode.AUTH, `etcd at ${this.endpoints.join(', ')} refused our credentials: ${err.message}`, {
          hint: "check etcd.auth.username/password (and the user's role on the conftool prefix) and etcd.tls.cert/key in the config",
          cause: err,
          details: { endpoints: this.endpoints },
        });
      }
      throw err;
    }
  }

  async range(prefix: string): Promise<{ entries: KvEntry[]; revision: string }> {
    const res = await this.call(() => this.client.getAll().prefix(prefix).exec());
    return { entries: res.kvs.map(entryOf), revision: String(res.header.revision) };
  }

  async get(key: string): Promise<KvEntry | undefined> {
    const res = await this.call(() => this.client.get(key).exec());
    const kv = res.kvs[0];
    return kv ? entryOf(kv) : undefined;
  }

  async txn(compares: readonly EtcdCompare[], ops: readonly KvOp[], readOnFailure?: string | readonly string[]): Promise<KvTxnResult> {
    const reads = readOnFailure === undefined ? [] : typeof readOnFailure === 'string' ? [readOnFailure] : readOnFailure;
    // No resend by etcd3 once the request may have reached etcd (see inWriteTxn).
    const res = await asWriteTxn(() =>
      this.call(() => {
        let b = this.client.if(
          compares[0]?.key ?? '\0',
          compares[0]?.target ?? 'Version',
          compares[0]?.op ?? '>',
          compares[0]?.value ?? -1,
        );
        for (const c of compares.slice(1)) b = b.and(c.key, c.target, c.op, c.value);
        // A txn needs at least one compare; `version > -1` on any key is always true.
        b = b.then(...ops.map((op) => (op.type === 'put' ? this.client.put(op.key).value(op.value) : this.client.delete().key(op.key))));
        if (reads.length > 0) b = b.else(...reads.map((k) => this.client.get(k)));
        return b.commit();
      }),
    );
    const out: KvTxnResult = { succeeded: res.succeeded, revision: String(res.header.revision) };
    if (!res.succeeded && reads.length > 0) {
      const currents = reads.map((_, i) => {
        const kv = res.responses[i]?.response_range?.kvs[0];
        return kv ? entryOf(kv) : undefined;
      });
      out.current = currents[0];
      if (typeof readOnFailure !== 'string') out.currents = currents;
    }
    return out;
  }

  async watch(prefix: string, fromRevision: string, h: KvWatchHandlers): Promise<{ close(): Promise<void> }> {
    const watcher: Watcher = this.client.watch().prefix(prefix).startRevision(fromRevision).watcher();
    watcher.on('put', (kv) => h.onEvent('put', entryOf(kv)));
    watcher.on('delete', (kv) => h.onEvent('delete', entryOf(kv)));
    watcher.on('error', (err) => h.onError(err));
    return {
      close: async () => {
        watcher.removeAllListeners();
        await watcher.cancel().catch(() => undefined);
      },
    };
  }

  async revision(): Promise<string> {
    const res = await this.call(() => this.client.get('\0').exec());
    return String(res.header.revision);
  }

  close(): void {
    this.client.close();
  }
}

registerEtcd3({ wrap: (client) => new EtcdKv(client as Etcd3), isAmbiguousWriteError: ambiguousEtcd3Error });
