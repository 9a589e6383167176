import { spawn } from 'node:child_process';
import { afterAll, beforeAll } from '@jest/globals';
import { openLab, startLab, type Lab, type StartLabOptions } from '../lab.js';

export { replyEatingProxy, type ReplyEatingProxy } from './reply-eating-proxy.js';

/**
 * This worker's lab (GALLEY_LAB_DIR): one of those the integration project's jest globalSetup
 * starts, one per worker (test/worker-lab.js picks), or the user's own. Tests that change its
 * state put it back with `lab.reset()` (afterEach/afterAll).
 */
export async function sharedLab(): Promise<Lab> {
  const dir = process.env.GALLEY_LAB_DIR;
  if (!dir) {
    throw new Error(
      'GALLEY_LAB_DIR is not set: run integration tests through jest --selectProjects integration (its globalSetup starts the lab), or export GALLEY_LAB_DIR of a running `galley-lab up`',
    );
  }
  return openLab(dir);
}

/**
 * A lab of its own for one test file (own size, own faults): started in beforeAll, stopped in
 * afterAll. Use `lab` inside tests, not at module scope.
 */
export function privateLab(opts: StartLabOptions = {}, timeoutMs = 60000): { readonly lab: Lab } {
  let lab: Lab | undefined;
  beforeAll(async () => {
    lab = await startLab(opts);
  }, timeoutMs);
  afterAll(async () => {
    await lab?.stop();
  }, 30000);
  return {
    get lab(): Lab {
      if (!lab) throw new Error('privateLab: the lab is not started yet (use it inside tests or hooks, not at module scope)');
      return lab;
    },
  };
}

export interface SshResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Run a command on a lab host with the system OpenSSH client and the lab's ssh_config (strict
 * host-key checking). For lab tests and for comparing against @galley/remote.
 */
export async function labSsh(
  lab: Lab,
  host: string,
  command: string,
  opts: { knownHosts?: string; timeoutMs?: number; extraArgs?: string[] } = {},
): Promise<SshResult> {
  const args = ['-F', lab.info.sshConfig, '-o', 'StrictHostKeyChecking=yes', '-o', 'ConnectTimeout=10'];
  if (opts.knownHosts) args.push('-o', `UserKnownHostsFile=${opts.knownHosts}`);
  args.push(...(opts.extraArgs ?? []), host, command);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}
