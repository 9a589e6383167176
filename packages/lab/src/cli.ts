import path from 'node:path';
import yargs, { type Argv } from 'yargs';
import { formatError, UsageError } from '@galley/errors';
import type { FailMode, Lab, LbAction } from './lab.js';
import { parseMs, parseRestartMs, type RestartRange } from './restart-times.js';
import { readState } from './state.js';

export interface CliResult {
  exitCode: number;
  stdout: string[];
  stderr: string[];
}

const defaultDir = () => process.env.GALLEY_LAB_DIR ?? '.lab';

/** One-screen summary of a running lab (printed by `up`). */
export function summary(lab: Lab, ms?: number): string[] {
  const i = lab.info;
  const first = i.hosts[0]?.name ?? 'mw1001.eqiad.wmnet';
  const lines = [
    `galley lab ${ms === undefined ? 'running' : `up in ${(ms / 1000).toFixed(1)} s`}: ${i.dir}`,
    `  etcd      ${i.etcd.endpoints.join(' ')} (${i.etcd.members.length} member${i.etcd.members.length > 1 ? 's' : ''}), conftool namespace ${i.namespace}`,
  ];
  if (i.hosts.length > 0) {
    lines.push(`  hosts     ${i.hosts.length}: ${i.hosts.map((h) => h.name.split('.')[0]).join(' ')}`);
    lines.push(`            ssh -F ${i.sshConfig} ${first} hostname -f`);
  }
  const rt = i.hosts.map((h) => h.restartMs);
  if (rt.length > 0 && rt.some((ms) => ms !== rt[0]))
    lines.push(`  restarts  ${Math.min(...rt)}–${Math.max(...rt)} ms per host (galley-lab status lists them)`);
  if (i.bastion) lines.push(`  bastion   ${i.bastion.name}, behind it (ProxyJump only): ${i.bastion.behind.join(' ')}`);
  if (i.hostCa)
    lines.push(
      `  host CA   host keys certified; ${i.hostCa.knownHosts} has only @cert-authority (ssh -F ${i.sshConfig} -o UserKnownHostsFile=${i.hostCa.knownHosts} ${first} true)`,
    );
  for (const lb of i.loadBalancers) lines.push(`  pybal     ${lb.name} ${lb.url}  (curl ${lb.url}/pools)`);
  if (i.alertmanager)
    lines.push(
      `  alerts    Alertmanager ${i.alertmanager.url}  (galley-lab alert HOST SERVICE; curl ${i.alertmanager.url}/api/v2/silences)`,
    );
  if (i.loadBalancers.length > 0)
    lines.push(
      `            mode ${i.pybalMode}${i.pybalMode === 'upstream' ? " (PyBal's coordinator.py)" : ' (the Wikitech page; --pybal-mode upstream for coordinator.py)'}, /metrics on each`,
    );
  lines.push(`  config    ${i.config}`);
  lines.push(`  next      export GALLEY_LAB_DIR=${i.dir}; cookbook -c ${i.config} -l`);
  lines.push(`  stop      galley-lab down --dir ${i.dir}`);
  return lines;
}

/** --restart-ms (already parsed by its coerce) with --restart-seed; a seed without a range is refused. */
function restartOption(a: Record<string, unknown>): number | RestartRange {
  // Parsed here, not by a yargs coerce: yargs would keep only the message of our error, not its hint.
  const v = parseRestartMs(String(a['restart-ms']));
  const seed = a['restart-seed'] as string | undefined;
  if (seed === undefined) return v;
  if (typeof v === 'number')
    throw new UsageError('ERR_LAB_BAD_OPTION', `--restart-seed ${seed} needs --restart-ms MIN:MAX`, {
      hint: 'give a range, e.g. --restart-ms 300:3000 --restart-seed 2',
    });
  return { ...v, seed };
}

function withDir<T>(y: Argv<T>) {
  return y.option('dir', { type: 'string', default: defaultDir(), describe: 'lab directory (env GALLEY_LAB_DIR)' });
}

/** Parse and run one galley-lab command. Never exits: bin.ts prints the result and exits. */
export async function runLabCli(argv: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  let exitCode = 0;
  const act = (fn: (a: Record<string, unknown>) => Promise<void>) => async (a: Record<string, unknown>) => {
    try {
      await fn(a);
    } catch (e) {
      err.push(formatError(e));
      // Bad input found by a handler (a value only it can check) is bad arguments, as in the parser.
      exitCode = e instanceof UsageError ? 2 : 1;
    }
  };
  // lab.js brings etcd3 and its gRPC stack: loaded by the commands that act, not by --help.
  const labModule = () => import('./lab.js');
  const open = async (a: Record<string, unknown>) => (await labModule()).openLab(path.resolve(a.dir as string));

  const parser = yargs(argv)
    .scriptName('galley-lab')
    .usage('$0 <command> [options]\n\nA real local fleet for galley: etcd, sshd hosts, PyBal simulators, Alertmanager.')
    .command(
      'up',
      'start a lab (etcd, sshd hosts, PyBal simulators, Alertmanager, seeded conftool) and write DIR/lab.json',
      (y) =>
        withDir(y)
          .option('hosts', { type: 'number', default: 12, describe: 'fleet hosts (split over eqiad/codfw appserver/jobrunner)' })
          .option('lbs', { type: 'number', default: 2, describe: 'load balancers (PyBal simulators lvs1019, lvs1020, …)' })
          .option('etcd-members', { type: 'number', default: 1 })
          .option('pybal-delay', { type: 'number', default: 200, describe: 'ms before a conftool change takes effect in PyBal' })
          .option('restart-ms', {
            type: 'string',
            default: '300',
            describe:
              'how long `systemctl restart` keeps a service down: MS for every host, or MIN:MAX for a time per host picked from a hash of its name (the same on every up; --restart-seed for another pick)',
          })
          .option('restart-seed', {
            type: 'string',
            describe: 'with --restart-ms MIN:MAX: mixed into the hash, for a different (still reproducible) pick',
          })
          .option('reboot-ms', { type: 'number', default: 2000, describe: 'how long a simulated reboot keeps sshd away' })
          .option('ssh', { type: 'boolean', default: true, describe: 'start sshd hosts (--no-ssh: etcd and PyBal only)' })
          .option('pybal', { type: 'boolean', default: true, describe: 'start PyBal simulators' })
          .option('pybal-mode', {
            type: 'string',
            default: 'wikitech',
            describe:
              "the simulators' PyBal: wikitech (a `no` server stays pooled while depooling it would breach the threshold) or upstream (PyBal's coordinator.py: `no` always leaves, the threshold force-pools enabled servers only)",
          })
          .option('bastion', { type: 'boolean', default: true, describe: 'a bastion and two hosts reachable only through it' })
          .option('host-ca', {
            type: 'boolean',
            default: false,
            describe: 'certify every host key with a lab CA; DIR/known_hosts.ca holds only its @cert-authority line',
          })
          .option('alertmanager', {
            type: 'boolean',
            default: true,
            describe: 'start a real Alertmanager on loopback (--no-alertmanager: none)',
          })
          .option('json', { type: 'boolean', default: false, describe: 'print lab.json instead of the summary' }),
      act(async (a) => {
        const t = Date.now();
        const lab = await (
          await labModule()
        ).startLab({
          dir: path.resolve(a.dir as string),
          hosts: a.hosts as number,
          lbs: a.lbs as number,
          etcdMembers: a['etcd-members'] as number,
          pybalDelayMs: a['pybal-delay'] as number,
          restartMs: restartOption(a),
          rebootMs: a['reboot-ms'] as number,
          ssh: a.ssh as boolean,
          pybal: a.pybal as boolean,
          bastion: a.bastion as boolean,
          hostCa: a['host-ca'] as boolean,
          alertmanager: a.alertmanager as boolean,
          pybalMode: (await labModule()).checkPybalMode(a['pybal-mode']),
        });
        if (a.json) out.push(JSON.stringify(lab.info, null, 2));
        else out.push(...summary(lab, Date.now() - t));
      }),
    )
    .command(
      'down',
      'stop everything `up` started in DIR and remove what it created (also after a crashed up)',
      withDir,
      act(async (a) => {
        const dir = path.resolve(a.dir as string);
        const had = readState(dir);
        await (await labModule()).stopDir(dir);
        out.push(had ? `lab in ${dir} stopped` : `no lab in ${dir} (nothing to stop)`);
      }),
    )
    .command(
      'status',
      'what runs and whether it is healthy',
      (y) => withDir(y).option('json', { type: 'boolean', default: false }),
      act(async (a) => {
        const lab = await open(a);
        const st = await lab.status();
        if (a.json) out.push(JSON.stringify(st, null, 2));
        else {
          out.push(`lab ${lab.dir}`);
          for (const s of st) out.push(`  ${s.ok ? 'ok  ' : 'FAIL'} ${s.component.padEnd(6)} ${s.name.padEnd(28)} ${s.detail}`);
        }
        if (st.some((s) => !s.ok)) exitCode = 1;
      }),
    )
    .command(
      'fail <host> <service> <mode>',
      'inject a service failure: restart (restarts fail), hang (restarts never return), down (service down now)',
      (y) =>
        withDir(y)
          .positional('host', { type: 'string' })
          .positional('service', { type: 'string' })
          .positional('mode', { choices: ['restart', 'hang', 'down'] as const }),
      act(async (a) => {
        const lab = await open(a);
        await lab.failService(a.host as string, a.service as string, a.mode as FailMode);
        out.push(
          `${a.host as string}: ${a.service as string} will ${a.mode === 'down' ? 'be down' : a.mode === 'hang' ? 'hang on restart' : 'fail on restart'} until \`galley-lab heal ${a.host as string}\``,
        );
      }),
    )
    .command(
      'heal <host>',
      'remove injected failures of HOST; its services become active',
      (y) => withDir(y).positional('host', { type: 'string' }),
      act(async (a) => {
        await (await open(a)).heal(a.host as string);
        out.push(`${a.host as string}: healed`);
      }),
    )
    .command(
      'slow <host> [ms]',
      'set how long `systemctl restart` takes on HOST from its next restart on; without MS (or with --reset) back to its time at up',
      (y) =>
        withDir(y)
          .positional('host', { type: 'string' })
          .positional('ms', { type: 'string', describe: 'milliseconds, e.g. 1500' })
          .option('reset', { type: 'boolean', default: false, describe: 'back to the time the host got at up' }),
      act(async (a) => {
        if (a.reset && a.ms !== undefined)
          throw new UsageError('ERR_LAB_BAD_OPTION', 'slow HOST MS --reset: give MS or --reset, not both', {
            hint: 'galley-lab slow HOST 1500, or galley-lab slow HOST --reset',
          });
        const ms = a.ms === undefined ? undefined : parseMs(a.ms as string, 'MS');
        const lab = await open(a);
        const host = a.host as string;
        await lab.setRestartMs(host, ms);
        const rt = await lab.restartMs(host);
        out.push(
          `${host}: systemctl restart takes ${rt.now} ms${rt.now === rt.started ? ' (its time at up)' : ` until \`galley-lab slow ${host}\` (at up: ${rt.started} ms)`}`,
        );
      }),
    )
    .command(
      'lb <lb> <action> [ms]',
      'PyBal simulator faults: down (connection refused), up (clear faults), error (HTTP 500), garbage (HTTP 200 with an unparseable body), lag MS (slower conftool propagation), restart (a PyBal restart: state rebuilt from conftool)',
      (y) =>
        withDir(y)
          .positional('lb', { type: 'string' })
          .positional('action', { choices: ['down', 'up', 'error', 'garbage', 'lag', 'restart'] as const })
          .positional('ms', { type: 'number' }),
      act(async (a) => {
        await (await open(a)).lb(a.lb as string, a.action as LbAction, a.ms as number | undefined);
        out.push(`${a.lb as string}: ${a.action as string}${a.action === 'lag' ? ` ${(a.ms as number | undefined) ?? 1000} ms` : ''}`);
      }),
    )
    .command(
      'etcd <action> <member>',
      'stop or start one etcd member (etcd1, etcd2, …)',
      (y) =>
        withDir(y)
          .positional('action', { choices: ['stop', 'start'] as const })
          .positional('member', { type: 'string' }),
      act(async (a) => {
        const lab = await open(a);
        if (a.action === 'stop') await lab.etcdStop(a.member as string);
        else await lab.etcdStart(a.member as string);
        out.push(`${a.member as string}: ${a.action === 'stop' ? 'stopped' : 'started'}`);
      }),
    )
    .command(
      'host <action> <host>',
      'stop (unreachable), start, or reboot one host; hang-reboot: its next reboot never comes back (until host start or reset)',
      (y) =>
        withDir(y)
          .positional('action', { choices: ['stop', 'start', 'reboot', 'hang-reboot'] as const })
          .positional('host', { type: 'string' }),
      act(async (a) => {
        const lab = await open(a);
        const h = a.host as string;
        if (a.action === 'stop') await lab.stopHost(h);
        else if (a.action === 'start') await lab.startHost(h);
        else if (a.action === 'hang-reboot') await lab.hangReboot(h);
        else await lab.reboot(h);
        out.push(
          `${h}: ${a.action === 'stop' ? 'stopped (sshd down)' : a.action === 'start' ? 'started' : a.action === 'hang-reboot' ? 'its next reboot will not come back (galley-lab host start HOST ends that)' : 'rebooting'}`,
        );
      }),
    )
    .command(
      'alert <host> <service>',
      "fire an alert in the lab's Alertmanager for HOST's SERVICE (labels alertname=LabServiceDown, instance=HOST, service=SERVICE); prints whether a silence suppresses it",
      (y) =>
        withDir(y)
          .positional('host', { type: 'string' })
          .positional('service', { type: 'string' })
          .option('for', { type: 'string', default: '10m', describe: 'how long it fires unless fired again (MS, or e.g. 30s, 10m)' })
          .option('json', { type: 'boolean', default: false, describe: 'print the alert as Alertmanager lists it' }),
      act(async (a) => {
        const lab = await open(a);
        const f = String(a.for);
        const m = /^(\d+)(ms|s|m)?$/.exec(f);
        if (!m)
          throw new UsageError('ERR_LAB_BAD_OPTION', `--for ${f}: not a duration`, {
            hint: 'milliseconds, or a number with s or m, e.g. --for 30s',
          });
        const ms = Number(m[1]) * (m[2] === 's' ? 1000 : m[2] === 'm' ? 60_000 : 1);
        const al = await lab.alert(a.host as string, a.service as string, ms);
        if (a.json) out.push(JSON.stringify(al, null, 2));
        else
          out.push(
            `${a.host as string}: alert LabServiceDown for ${a.service as string} fired: ${al.status.state}${al.status.silencedBy.length ? ` (silenced by ${al.status.silencedBy.join(', ')})` : ''}`,
          );
      }),
    )
    .command(
      'reset',
      'back to the seed: conftool re-seeded, faults healed, hosts, LBs and etcd members up',
      withDir,
      act(async (a) => {
        await (await open(a)).reset();
        out.push('lab reset to its seed');
      }),
    )
    .demandCommand(1, 'give a command (galley-lab --help lists them)')
    .strict()
    .exitProcess(false)
    .fail((msg, e) => {
      err.push(msg || (e ? formatError(e) : 'invalid arguments'));
      exitCode = 2;
    })
    .help()
    .version(false)
    .wrap(Math.min(120, process.stdout.columns || 100));

  let helpText = '';
  await parser.parseAsync(argv, {}, (_e, _a, output) => {
    if (output) helpText = output;
  });
  if (helpText) (exitCode === 0 ? out : err).push(helpText);
  return { exitCode, stdout: out, stderr: err };
}
