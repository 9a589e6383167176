/**
 * Shared by sre.hosts.reimage and sre.hosts.decommission-host (the `_` prefix keeps discovery
 * from taking it for a cookbook).
 */
import type { RunContext } from '@galley/core';
import { GalleyError } from '@galley/errors';
import { escapeRegex } from '@galley/lb';

export type Ctx = RunContext<Record<string, unknown>>;
type Clients = Ctx['clients'];
export type Pooled = 'yes' | 'no' | 'inactive';

/** A conftool object of the host as it was before we touched it. */
export interface RecordedObject {
  key: string;
  tags: { dc: string; cluster: string; service: string; name: string };
  pooled: Pooled;
  weight: number;
}

export interface Step {
  step: string;
  ok: boolean;
  detail?: string;
}

export class HostsError extends GalleyError {}

const HOST_RE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;

export function checkFqdn(host: string): void {
  if (!HOST_RE.test(host)) {
    throw new HostsError('ERR_HOSTS_BAD_HOST', `host=${JSON.stringify(host)} is not a fully qualified host name`, { hint: 'pass the FQDN, e.g. host=mw1301.eqiad.wmnet' });
  }
}

export function need<K extends 'provisioner' | 'inventory' | 'monitoring'>(c: Clients, what: K): NonNullable<Clients[K]> {
  const v = c[what];
  if (!v) {
    throw new HostsError('ERR_HOSTS_CLIENT_MISSING', `this cookbook needs a ${what}, and the config has no "${what}:" section`, {
      hint: `add ${what}: to the config (\`galley-lab up\` generates an example)`,
    });
  }
  return v;
}

/** The host's conftool objects (exact name match), as recorded values. */
export async function recordConftool(c: Clients, host: string): Promise<RecordedObject[]> {
  const nodes = await c.confctl.get({ name: escapeRegex(host) });
  return nodes.map((n) => ({ key: n.key, tags: { ...n.tags }, pooled: n.pooled, weight: n.weight }));
}

/** `confctl select 'dc=…,cluster=…,service=…,name=…' set/pooled=…:weight=…`, one per object. */
export function restoreCommands(objs: readonly RecordedObject[]): string[] {
  return objs.map((o) => `confctl select 'dc=${o.tags.dc},cluster=${o.tags.cluster},service=${o.tags.service},name=${o.tags.name}' set/pooled=${o.pooled}:weight=${o.weight}`);
}

export const short = (o: RecordedObject) => `${o.tags.dc}/${o.tags.cluster}/${o.tags.service}`;

/** Current values of these keys (undefined: deleted). */
export async function currentState(c: Clients, host: string): Promise<Map<string, { pooled: Pooled; weight: number }>> {
  const nodes = await c.confctl.get({ name: escapeRegex(host) });
  return new Map(nodes.map((n) => [n.key, { pooled: n.pooled, weight: n.weight }]));
}

/** Set every object of the host to `value` and verify it is out of every LB that carries it. */
export async function setOutAndVerify(ctx: Ctx, host: string, objs: readonly RecordedObject[], value: 'inactive' | 'no'): Promise<string> {
  const c = ctx.clients;
  const nodes = await c.confctl.get({ name: escapeRegex(host) });
  const toChange = nodes.filter((n) => n.pooled !== value);
  if (toChange.length > 0) await c.confctl.update(toChange, { pooled: value });
  if (objs.length === 0) return 'no conftool objects';
  const v = await c.pybal.verifyDepooled(nodes.map((n) => ({ ...n, pooled: value })), { signal: ctx.signal });
  if (!v.ok) throw new HostsError('ERR_HOSTS_NOT_DEPOOLED', `${host} is still pooled on a load balancer after pooled=${value}: ${v.report}`, { hint: 'see which load balancer disagrees; the host was left at pooled=' + value });
  return v.report;
}

/** Put back exactly the recorded pooled/weight values, then verify each object's state on every LB. */
export async function restoreAndVerify(ctx: Ctx, host: string, objs: readonly RecordedObject[]): Promise<string> {
  const c = ctx.clients;
  const nodes = await c.confctl.get({ name: escapeRegex(host) });
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  const missing = objs.filter((o) => !byKey.has(o.key));
  if (missing.length) throw new HostsError('ERR_HOSTS_OBJECT_GONE', `conftool objects of ${host} disappeared during the run: ${missing.map(short).join(', ')}`, { hint: 'recreate them (confctl sync) and set them by hand with the commands below' });
  for (const o of objs) {
    const n = byKey.get(o.key)!;
    const change: { pooled?: Pooled; weight?: number } = {};
    if (n.pooled !== o.pooled) change.pooled = o.pooled;
    if (n.weight !== o.weight) change.weight = o.weight;
    if (ctx.dryRun && change.pooled === undefined && o.pooled !== 'inactive') {
      // In dry-run the set-out was not written: show the restore that would follow it.
      ctx.change({ kind: 'conftool', host, object: `${o.key} pooled`, from: '(set out)', to: o.pooled });
    }
    if (Object.keys(change).length) await c.confctl.update([n], change);
  }
  const pooled = objs.filter((o) => o.pooled === 'yes');
  const out = objs.filter((o) => o.pooled !== 'yes');
  const reports: string[] = [];
  if (pooled.length) {
    const v = await c.pybal.verifyPooled(pooled.map((o) => ({ ...byKey.get(o.key)!, pooled: 'yes' as const })), { signal: ctx.signal });
    if (!v.ok) throw new HostsError('ERR_HOSTS_NOT_REPOOLED', `${host} is not pooled back on every load balancer: ${v.report}`, { hint: 'check the host health on the load balancers; conftool holds the recorded values again' });
    reports.push(v.report);
  }
  if (out.length) {
    const v = await c.pybal.verifyDepooled(out.map((o) => ({ ...byKey.get(o.key)!, pooled: o.pooled })), { signal: ctx.signal });
    if (!v.ok) throw new HostsError('ERR_HOSTS_NOT_DEPOOLED', `${host}: objects recorded as no/inactive are pooled on a load balancer: ${v.report}`);
    reports.push(v.report);
  }
  return reports.join('; ');
}

/** argv template → argv: `{host}`/`{os}` substituted inside single elements. */
export function expand(template: readonly string[], vars: Record<string, string>): string[] {
  return template.map((el) => el.replace(/\{(host|os)\}/g, (_w, k: string) => vars[k] ?? ''));
}

export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function stepsText(steps: readonly Step[]): string {
  return steps.map((s) => `  ${s.ok ? 'ok  ' : 'FAIL'} ${s.step}${s.detail ? `: ${s.detail}` : ''}`).join('\n');
}

/**
 * Expand a host pattern: comma-separated items, each with `[a-b,c]` groups (zero padding kept), as
 * in Cumin/ClusterShell NodeSets: `mw[1301-1303].eqiad.wmnet,db1001.eqiad.wmnet`.
 */
export function expandHosts(pattern: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of pattern.trim()) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (ch === ',' && depth === 0) {
      items.push(cur);
      cur = '';
    } else cur += ch;
  }
  items.push(cur);
  const out: string[] = [];
  const expandOne = (s: string): string[] => {
    const m = /^([^[]*)\[([^\]]+)\](.*)$/.exec(s);
    if (!m) return [s];
    const [, pre, body, rest] = m as unknown as [string, string, string, string];
    const vals: string[] = [];
    for (const part of body.split(',')) {
      const r = /^(\d+)-(\d+)$/.exec(part);
      if (r) {
        const [a, b] = [Number(r[1]), Number(r[2])];
        if (b < a || b - a > 1000) throw new HostsError('ERR_HOSTS_BAD_PATTERN', `bad range [${part}] in host pattern ${pattern}`);
        for (let i = a; i <= b; i++) vals.push(String(i).padStart(r[1]!.length, '0'));
      } else if (/^\d+$/.test(part)) vals.push(part);
      else throw new HostsError('ERR_HOSTS_BAD_PATTERN', `bad range [${part}] in host pattern ${pattern}`, { hint: 'e.g. mw[1301-1303,1307].eqiad.wmnet' });
    }
    return vals.flatMap((v) => expandOne(`${pre}${v}${rest}`));
  };
  for (const item of items) if (item.trim() !== '') out.push(...expandOne(item.trim()));
  return [...new Set(out)];
}
