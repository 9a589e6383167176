import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LabNotFoundError, LabRunningError, LabStartError, LabUnknownError } from './errors.js';
import { configYaml, generateConfig } from './config.js';
import { etcdHealthy, planEtcd, startEtcdMember, waitEtcd, type EtcdMemberPlan } from './etcd.js';
import { labEtcd } from './etcd-client.js';
import { planFleet, type FleetPlan, type PlannedPool } from './plan.js';
import { isAlive, cmdline, pidsInMountNs, terminate, terminateGroup } from './procs.js';
import { seedConftool } from './seed.js';
import { readState, trackProcess, trackedProcess, writeState, type LabState } from './state.js';

export interface LabHost {
  name: string;
  address: string;
  port: number;
  dc: string;
  cluster: string;
  services: string[];
}

export interface LabInfo {
  dir: string;
  etcd: { endpoints: string[]; members: { name: string; clientUrl: string }[] };
  hosts: LabHost[];
  loadBalancers: { name: string; url: string }[];
  pools: PlannedPool[];
  /** DIR/cookbook.config.yaml (valid for @galley/config's parseConfig). */
  config: string;
  sshConfig: string;
  knownHosts: string;
  identityFile: string;
  /** Hosts reachable only through the bastion (ProxyJump). */
  bastion?: { name: string; behind: string[] };
  /** conftool namespace. */
  namespace: string;
}

export interface StartLabOptions {
  /** Lab directory (created if missing; must not hold a running lab). Default: a fresh temp dir. */
  dir?: string;
  hosts?: number;
  lbs?: number;
  etcdMembers?: number;
  /** PyBal simulators apply conftool changes this long after they happen. */
  pybalDelayMs?: number;
  /** How long a fake `systemctl restart` keeps the service down. */
  restartMs?: number;
  /** How long a simulated `reboot` keeps sshd away. */
  rebootMs?: number;
  ssh?: boolean;
  pybal?: boolean;
  /** Start a bastion and hosts reachable only through it (needs ssh). */
  bastion?: boolean;
  depoolThreshold?: number;
  namespace?: string;
}

type ResolvedOptions = Required<Omit<StartLabOptions, 'dir'>>;

/** Everything a later process (CLI, test worker) needs to drive a running lab: DIR/lab.json. */
interface LabFile extends LabInfo {
  lab: {
    version: 1;
    options: ResolvedOptions;
    token: string;
    etcdMembers: EtcdMemberPlan[];
    plan: FleetPlan;
  };
}

const DEFAULTS: ResolvedOptions = {
  hosts: 12,
  lbs: 2,
  etcdMembers: 1,
  pybalDelayMs: 200,
  restartMs: 300,
  rebootMs: 2000,
  ssh: true,
  pybal: true,
  bastion: false,
  depoolThreshold: 0.5,
  namespace: '/conftool',
};

export const labFile = (dir: string) => path.join(dir, 'lab.json');

export async function startLab(opts: StartLabOptions = {}): Promise<Lab> {
  const o: ResolvedOptions = { ...DEFAULTS, ...stripUndefined(opts) };
  if (!o.ssh) o.bastion = false;
  const created = opts.dir === undefined || !fs.existsSync(opts.dir);
  const dir = path.resolve(opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'galley-lab-')));
  fs.mkdirSync(dir, { recursive: true });
  const prev = readState(dir);
  if (prev && prev.processes.some((p) => isAlive(p.pid) && cmdline(p.pid) !== '')) throw new LabRunningError(dir);
  if (prev) await stopDir(dir); // leftovers of a crashed lab
  const token = crypto.randomBytes(4).toString('hex');
  const shmDir = fs.existsSync('/dev/shm') ? path.join('/dev/shm', `galley-lab-${token}`) : path.join(dir, 'data');
  const state: LabState = { version: 1, dir, createdDir: created, shmDir, startedAt: new Date().toISOString(), processes: [] };
  writeState(state);
  for (const d of ['logs']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.mkdirSync(shmDir, { recursive: true, mode: 0o700 });

  try {
    const plan = planFleet({ hosts: o.hosts, lbs: o.pybal ? o.lbs : 0, depoolThreshold: o.depoolThreshold });
    const members = await planEtcd(o.etcdMembers, shmDir);
    for (const m of members) {
      trackProcess(dir, { kind: 'etcd', name: m.name, pid: startEtcdMember(m, members, `galley-lab-${token}`, path.join(dir, 'logs')) });
    }
    const endpoints = members.map((m) => m.clientUrl);
    await Promise.all(members.map((m) => waitEtcd(m.clientUrl)));
    const etcd = labEtcd(endpoints);
    try {
      await seedConftool(etcd, o.namespace, plan.objects);
    } finally {
      etcd.close();
    }

    const info: LabInfo = {
      dir,
      etcd: { endpoints, members: members.map((m) => ({ name: m.name, clientUrl: m.clientUrl })) },
      hosts: [],
      loadBalancers: [],
      pools: plan.pools,
      config: path.join(dir, 'cookbook.config.yaml'),
      sshConfig: path.join(dir, 'ssh_config'),
      knownHosts: path.join(dir, 'known_hosts'),
      identityFile: path.join(dir, 'id_ed25519'),
      namespace: o.namespace,
    };
    const file: LabFile = { ...info, lab: { version: 1, options: o, token, etcdMembers: members, plan } };
    fs.writeFileSync(info.config, configYaml(generateConfig({ dir, etcdEndpoints: endpoints, namespace: o.namespace, ssh: o.ssh, loadBalancers: info.loadBalancers, pools: o.pybal ? plan.pools : [] })));
    fs.writeFileSync(labFile(dir), JSON.stringify(file, null, 2) + '\n');
    return new Lab(file);
  } catch (err) {
    await stopDir(dir).catch(() => undefined);
    throw new LabStartError(`the lab in ${dir} did not start: ${(err as Error).message}`, {
      hint: `see the logs under ${dir}/logs (kept until \`galley-lab down --dir ${dir}\`); everything started was stopped`,
      cause: err,
    });
  }
}

export async function openLab(dir: string): Promise<Lab> {
  const abs = path.resolve(dir);
  let file: LabFile;
  try {
    file = JSON.parse(fs.readFileSync(labFile(abs), 'utf8')) as LabFile;
  } catch {
    throw new LabNotFoundError(abs);
  }
  return new Lab(file);
}

/**
 * Stop everything recorded in DIR/state.json and remove what the lab created. Safe after a
 * partial or crashed start, and idempotent. A recorded pid is only killed if its command line
 * still mentions the lab (pids are reused after a crash).
 */
export async function stopDir(dir: string): Promise<void> {
  const abs = path.resolve(dir);
  const s = readState(abs);
  if (!s) return;
  const hostKills: Promise<void>[] = [];
  const groupKills: Promise<void>[] = [];
  for (const p of s.processes) {
    if (p.kind === 'host' && p.mntns) {
      // Every process of a host (sshd, sessions, hung `systemctl restart`s) shares its mount namespace.
      hostKills.push(terminate(pidsInMountNs(p.mntns), 2000));
    } else if (isAlive(p.pid) && ownedBy(p.pid, abs, s)) {
      groupKills.push(terminateGroup(p.pid, 1000));
    }
  }
  await Promise.all([...hostKills, ...groupKills]);
  fs.rmSync(s.shmDir, { recursive: true, force: true });
  if (s.createdDir) {
    fs.rmSync(abs, { recursive: true, force: true });
  } else {
    for (const f of ['state.json', 'lab.json', 'cookbook.config.yaml', 'ssh_config', 'known_hosts', 'id_ed25519', 'id_ed25519.pub', 'authorized_keys', 'hosts', 'lb', 'logs', 'data']) {
      fs.rmSync(path.join(abs, f), { recursive: true, force: true });
    }
  }
}

function ownedBy(pid: number, dir: string, s: LabState): boolean {
  const cl = cmdline(pid);
  return cl.includes(dir) || cl.includes(s.shmDir);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export class Lab {
  readonly info: LabInfo;
  readonly #file: LabFile;

  constructor(file: LabFile) {
    this.#file = file;
    const { lab: _internal, ...info } = file;
    this.info = info;
  }

  get dir(): string {
    return this.info.dir;
  }

  get options(): Readonly<ResolvedOptions> {
    return this.#file.lab.options;
  }

  /** The seeded fleet plan (hosts, conftool objects with their initial state, pools). */
  get plan(): FleetPlan {
    return this.#file.lab.plan;
  }

  async stop(): Promise<void> {
    await stopDir(this.info.dir);
  }

  /** Re-seed conftool to the initial tree. */
  async reset(): Promise<void> {
    const etcd = labEtcd(this.info.etcd.endpoints);
    try {
      await seedConftool(etcd, this.info.namespace, this.plan.objects);
    } finally {
      etcd.close();
    }
  }

  #member(name: string): EtcdMemberPlan {
    const m = this.#file.lab.etcdMembers.find((x) => x.name === name);
    if (!m) throw new LabUnknownError('etcd member', name, this.#file.lab.etcdMembers.map((x) => x.name));
    return m;
  }

  async etcdStop(member: string): Promise<void> {
    this.#member(member);
    const p = trackedProcess(this.dir, 'etcd', member);
    if (p && isAlive(p.pid)) await terminateGroup(p.pid);
  }

  async etcdStart(member: string): Promise<void> {
    const m = this.#member(member);
    const p = trackedProcess(this.dir, 'etcd', member);
    if (p && isAlive(p.pid) && (await etcdHealthy(m.clientUrl))) return;
    const pid = startEtcdMember(m, this.#file.lab.etcdMembers, `galley-lab-${this.#file.lab.token}`, path.join(this.dir, 'logs'));
    trackProcess(this.dir, { kind: 'etcd', name: member, pid });
    // A lone member of a 3-member cluster is not "healthy" until it rejoins a quorum; wait for the port only then.
    await waitEtcd(m.clientUrl, 15000).catch(async (err: unknown) => {
      if (this.#file.lab.etcdMembers.length === 1) throw err;
    });
  }

  /** Is every tracked process alive and every endpoint answering? */
  async status(): Promise<{ component: string; name: string; ok: boolean; detail: string }[]> {
    const out: { component: string; name: string; ok: boolean; detail: string }[] = [];
    for (const m of this.#file.lab.etcdMembers) {
      const ok = await etcdHealthy(m.clientUrl);
      out.push({ component: 'etcd', name: m.name, ok, detail: `${m.clientUrl} ${ok ? 'healthy' : 'unhealthy'}` });
    }
    return out;
  }
}

export function writeLabFile(file: LabFile): void {
  fs.writeFileSync(labFile(file.dir), JSON.stringify(file, null, 2) + '\n');
}

export type { LabFile, ResolvedOptions };
