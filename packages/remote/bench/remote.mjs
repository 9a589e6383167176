#!/usr/bin/env node
// `pnpm bench remote [--hosts N] [--runs R]`: galley-exec against the lab's sshd hosts, through
// both transports (ssh2, and `ssh.transport: openssh`: the system ssh, one ControlMaster per
// host), next to Cumin, clush, pdsh and xargs+ssh measured in the same run (`true` through
// ../shared/bench/peers.sh, with default configs and with curve25519 forced on the
// OpenSSH-based tools; three commands per host here). Prints medians, client CPU, peak RSS and
// the ratios the issues set targets for. A peer that is not installed is NA
// (`bash scripts/setup.sh --bench` installs cumin and pdsh from Debian).
/* global process */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const here = import.meta.dirname;
const root = path.resolve(here, '../../..');
const { startLab } = await import('@galley/lab');
const { NodeSet } = await import(path.join(here, '../dist/index.js'));
const { parse: parseYaml } = await import('yaml');

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
};
const HOSTS = arg('hosts', 50);
const RUNS = arg('runs', 5);
const FANOUT = 64;
// ../shared sits beside the main checkout; from a git worktree, find that checkout through git's common dir.
const gitCommon = spawnSync('git', ['rev-parse', '--path-format=absolute', '--git-common-dir'], {
  cwd: root,
  encoding: 'utf8',
}).stdout?.trim();
const checkout = gitCommon ? path.dirname(gitCommon) : root;
const PEERS_SH = process.env.PEERS_SH ?? path.resolve(checkout, '../shared/bench/peers.sh');
// the binary is @galley/cli's (bin/galley-exec runs it)
const BIN = path.join(root, 'packages/cli/dist/galley-exec-bin.js');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;

/** Run a command under /usr/bin/time: wall (s), client CPU (user+sys, s, children included), peak RSS (MB). */
function timed(argv, env = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %U %S %M', ...argv], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = /TIME ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr ?? '');
  return {
    wall,
    cpu: m ? Number(m[1]) + Number(m[2]) : NaN,
    rssMb: m ? Number(m[3]) / 1024 : NaN,
    status: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
  };
}

function series(name, argv, env, check) {
  timed(argv, env); // warm-up, not timed (page cache, sshd first-exec)
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    const r = timed(argv, env);
    if (r.status !== 0 || (check && !check(r))) {
      const why = r.stderr
        .split('\n')
        .filter((l) => / of nodes failed |^ {2}\S+: |success ratio|^error/.test(l))
        .slice(0, 8);
      process.stderr.write(`bench: ${name} run ${i} failed (rc=${r.status}): ${why.join(' | ')}\n`);
    }
    runs.push(r);
  }
  return {
    name,
    wall: median(runs.map((r) => r.wall)),
    cpu: median(runs.map((r) => r.cpu)),
    rssMb: Math.max(...runs.map((r) => r.rssMb)),
    failed: runs.filter((r) => r.status !== 0).length,
  };
}

const HZ = 100; // USER_HZ: the unit of /proc/PID/stat's times on Linux
/** CPU (s) of these processes and their descendants so far, reaped children included. */
function treeCpu(roots) {
  const kids = new Map();
  const ticks = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      // utime, stime, cutime, cstime (fields 14-17)
      ticks.set(Number(d), Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]));
      const pp = Number(f[1]);
      kids.set(pp, [...(kids.get(pp) ?? []), Number(d)]);
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  const walk = (pid) => {
    total += ticks.get(pid) ?? 0;
    for (const k of kids.get(pid) ?? []) walk(k);
  };
  for (const r of roots) walk(r);
  return total / HZ;
}

/** The host-side CPU of one run, median of RUNS (after a warm-up). */
function hostSide(name, argv, roots) {
  spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' });
  const xs = [];
  for (let i = 0; i < RUNS; i++) {
    const before = treeCpu(roots);
    const r = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' });
    if (r.status !== 0) process.stderr.write(`bench: ${name} run ${i} failed (rc=${r.status})\n`);
    xs.push(treeCpu(roots) - before);
  }
  return { name, cpu: median(xs) };
}

function peers(labDir, env = {}) {
  if (!fs.existsSync(PEERS_SH)) return new Map();
  const r = spawnSync('bash', [PEERS_SH, labDir, String(HOSTS)], {
    encoding: 'utf8',
    env: { ...process.env, RUNS: String(RUNS), FANOUT: String(FANOUT), ...env },
  });
  if (r.stderr) process.stderr.write(r.stderr);
  const out = new Map();
  for (const line of r.stdout.trim().split('\n')) {
    const [tool, , med] = line.split(' ');
    if (tool) out.set(tool, med === 'NA' ? null : Number(med));
  }
  return out;
}

const fmt = (x, d = 2) => (x == null || Number.isNaN(x) ? 'NA' : x.toFixed(d));
const ratio = (a, b) => (a == null || b == null || Number.isNaN(a) || Number.isNaN(b) ? 'NA' : `${(a / b).toFixed(2)}x`);

process.stderr.write(`bench: starting a lab with ${HOSTS} hosts...\n`);
const lab = await startLab({ hosts: HOSTS, lbs: 0, pybal: false, bastion: false });
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-bench-remote-'));
try {
  const info = lab.info;
  const hosts = NodeSet.fromHosts(info.hosts.map((h) => h.name)).toString();
  const cfg = info.config;
  // The same lab config with ssh.transport: openssh (galley's second transport).
  const labCfg = parseYaml(fs.readFileSync(cfg, 'utf8'));
  const opensshCfg = path.join(work, 'openssh.config.json');
  fs.writeFileSync(opensshCfg, JSON.stringify({ ...labCfg, ssh: { ...labCfg.ssh, transport: 'openssh' } }));
  const execWith = (config, ...cmds) => [
    'node',
    BIN,
    '-c',
    config,
    '--yes',
    '--no-progress',
    '-b',
    String(FANOUT),
    ...(cmds.length > 1 ? ['-m', 'async'] : []),
    hosts,
    ...cmds,
  ];
  const exec = (...cmds) => execWith(cfg, ...cmds);
  const allOk = (r) => /100\.0% \(\d+\/\d+\) success/.test(r.stderr);
  const THREE = ['true', 'hostname', 'uname -r'];

  const g = {
    true: series('galley true', exec('true'), {}, allOk),
    hostname: series('galley hostname', exec('hostname'), {}, (r) => allOk(r) && (r.stdout.match(/^\(1\) /gm) ?? []).length === HOSTS),
    three: series('galley 3 cmds async', exec(...THREE), {}, allOk),
    osTrue: series('galley openssh true', execWith(opensshCfg, 'true'), {}, allOk),
    osThree: series('galley openssh 3 cmds async', execWith(opensshCfg, ...THREE), {}, allOk),
  };

  // Three commands per host with the peers that have no multi-command mode: one run per command
  // (clush, pdsh: like Cumin's sync mode), or per host three ssh in a row (xargs+ssh: like async).
  const list = path.join(work, 'hosts.txt');
  fs.writeFileSync(list, `${info.hosts.map((h) => h.name).join('\n')}\n`);
  const clushDir = path.join(work, 'clush');
  fs.mkdirSync(clushDir);
  fs.writeFileSync(
    path.join(clushDir, 'clush.conf'),
    `[Main]\nfanout: ${FANOUT}\nconnect_timeout: 15\ncommand_timeout: 0\ncolor: never\nssh_options: -F ${info.sshConfig}\n`,
  );
  const peerEnv = { CLUSTERSHELL_CFGDIR: clushDir, PDSH_SSH_ARGS_APPEND: `-F ${info.sshConfig}` };
  const q = (c) => `'${c.replace(/'/g, "'\\''")}'`;
  const three = {
    clush: THREE.map((c) => `clush -S -f ${FANOUT} -w ${hosts} ${q(c)}`).join(' && '),
    pdsh: THREE.map((c) => `pdsh -R ssh -S -f ${FANOUT} -w ${hosts} ${q(c)}`).join(' && '),
    'xargs+ssh': `xargs -a ${list} -P ${FANOUT} -I{} sh -c ${q(THREE.map((c) => `ssh -F ${info.sshConfig} {} ${q(c)}`).join(' && '))}`,
  };
  const peers3 = new Map();
  for (const [tool, line] of Object.entries(three)) {
    const bin = tool === 'xargs+ssh' ? 'ssh' : tool;
    peers3.set(tool, has(bin) ? series(`${tool} 3 cmds`, ['bash', '-c', line], peerEnv) : null);
  }

  // The same key exchange for everyone: a copy of the lab whose ssh_config forces curve25519.
  const sshCfg = fs.readFileSync(info.sshConfig, 'utf8');
  const curveCfg = path.join(work, 'ssh_config');
  fs.writeFileSync(curveCfg, `KexAlgorithms curve25519-sha256\n${sshCfg}`);
  const curveLab = path.join(work, 'lab');
  fs.mkdirSync(curveLab);
  fs.writeFileSync(
    path.join(curveLab, 'lab.json'),
    JSON.stringify({ ...JSON.parse(fs.readFileSync(path.join(info.dir, 'lab.json'), 'utf8')), sshConfig: curveCfg }),
  );

  // Host-side CPU (issue 16 item 5): what sshd and the processes it starts cost on the 50 hosts,
  // galley-exec against ssh with curve25519 forced, and against ssh sending galley's remote wrapper.
  const hostPids = JSON.parse(fs.readFileSync(path.join(info.dir, 'state.json'), 'utf8'))
    .processes.filter((x) => x.kind === 'host')
    .map((x) => x.pid);
  const xargsTrue = (cmd) => ['sh', '-c', `xargs -a ${list} -P ${FANOUT} -I{} ssh -F ${curveCfg} {} ${q(cmd)}`];
  const side = {
    galley: hostSide('galley-exec ssh2, true', exec('true'), hostPids),
    xargs: has('ssh') ? hostSide('xargs+ssh curve25519, true', xargsTrue('true'), hostPids) : null,
    wrapped: has('ssh') ? hostSide("xargs+ssh curve25519, galley's wrapper", xargsTrue('timeout -k 2 300s sh -c true'), hostPids) : null,
  };

  process.stderr.write('bench: peers (default configs)...\n');
  const pDefault = peers(info.dir);
  process.stderr.write('bench: peers (curve25519 forced)...\n');
  const pCurve = peers(curveLab);

  // Cumin's own CPU/RSS, and its async mode with three commands (one connection per command).
  let cumin = null;
  let cumin3 = null;
  if (has('cumin')) {
    const ccfg = path.join(work, 'cumin.yaml');
    fs.writeFileSync(
      ccfg,
      `transport: clustershell\nlog_file: ${work}/cumin.log\ndefault_backend: direct\nclustershell:\n  ssh_options:\n    - '-F ${info.sshConfig}'\n  fanout: ${FANOUT}\n`,
    );
    const env = process.env.USER === 'root' || !process.env.USER ? { SUDO_USER: 'bench' } : {};
    cumin = series('cumin true', ['cumin', '-c', ccfg, '--force', '--no-progress', '-n', hosts, 'true'], env);
    cumin3 = series(
      'cumin 3 cmds async',
      ['cumin', '-c', ccfg, '--force', '--no-progress', '-n', '-m', 'async', hosts, 'true', 'hostname', 'uname -r'],
      env,
    );
  }

  const others = (m) => [...m].filter(([t, v]) => t !== 'cumin' && v != null);
  const fastest = (m) => others(m).sort((a, b) => a[1] - b[1])[0] ?? [null, null];
  const [fastD, fastDv] = fastest(pDefault);
  const [fastC, fastCv] = fastest(pCurve);
  const cuminWall = pDefault.get('cumin') ?? cumin?.wall ?? null;

  const lines = [];
  lines.push(
    `remote bench: ${HOSTS} hosts, fanout ${FANOUT}, median of ${RUNS} runs (after one warm-up), ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`,
  );
  lines.push('');
  lines.push('tool / scenario                      wall s   client CPU s   peak RSS MB');
  for (const s of [g.true, g.hostname, g.three, g.osTrue, g.osThree, cumin, cumin3, ...peers3.values()].filter(Boolean)) {
    lines.push(
      `${s.name.padEnd(36)} ${fmt(s.wall).padStart(6)}   ${fmt(s.cpu).padStart(12)}   ${fmt(s.rssMb, 0).padStart(11)}${s.failed ? `   (${s.failed} failed runs)` : ''}`,
    );
  }
  lines.push('');
  lines.push('peers, `true` on all hosts (peers.sh), wall s:   default kex   curve25519 forced');
  for (const t of new Set([...pDefault.keys(), ...pCurve.keys()])) {
    lines.push(`  ${t.padEnd(44)} ${fmt(pDefault.get(t)).padStart(11)}   ${fmt(pCurve.get(t)).padStart(17)}`);
  }
  lines.push(`  ${'galley-exec (ssh2: curve25519 always)'.padEnd(44)} ${fmt(g.true.wall).padStart(11)}   ${fmt(g.true.wall).padStart(17)}`);
  lines.push(`  ${'galley-exec, ssh.transport: openssh'.padEnd(44)} ${fmt(g.osTrue.wall).padStart(11)}   ${'(its own kex)'.padStart(17)}`);
  lines.push('');
  lines.push('three commands per host (true; hostname; uname -r), wall s:');
  lines.push(`  ${'galley-exec ssh2 (-m async, one connection)'.padEnd(44)} ${fmt(g.three.wall).padStart(11)}`);
  lines.push(`  ${'galley-exec openssh (-m async, ControlMaster)'.padEnd(44)} ${fmt(g.osThree.wall).padStart(11)}`);
  lines.push(`  ${'cumin (-m async)'.padEnd(44)} ${fmt(cumin3?.wall).padStart(11)}`);
  for (const [tool, s] of peers3)
    lines.push(
      `  ${`${tool} (${tool === 'xargs+ssh' ? 'three ssh per host' : 'one run per command'})`.padEnd(44)} ${fmt(s?.wall).padStart(11)}`,
    );
  lines.push('');
  lines.push(`host-side CPU s (sshd and what it runs, all ${HOSTS} hosts; median of ${RUNS}):`);
  for (const x of Object.values(side).filter(Boolean)) lines.push(`  ${x.name.padEnd(44)} ${fmt(x.cpu).padStart(11)}`);
  lines.push('');
  lines.push('ratios (target in brackets):');
  lines.push(`  galley / Cumin wall, true (default)            ${ratio(g.true.wall, cuminWall)}  [<= 0.45x]`);
  lines.push(`  galley / fastest other (${fastD ?? 'NA'}, default)   ${ratio(g.true.wall, fastDv)}  [<= 0.60x]`);
  lines.push(`  galley / fastest other (${fastC ?? 'NA'}, curve25519)  ${ratio(g.true.wall, fastCv)}  [<= 1.00x]`);
  lines.push(`  galley / Cumin client CPU, true                 ${ratio(g.true.cpu, cumin?.cpu)}  [<= 0.10x]`);
  lines.push(`  galley / Cumin async, three commands per host   ${ratio(g.three.wall, cumin3?.wall)}  [<= 0.25x]`);
  lines.push(`  galley openssh / ssh2 wall, true                 ${ratio(g.osTrue.wall, g.true.wall)}`);
  lines.push(`  galley openssh / xargs+ssh wall, true (default)  ${ratio(g.osTrue.wall, pDefault.get('xargs+ssh'))}`);
  lines.push(`  galley openssh / ssh2 wall, three commands       ${ratio(g.osThree.wall, g.three.wall)}`);
  lines.push(`  galley peak RSS                                 ${fmt(Math.max(g.true.rssMb, g.hostname.rssMb, g.three.rssMb), 0)} MB`);
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await lab.stop();
  fs.rmSync(work, { recursive: true, force: true });
}
