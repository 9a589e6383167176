/**
 * A picture of one run, as one self-contained HTML page (inline CSS and SVG, no script, nothing
 * fetched): per pool, the objects this run had out over time against what the depool threshold
 * allows; per host, its phases as bars, failures marked; the summary, the changes, the leftovers.
 * Pure: events in, HTML out (the audit log's events of the run, see load.ts).
 */
import type { RunEvent } from '@galley/core';

export interface PoolInfo {
  dc: string;
  cluster: string;
  service: string;
  pool: string;
  depoolThreshold?: number | undefined;
}

interface Ev {
  type: string;
  ts: string;
  [k: string]: unknown;
}

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Phase → what the bar means and its colour. */
const PHASES: Record<string, { label: string; color: string }> = {
  pending: { label: 'waiting', color: '#d0d4da' },
  depooling: { label: 'depooling', color: '#f0a04b' },
  depooled: { label: 'waiting until every LB has it out', color: '#f6c177' },
  'verified-out': { label: 'out on every LB', color: '#9ccfd8' },
  acting: { label: 'acting', color: '#3e7cb1' },
  acted: { label: 'acted', color: '#6ea8dc' },
  healthy: { label: 'healthy', color: '#8fbf8f' },
  repooling: { label: 'repooling', color: '#b48ead' },
  repooled: { label: 'waiting until every LB has it back', color: '#d3b6d0' },
  done: { label: 'done', color: '#2e9e5b' },
  failed: { label: 'FAILED', color: '#d64545' },
  'put-back': { label: 'put back (not acted on)', color: '#9aa0a6' },
};

interface Bar {
  host: string;
  phase: string;
  from: number;
  to: number;
  reason?: string | undefined;
}

export interface ReportModel {
  runId: string;
  cookbook: string;
  started: number;
  finished: number;
  exitCode?: number | undefined;
  status?: string | undefined;
  dryRun: boolean;
  user?: string | undefined;
  argv: string[];
  reason?: string | undefined;
  hosts: string[];
  bars: Bar[];
  failures: { host: string; at: number; reason: string }[];
  pools: {
    name: string;
    total?: number | undefined;
    maxOut?: number | undefined;
    threshold?: number | undefined;
    steps: { t: number; out: number }[];
    peak: number;
  }[];
  batches: { batch: number; of?: number | undefined; at: number; hosts: string[] }[];
  changes: { kind: string; host?: string | undefined; object: string; from?: unknown; to?: unknown }[];
  leftovers: { object: string; state: string; why?: string | undefined }[];
  counts?: { succeeded: number; failed: number; inFlight: number; notAttempted: number } | undefined;
  stopReason?: string | undefined;
  errors: string[];
}

const t = (e: Ev): number => Date.parse(e.ts);

/** Max objects of a pool that may be out at once: PyBal keeps at least ceil(threshold × total) up. */
export function maxOut(total: number, threshold: number): number {
  return Math.max(0, total - Math.ceil(threshold * total - 1e-9));
}

/** The run's events (the top-level run; nested runs' events are left out) → what the page shows. */
export function buildModel(runId: string, events: readonly RunEvent[], pools: readonly PoolInfo[] = []): ReportModel {
  const evs = (events as unknown as Ev[]).filter((e) => e.runId === runId).sort((a, b) => t(a) - t(b));
  const startedEv = evs.find((e) => e.type === 'run-started');
  const finishedEv = evs.findLast((e) => e.type === 'run-finished');
  const started = startedEv ? t(startedEv) : evs.length ? t(evs[0]!) : 0;
  const finished = finishedEv ? t(finishedEv) : evs.length ? t(evs.at(-1)!) : started;

  // Host phases as bars: each phase lasts until the host's next phase (or the end of the run).
  const hosts: string[] = [];
  const bars: Bar[] = [];
  const open = new Map<string, Bar>();
  const failures: ReportModel['failures'] = [];
  const batches: ReportModel['batches'] = [];
  for (const e of evs) {
    if (e.type === 'batch-started')
      batches.push({ batch: Number(e.batch), of: e.of as number | undefined, at: t(e), hosts: (e.hosts as string[]) ?? [] });
    if (e.type !== 'host-phase') continue;
    const host = String(e.host);
    if (!hosts.includes(host)) hosts.push(host);
    const prev = open.get(host);
    if (prev) prev.to = t(e);
    const bar: Bar = { host, phase: String(e.phase), from: t(e), to: finished, reason: e.reason as string | undefined };
    bars.push(bar);
    open.set(host, bar);
    if (e.phase === 'failed' || e.phase === 'put-back')
      failures.push({ host, at: t(e), reason: typeof e.reason === 'string' ? e.reason : String(e.phase) });
    // a finished host's bar is a mark, not a span to the end of the run
    if (e.phase === 'done' || e.phase === 'put-back') {
      bar.to = t(e);
      open.delete(host);
    }
  }

  // Objects out per pool: every conftool change this run made, yes → no (+1) and back (−1).
  const nameOf = (dc: string, cluster: string, service: string): string =>
    pools.find((p) => p.dc === dc && p.cluster === cluster && p.service === service)?.pool ?? `${dc}/${cluster}/${service}`;
  const series = new Map<string, { steps: { t: number; out: number }[]; out: number; peak: number }>();
  for (const e of evs) {
    if (e.type !== 'change' || e.kind !== 'conftool' || e.dryRun === true) continue;
    const m = /\/pools\/([^/]+)\/([^/]+)\/([^/]+)\/[^/\s]+/.exec(String(e.object));
    if (!m) continue;
    const name = nameOf(m[1]!, m[2]!, m[3]!);
    const s = series.get(name) ?? { steps: [{ t: started, out: 0 }], out: 0, peak: 0 };
    const delta = e.from === 'yes' && e.to !== 'yes' ? 1 : e.to === 'yes' && e.from !== 'yes' ? -1 : 0;
    if (!delta) continue;
    s.out = Math.max(0, s.out + delta);
    s.peak = Math.max(s.peak, s.out);
    s.steps.push({ t: t(e), out: s.out });
    series.set(name, s);
  }
  // Pool sizes and thresholds as the capacity checks saw them ("lvs1019: 4 of 4 up and enabled, threshold 0.5").
  const sizes = new Map<string, { total: number; threshold: number }>();
  for (const e of evs) {
    if (e.type !== 'capacity') continue;
    for (const p of (e.pools as { pool: string; detail?: string }[]) ?? []) {
      const m = /(\d+) of (\d+) up and enabled, threshold ([\d.]+)/.exec(p.detail ?? '');
      if (m && !sizes.has(p.pool)) sizes.set(p.pool, { total: Number(m[2]), threshold: Number(m[3]) });
    }
  }
  const poolRows = [...series].map(([name, s]) => {
    const size = sizes.get(name);
    const threshold = size?.threshold ?? pools.find((p) => p.pool === name)?.depoolThreshold;
    return {
      name,
      total: size?.total,
      threshold,
      maxOut: size && threshold !== undefined ? maxOut(size.total, threshold) : undefined,
      steps: [...s.steps, { t: finished, out: s.out }],
      peak: s.peak,
    };
  });

  const summary = (finishedEv?.summary ?? {}) as { status?: string; plan?: ReportModel['changes']; leftovers?: ReportModel['leftovers'] };
  const output = evs.findLast((e) => e.type === 'output')?.data as
    { succeeded?: unknown[]; failed?: unknown[]; inFlight?: unknown[]; notAttempted?: unknown[]; stopReason?: string } | undefined;
  return {
    runId,
    cookbook: [startedEv?.cookbook, finishedEv?.cookbook, evs[0]?.cookbook].find((c): c is string => typeof c === 'string') ?? '?',
    started,
    finished,
    exitCode: finishedEv?.exitCode as number | undefined,
    status: summary.status,
    dryRun: startedEv?.dryRun === true,
    user: startedEv?.user as string | undefined,
    argv: (startedEv?.argv as string[] | undefined) ?? [],
    reason: startedEv?.reason as string | undefined,
    hosts,
    bars,
    failures,
    pools: poolRows,
    batches,
    changes: summary.plan ?? evs.filter((e) => e.type === 'change').map((e) => e as unknown as ReportModel['changes'][number]),
    leftovers: summary.leftovers ?? evs.filter((e) => e.type === 'leftover').map((e) => e as unknown as ReportModel['leftovers'][number]),
    counts:
      output && Array.isArray(output.succeeded)
        ? {
            succeeded: output.succeeded.length,
            failed: output.failed?.length ?? 0,
            inFlight: output.inFlight?.length ?? 0,
            notAttempted: output.notAttempted?.length ?? 0,
          }
        : undefined,
    stopReason: output?.stopReason,
    errors: evs.filter((e) => e.type === 'error').map((e) => `${String(e.phase)}: ${String(e.message)}`),
  };
}

const W = 1100;
const LEFT = 210;
const RIGHT = 20;
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

function timeAxis(m: ReportModel, y: number, height: number): { x: (ms: number) => number; svg: string } {
  const span = Math.max(1, m.finished - m.started);
  const x = (ms: number): number => LEFT + ((ms - m.started) / span) * (W - LEFT - RIGHT);
  const stepS = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600].find((s) => span / 1000 / s <= 10) ?? 7200;
  const ticks: string[] = [];
  for (let s = 0; s * 1000 <= span; s += stepS) {
    const px = x(m.started + s * 1000).toFixed(1);
    ticks.push(
      `<line x1="${px}" y1="${y}" x2="${px}" y2="${y + height}" class="grid"/><text x="${px}" y="${y + height + 14}" class="tick">${s}s</text>`,
    );
  }
  return { x, svg: ticks.join('') };
}

function hostChart(m: ReportModel): string {
  if (!m.hosts.length) return '<p class="none">No host phases were recorded for this run.</p>';
  const row = 22;
  const top = 10;
  const h = top + m.hosts.length * row;
  const { x, svg: grid } = timeAxis(m, 0, h);
  const parts: string[] = [grid];
  for (const b of m.batches) {
    const px = x(b.at).toFixed(1);
    parts.push(
      `<line x1="${px}" y1="0" x2="${px}" y2="${h}" class="batch"/><text x="${(x(b.at) + 3).toFixed(1)}" y="9" class="batchlabel">batch ${b.batch}${b.of ? `/${b.of}` : ''}</text>`,
    );
  }
  m.hosts.forEach((host, i) => {
    const y = top + i * row;
    parts.push(`<text x="${LEFT - 8}" y="${y + 15}" class="host" text-anchor="end">${esc(host)}</text>`);
    for (const b of m.bars.filter((bb) => bb.host === host)) {
      const p = PHASES[b.phase] ?? { label: b.phase, color: '#999' };
      const x0 = x(b.from);
      const wPx = Math.max(b.phase === 'done' || b.phase === 'put-back' ? 0 : 2, x(b.to) - x0);
      const tip = `${host}: ${p.label} ${secs(b.from - m.started)} → ${secs(b.to - m.started)}${b.reason ? ` — ${b.reason}` : ''}`;
      if (wPx > 0)
        parts.push(
          `<rect x="${x0.toFixed(1)}" y="${y + 3}" width="${wPx.toFixed(1)}" height="${row - 6}" fill="${p.color}" class="phase phase-${esc(b.phase)}"><title>${esc(tip)}</title></rect>`,
        );
      if (b.phase === 'done')
        parts.push(
          `<g class="donemark"><circle cx="${x0.toFixed(1)}" cy="${y + row / 2}" r="6" fill="#2e9e5b"/><text x="${x0.toFixed(1)}" y="${y + row / 2 + 4}" text-anchor="middle" class="done">✔</text><title>${esc(tip)}</title></g>`,
        );
    }
  });
  for (const f of m.failures) {
    const i = m.hosts.indexOf(f.host);
    const cx = x(f.at);
    const cy = top + i * row + row / 2;
    parts.push(
      `<g class="failure"><circle cx="${cx.toFixed(1)}" cy="${cy}" r="7" fill="#d64545"/><text x="${cx.toFixed(1)}" y="${cy + 4}" text-anchor="middle" class="x">✖</text><title>${esc(`${f.host}: ${f.reason}`)}</title></g>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h + 22}" role="img" aria-label="host phases over time">${parts.join('')}</svg>`;
}

function poolChart(m: ReportModel, p: ReportModel['pools'][number]): string {
  const h = 90;
  const top = 8;
  const yMax = Math.max(1, p.peak, p.maxOut ?? 0) + 1;
  const { x, svg: grid } = timeAxis(m, top, h);
  const y = (n: number): number => top + h - (n / yMax) * h;
  let d = `M${x(p.steps[0]!.t).toFixed(1)},${y(0).toFixed(1)}`;
  for (const s of p.steps) d += ` H${x(s.t).toFixed(1)} V${y(s.out).toFixed(1)}`;
  const parts = [grid, `<path d="${d} V${y(0).toFixed(1)} Z" class="area"/><path d="${d}" class="line"/>`];
  for (let n = 0; n <= yMax; n++)
    parts.push(`<text x="${LEFT - 8}" y="${(y(n) + 4).toFixed(1)}" class="tick" text-anchor="end">${n}</text>`);
  if (p.maxOut !== undefined) {
    parts.push(
      `<line x1="${LEFT}" y1="${y(p.maxOut).toFixed(1)}" x2="${W - RIGHT}" y2="${y(p.maxOut).toFixed(1)}" class="threshold"/>` +
        `<text x="${W - RIGHT - 4}" y="${(y(p.maxOut) - 4).toFixed(1)}" class="thresholdlabel" text-anchor="end">depool threshold ${p.threshold}: at most ${p.maxOut} of ${p.total} out</text>`,
    );
  }
  parts.push(
    `<text x="8" y="${top + 14}" class="poolname">${esc(p.name)}</text><text x="8" y="${top + 30}" class="poolsub">peak ${p.peak} out${p.total !== undefined ? ` of ${p.total}` : ''}</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h + top + 22}" role="img" aria-label="objects out of pool ${esc(p.name)} over time" class="pool">${parts.join('')}</svg>`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.status{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600}.PASS{background:#2e9e5b}.FAIL,.ERROR{background:#d64545}
table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f6f8fa}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}.none{color:#57606a}
svg text{font:11px system-ui,sans-serif;fill:#1f2328}.grid{stroke:#eaeef2}.tick{fill:#57606a}.host{font:12px ui-monospace,monospace}
.batch{stroke:#8c959f;stroke-dasharray:3 3}.batchlabel{fill:#57606a;font-size:10px}.x{fill:#fff;font-size:10px;font-weight:700}.done{fill:#fff;font-size:9px;font-weight:700}
.area{fill:#f0a04b33}.line{fill:none;stroke:#f0a04b;stroke-width:2}.threshold{stroke:#d64545;stroke-width:1.5;stroke-dasharray:6 4}.thresholdlabel{fill:#d64545}
.poolname{font-weight:600}.poolsub{fill:#57606a}.legend span{display:inline-block;margin-right:12px}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px;border-radius:2px}
.left td:first-child{font-weight:600;color:#d64545}`;

export function renderReport(m: ReportModel): string {
  const dur = secs(m.finished - m.started);
  const status = m.status ?? (m.exitCode === 0 ? 'PASS' : 'FAIL');
  const summaryRows: [string, string][] = [
    ['cookbook', `<code>${esc([m.cookbook, ...m.argv].join(' '))}</code>`],
    ['run', `<code>${esc(m.runId)}</code>${m.dryRun ? ' (dry-run)' : ''}`],
    ['who', esc(m.user ?? '?')],
    ['reason', esc(m.reason ?? '—')],
    ['started', esc(new Date(m.started).toISOString())],
    ['duration', esc(dur)],
    ['exit code', esc(m.exitCode ?? '? (no run-finished record)')],
  ];
  if (m.counts)
    summaryRows.push([
      'hosts',
      esc(
        `${m.counts.succeeded} succeeded, ${m.counts.failed} failed, ${m.counts.inFlight} stopped mid-way, ${m.counts.notAttempted} not attempted`,
      ),
    ]);
  if (m.stopReason) summaryRows.push(['stopped', esc(m.stopReason)]);
  for (const e of m.errors) summaryRows.push(['error', esc(e)]);
  const legend = Object.entries(PHASES)
    .filter(([k]) => m.bars.some((b) => b.phase === k))
    .map(([, p]) => `<span><i style="background:${p.color}"></i>${esc(p.label)}</span>`)
    .join('');
  const changes = m.changes.length
    ? `<table><tr><th>#</th><th>host</th><th>change</th></tr>${m.changes
        .map(
          (c, i) =>
            `<tr><td>${i + 1}</td><td>${esc(c.host ?? '')}</td><td><code>${esc(c.kind === 'command' ? `run ${c.object}` : `${c.object}${c.from !== undefined || c.to !== undefined ? ` ${String(c.from)} → ${String(c.to)}` : ''}`)}</code></td></tr>`,
        )
        .join('')}</table>`
    : '<p class="none">No changes.</p>';
  const leftovers = m.leftovers.length
    ? `<table class="left"><tr><th>what</th><th>state</th><th>why</th></tr>${m.leftovers.map((l) => `<tr><td>${esc(l.object)}</td><td>${esc(l.state)}</td><td>${esc(l.why ?? '')}</td></tr>`).join('')}</table>`
    : '<p class="none">Nothing was left in a non-final state.</p>';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(`${m.cookbook} run ${m.runId}: ${status}`)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${CSS}</style></head>
<body>
<h1>${esc(m.cookbook)} <span class="status ${esc(status)}">${esc(status)}</span></h1>
<div class="none">run ${esc(m.runId)} · ${esc(dur)} · generated from the audit log by <code>cookbook --report</code></div>
<h2>Summary</h2><table id="summary">${summaryRows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join('')}</table>
<h2>Pools: objects out over time</h2><section id="pools">${m.pools.length ? m.pools.map((p) => poolChart(m, p)).join('') : '<p class="none">This run took nothing out of a pool.</p>'}</section>
<h2>Hosts: phases over time</h2><div class="legend">${legend}<span><i style="background:#d64545;border-radius:6px"></i>failure</span></div>
<section id="hosts">${hostChart(m)}</section>
<h2>Changes (${m.changes.length})</h2><section id="changes">${changes}</section>
<h2>Left in a non-final state (${m.leftovers.length})</h2><section id="leftovers">${leftovers}</section>
</body></html>
`;
}
