import fs from 'node:fs';
import path from 'node:path';
import { freePorts, spawnDetached, waitFor } from './procs.js';

export interface EtcdMemberPlan {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  clientUrl: string;
  peerUrl: string;
}

export async function planEtcd(count: number, shmDir: string): Promise<EtcdMemberPlan[]> {
  const ports = await freePorts(count * 2);
  return Array.from({ length: count }, (_, i) => {
    const clientPort = ports[2 * i]!;
    const peerPort = ports[2 * i + 1]!;
    return {
      name: `etcd${i + 1}`,
      clientPort,
      peerPort,
      dataDir: path.join(shmDir, `etcd${i + 1}`),
      clientUrl: `http://127.0.0.1:${clientPort}`,
      peerUrl: `http://127.0.0.1:${peerPort}`,
    };
  });
}

/**
 * etcd command line for one member. Restarting a member reuses its data dir, where etcd ignores the
 * initial-cluster flags, so the same argv serves for first start and restarts.
 */
export function etcdArgs(m: EtcdMemberPlan, all: EtcdMemberPlan[], token: string): string[] {
  return [
    '--name',
    m.name,
    '--data-dir',
    m.dataDir,
    '--listen-client-urls',
    m.clientUrl,
    '--advertise-client-urls',
    m.clientUrl,
    '--listen-peer-urls',
    m.peerUrl,
    '--initial-advertise-peer-urls',
    m.peerUrl,
    '--initial-cluster',
    all.map((x) => `${x.name}=${x.peerUrl}`).join(','),
    '--initial-cluster-state',
    'new',
    '--initial-cluster-token',
    token,
    '--heartbeat-interval',
    '50',
    '--election-timeout',
    '500',
    '--log-level',
    'warn',
    '--logger',
    'zap',
  ];
}

export function startEtcdMember(m: EtcdMemberPlan, all: EtcdMemberPlan[], token: string, logDir: string): number {
  fs.mkdirSync(m.dataDir, { recursive: true, mode: 0o700 });
  return spawnDetached('etcd', etcdArgs(m, all, token), { logFile: path.join(logDir, `${m.name}.log`) });
}

export async function etcdHealthy(clientUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(3000) });
    const body = (await res.json()) as { health?: string };
    return body.health === 'true';
  } catch {
    return false;
  }
}

export async function waitEtcd(clientUrl: string, timeoutMs = 15000): Promise<void> {
  await waitFor(`etcd at ${clientUrl}`, async () => ((await etcdHealthy(clientUrl)) ? true : undefined), { timeoutMs, intervalMs: 50 });
}
