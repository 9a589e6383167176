// The built `cookbook` binary on a pseudo-terminal (util-linux script(1)), as an operator runs it.
import { spawn } from 'node:child_process';
import type { Lab } from '@galley/lab';
import { BIN } from './lb-helpers.js';

export interface TtyOptions {
  /** Sees what is drawn so far (escape codes removed) and can type into the terminal (Ctrl+C is "\x03"). */
  onScreen?: (screen: string, type: (keys: string) => void) => void;
  /** Environment changes (a value of undefined removes the variable: `TMUX: undefined`). */
  env?: Record<string, string | undefined>;
  /** The terminal is closed (the run killed) after this long, so a question nobody answers fails the test instead of hanging it (default 45 s). */
  timeoutMs?: number;
}

/**
 * The binary on a pseudo-terminal, 160 columns, NO_COLOR; everything drawn, cursor codes removed.
 * Without `onScreen` the terminal's input is closed at once (nobody at the keyboard). Carriage returns removed.
 */
export function onTty(lab: Lab, args: string[], opts: TtyOptions = {}): Promise<{ code: number | null; screen: string }> {
  const { onScreen } = opts;
  const q = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
  const cmd = `stty cols 160 rows 50; exec ${[process.execPath, BIN, '-c', lab.info.config, ...args].map(q).join(' ')}`;
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.CI;
  delete env.FORCE_COLOR;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return new Promise((resolve) => {
    const child = spawn('script', ['-q', '-e', '-c', cmd, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    if (!onScreen) child.stdin.end();
    const killer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 45_000);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      // eslint-disable-next-line no-control-regex
      onScreen?.(out.replace(/\x1b\[[?\d;]*[A-Za-z]/g, '').replace(/\r/g, ''), (keys) => child.stdin.write(keys));
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => {
      clearTimeout(killer);
      child.stdin.destroy();
      // eslint-disable-next-line no-control-regex
      resolve({ code, screen: out.replace(/\x1b\[[?\d;]*[A-Za-z]/g, '').replace(/\r/g, '') });
    });
  });
}
