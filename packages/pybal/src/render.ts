import type { LbServerView } from './parse.js';
import type { Seen, StatusReport, Verification } from './service.js';

function cell(v: LbServerView | null, error?: string): string {
  if (error !== undefined) return 'ERROR';
  if (v === null) return '-';
  return `${v.enabled ? 'enabled' : 'disabled'}/${v.up ? 'up' : 'down'}/${v.pooled ? 'pooled' : 'not pooled'}`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]): string =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [fmt(header), ...rows.map(fmt)];
}

/** Plain-text rendering of `PybalService.status()` for `sre.lb.status` (no colours: it goes to logs too). */
export function renderStatus(report: StatusReport): string {
  const out: string[] = [];
  const unknown = report.conftoolUnknown !== undefined;
  if (unknown) out.push(`conftool: UNKNOWN (${report.conftoolUnknown ?? ''}); showing what the load balancers serve`, '');
  for (const p of report.pools) {
    const lbNames = p.pool.loadBalancers.map((l) => l.name);
    out.push(`pool ${p.pool.pool} (${p.pool.dc}/${p.pool.cluster}/${p.pool.service}), depool threshold ${p.pool.depoolThreshold}`);
    const rows = p.rows.map((r) => [
      r.host,
      unknown ? 'unknown' : `${r.conftool.pooled ?? '?'}/${r.conftool.weight ?? '?'}`,
      ...lbNames.map((lb) => {
        const e = r.lbs.find((x) => x.lb === lb);
        return e ? cell(e.view, e.error) : '-';
      }),
      r.flags.length ? r.flags.map((f) => f.kind + (f.lb ? `@${f.lb}` : '')).join(',') : '',
    ]);
    out.push(...table(['host', 'conftool', ...lbNames, 'flags'], rows).map((l) => `  ${l}`));
    for (const x of p.extraOnLb) out.push(`  ! ${x.lb} lists ${x.host} (${cell(x.view)}) which conftool does not have as yes/no`);
    const cap = p.capacity.perLb
      .map((c) =>
        c.error
          ? `${c.lb}: unknown (${c.error})`
          : `${c.lb}: ${c.upEnabled}/${c.total} up+enabled, ${c.pooled} pooled, can take out ${c.canTakeOut}`,
      )
      .join('; ');
    out.push(`  capacity: can take out ${p.capacity.canTakeOut} more (${cap})`);
    for (const a of p.alerts)
      if (a.error === undefined && a.status !== 'ok') out.push(`  alerts ${a.lb}: ${(a.status ?? '').toUpperCase()} - ${a.msg ?? ''}`);
    const problems = p.rows.flatMap((r) => r.flags.filter((f) => f.kind !== 'lb-error').map((f) => f.message));
    for (const m of problems) out.push(`  ! ${m}`);
    out.push('');
  }
  const lbAlerts = report.alerts.map(
    (a) => `${a.lb} ${a.error !== undefined ? `unknown (${a.error})` : `${(a.status ?? '').toUpperCase()} - ${a.msg ?? ''}`}`,
  );
  if (lbAlerts.length) out.push(`alerts (all pools of each LB): ${lbAlerts.join('; ')}`);
  for (const r of report.unmapped)
    out.push(`${r.dc}/${r.cluster}/${r.service}/${r.host}: no PyBal pool configured (conftool ${r.conftool.pooled ?? '?'})`);
  return out.join('\n').trimEnd();
}

/** At most four names, then how many more. */
export const hostList = (hosts: readonly string[]): string =>
  hosts.length <= 4 ? hosts.join(', ') : `${hosts.slice(0, 4).join(', ')} and ${hosts.length - 4} more`;

function seen(v: Seen): string {
  if (v === null) return 'not listed';
  if ('error' in v) return `error: ${v.error}`;
  return cell(v);
}

/**
 * The report of `PybalService.verifyDepooled/verifyPooled`: what was verified, or each LB that
 * disagrees, what it said and why, under a headline naming only the LBs that disagreed and the
 * deadline against the real wait.
 */
export function renderVerification(v: Verification): string {
  const unmapped = v.unmapped.length ? `\nnot verified (no PyBal pool configured): ${hostList(v.unmapped)}` : '';
  if (v.lbs.length === 0) return `nothing to verify ${v.expected}${unmapped}`;
  const what = `${v.expected} on ${[...new Set(v.lbs.map((l) => l.lb))].join(', ')}`;
  const secs = (v.elapsedMs / 1000).toFixed(1);
  if (v.dryRun && v.lbs.some((l) => !l.ok)) {
    const now = v.lbs.flatMap((l) => l.hosts.filter((h) => !h.ok).map((h) => `${l.lb}: ${h.host} ${seen(h.seen)}`));
    return `DRY-RUN: would verify ${hostList(v.hosts)} ${what} (now: ${now.join('; ')})${unmapped}`;
  }
  const rounds = `${v.rounds} round${v.rounds === 1 ? '' : 's'}`;
  if (v.ok) return `verified ${hostList(v.hosts)} ${what} (${rounds}, ${secs} s)${unmapped}`;
  const failed = [...new Set(v.disagreements.map((d) => d.lb))];
  const agreed = [...new Set(v.lbs.map((l) => l.lb))].filter((lb) => !failed.includes(lb));
  const failing = `${failed.join(', ') || 'every load balancer'}${agreed.length ? ` (${agreed.join(', ')} agreed)` : ''}`;
  const head = v.aborted
    ? `PyBal verification interrupted after ${secs} s (${rounds}); not verified ${what}:`
    : `PyBal verification failed: not ${v.expected} on ${failing} within the ${v.deadlineMs} ms deadline (waited ${secs} s):`;
  const lines: string[] = [];
  for (const l of v.lbs) {
    if (l.ok) continue;
    // One line per LB and pool without an answer, not one per host.
    if (l.error !== undefined)
      lines.push(`  - ${l.lb} gave no usable answer for pool ${l.pool} (${hostList(l.hosts.map((h) => h.host))}): ${l.error}`);
    else
      for (const h of l.hosts)
        if (!h.ok) lines.push(`  - ${h.why ?? `${l.lb}: ${h.host} is ${seen(h.seen)}`} [${l.lb} says ${seen(h.seen)}]`);
  }
  return [head, ...lines].join('\n') + unmapped;
}
