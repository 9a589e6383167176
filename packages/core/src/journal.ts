/**
 * Run journals in etcd: `/galley/runs/<runId>/meta` ({cookbook}) and one key per entry
 * `/galley/runs/<runId>/j/<seq padded>`, so `--resume RUN_ID` can read them back in order.
 */
import type { Etcd3 } from 'etcd3';
import type { JournalEntry } from './cookbook.js';
import type { JournalStore, StoredJournal } from './execute.js';

export class EtcdJournal implements JournalStore {
  private readonly metaWritten = new Set<string>();
  constructor(
    private readonly etcd: Etcd3,
    private readonly prefix = '/galley/runs',
  ) {}

  async append(runId: string, cookbook: string, entry: JournalEntry): Promise<void> {
    const base = `${this.prefix}/${runId}`;
    if (!this.metaWritten.has(runId)) {
      await this.etcd
        .put(`${base}/meta`)
        .value(JSON.stringify({ cookbook, created: new Date().toISOString() }))
        .exec();
      this.metaWritten.add(runId);
    }
    const seq = typeof entry.seq === 'number' ? entry.seq : Date.now();
    await this.etcd
      .put(`${base}/j/${String(seq).padStart(8, '0')}`)
      .value(JSON.stringify(entry))
      .exec();
  }

  async read(runId: string): Promise<StoredJournal | undefined> {
    const base = `${this.prefix}/${runId}`;
    const meta = await this.etcd.get(`${base}/meta`).string();
    if (meta === null) return undefined;
    const { cookbook } = JSON.parse(meta) as { cookbook: string };
    const all = await this.etcd.getAll().prefix(`${base}/j/`).sort('Key', 'Ascend').strings();
    return { cookbook, entries: Object.values(all).map((v) => JSON.parse(v) as JournalEntry) };
  }
}
