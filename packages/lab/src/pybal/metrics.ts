/**
 * The Prometheus metrics a PyBal serves on /metrics (instrumentation.py hands /metrics to
 * prometheus_client's MetricsResource), as a tiny registry with the text exposition format 0.0.4
 * of prometheus_client: HELP/TYPE lines per family, label pairs sorted by name, values as Go
 * floats (`4.0`, `1.7e+09`), and for every counter child its `_created` timestamp as a gauge
 * family of its own. Families are registered when PyBal imports its modules, so a family with
 * label names and no child yet prints its HELP/TYPE lines only; a label set, once created, stays
 * (PyBal never removes one, even for a server that left the pool).
 */

export type MetricKind = 'gauge' | 'counter';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

interface Child {
  labels: Record<string, string>;
  value: number;
  created: number;
}

export class MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly kind: MetricKind;
  readonly labelNames: readonly string[];
  readonly #children = new Map<string, Child>();

  constructor(name: string, help: string, kind: MetricKind, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.kind = kind;
    this.labelNames = labelNames;
    // prometheus_client gives a family without label names its one sample at once (0.0).
    if (labelNames.length === 0) this.#child({});
  }

  #child(labels: Record<string, string>): Child {
    const names = Object.keys(labels).sort();
    if (names.join(',') !== [...this.labelNames].sort().join(',')) {
      throw new Error(`metric ${this.name}: labels ${names.join(',')} are not ${this.labelNames.join(',')}`);
    }
    const key = JSON.stringify(names.map((n) => [n, labels[n]]));
    let c = this.#children.get(key);
    if (!c) {
      c = { labels: { ...labels }, value: 0, created: Date.now() / 1000 };
      this.#children.set(key, c);
    }
    return c;
  }

  /** prometheus_client's `.labels(**kw)`: creates the child (value 0) on first use. */
  labels(labels: Record<string, string>): { set(v: number): void; inc(v?: number): void; dec(v?: number): void; get(): number } {
    const c = this.#child(labels);
    const kind = this.kind;
    const name = this.name;
    return {
      set: (v) => {
        if (kind === 'counter') throw new Error(`metric ${name}: a counter cannot be set`);
        c.value = v;
      },
      inc: (v = 1) => {
        c.value += v;
      },
      dec: (v = 1) => {
        if (kind === 'counter') throw new Error(`metric ${name}: a counter cannot go down`);
        c.value -= v;
      },
      get: () => c.value,
    };
  }

  get children(): readonly Child[] {
    return [...this.#children.values()];
  }
}

export class MetricsRegistry {
  readonly #families = new Map<string, MetricFamily>();

  /** Registers a family once; a second call with the same name returns it (PyBal's class-level metrics). */
  family(name: string, help: string, kind: MetricKind, labelNames: readonly string[] = []): MetricFamily {
    const f = this.#families.get(name);
    if (f) return f;
    const n = new MetricFamily(name, help, kind, labelNames);
    this.#families.set(name, n);
    return n;
  }

  get(name: string): MetricFamily | undefined {
    return this.#families.get(name);
  }

  /** The /metrics body. */
  render(): string {
    const out: string[] = [];
    for (const f of this.#families.values()) {
      out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.kind}`);
      for (const c of f.children) out.push(sampleLine(f.name, c.labels, c.value));
      if (f.kind === 'counter' && f.children.length > 0) {
        const base = f.name.replace(/_total$/, '');
        out.push(`# HELP ${base}_created ${escapeHelp(f.help)}`, `# TYPE ${base}_created gauge`);
        for (const c of f.children) out.push(sampleLine(`${base}_created`, c.labels, c.created));
      }
    }
    return out.map((l) => `${l}\n`).join('');
  }
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabel(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function sampleLine(name: string, labels: Record<string, string>, value: number): string {
  const names = Object.keys(labels).sort();
  const l = names.length ? `{${names.map((n) => `${n}="${escapeLabel(labels[n]!)}"`).join(',')}}` : '';
  return `${name}${l} ${goFloat(value)}`;
}

/**
 * A float as prometheus_client writes it (Python's repr, then exponent form for large values the
 * way Go prints them): 0 → 0.0, 4 → 4.0, 0.5 → 0.5, 1712345678.25 → 1.71234567825e+09.
 */
export function goFloat(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  let s = pyRepr(v);
  const dot = s.indexOf('.');
  if (v > 0 && dot > 6 && !s.includes('e')) {
    const mantissa = `${s[0]}.${s.slice(1, dot)}${s.slice(dot + 1)}`.replace(/[0.]+$/, '');
    s = `${mantissa}e+0${dot - 1}`;
  }
  return s;
}

/** Python's repr() of a float, for the values metrics hold (shortest round-trip digits). */
function pyRepr(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return `${v}.0`;
  const s = String(v);
  // JS writes 1e21 / 1e-7 style where Python writes 1e+21 / 1e-07.
  const m = /^(-?[\d.]+)e([+-])(\d+)$/.exec(s);
  if (m) return `${m[1]}e${m[2]}${m[3]!.padStart(2, '0')}`;
  return s;
}

export type Handle = ReturnType<MetricFamily['labels']>;

/**
 * PyBal's metric families, registered in the order its modules define them (bgp/fsm.py,
 * bgp/peering.py, bgpfailover.py, coordinator.py, monitor.py; names, label names and types as
 * there). The lab has no BGP: those families are present and empty, `pybal_bgp_enabled` is 0.
 */
export class PybalMetrics {
  readonly registry: MetricsRegistry;
  readonly #svc: MetricFamily[];
  readonly #mon: MetricFamily[];

  constructor(registry = new MetricsRegistry()) {
    this.registry = registry;
    const r = registry;
    r.family('pybal_bgp_session_state_count', 'Number of sessions in the specified state', 'gauge', [
      'local_asn',
      'state',
      'local_ip',
      'remote_ip',
      'side',
    ]);
    r.family('pybal_bgp_session_established', 'BGP session established', 'gauge', ['local_asn', 'peer']);
    r.family('pybal_bgp_enabled', 'BGP Enabled', 'gauge').labels({}).set(0);
    const s = (name: string, help: string, kind: MetricKind = 'gauge') => r.family(`pybal_service_${name}`, help, kind, ['service']);
    this.#svc = [
      s('servers', 'Amount of servers'),
      s('servers_enabled', 'Amount of enabled servers'),
      s('servers_up', 'Amount of up servers'),
      s('servers_pooled', 'Amount of pooled servers'),
      s('can_depool', 'Can depool more servers'),
      s('pooled_down_servers', 'Amount of down servers pooled because too many down'),
      s('could_not_depool_total', 'Pybal could not depool a server because too many down', 'counter'),
      s('depool_threshold', "Threshold of up servers vs total servers below which pybal can't depool any more"),
    ];
    const m = (name: string, help: string, kind: MetricKind) =>
      r.family(`pybal_monitor_${name}`, help, kind, ['service', 'host', 'monitor']);
    this.#mon = [
      m('up_transitions_total', 'Monitor up transition count', 'counter'),
      m('down_transitions_total', 'Monitor down transition count', 'counter'),
      m('up_results_total', 'Monitor up result count', 'counter'),
      m('down_results_total', 'Monitor down result count', 'counter'),
      m('status', 'Monitor up status', 'gauge'),
    ];
  }

  /**
   * A pool's (PyBal: an LVS service's) gauges and counter, labelled service=<pool>. Each child is
   * created at its first use, as `.labels()` creates it in PyBal (could_not_depool_total appears
   * at the first refused depool).
   */
  service(service: string): ServiceMetrics {
    return lazyHandles(this.#svc, ['servers', 'enabled', 'up', 'pooled', 'canDepool', 'pooledDown', 'couldNotDepool', 'threshold'], {
      service,
    });
  }

  /** One monitor's counters and gauge (children created at its first result, as in monitor.py). */
  monitor(service: string, host: string, monitor: string): MonitorMetrics {
    return lazyHandles(this.#mon, ['upTransitions', 'downTransitions', 'upResults', 'downResults', 'status'], { service, host, monitor });
  }
}

function lazyHandles<K extends string>(
  families: readonly MetricFamily[],
  keys: readonly K[],
  labels: Record<string, string>,
): Record<K, Handle> {
  const out = {} as Record<K, Handle>;
  keys.forEach((k, i) => Object.defineProperty(out, k, { get: () => families[i]!.labels(labels), enumerable: true }));
  return out;
}

export type ServiceMetrics = Record<
  'servers' | 'enabled' | 'up' | 'pooled' | 'canDepool' | 'pooledDown' | 'couldNotDepool' | 'threshold',
  Handle
>;
export type MonitorMetrics = Record<'upTransitions' | 'downTransitions' | 'upResults' | 'downResults' | 'status', Handle>;
