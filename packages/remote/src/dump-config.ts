import { formatError, isGalleyError, UsageError } from '@galley/errors';
import yargs from 'yargs';
import { needLoader, type RemoteConfigLoader } from './groups.js';
import { SshConfigResolver } from './ssh-config.js';

/**
 * `galley-exec -G [-F FILE] [-c CONFIG] [-l USER] [-p PORT] HOST`: the ssh_config settings galley
 * uses for HOST, printed as `ssh -G` prints them (same key names, spelling and order), so anyone
 * can compare with `ssh -G [-F FILE] HOST`. No galley config is needed: without -c, galley's
 * own ssh settings (user, identityFiles, knownHosts) do not apply and the result is OpenSSH's.
 */
export async function dumpConfig(
  argv: string[],
  loadConfig?: RemoteConfigLoader,
): Promise<{ exitCode: number; stdout: string[]; stderr: string[] }> {
  try {
    let help: string[] | null = null;
    const origLog = console.log;
    let args;
    try {
      console.log = (...a: unknown[]) => {
        (help ??= []).push(a.map(String).join(' '));
      };
      args = yargs(argv)
        .scriptName('galley-exec')
        .usage(
          'galley-exec -G [-F FILE] [-c CONFIG] [-l USER] [-p PORT] HOST\n\nPrint the ssh_config settings galley uses for HOST, in `ssh -G` format.',
        )
        .option('G', { type: 'boolean', demandOption: true, describe: 'print the effective ssh_config settings for HOST and exit' })
        .option('F', {
          type: 'string',
          describe: 'ssh_config file (as ssh -F; default: ssh.sshConfig with -c, else ~/.ssh/config and /etc/ssh/ssh_config)',
        })
        .option('config', {
          alias: 'c',
          type: 'string',
          describe: 'galley config whose ssh section applies (user, identityFiles, knownHosts, sshConfig)',
        })
        .option('l', { type: 'string', describe: 'login name (as ssh -l)' })
        .option('p', { type: 'number', describe: 'port (as ssh -p)' })
        .parserConfiguration({ 'parse-positional-numbers': false })
        .demandCommand(1, 1, 'need exactly one HOST', 'need exactly one HOST')
        .strict()
        .exitProcess(false)
        .help()
        .version(false)
        .fail((msg, err) => {
          throw err ?? new UsageError('ERR_REMOTE_EXEC_USAGE', msg, { hint: 'galley-exec -G [-F FILE] [-c CONFIG] HOST' });
        })
        .parseSync();
    } finally {
      console.log = origLog;
    }
    if (help !== null) return { exitCode: 0, stdout: help, stderr: [] };
    const host = String(args._[0]);
    if (args.p !== undefined && !(Number.isInteger(args.p) && args.p > 0 && args.p <= 65535)) {
      throw new UsageError('ERR_REMOTE_EXEC_USAGE', `-p must be a port from 1 to 65535, got ${args.p}`, { hint: 'e.g. -p 2222' });
    }
    const ssh =
      args.config !== undefined ? (await needLoader(loadConfig, 'galley-exec -G')({ file: args.config, require: ['ssh'] })).ssh : undefined;
    const resolver = ssh
      ? SshConfigResolver.fromSsh({ ...ssh, sshConfig: args.F ?? ssh.sshConfig })
      : new SshConfigResolver({ configFile: args.F });
    return { exitCode: 0, stdout: resolver.dumpDestination(host, { user: args.l, port: args.p }), stderr: [] };
  } catch (err) {
    return { exitCode: isGalleyError(err) ? 2 : 99, stdout: [], stderr: [formatError(err)] };
  }
}
