import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { configYaml, generateConfig } from './config.js';
import { etcdHealthy, planEtcd, startEtcdMember, waitEtcd, type EtcdMemberPlan } from './etcd.js';
import { labEtcd } from './etcd-client.js';
import {
  LabDirConflictError,
  LabNoAlertmanagerError,
  LabNoSshError,
  LabNotFoundError,
  LabOptionError,
  LabRunningError,
  LabStartError,
  LabUnknownError,
} from './errors.js';
import {
  checkHostPrerequisites,
  killSessions,
  prepareHostState,
  pickBastionSubnet,
  prepareClientKey,
  prepareHost,
  prepareHostCa,
  recordHostNamespace,
  sshConfigText,
  startHostProcess,
  waitHostUp,
  wireBastion,
  type HostSpec,
} from './hosts.js';
import {
  alertmanagerReady,
  checkAlertmanagerPrerequisite,
  expireSilence,
  listAlerts,
  listSilences,
  postAlert,
  serviceAlert,
  startAlertmanager,
  waitAlertmanager,
  type LabAlert,
  type LabSilence,
} from './alertmanager.js';
import { startLifecycle } from './lifecycle.js';
import { planFleet, type FleetPlan, type PlannedPool } from './plan.js';
import { PYBAL_MODES, type PybalMode } from './pybal/coordinator.js';
import { simulatorEntry } from './pybal/launch.js';
import type { Faults, SimConfig, SimHistoryEntry } from './pybal/sim.js';
import {
  cmdline,
  freePorts,
  labLoopbackAddress,
  isAlive,
  mountNs,
  pidsInMountNamespaces,
  spawnDetached,
  tcpOpen,
  terminate,
  terminateGroup,
  waitFor,
} from './procs.js';
import { describeRestartMs, restartTimes, type RestartMs, type RestartRange } from './restart-times.js';
import { seedConftool } from './seed.js';
import { readState, stateFile, trackLink, trackProcess, trackedProcess, writeState, type LabState } from './state.js';

const run = promisify(execFile);

export interface LabHost {
  name: string;
  address: string;
  port: number;
  dc: string;
  cluster: string;
  services: string[];
  /** How long `systemctl restart` takes on this host as started (`galley-lab slow` changes it for now). */
  restartMs: number;
}

export interface LabInfo {
  dir: string;
  etcd: { endpoints: string[]; members: { name: string; clientUrl: string }[] };
  /** The fleet: every host has conftool objects for its services. */
  hosts: LabHost[];
  loadBalancers: { name: string; url: string }[];
  pools: PlannedPool[];
  /** DIR/cookbook.config.yaml (valid for @galley/config's parseConfig). */
  config: string;
  sshConfig: string;
  knownHosts: string;
  identityFile: string;
  /** Hosts reachable only through the bastion (ProxyJump, see ssh_config); not in `hosts`. */
  bastion?: { name: string; behind: string[] };
  /**
   * `up --host-ca`: every host key is certified by this CA and sshd presents the certificate;
   * `knownHosts` holds only its `@cert-authority` line (DIR/known_hosts.ca). DIR/known_hosts
   * still lists the plain keys.
   */
  hostCa?: { publicKey: string; knownHosts: string };
  /** The bastion and the hosts behind it (address/port as seen from the bastion's network). */
  extraHosts: LabHost[];
  /** conftool namespace. */
  namespace: string;
  /** How the PyBal simulators behave (`--pybal-mode`; README "PyBal simulators"). */
  pybalMode: PybalMode;
  /** The lab's real Alertmanager (absent: started with `alertmanager: false`, or a lab from before it). */
  alertmanager?: { url: string };
}

export interface StartLabOptions {
  /** Lab directory (created if missing; must not hold a running lab). Default: a fresh temp dir. */
  dir?: string;
  hosts?: number;
  lbs?: number;
  etcdMembers?: number;
  /** PyBal simulators apply conftool changes this long after they happen. */
  pybalDelayMs?: number;
  /**
   * How long a fake `systemctl restart` keeps the service down: one time for every host (default
   * 300), `{ min, max, seed? }` for a reproducible pick per host (a hash of the FQDN and seed),
   * or a function of the FQDN. Each host's time is in `info.hosts[].restartMs`.
   */
  restartMs?: RestartMs;
  /** How long a simulated `reboot` keeps sshd away. */
  rebootMs?: number;
  ssh?: boolean;
  pybal?: boolean;
  /** Start a bastion and two hosts reachable only through it (needs ssh). */
  bastion?: boolean;
  /** Certify every host key with a lab CA and write DIR/known_hosts.ca with only `@cert-authority` (needs ssh). */
  hostCa?: boolean;
  depoolThreshold?: number;
  namespace?: string;
  /** How often the simulators health-check backends. */
  checkIntervalMs?: number;
  /**
   * The simulators' coordinator: `wikitech` (default: the Wikitech page's semantics, a `no`
   * server kept pooled while depooling it would breach the threshold) or `upstream` (PyBal's
   * coordinator.py step by step: `no` always leaves the pool, the threshold force-pools enabled
   * servers only). Anything else: ERR_LAB_BAD_OPTION before anything starts.
   */
  pybalMode?: PybalMode;
  /** Start a real Alertmanager (Debian prometheus-alertmanager) on loopback (default true). */
  alertmanager?: boolean;
}

/** The options a lab was started with, as lab.json records them (a restartMs function reads 'per-host'). */
type ResolvedOptions = Required<Omit<StartLabOptions, 'dir' | 'restartMs'>> & { restartMs: number | RestartRange | 'per-host' };

/** Everything a later process (CLI, test worker) needs to drive a running lab: DIR/lab.json. */
export interface LabFile extends LabInfo {
  lab: {
    version: 1;
    options: ResolvedOptions;
    token: string;
    etcdMembers: EtcdMemberPlan[];
    plan: FleetPlan;
    hosts: HostSpec[];
    lbPorts: Record<string, number>;
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
  hostCa: false,
  depoolThreshold: 0.5,
  namespace: '/conftool',
  checkIntervalMs: 200,
  pybalMode: 'wikitech',
  alertmanager: true,
};

/** `--pybal-mode` / `pybalMode`, checked before anything starts. */
export function checkPybalMode(v: unknown): PybalMode {
  if (typeof v === 'string' && (PYBAL_MODES as readonly string[]).includes(v)) return v as PybalMode;
  throw new LabOptionError('--pybal-mode', String(v), `one of ${PYBAL_MODES.join(', ')} (default wikitech)`);
}

export const BASTION = 'bast1003.wikimedia.org';
export const RESTRICTED = ['restricted1001.eqiad.wmnet', 'restricted1002.eqiad.wmnet'];

export const labFile = (dir: string) => path.join(dir, 'lab.json');

/** Top-level files `up` writes into DIR (it never overwrites one it did not create). */
const LAB_FILES = [
  'state.json',
  'lab.json',
  'cookbook.config.yaml',
  'ssh_config',
  'known_hosts',
  'id_ed25519',
  'id_ed25519.pub',
  'authorized_keys',
  'host_ca',
  'host_ca.pub',
  'known_hosts.ca',
];
/** Top-level directories `up` writes into (an existing one is used, and kept by `down`). */
const LAB_DIRS = ['hosts', 'lb', 'logs', 'data', 'lifecycle', 'alertmanager'];

/**
 * In an existing DIR: which lab entries `up` will create, and the entries of lab directories that
 * were already there. Throws if a lab file (or a file where a lab directory goes) is in the way.
 */
function claimEntries(dir: string): { created: string[]; kept: Record<string, string[]> } {
  const created: string[] = [];
  const kept: Record<string, string[]> = {};
  const conflicts: string[] = [];
  for (const name of [...LAB_FILES, ...LAB_DIRS]) {
    const p = path.join(dir, name);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      created.push(name);
      continue;
    }
    if (LAB_DIRS.includes(name) && st.isDirectory()) kept[name] = fs.readdirSync(p);
    else conflicts.push(name);
  }
  if (conflicts.length > 0) throw new LabDirConflictError(dir, conflicts);
  return { created, kept };
}

function childEnv(): NodeJS.ProcessEnv {
  // jest's --experimental-vm-modules etc. are not for our children.
  const { NODE_OPTIONS: _n, ...env } = process.env;
  return env;
}

export async function startLab(opts: StartLabOptions = {}): Promise<Lab> {
  const { restartMs: restartSpec = DEFAULTS.restartMs as RestartMs, ...rest } = stripUndefined(opts);
  const o: ResolvedOptions = { ...DEFAULTS, ...rest, restartMs: describeRestartMs(restartSpec) };
  o.pybalMode = checkPybalMode(o.pybalMode);
  if (!o.ssh) {
    o.bastion = false;
    o.hostCa = false;
  }
  // Every host's restart time, checked before anything is written or started.
  const plan = planFleet({ hosts: o.hosts, lbs: o.pybal ? o.lbs : 0, depoolThreshold: o.depoolThreshold });
  const restart = restartTimes(restartSpec, [...plan.hosts.map((h) => h.name), ...(o.ssh && o.bastion ? [BASTION, ...RESTRICTED] : [])]);
  if (o.ssh) checkHostPrerequisites();
  if (o.alertmanager) checkAlertmanagerPrerequisite();
  const created = opts.dir === undefined || !fs.existsSync(opts.dir);
  const dir = path.resolve(opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'galley-lab-')));
  fs.mkdirSync(dir, { recursive: true });
  const prev = readState(dir);
  if (prev && prev.processes.some((p) => isAlive(p.pid) && (p.kind === 'host' || ownedBy(p.pid, dir, prev))))
    throw new LabRunningError(dir);
  if (prev) await stopDir(dir); // leftovers of a crashed lab
  // Recorded before anything is written, so that `down` (also after a crash) removes only these.
  const claimed = created ? undefined : claimEntries(dir);
  const token = crypto.randomBytes(4).toString('hex');
  const shmDir = fs.existsSync('/dev/shm') ? path.join('/dev/shm', `galley-lab-${token}`) : path.join(dir, 'data', token);
  const state: LabState = { version: 1, dir, createdDir: created, ...claimed, shmDir, startedAt: new Date().toISOString(), processes: [] };
  writeState(state);
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
  fs.mkdirSync(shmDir, { recursive: true, mode: 0o700 });

  const t0 = Date.now();
  // GALLEY_LAB_DEBUG=1: where `up` spends its time.
  const mark = (what: string) => {
    if (process.env.GALLEY_LAB_DEBUG) process.stderr.write(`[galley-lab] ${what} at ${Date.now() - t0} ms\n`);
  };
  try {
    // etcd first (it is the slowest to elect), then everything else while it comes up.
    const members = await planEtcd(o.etcdMembers, shmDir);
    for (const m of members) {
      trackProcess(dir, { kind: 'etcd', name: m.name, pid: startEtcdMember(m, members, `galley-lab-${token}`, path.join(dir, 'logs')) });
    }
    const endpoints = members.map((m) => m.clientUrl);

    mark('etcd started');
    // Alertmanager starts in a few hundred ms, while everything else comes up.
    const am = o.alertmanager ? await startAlertmanager(dir) : undefined;

    // The simulators start now (node's startup overlaps everything else) and read conftool once
    // DIR/lb/seeded exists, so that their first view is the seed.
    const lbPorts: Record<string, number> = {};
    const loadBalancers: { name: string; url: string }[] = [];
    const seededFile = path.join(dir, 'lb', 'seeded');
    if (o.pybal && plan.loadBalancers.length > 0) {
      const ports = await freePorts(plan.loadBalancers.length);
      const entry = await simulatorEntry();
      plan.loadBalancers.forEach((name, i) => {
        lbPorts[name] = ports[i]!;
        loadBalancers.push({ name, url: `http://127.0.0.1:${ports[i]!}` });
        startSimulator(dir, entry, simConfig(dir, name, ports[i]!, endpoints, o, plan, seededFile));
      });
    }
    mark('simulators started');
    const hosts = o.ssh ? await startHosts(dir, plan, o, restart, token, mark) : stateOnlyHosts(dir, plan, o, restart);
    await Promise.all(members.map((m) => waitEtcd(m.clientUrl)));
    const etcd = labEtcd(endpoints);
    try {
      await seedConftool(etcd, o.namespace, plan.objects);
    } finally {
      etcd.close();
    }
    if (loadBalancers.length > 0) fs.writeFileSync(seededFile, '');
    mark('etcd healthy and seeded');

    await Promise.all([
      ...hosts.filter((h) => !h.noSshd).map((h) => waitHostUp(h, bastionPidOf(dir), 20000)),
      ...loadBalancers.map((lb) =>
        waitFor(`PyBal simulator ${lb.name} at ${lb.url}`, async () => ((await simReady(lb.url)) ? true : undefined), { timeoutMs: 20000 }),
      ),
      ...(am ? [waitAlertmanager(am.url)] : []),
    ]);

    mark('every sshd and simulator answers');
    const fleetNames = new Set(plan.hosts.map((h) => h.name));
    const lifecycle = o.ssh
      ? await startLifecycle(
          dir,
          hosts.filter((h) => fleetNames.has(h.name)),
          { rebootMs: o.rebootMs },
        )
      : undefined;
    const toLabHost = (h: HostSpec): LabHost => ({
      name: h.name,
      address: h.address,
      port: h.port,
      dc: h.dc,
      cluster: h.cluster,
      services: h.services,
      restartMs: h.restartMs ?? 300,
    });
    const info: LabInfo = {
      dir,
      etcd: { endpoints, members: members.map((m) => ({ name: m.name, clientUrl: m.clientUrl })) },
      hosts: o.ssh ? hosts.filter((h) => fleetNames.has(h.name)).map(toLabHost) : [],
      loadBalancers,
      pools: o.pybal ? plan.pools : [],
      config: path.join(dir, 'cookbook.config.yaml'),
      sshConfig: path.join(dir, 'ssh_config'),
      knownHosts: path.join(dir, 'known_hosts'),
      identityFile: path.join(dir, 'id_ed25519'),
      ...(o.bastion ? { bastion: { name: BASTION, behind: [...RESTRICTED] } } : {}),
      ...(o.hostCa
        ? {
            hostCa: {
              publicKey: fs.readFileSync(path.join(dir, 'host_ca.pub'), 'utf8').trim(),
              knownHosts: path.join(dir, 'known_hosts.ca'),
            },
          }
        : {}),
      extraHosts: hosts.filter((h) => !fleetNames.has(h.name)).map(toLabHost),
      namespace: o.namespace,
      pybalMode: o.pybalMode,
      ...(am ? { alertmanager: { url: am.url } } : {}),
    };
    const file: LabFile = { ...info, lab: { version: 1, options: o, token, etcdMembers: members, plan, hosts, lbPorts } };
    fs.writeFileSync(
      info.config,
      configYaml(
        generateConfig({
          dir,
          etcdEndpoints: endpoints,
          namespace: o.namespace,
          ssh: o.ssh,
          loadBalancers,
          pools: o.pybal ? plan.pools : [],
          ...(lifecycle ? { lifecycle } : {}),
        }),
      ),
    );
    fs.writeFileSync(labFile(dir), JSON.stringify(file, null, 2) + '\n');
    return new Lab(file);
  } catch (err) {
    // Keep the logs for a post-mortem: move them out before the dir goes.
    const keep = path.join(os.tmpdir(), `galley-lab-failed-${token}`);
    try {
      fs.cpSync(path.join(dir, 'logs'), path.join(keep, 'logs'), { recursive: true });
      if (fs.existsSync(path.join(dir, 'hosts'))) {
        for (const h of fs.readdirSync(path.join(dir, 'hosts'))) {
          const log = path.join(dir, 'hosts', h, 'sshd.log');
          if (fs.existsSync(log)) fs.cpSync(log, path.join(keep, 'logs', `${h}.sshd.log`));
        }
      }
    } catch {
      // best effort
    }
    await stopDir(dir).catch(() => undefined);
    throw new LabStartError(`the lab in ${dir} did not start: ${(err as Error).message}`, {
      hint: `logs were copied to ${keep}; everything started was stopped`,
      cause: err,
    });
  }
}

function bastionPidOf(dir: string): number | undefined {
  return trackedProcess(dir, 'host', BASTION)?.pid;
}

async function startHosts(
  dir: string,
  plan: FleetPlan,
  o: ResolvedOptions,
  restart: Record<string, number>,
  token: string,
  mark: (what: string) => void,
): Promise<HostSpec[]> {
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const address = labLoopbackAddress();
  const ports = await freePorts(plan.hosts.length, address);
  const specs: HostSpec[] = plan.hosts.map((h, i) => ({
    name: h.name,
    short: h.short,
    address,
    port: ports[i]!,
    dc: h.dc,
    cluster: h.cluster,
    services: h.services,
    hdir: path.join(dir, 'hosts', h.name),
    role: 'fleet',
  }));
  const net = o.bastion ? pickBastionSubnet() : undefined;
  if (net) {
    specs.push({
      name: BASTION,
      short: 'bast1003',
      address: net.theirs,
      port: 22,
      dc: 'eqiad',
      cluster: 'bastion',
      services: [],
      hdir: path.join(dir, 'hosts', BASTION),
      role: 'bastion',
    });
    RESTRICTED.forEach((name, i) =>
      specs.push({
        name,
        short: name.split('.')[0]!,
        address: '127.0.0.1',
        port: 2201 + i,
        dc: 'eqiad',
        cluster: 'restricted',
        services: ['nginx'],
        hdir: path.join(dir, 'hosts', name),
        role: 'restricted',
        inBastionNet: true,
        // The second one is two hops away: bastion, then the first restricted host.
        proxyJump: i === 0 ? BASTION : `${BASTION},${RESTRICTED[0]!}`,
      }),
    );
  }
  for (const h of specs) h.restartMs = restart[h.name]!;
  await prepareClientKey(dir);
  const hostCa = o.hostCa ? prepareHostCa(dir) : undefined;
  const known = await Promise.all(specs.map((h) => prepareHost(dir, h, { restartMs: h.restartMs!, rebootMs: o.rebootMs, hostCa })));
  fs.writeFileSync(path.join(dir, 'known_hosts'), known.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'ssh_config'), sshConfigText(dir, specs));
  mark('host dirs and keys written');

  const fleet = specs.filter((h) => !h.inBastionNet);
  const pids = fleet.map((h) => startHostProcess(dir, h));
  await Promise.all(fleet.map((h, i) => recordHostNamespace(dir, h, pids[i]!)));
  mark('host namespaces up');
  if (net) {
    const bpid = bastionPidOf(dir)!;
    const veth = await wireBastion(bpid, token, net);
    trackLink(dir, veth);
    fs.writeFileSync(path.join(dir, 'hosts', BASTION, 'state', 'net-ready'), '');
    const behind = specs.filter((h) => h.inBastionNet);
    const bp = behind.map((h) => startHostProcess(dir, h, bpid));
    await Promise.all(behind.map((h, i) => recordHostNamespace(dir, h, bp[i]!)));
  }
  return specs;
}

/**
 * `ssh: false`: no sshd, but each fleet host still has its service state on disk, so PyBal
 * health checks, failService/heal and serviceState work (stopHost/startHost/reboot do not).
 */
function stateOnlyHosts(dir: string, plan: FleetPlan, o: ResolvedOptions, restart: Record<string, number>): HostSpec[] {
  return plan.hosts.map((h) => {
    const spec: HostSpec = {
      name: h.name,
      short: h.short,
      address: '127.0.0.1',
      port: 0,
      dc: h.dc,
      cluster: h.cluster,
      services: h.services,
      hdir: path.join(dir, 'hosts', h.name),
      role: 'fleet',
      noSshd: true,
      restartMs: restart[h.name]!,
    };
    prepareHostState(spec, { restartMs: spec.restartMs!, rebootMs: o.rebootMs });
    return spec;
  });
}

function simConfig(
  dir: string,
  name: string,
  port: number,
  endpoints: string[],
  o: ResolvedOptions,
  plan: FleetPlan,
  readyFile: string,
): SimConfig {
  const lbDir = path.join(dir, 'lb', name);
  fs.mkdirSync(lbDir, { recursive: true });
  const hostState: Record<string, string> = {};
  for (const h of plan.hosts) hostState[h.name] = path.join(dir, 'hosts', h.name, 'state');
  const cfg: SimConfig = {
    name,
    port,
    endpoints,
    namespace: o.namespace,
    pools: plan.pools
      .filter((p) => p.loadBalancers.includes(name))
      .map((p) => ({ pool: p.pool, dc: p.dc, cluster: p.cluster, service: p.service, depoolThreshold: p.depoolThreshold })),
    hostState,
    delayMs: o.pybalDelayMs,
    checkIntervalMs: o.checkIntervalMs,
    faultFile: path.join(lbDir, 'fault.json'),
    historyFile: path.join(lbDir, 'history.jsonl'),
    readyFile,
    mode: o.pybalMode,
  };
  fs.writeFileSync(path.join(lbDir, 'sim.json'), JSON.stringify(cfg, null, 2) + '\n');
  return cfg;
}

function startSimulator(dir: string, entry: string, cfg: SimConfig): void {
  const lbDir = path.join(dir, 'lb', cfg.name);
  const pid = spawnDetached(process.execPath, [entry, path.join(lbDir, 'sim.json')], {
    logFile: path.join(lbDir, 'pybal.log'),
    env: childEnv(),
  });
  trackProcess(dir, { kind: 'pybal', name: cfg.name, pid });
}

async function simReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/pools`, { signal: AbortSignal.timeout(3000) });
    await res.text();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Whether the simulator answers /pools (JSON asked) with a 200 whose body is not JSON: the `garbage` fault. */
async function simGarbage(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/pools`, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(3000) });
    const body = await res.text();
    if (res.status !== 200) return false;
    JSON.parse(body);
    return false;
  } catch (err) {
    return err instanceof SyntaxError;
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
 * still mentions the lab (pids are reused after a crash); host processes are found by their
 * mount namespace, which dies with them.
 */
export async function stopDir(dir: string): Promise<void> {
  const abs = path.resolve(dir);
  const s = readState(abs);
  if (!s) return;
  // Everything at once: one /proc scan for the hosts' namespaces, one TERM/KILL round for all.
  const hostNs = s.processes.filter((p) => p.kind === 'host' && p.mntns).map((p) => p.mntns!);
  // A host whose namespace was not recorded yet (up killed right after starting it): its own
  // namespace, if it is still that host's supervisor.
  const unrecordedNs = s.processes
    .filter((p) => p.kind === 'host' && !p.mntns && isAlive(p.pid) && ownedBy(p.pid, abs, s))
    .map((p) => p.pid);
  // Started but not recorded yet (up killed between spawning a process and writing state.json):
  // found by the lab files on their command line.
  const stray = strayProcesses(abs, s);
  const own = mountNs('self');
  for (const pid of [...unrecordedNs, ...stray.hosts]) {
    const ns = mountNs(pid);
    if (ns !== undefined && ns !== own) hostNs.push(ns);
  }
  const pids = [...pidsInMountNamespaces(hostNs).values()].flat();
  pids.push(...stray.hosts, ...stray.others);
  const groups: number[] = [];
  for (const p of s.processes) {
    if (p.kind === 'host' && p.mntns) continue;
    if (!isAlive(p.pid) || !ownedBy(p.pid, abs, s)) continue;
    if (p.kind === 'host') pids.push(p.pid);
    else groups.push(p.pid);
  }
  await terminate(pids, 1500, groups);
  for (const link of s.links ?? []) {
    await run('ip', ['link', 'del', link]).catch(() => undefined); // normally gone with its namespace
  }
  fs.rmSync(s.shmDir, { recursive: true, force: true });
  if (s.createdDir) {
    fs.rmSync(abs, { recursive: true, force: true });
    return;
  }
  // An existing DIR: only what `up` created. Directories that were there before stay, with the
  // entries they had; state.json goes last, so an interrupted `down` can be run again.
  const created = s.created ?? [...LAB_FILES, ...LAB_DIRS]; // a lab from before `created` was recorded
  for (const [d, had] of Object.entries(s.kept ?? {})) {
    let now: string[];
    try {
      now = fs.readdirSync(path.join(abs, d));
    } catch {
      continue;
    }
    for (const e of now) if (!had.includes(e)) fs.rmSync(path.join(abs, d, e), { recursive: true, force: true });
  }
  for (const f of created) if (f !== 'state.json') fs.rmSync(path.join(abs, f), { recursive: true, force: true });
  for (const e of fs.readdirSync(abs)) if (/^state\.json\.\d+\.tmp$/.test(e)) fs.rmSync(path.join(abs, e), { force: true }); // a write cut short
  fs.rmSync(stateFile(abs), { force: true });
}

/**
 * One /proc scan for processes of this lab, recorded or not, by what only the lab starts: a host
 * supervisor (`/bin/sh DIR/hosts/<fqdn>/supervise.sh`, also while still unshare/nsenter), a PyBal
 * simulator or the lifecycle endpoint (node with DIR/lb/<lb>/sim.json or DIR/lifecycle/server.json),
 * an etcd whose data dir is in the lab's tmpfs dir, an Alertmanager whose storage is DIR/alertmanager/data. Never a process that merely mentions DIR.
 */
function strayProcesses(dir: string, s: LabState): { hosts: number[]; others: number[] } {
  const hosts: number[] = [];
  const others: number[] = [];
  const hostsDir = `${path.join(dir, 'hosts')}/`;
  const lbDir = `${path.join(dir, 'lb')}/`;
  const lifecycleServer = path.join(dir, 'lifecycle', 'server.json');
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').slice(0, -1);
    } catch {
      continue; // gone
    }
    const last = argv.at(-1) ?? '';
    const sh = argv.indexOf('/bin/sh');
    if (sh >= 0 && argv[sh + 1]?.startsWith(hostsDir) && argv[sh + 1]!.endsWith('/supervise.sh')) hosts.push(Number(entry));
    else if (
      path.basename(argv[0] ?? '').startsWith('node') &&
      ((last.startsWith(lbDir) && last.endsWith('/sim.json')) || last === lifecycleServer)
    )
      others.push(Number(entry));
    else if (path.basename(argv[0] ?? '') === 'etcd' && argv[argv.indexOf('--data-dir') + 1]?.startsWith(`${s.shmDir}/`))
      others.push(Number(entry));
    else if (
      path.basename(argv[0] ?? '') === 'prometheus-alertmanager' &&
      argv.includes(`--storage.path=${path.join(dir, 'alertmanager', 'data')}`)
    )
      others.push(Number(entry));
  }
  return { hosts: hosts.filter(isAlive), others: others.filter(isAlive) };
}

function ownedBy(pid: number, dir: string, s: LabState): boolean {
  const cl = cmdline(pid);
  return cl.includes(dir) || cl.includes(s.shmDir);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export type ServiceState = 'active' | 'inactive' | 'failed' | 'restarting';
export type FailMode = 'restart' | 'hang' | 'down';
export type LbAction = 'down' | 'up' | 'error' | 'garbage' | 'lag' | 'restart';

export interface StatusLine {
  component: 'etcd' | 'host' | 'pybal' | 'alertmanager';
  name: string;
  ok: boolean;
  detail: string;
}

export class Lab {
  readonly info: LabInfo;
  readonly #file: LabFile;

  constructor(file: LabFile) {
    this.#file = file;
    const { lab: _internal, ...info } = file;
    // A lab.json written before modes existed is a wikitech lab.
    this.info = { ...info, pybalMode: info.pybalMode ?? 'wikitech' };
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

  /** Back to the start: conftool re-seeded, faults healed, hosts and LBs up, etcd members running. */
  async reset(): Promise<void> {
    for (const m of this.#file.lab.etcdMembers) if (!(await etcdHealthy(m.clientUrl))) await this.etcdStart(m.name);
    const etcd = labEtcd(this.info.etcd.endpoints);
    try {
      await seedConftool(etcd, this.info.namespace, this.plan.objects);
    } finally {
      etcd.close();
    }
    for (const h of this.#file.lab.hosts) {
      await this.heal(h.name);
      await this.setRestartMs(h.name);
      if (!h.noSshd && fs.existsSync(path.join(h.hdir, 'state', 'down'))) await this.startHost(h.name);
    }
    if (this.info.pybalMode === 'upstream') {
      // Upstream PyBal can wedge a pool (a failed assert on a repool; README): only a restart
      // clears that, so reset restarts every simulator's PyBal on the seed (faults cleared too).
      await Promise.all(this.info.loadBalancers.map((lb) => this.#restartSim(lb.name, {})));
    } else {
      for (const lb of this.info.loadBalancers) this.#writeFaults(lb.name, {});
    }
    // Alertmanager: every silence still active is expired (alerts cannot be deleted; they end at their endsAt).
    if (this.info.alertmanager && (await alertmanagerReady(this.info.alertmanager.url))) {
      const url = this.info.alertmanager.url;
      for (const x of await listSilences(url)) if (x.status.state !== 'expired') await expireSilence(url, x.id);
    }
  }

  // ---- Alertmanager ----

  #alertmanagerUrl(): string {
    if (!this.info.alertmanager) throw new LabNoAlertmanagerError();
    return this.info.alertmanager.url;
  }

  /**
   * Fire an alert for a host's service (labels `alertname=LabServiceDown`, `instance=<fqdn>`,
   * `service`, `severity=critical`), firing for `forMs` (default 10 min). Resolves once
   * Alertmanager lists it. Unknown host or service: ERR_LAB_UNKNOWN_NAME, nothing posted.
   */
  async alert(host: string, service: string, forMs?: number): Promise<LabAlert> {
    const url = this.#alertmanagerUrl();
    const h = this.info.hosts.find((x) => x.name === host);
    if (!h)
      throw new LabUnknownError(
        'host',
        host,
        this.info.hosts.map((x) => x.name),
      );
    if (!h.services.includes(service)) throw new LabUnknownError(`service of ${host}`, service, h.services);
    const a = serviceAlert(host, service, forMs);
    await postAlert(url, a);
    return waitFor(
      `Alertmanager to list the alert for ${service} on ${host}`,
      async () =>
        (await listAlerts(url)).find(
          (x) => x.labels.instance === host && x.labels.service === service && x.labels.alertname === a.labels.alertname,
        ),
      { timeoutMs: 5000, intervalMs: 25 },
    );
  }

  /** Alertmanager's alerts now (GET /api/v2/alerts: state active|suppressed, silencedBy). */
  async alerts(): Promise<LabAlert[]> {
    return listAlerts(this.#alertmanagerUrl());
  }

  /** Alertmanager's silences now (GET /api/v2/silences, expired ones included). */
  async silences(): Promise<LabSilence[]> {
    return listSilences(this.#alertmanagerUrl());
  }

  /** Restart one simulator's PyBal state with these faults besides; resolves once it has re-read conftool. */
  async #restartSim(name: string, faults: Faults): Promise<void> {
    const token = crypto.randomBytes(6).toString('hex');
    const done = path.join(this.#lbDir(name), 'restarted');
    this.#writeFaults(name, { ...faults, restart: token });
    await waitFor(
      `${name} to restart its PyBal state`,
      async () => {
        try {
          return fs.readFileSync(done, 'utf8').trim() === token ? true : undefined;
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 10000, intervalMs: 20 },
    );
  }

  // ---- hosts ----

  #host(name: string): HostSpec {
    const h = this.#file.lab.hosts.find((x) => x.name === name || x.short === name);
    if (!h)
      throw new LabUnknownError(
        'host',
        name,
        this.#file.lab.hosts.map((x) => x.name),
      );
    return h;
  }

  #service(h: HostSpec, service: string): string {
    if (!h.services.includes(service)) throw new LabUnknownError(`service on ${h.name}`, service, h.services);
    return path.join(h.hdir, 'state', 'services', service);
  }

  /**
   * Inject a failure: `restart` = the next restarts exit non-zero and leave the service failed;
   * `hang` = restarts never return; `down` = the service is down now (health checks fail) and
   * restarts fail, until `heal`.
   */
  async failService(host: string, service: string, mode: FailMode): Promise<void> {
    const h = this.#host(host);
    const f = this.#service(h, service);
    fs.writeFileSync(path.join(h.hdir, 'state', 'faults', service), `${mode}\n`);
    if (mode === 'down') fs.writeFileSync(f, 'failed\n');
  }

  /** Remove every injected failure of the host and bring its services back to active. */
  async heal(host: string): Promise<void> {
    const h = this.#host(host);
    fs.rmSync(path.join(h.hdir, 'state', 'faults'), { recursive: true, force: true });
    fs.rmSync(path.join(h.hdir, 'state', 'reboot_hangs'), { force: true });
    fs.mkdirSync(path.join(h.hdir, 'state', 'faults'));
    for (const svc of h.services) fs.writeFileSync(path.join(h.hdir, 'state', 'services', svc), 'active\n');
  }

  /**
   * Set how long the host's `systemctl restart` takes from its next restart on (a slow host for
   * moving-window benchmarks); without `ms`, back to the host's time as the lab started.
   */
  async setRestartMs(host: string, ms?: number): Promise<void> {
    const h = this.#host(host);
    const v = ms ?? this.#defaultRestartMs(h);
    if (!Number.isSafeInteger(v) || v < 0) throw new LabOptionError('restart time', String(v), 'whole milliseconds ≥ 0, e.g. 1500');
    const f = path.join(h.hdir, 'state', 'restart_ms');
    // The fake systemctl reads the file at each restart: never let it see a half-written one.
    fs.writeFileSync(`${f}.tmp`, `${v}\n`);
    fs.renameSync(`${f}.tmp`, f);
  }

  /** How long the host's `systemctl restart` takes now, and as the lab started. */
  async restartMs(host: string): Promise<{ now: number; started: number }> {
    const h = this.#host(host);
    return { now: Number(fs.readFileSync(path.join(h.hdir, 'state', 'restart_ms'), 'utf8').trim()), started: this.#defaultRestartMs(h) };
  }

  #defaultRestartMs(h: HostSpec): number {
    // Labs from before per-host times recorded only the lab-wide number.
    const o = this.options.restartMs;
    return h.restartMs ?? (typeof o === 'number' ? o : (DEFAULTS.restartMs as number));
  }

  async serviceState(host: string, service: string): Promise<ServiceState> {
    const h = this.#host(host);
    return fs.readFileSync(this.#service(h, service), 'utf8').trim() as ServiceState;
  }

  /** sshd and every session of the host go away (the host is unreachable) until startHost. */
  #sshHost(name: string): HostSpec {
    const h = this.#host(name);
    if (h.noSshd) throw new LabNoSshError(h.name);
    return h;
  }

  async stopHost(host: string): Promise<void> {
    const h = this.#sshHost(host);
    fs.writeFileSync(path.join(h.hdir, 'state', 'down'), '');
    await killSessions(h.hdir);
    if (!h.inBastionNet)
      await waitFor(`${h.name} to stop listening`, async () => ((await tcpOpen(h.address, h.port)) ? undefined : true), {
        timeoutMs: 5000,
      });
  }

  async startHost(host: string): Promise<void> {
    const h = this.#sshHost(host);
    fs.rmSync(path.join(h.hdir, 'state', 'reboot_hangs'), { force: true });
    fs.rmSync(path.join(h.hdir, 'state', 'down'), { force: true });
    await waitHostUp(h, bastionPidOf(this.dir), 10000);
  }

  /** The host's current boot id (what it serves at /proc/sys/kernel/random/boot_id). */
  async bootId(host: string): Promise<string> {
    return fs.readFileSync(path.join(this.#host(host).hdir, 'state', 'boot_id'), 'utf8').trim();
  }

  /**
   * The host's next reboots never come back (sshd stays down after it, as a host stuck in firmware
   * or fsck would) until startHost, heal or reset.
   */
  async hangReboot(host: string): Promise<void> {
    const h = this.#sshHost(host);
    fs.writeFileSync(path.join(h.hdir, 'state', 'reboot_hangs'), '');
  }

  /** Same as running `reboot` on the host. */
  async reboot(host: string): Promise<void> {
    const h = this.#sshHost(host);
    await run('/bin/sh', [path.join(h.hdir, 'bin', 'reboot')]);
  }

  /** Every `systemctl` call the host saw: `<epoch> <action> <units>` lines. */
  async systemctlLog(host: string): Promise<string[]> {
    try {
      return fs
        .readFileSync(path.join(this.#host(host).hdir, 'state', 'systemctl.log'), 'utf8')
        .split('\n')
        .filter((l) => l !== '');
    } catch {
      return [];
    }
  }

  /**
   * The processes of the host's current boot other than sshd (the listener and its per-connection
   * processes): what commands run over ssh left behind, or are still running. Each boot is its own
   * PID namespace, so this is exact; [] while the host is down or rebooting.
   */
  async hostProcesses(host: string): Promise<{ pid: number; cmdline: string }[]> {
    const h = this.#sshHost(host);
    let ns: string;
    try {
      const unsharePid = fs.readFileSync(path.join(h.hdir, 'state', 'sshd.pid'), 'utf8').trim();
      ns = fs.readlinkSync(`/proc/${unsharePid}/ns/pid_for_children`);
    } catch {
      return [];
    }
    const out: { pid: number; cmdline: string }[] = [];
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (fs.readlinkSync(`/proc/${entry}/ns/pid`) !== ns) continue;
      } catch {
        continue; // gone
      }
      const cl = cmdline(Number(entry)).trim();
      if (cl === '' || /^sshd(-session)?[: ]/.test(cl) || cl.startsWith('/usr/sbin/sshd')) continue;
      if (isAlive(Number(entry))) out.push({ pid: Number(entry), cmdline: cl });
    }
    return out;
  }

  // ---- load balancers ----

  /**
   * Every change of a server's state on this LB since it started (DIR/lb/<name>/history.jsonl,
   * written by the simulator as each change happens; see SimHistoryEntry), oldest first. Kept
   * whatever faults the LB has (also while `down`).
   */
  async lbHistory(name: string): Promise<SimHistoryEntry[]> {
    let raw: string;
    try {
      raw = fs.readFileSync(path.join(this.#lbDir(name), 'history.jsonl'), 'utf8');
    } catch {
      return [];
    }
    const out: SimHistoryEntry[] = [];
    for (const line of raw.split('\n')) {
      try {
        if (line !== '') out.push(JSON.parse(line) as SimHistoryEntry);
      } catch {
        // the line being appended right now
      }
    }
    return out;
  }

  #lbDir(name: string): string {
    if (!this.info.loadBalancers.some((l) => l.name === name))
      throw new LabUnknownError(
        'load balancer',
        name,
        this.info.loadBalancers.map((l) => l.name),
      );
    return path.join(this.dir, 'lb', name);
  }

  #readFaults(name: string): Faults {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.#lbDir(name), 'fault.json'), 'utf8')) as Faults;
    } catch {
      return {};
    }
  }

  #writeFaults(name: string, f: Faults): void {
    const file = path.join(this.#lbDir(name), 'fault.json');
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(f) + '\n');
    fs.renameSync(`${file}.tmp`, file);
  }

  /**
   * LB fault injection: `down` = connection refused; `up` = back to normal (clears every fault);
   * `error` = HTTP 500 on every request; `garbage` = HTTP 200 with a body that is neither PyBal's
   * JSON nor its text form; `lag` = conftool changes take `ms` longer to apply; `restart` = a
   * PyBal restart (fresh coordinators and metrics, conftool read again; faults stay).
   * Resolves once the simulator shows the change (a refused or accepted connection).
   */
  async lb(name: string, action: LbAction, ms?: number): Promise<void> {
    this.#lbDir(name); // an unknown LB is ERR_LAB_UNKNOWN_NAME (#readFaults would swallow it)
    // down, error and garbage are how the LB answers: each replaces the others (an LB that
    // answers 500 is not refusing connections); lag is kept across them.
    const all = this.#readFaults(name);
    const cur: Faults = all.lagMs !== undefined ? { lagMs: all.lagMs } : {};
    const url = this.info.loadBalancers.find((l) => l.name === name)!.url;
    const port = Number(new URL(url).port);
    if (action === 'restart') {
      const { restart: _old, ...faults } = all;
      await this.#restartSim(name, faults);
    } else if (action === 'up') {
      // Also clears `lag`: a lagging LB is 'up' too.
      this.#writeFaults(name, {});
      await waitFor(`${name} to answer normally`, async () => ((await simReady(url)) && !(await simGarbage(url)) ? true : undefined), {
        timeoutMs: 5000,
      });
    } else if (action === 'down') {
      this.#writeFaults(name, { ...cur, down: true });
      await waitFor(`${name} to refuse connections`, async () => ((await tcpOpen('127.0.0.1', port)) ? undefined : true), {
        timeoutMs: 5000,
      });
    } else if (action === 'error') {
      this.#writeFaults(name, { ...cur, error: true });
      await waitFor(
        `${name} to answer 500`,
        async () => {
          const r = await fetch(`${url}/pools`).catch(() => undefined);
          return r?.status === 500 ? true : undefined;
        },
        { timeoutMs: 5000 },
      );
    } else if (action === 'garbage') {
      this.#writeFaults(name, { ...cur, garbage: true });
      await waitFor(`${name} to answer garbage`, async () => ((await simGarbage(url)) ? true : undefined), { timeoutMs: 5000 });
    } else {
      this.#writeFaults(name, { ...all, lagMs: ms ?? 1000 });
      await new Promise((r) => setTimeout(r, 250)); // the simulator polls its fault file every 100 ms
    }
  }

  // ---- etcd ----

  #member(name: string): EtcdMemberPlan {
    const m = this.#file.lab.etcdMembers.find((x) => x.name === name);
    if (!m)
      throw new LabUnknownError(
        'etcd member',
        name,
        this.#file.lab.etcdMembers.map((x) => x.name),
      );
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
    await waitEtcd(m.clientUrl, 15000);
  }

  // ---- status ----

  /** What runs and whether it is healthy. */
  async status(): Promise<StatusLine[]> {
    const out: StatusLine[] = [];
    for (const m of this.#file.lab.etcdMembers) {
      const ok = await etcdHealthy(m.clientUrl);
      out.push({ component: 'etcd', name: m.name, ok, detail: `${m.clientUrl} ${ok ? 'healthy' : 'unhealthy'}` });
    }
    const bpid = bastionPidOf(this.dir);
    await Promise.all(
      this.#file.lab.hosts.map(async (h) => {
        const down = fs.existsSync(path.join(h.hdir, 'state', 'down'));
        const rebooting = fs.existsSync(path.join(h.hdir, 'state', 'rebooting'));
        let ok: boolean;
        if (h.noSshd) ok = true;
        else if (h.inBastionNet) ok = bpid !== undefined && isAlive(bpid);
        else ok = await tcpOpen(h.address, h.port, 2000);
        let svcs = h.services.map((s) => `${s}=${fs.readFileSync(path.join(h.hdir, 'state', 'services', s), 'utf8').trim()}`).join(' ');
        // The restart time only when it is not the lab-wide one (a range, or `galley-lab slow`).
        const rt = await this.restartMs(h.name).catch(() => undefined);
        if (rt && (rt.now !== rt.started || typeof this.options.restartMs !== 'number')) {
          svcs += `${svcs ? ' ' : ''}restart=${rt.now}ms${rt.now !== rt.started ? ` (at up: ${rt.started}ms)` : ''}`;
        }
        out.push({
          component: 'host',
          name: h.name,
          ok: ok || down || rebooting,
          detail: h.noSshd
            ? `no sshd (ssh: false) ${svcs}`
            : `${h.address}:${h.port} ${down ? 'stopped' : rebooting ? 'rebooting' : ok ? 'sshd up' : 'sshd NOT answering'}${svcs ? ` ${svcs}` : ''}`,
        });
      }),
    );
    for (const lb of this.info.loadBalancers) {
      const f = this.#readFaults(lb.name);
      const ok = await simReady(lb.url);
      const faults = Object.keys(f).length > 0 ? ` faults=${JSON.stringify(f)}` : '';
      out.push({
        component: 'pybal',
        name: lb.name,
        ok: ok || f.down === true || f.error === true,
        detail: `${lb.url} mode=${this.info.pybalMode} ${ok ? 'answering' : 'not answering'}${faults}`,
      });
    }
    if (this.info.alertmanager) {
      const { url } = this.info.alertmanager;
      const ok = await alertmanagerReady(url);
      let detail = `${url} ${ok ? 'ready' : 'NOT answering'}`;
      if (ok) {
        const [alerts, silences] = await Promise.all([listAlerts(url), listSilences(url)]).catch(
          () => [[], []] as [LabAlert[], LabSilence[]],
        );
        detail += ` alerts=${alerts.length} (${alerts.filter((a) => a.status.state === 'suppressed').length} silenced) silences=${silences.filter((x) => x.status.state === 'active').length} active`;
      }
      out.push({ component: 'alertmanager', name: 'alertmanager', ok, detail });
    }
    return out.sort((a, b) => a.component.localeCompare(b.component) || a.name.localeCompare(b.name));
  }
}

export type { ResolvedOptions };
