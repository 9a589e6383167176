// The built `galley-lab` binary, run as a user would, for the CLI tests of this package.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execP = promisify(execFile);
const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/bin.js');
const env = { ...process.env, NODE_OPTIONS: '' };

export interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

/** One `galley-lab` command against the lab in `dir`; a non-zero exit is returned, not thrown. */
export async function labCli(dir: string, ...args: string[]): Promise<Out> {
  try {
    const r = await execP(process.execPath, [bin, ...args, '--dir', dir], { env });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The `status` line of one component (`ok  ` or `FAIL`, component, name, detail). */
export function statusLine(out: Out, name: string): string {
  const line = out.stdout.split('\n').find((l) => l.split(/\s+/).includes(name));
  if (!line) throw new Error(`no status line for ${name} in:\n${out.stdout}`);
  return line;
}
