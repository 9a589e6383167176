import fs from 'node:fs';
import path from 'node:path';

/**
 * DIR/state.json: every process, namespace and tmpfs directory the lab creates is recorded here
 * *as it is created*, so that `down` can clean up after a partial or crashed `up`.
 */
export interface TrackedProcess {
  kind: 'etcd' | 'host' | 'pybal' | 'lifecycle' | 'alertmanager';
  name: string;
  pid: number;
  /** For hosts: the mount namespace (`mnt:[…]`) every process of that host lives in. */
  mntns?: string;
}

export interface LabState {
  version: 1;
  dir: string;
  createdDir: boolean;
  /**
   * DIR existed: the top-level entries `up` created in it (recorded before creating them). `down`
   * removes these and nothing else at the top level. Absent in labs started by older versions.
   */
  created?: string[];
  /**
   * DIR existed and already had some of the lab's directories (e.g. `logs/`): their entries
   * before `up`. `down` keeps the directory and these entries, and removes what was added.
   */
  kept?: Record<string, string[]>;
  shmDir: string;
  startedAt: string;
  processes: TrackedProcess[];
  /** Network links (the bastion's veth) to delete if they outlive their namespace. */
  links?: string[];
}

export const stateFile = (dir: string) => path.join(dir, 'state.json');

export function readState(dir: string): LabState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(dir), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

export function writeState(s: LabState): void {
  const tmp = `${stateFile(s.dir)}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n');
  fs.renameSync(tmp, stateFile(s.dir));
}

/** Record (or replace) one process; read-modify-write so concurrent CLI calls see each other's pids. */
export function trackProcess(dir: string, p: TrackedProcess): void {
  const s = readState(dir);
  if (!s) throw new Error(`no lab state in ${dir}`);
  s.processes = s.processes.filter((q) => !(q.kind === p.kind && q.name === p.name));
  s.processes.push(p);
  writeState(s);
}

export function trackedProcess(dir: string, kind: TrackedProcess['kind'], name: string): TrackedProcess | undefined {
  return readState(dir)?.processes.find((p) => p.kind === kind && p.name === name);
}

export function trackLink(dir: string, link: string): void {
  const s = readState(dir);
  if (!s) throw new Error(`no lab state in ${dir}`);
  s.links = [...(s.links ?? []), link];
  writeState(s);
}
