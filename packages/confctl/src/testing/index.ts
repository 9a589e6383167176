import { Conftool, type ConftoolOptions } from '../conftool.js';
import type { FleetDescription } from '../fleet.js';
import { MemoryKv } from '@galley/etcd/testing';

// @galley/etcd's in-memory store, re-exported beside FakeConftool, which is built on it.
export { MemoryKv } from '@galley/etcd/testing';
export { describeConftoolContract, type ContractEnv } from './contract.js';

/**
 * The real Conftool logic over an in-memory store: for other packages' unit tests. `kv` gives
 * raw access (put bad values, simulate a concurrent writer, compact).
 */
export class FakeConftool extends Conftool {
  readonly memory: MemoryKv;
  constructor(
    opts: ConftoolOptions & { kv?: MemoryKv; fleet?: FleetDescription; values?: Record<string, { pooled?: string; weight?: number }> } = {},
  ) {
    const kv = opts.kv ?? new MemoryKv();
    super(kv, opts);
    this.memory = kv;
  }

  /**
   * Seed objects synchronously: `{'eqiad/jobrunner/nginx/mw1001.eqiad.wmnet': {pooled: 'yes', weight: 10}}`.
   * Values are written raw (not validated), so tests can plant invalid ones.
   */
  seed(objects: Record<string, unknown>): this {
    for (const [spec, v] of Object.entries(objects)) {
      this.memory.put(`${this.namespace === '/' ? '' : this.namespace}/v1/pools/${spec}`, typeof v === 'string' ? v : JSON.stringify(v));
    }
    return this;
  }
}
