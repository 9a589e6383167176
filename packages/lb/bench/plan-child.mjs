#!/usr/bin/env node
/* global process */
// One dry-run plan in a fresh process (for an honest peak RSS): cluster=jobrunner of the lab whose
// config is argv[2], batch 10, restart nginx+php-fpm. Prints one JSON line.
const processStart = Date.now() - Math.round(process.uptime() * 1000);
const { Conftool, connectEtcd } = await import('@galley/confctl');
const { loadConfig } = await import('@galley/config');
const { conftoolStore, formatPlan, parseBatchSpec, planRolling, pybalCapacity, selectHosts } = await import('@galley/lb');
const { PybalClient, PybalService, PybalTopology } = await import('@galley/pybal');

const t0 = Date.now();
const { config } = await loadConfig({ file: process.argv[2] });
const confctl = new Conftool(connectEtcd(config.etcd), { namespace: config.conftool.namespace });
const client = new PybalClient({ requestTimeoutMs: config.pybal.requestTimeoutMs, retries: config.pybal.retries });
const pybal = new PybalService({ topology: new PybalTopology(config.pybal), client, dryRun: true });
const ports = { capacity: pybalCapacity(pybal) };
const selection = await selectHosts(conftoolStore(confctl), { cluster: 'jobrunner' });
const plan = await planRolling(ports, {
  selection,
  batch: parseBatchSpec('10'),
  commands: [{ argv: ['systemctl', 'restart', 'nginx', 'php-fpm'] }],
});
const text = formatPlan(plan);
const ms = Date.now() - t0;
await client.close();
confctl.close();
const out = {
  ms,
  processMs: Date.now() - processStart,
  maxRssMb: process.resourceUsage().maxRSS / 1024,
  hosts: plan.hosts,
  batches: plan.batches.length,
  objects: plan.batches.reduce((n, b) => n + b.hosts.reduce((m, h) => m + h.depool.length, 0), 0),
  lines: text.split('\n').length,
  warnings: plan.warnings.length,
};
process.stdout.write(JSON.stringify(out) + '\n');
