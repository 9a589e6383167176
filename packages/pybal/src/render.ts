import type { LbServerView } from './parse.js';
import type { StatusReport } from './service.js';

function cell(v: LbServerView | null, error?: string): string {
  if (error !== undefined) return 'ERROR';
  if (v === null) return '-';
  return `${v.enabled ? 'enabled' : 'disabled'}/${v.up ? 'up' : 'down'}/${v.pooled ? 'pooled' : 'not pooled'}`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
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
      .map((c) => (c.error ? `${c.lb}: unknown (${c.error})` : `${c.lb}: ${c.upEnabled}/${c.total} up+enabled, ${c.pooled} pooled, can take out ${c.canTakeOut}`))
      .join('; ');
    out.push(`  capacity: can take out ${p.capacity.canTakeOut} more (${cap})`);
    for (const a of p.alerts) if (a.error === undefined && a.status !== 'ok') out.push(`  alerts ${a.lb}: ${(a.status ?? '').toUpperCase()} - ${a.msg ?? ''}`);
    const problems = p.rows.flatMap((r) => r.flags.filter((f) => f.kind !== 'lb-error').map((f) => f.message));
    for (const m of problems) out.push(`  ! ${m}`);
    out.push('');
  }
  const lbAlerts = report.alerts.map((a) => `${a.lb} ${a.error !== undefined ? `unknown (${a.error})` : `${(a.status ?? '').toUpperCase()} - ${a.msg ?? ''}`}`);
  if (lbAlerts.length) out.push(`alerts (all pools of each LB): ${lbAlerts.join('; ')}`);
  for (const r of report.unmapped) out.push(`${r.dc}/${r.cluster}/${r.service}/${r.host}: no PyBal pool configured (conftool ${r.conftool.pooled ?? '?'})`);
  return out.join('\n').trimEnd();
}
