import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import type { RecorderShared } from './base.js';
import { InventoryError, UnknownHostError } from './errors.js';
import { InventoryClient, type InventoryTransport } from './inventory.js';
import { HOST_STATUSES, type HostStatus, type InventoryRecord, type LifecycleHooks } from './types.js';

/** On disk: `hosts: { <fqdn>: { status: active, …other fields kept as-is } }`, YAML or JSON by extension. */
export interface InventoryFile {
  hosts: Record<string, { status: HostStatus; [field: string]: unknown }>;
}

const isJson = (file: string) => file.endsWith('.json');

export function readInventoryFile(file: string): InventoryFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new InventoryError(`cannot read the inventory file ${file}: ${(err as Error).message}`, { cause: err });
  }
  let data: unknown;
  try {
    data = isJson(file) ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    throw new InventoryError(`the inventory file ${file} is not valid ${isJson(file) ? 'JSON' : 'YAML'}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const hosts = (data as { hosts?: unknown } | null)?.hosts ?? {};
  if (typeof hosts !== 'object' || hosts === null || Array.isArray(hosts))
    throw new InventoryError(`the inventory file ${file} has no "hosts:" map`);
  for (const [h, rec] of Object.entries(hosts)) {
    const st = (rec as { status?: unknown } | null)?.status;
    if (!HOST_STATUSES.includes(st as HostStatus))
      throw new InventoryError(
        `the inventory file ${file}: host ${h} has status ${JSON.stringify(st)} (expected one of ${HOST_STATUSES.join(', ')})`,
      );
  }
  return { hosts: hosts as InventoryFile['hosts'] };
}

/** Write to a temp file in the same directory, then rename: readers see the old or the new file, never half. */
export function writeInventoryFile(file: string, inv: InventoryFile): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const text = isJson(file) ? JSON.stringify(inv, null, 2) + '\n' : YAML.stringify(inv);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** The YAML/JSON inventory file (the lab's). Writes hold a lock file so two runs never lose each other's updates. */
export class FileTransport implements InventoryTransport {
  readonly kind = 'file';
  readonly refusesUnknownHosts = true;
  readonly file: string;

  constructor(file: string) {
    this.file = path.resolve(file);
  }

  get label(): string {
    return this.file;
  }

  get source(): string {
    return this.file;
  }

  async close(): Promise<void> {
    // nothing held open
  }

  async get(host: string): Promise<InventoryRecord | undefined> {
    const rec = readInventoryFile(this.file).hosts[host];
    return rec ? { ...rec, host } : undefined;
  }

  async #update(host: string, fn: (inv: InventoryFile) => void): Promise<void> {
    const lock = `${this.file}.lock`;
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        fs.closeSync(fs.openSync(lock, 'wx'));
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
          throw new InventoryError(`cannot lock the inventory file ${this.file}: ${(err as Error).message}`, { cause: err });
        // A crashed writer's lock: anything older than 30 s is stale (writes take milliseconds).
        const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
        if (age > 30_000) fs.rmSync(lock, { force: true });
        else if (Date.now() > deadline)
          throw new InventoryError(`the inventory file ${this.file} stays locked (${lock})`, {
            hint: `remove ${lock} if no galley run is writing the inventory`,
          });
        else await sleep(20);
      }
    }
    try {
      const inv = readInventoryFile(this.file);
      if (!inv.hosts[host]) throw new UnknownHostError(host, this.file);
      fn(inv);
      writeInventoryFile(this.file, inv);
    } finally {
      fs.rmSync(lock, { force: true });
    }
  }

  async setStatus(host: string, status: HostStatus): Promise<void> {
    await this.#update(host, (inv) => {
      inv.hosts[host] = { ...inv.hosts[host]!, status };
    });
  }

  async remove(host: string): Promise<void> {
    await this.#update(host, (inv) => {
      delete inv.hosts[host];
    });
  }
}

/** `inventory: {type: file}`: the generic inventory over a FileTransport. */
export class FileInventory extends InventoryClient {
  constructor(file: string, hooks: LifecycleHooks = {}, shared?: RecorderShared) {
    super(new FileTransport(file), hooks, shared);
  }

  get file(): string {
    return (this.transport as FileTransport).file;
  }
}
