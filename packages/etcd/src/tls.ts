import fs from 'node:fs';
import { GalleyError } from '@galley/errors';
import type { EtcdConfig } from './config.js';
import { EtcdErrorCode } from './errors.js';

/** The config's etcd TLS files, read (ERR_ETCD_TLS_FILE naming the file when one cannot be): for the gRPC and the gateway client alike. */
export function readTlsFiles(tls: EtcdConfig['tls']): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  const read = (what: string, file: string | undefined): Buffer | undefined => {
    if (file === undefined) return undefined;
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new GalleyError(EtcdErrorCode.TLS_FILE, `cannot read etcd TLS ${what} ${file}: ${(err as Error).message}`, {
        hint: 'check etcd.tls.ca/cert/key in the config (relative paths are relative to the config file)',
        cause: err,
      });
    }
  };
  const ca = read('CA', tls?.ca);
  const cert = read('certificate', tls?.cert);
  const key = read('key', tls?.key);
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}
