import { describe, expect, it } from '@jest/globals';
import { PoolCoordinator, type Coordinator, type PybalMode } from './coordinator.js';
import { PybalMetrics } from './metrics.js';
import { UpstreamCoordinator } from './upstream.js';

/**
 * The lab's threshold scenarios, step by step, in both modes. Each row is what the pool looks like
 * after the step: `host=E|d / U|D / P|-` (enabled, up, pooled: the /pools view), `pd=` the
 * pooledDownServers /alerts names, and for upstream `ipvs=` what PyBal handed LVS and `!` when the
 * step raised an AssertionError in PyBal's code.
 *
 * The upstream column was written from reading github.com/wikimedia/PyBal master b331a4a
 * (pybal/coordinator.py, server.py, monitor.py, etcd.py); the function each row comes from is
 * cited. Every row was also checked by running that unmodified code under Python 2.7 with its
 * I/O stubbed (DNS resolves at once, one monitor per server, etcd.py's onUpdate merge); not in
 * CI, where the PyBal sources are not available. (The rolling-restart, inactive → yes and
 * wedged-pool depool scenarios were added and checked that way on 4 Dec, through
 * EtcdClient.handleResponse.) The wikitech column is the lab's default (the
 * Wikitech page "Conftool/Load balanced services": an admin disable is threshold-checked).
 * Python's dict/set order is arbitrary; the scenarios are chosen so that it does not matter.
 */
type Pooled = 'yes' | 'no' | 'inactive';
type Step = { conf: Record<string, Pooled> } | { up: string } | { down: string } | { first: Record<string, boolean> };
interface Row {
  step: Step;
  wikitech: string;
  upstream: string;
  /** coordinator.py (etc.) functions the upstream row comes from. */
  from: string;
}
interface Scenario {
  name: string;
  threshold?: number;
  start: Record<string, Pooled>;
  rows: Row[];
}

function build(mode: PybalMode, threshold: number): { c: Coordinator; metrics: PybalMetrics } {
  const metrics = new PybalMetrics();
  const c = mode === 'upstream' ? new UpstreamCoordinator('p', threshold, { metrics }) : new PoolCoordinator('p', threshold, { metrics });
  return { c, metrics };
}

const cfg = (p: Pooled) => (p === 'inactive' ? undefined : { weight: 10, enabled: p === 'yes' });

function view(c: Coordinator, asserted: boolean): string {
  const servers = [...c.servers.values()]
    .sort((a, b) => a.host.localeCompare(b.host))
    .map((s) => `${s.host}=${s.enabled ? 'E' : 'd'}/${s.up ? 'U' : 'D'}/${s.pooled ? 'P' : '-'}`);
  const parts = [...servers, `pd=${[...c.pooledDownHosts].sort().join(',')}`];
  if (c instanceof UpstreamCoordinator) parts.push(`ipvs=${[...c.ipvs].sort().join(',')}`);
  return parts.join(' ') + (asserted ? ' !' : '');
}

/** Runs a scenario; returns the view after the start and after each step. */
function play(mode: PybalMode, sc: Scenario): string[] {
  const { c } = build(mode, sc.threshold ?? 0.5);
  const health = new Map(Object.keys(sc.start).map((h) => [h, true]));
  const firstRow = sc.rows[0]?.step;
  if (firstRow && 'first' in firstRow) for (const [h, up] of Object.entries(firstRow.first)) health.set(h, up);
  const errors = () => (c instanceof UpstreamCoordinator ? c.assertionErrors.length : 0);
  c.setAll(new Map(Object.entries(sc.start).map(([h, p]) => [h, cfg(p)])), (h) => health.get(h) ?? false);
  const out: string[] = [];
  for (const { step } of sc.rows) {
    const before = errors();
    if ('conf' in step) for (const [h, p] of Object.entries(step.conf)) c.setServer(h, cfg(p), health.get(h) ?? true);
    else if ('first' in step) for (const [h, up] of Object.entries(step.first)) c.checkResult(h, up);
    else {
      const [h, up] = 'up' in step ? [step.up, true] : [step.down, false];
      health.set(h, up);
      c.checkResult(h, up);
    }
    out.push(view(c, errors() > before));
  }
  return out;
}

const ALL_UP = { first: { s1: true, s2: true, s3: true, s4: true } };
const FOUR: Record<string, Pooled> = { s1: 'yes', s2: 'yes', s3: 'yes', s4: 'yes' };

const scenarios: Scenario[] = [
  {
    name: 'two servers pooled=no, then a third fails: it stays pooled (pooled-down); healed, then re-enabled',
    start: FOUR,
    rows: [
      {
        step: ALL_UP,
        wikitech: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s1,s2,s3,s4',
        from: 'Server._ready (DEF_STATE), MonitoringProtocol._resultUp firstCheck → Coordinator.resultUp → repool (already pooled)',
      },
      {
        step: { conf: { s1: 'no' } },
        wikitech: 's1=d/U/- s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=d/U/- s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s2,s3,s4',
        from: 'onConfigUpdate → Server.merge → maintainState P0; refreshPreexistingServer; _serverInitDone → assignServers',
      },
      {
        step: { conf: { s2: 'no' } },
        wikitech: 's1=d/U/- s2=d/U/- s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=d/U/- s2=d/U/- s3=E/U/P s4=E/U/P pd= ipvs=s3,s4',
        from: 'as above; _ensureDepoolThreshold: 2 pooled >= 4 × 0.5',
      },
      {
        step: { down: 's3' },
        wikitech: 's1=d/U/- s2=d/U/- s3=E/D/P s4=E/U/P pd=s3',
        upstream: 's1=d/U/- s2=d/U/- s3=E/D/P s4=E/U/P pd=s3 ipvs=s3,s4',
        from: 'resultDown → depool: canDepool() 1 up ∧ enabled < 2 → pooledDownServers',
      },
      {
        step: { up: 's3' },
        wikitech: 's1=d/U/- s2=d/U/- s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=d/U/- s2=d/U/- s3=E/U/P s4=E/U/P pd= ipvs=s3,s4',
        from: 'resultUp → repool (already pooled: left pooled, discarded from pooledDownServers)',
      },
      {
        step: { conf: { s1: 'yes' } },
        wikitech: 's1=E/U/P s2=d/U/- s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=E/D/- s2=d/U/- s3=E/U/P s4=E/U/P pd= ipvs=s3,s4 !',
        from: 'Server.merge → maintainState P1 (not pooled ∧ enabled → up = False); refreshPreexistingServer: assert up == calcStatus() fails (the monitor says up); etcd.py drops the update',
      },
    ],
  },
  {
    name: 'a depool of a server would breach the threshold (pooled=no on the second of 3 left): wikitech keeps it pooled, upstream depools it and force-pools the down one',
    start: FOUR,
    rows: [
      {
        step: ALL_UP,
        wikitech: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s1,s2,s3,s4',
        from: 'first checks',
      },
      {
        step: { down: 's1' },
        wikitech: 's1=E/D/- s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=E/D/- s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s2,s3,s4',
        from: 'resultDown → depool: canDepool() 3 >= 2',
      },
      {
        step: { conf: { s2: 'no' } },
        wikitech: 's1=E/D/- s2=d/U/- s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=E/D/- s2=d/U/- s3=E/U/P s4=E/U/P pd= ipvs=s3,s4',
        from: 'Server.merge → maintainState P0; refreshPreexistingServer',
      },
      {
        step: { conf: { s3: 'no' } },
        wikitech: 's1=E/D/- s2=d/U/- s3=d/U/P s4=E/U/P pd=s3',
        upstream: 's1=E/D/P s2=d/U/- s3=d/U/- s4=E/U/P pd=s1 ipvs=s1,s4',
        from: 'maintainState P0 (no threshold check); _ensureDepoolThreshold: 1 pooled < 2 → force-pools s1 (enabled ∧ ready, down), adds it to pooledDownServers; disabled s2, s3 still count in the total',
      },
      {
        step: { up: 's1' },
        wikitech: 's1=E/U/P s2=d/U/- s3=d/U/- s4=E/U/P pd=',
        upstream: 's1=E/U/P s2=d/U/- s3=d/U/- s4=E/U/P pd= ipvs=s1,s4',
        from: 'resultUp → repool (already pooled), discarded from pooledDownServers',
      },
    ],
  },
  {
    name: 're-enabling a server while it is down, then its health returns: repooled, and the pooled-down one drained',
    start: FOUR,
    rows: [
      {
        step: ALL_UP,
        wikitech: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s1,s2,s3,s4',
        from: 'first checks',
      },
      {
        step: { conf: { s1: 'no' } },
        wikitech: 's1=d/U/- s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=d/U/- s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s2,s3,s4',
        from: 'maintainState P0',
      },
      {
        step: { conf: { s2: 'no' } },
        wikitech: 's1=d/U/- s2=d/U/- s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=d/U/- s2=d/U/- s3=E/U/P s4=E/U/P pd= ipvs=s3,s4',
        from: 'maintainState P0',
      },
      {
        step: { down: 's3' },
        wikitech: 's1=d/U/- s2=d/U/- s3=E/D/P s4=E/U/P pd=s3',
        upstream: 's1=d/U/- s2=d/U/- s3=E/D/P s4=E/U/P pd=s3 ipvs=s3,s4',
        from: 'resultDown → depool refused (canDepool() 1 < 2)',
      },
      {
        step: { down: 's1' },
        wikitech: 's1=d/D/- s2=d/U/- s3=E/D/P s4=E/U/P pd=s3',
        upstream: 's1=d/D/- s2=d/U/- s3=E/D/P s4=E/U/P pd=s3 ipvs=s3,s4',
        from: 'resultDown (not pooled: nothing to depool)',
      },
      {
        step: { conf: { s1: 'yes' } },
        wikitech: 's1=E/D/- s2=d/U/- s3=E/D/P s4=E/U/P pd=s3',
        upstream: 's1=E/D/- s2=d/U/- s3=E/D/P s4=E/U/P pd=s3 ipvs=s3,s4',
        from: 'merge (P1: already down); refreshPreexistingServer: assert holds (down == down), pool = enabled ∧ ready ∧ up = False',
      },
      {
        step: { up: 's1' },
        wikitech: 's1=E/U/P s2=d/U/- s3=E/D/- s4=E/U/P pd=',
        upstream: 's1=E/U/P s2=d/U/- s3=E/D/- s4=E/U/P pd= ipvs=s1,s4',
        from: 'resultUp → repool → while pooledDownServers and canDepool(): depool(s3)',
      },
    ],
  },
  {
    name: 'a pool whose servers are all down at start: the enabled one is force-pooled, disabled ones never',
    start: { s1: 'yes', s2: 'no', s3: 'no', s4: 'no' },
    rows: [
      {
        step: { first: { s1: false, s2: false, s3: false, s4: false } },
        wikitech: 's1=E/D/P s2=d/D/- s3=d/D/- s4=d/D/- pd=s1',
        upstream: 's1=E/D/P s2=d/D/- s3=d/D/- s4=d/D/- pd=s1 ipvs=s1',
        from: 'Server._ready (pooled and up before any check); _ensureDepoolThreshold (1 < 2, no enabled candidate left); first check → resultDown → depool refused',
      },
      {
        step: { up: 's1' },
        wikitech: 's1=E/U/P s2=d/D/- s3=d/D/- s4=d/D/- pd=',
        upstream: 's1=E/U/P s2=d/D/- s3=d/D/- s4=d/D/- pd= ipvs=s1',
        from: 'resultUp → repool (already pooled)',
      },
    ],
  },
  {
    name: 'a pooled-down server set inactive: gone from the pool; upstream keeps it in pooledDownServers (and /alerts)',
    start: FOUR,
    rows: [
      {
        step: ALL_UP,
        wikitech: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s1,s2,s3,s4',
        from: 'first checks',
      },
      {
        step: { conf: { s1: 'no', s2: 'no' } },
        wikitech: 's1=d/U/- s2=d/U/- s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=d/U/- s2=d/U/- s3=E/U/P s4=E/U/P pd= ipvs=s3,s4',
        from: 'maintainState P0 (two updates)',
      },
      {
        step: { down: 's3' },
        wikitech: 's1=d/U/- s2=d/U/- s3=E/D/P s4=E/U/P pd=s3',
        upstream: 's1=d/U/- s2=d/U/- s3=E/D/P s4=E/U/P pd=s3 ipvs=s3,s4',
        from: 'resultDown → depool refused',
      },
      {
        step: { conf: { s3: 'inactive' } },
        wikitech: 's1=d/U/- s2=d/U/- s4=E/U/P pd=',
        upstream: 's1=d/U/- s2=d/U/- s4=E/U/P pd=s3 ipvs=s4',
        from: 'etcd.py decode_node (inactive → None, dropped); onConfigUpdate removes it (Server.destroy) but not from pooledDownServers; _ensureDepoolThreshold: 1 < 1.5, no candidate',
      },
      {
        step: { down: 's4' },
        wikitech: 's1=d/U/- s2=d/U/- s4=E/D/P pd=s4',
        upstream: 's1=d/U/- s2=d/U/- s4=E/D/P pd=s3,s4 ipvs=s4',
        from: 'resultDown → depool refused (0 < 1.5)',
      },
    ],
  },
  {
    name: 'a pooled-down server set pooled=no: upstream unpools it at once, keeps it in pooledDownServers, and the next drain fails an assert',
    start: FOUR,
    rows: [
      {
        step: ALL_UP,
        wikitech: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s1,s2,s3,s4',
        from: 'first checks',
      },
      {
        step: { conf: { s1: 'no' } },
        wikitech: 's1=d/U/- s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=d/U/- s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s2,s3,s4',
        from: 'maintainState P0',
      },
      {
        step: { down: 's2' },
        wikitech: 's1=d/U/- s2=E/D/- s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=d/U/- s2=E/D/- s3=E/U/P s4=E/U/P pd= ipvs=s3,s4',
        from: 'resultDown → depool (canDepool() 2 >= 2)',
      },
      {
        step: { down: 's3' },
        wikitech: 's1=d/U/- s2=E/D/- s3=E/D/P s4=E/U/P pd=s3',
        upstream: 's1=d/U/- s2=E/D/- s3=E/D/P s4=E/U/P pd=s3 ipvs=s3,s4',
        from: 'resultDown → depool refused',
      },
      {
        step: { conf: { s3: 'no' } },
        wikitech: 's1=d/U/- s2=E/D/- s3=d/D/P s4=E/U/P pd=s3',
        upstream: 's1=d/U/- s2=E/D/P s3=d/D/- s4=E/U/P pd=s2,s3 ipvs=s2,s4',
        from: 'maintainState P0 (s3 stays in pooledDownServers); _ensureDepoolThreshold: 1 < 2 → force-pools s2 (the only enabled ∧ ready one not pooled)',
      },
      {
        step: { up: 's2' },
        wikitech: 's1=d/U/- s2=E/U/P s3=d/D/- s4=E/U/P pd=',
        upstream: 's1=d/U/- s2=E/U/P s3=d/D/- s4=E/U/P pd= ipvs=s2,s4 !',
        from: 'resultUp → repool (already pooled) → drain pops s3 → depool: assert server.pool fails',
      },
    ],
  },
  {
    name: 'the rolling-restart sequence: disabled while healthy, its service restarted (checks down, then up) while disabled, then re-enabled: upstream still fails the assert (a yes before the check sees it up again goes through: the re-enabling-while-down scenario)',
    start: FOUR,
    rows: [
      {
        step: ALL_UP,
        wikitech: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s1,s2,s3,s4',
        from: 'first checks',
      },
      {
        step: { conf: { s1: 'no' } },
        wikitech: 's1=d/U/- s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=d/U/- s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s2,s3,s4',
        from: 'Server.merge → maintainState P0 (pool = False; P1 does not touch a disabled server: up stays True); refreshPreexistingServer',
      },
      {
        step: { down: 's1' },
        wikitech: 's1=d/D/- s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=d/D/- s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s2,s3,s4',
        from: 'MonitoringProtocol._resultDown (a flip) → Coordinator.resultDown: up = False; not pooled, so no depool',
      },
      {
        step: { up: 's1' },
        wikitech: 's1=d/U/- s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=d/U/- s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s2,s3,s4',
        from: 'MonitoringProtocol._resultUp (a flip) → Coordinator.resultUp: up = True; disabled, so no repool',
      },
      {
        step: { conf: { s1: 'yes' } },
        wikitech: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=E/D/- s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s2,s3,s4 !',
        from: 'Server.merge → maintainState P1 (not pooled ∧ enabled → up = False); refreshPreexistingServer: assert up == calcStatus() fails (the monitor says up again); etcd.py drops the update. The check in between changed nothing: up was True again before the yes',
      },
      {
        step: { up: 's1' },
        wikitech: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=E/D/- s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s2,s3,s4',
        from: 'MonitoringProtocol._resultUp: the monitor was already up, no flip: the coordinator is not told, nothing repools it',
      },
    ],
  },
  {
    name: 'set inactive and back to yes (the reimage path): a new server, pooled at once and taken as up; its first check keeps it',
    start: FOUR,
    rows: [
      {
        step: ALL_UP,
        wikitech: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s1,s2,s3,s4',
        from: 'first checks',
      },
      {
        step: { conf: { s1: 'inactive' } },
        wikitech: 's2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s2,s3,s4',
        from: 'etcd.py decode_node (inactive → None, dropped); onConfigUpdate removes it (Server.destroy)',
      },
      {
        step: { conf: { s1: 'yes' } },
        wikitech: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s1,s2,s3,s4',
        from: 'onConfigUpdate: a new server (buildServer, no refreshPreexistingServer, so no assert); Server._ready: up and pooled (DEF_STATE); _serverInitDone → assignServers',
      },
      {
        step: { first: { s1: true } },
        wikitech: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s1,s2,s3,s4',
        from: 'first check → resultUp (firstChecksCompleted) → repool (already pooled: left pooled)',
      },
    ],
  },
  {
    name: "a depool in a wedged pool: upstream PyBal's API shows the server out (merged before the update stops) while IPVS still has it",
    start: FOUR,
    rows: [
      {
        step: ALL_UP,
        wikitech: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd= ipvs=s1,s2,s3,s4',
        from: 'first checks',
      },
      {
        step: { conf: { s4: 'no' } },
        wikitech: 's1=E/U/P s2=E/U/P s3=E/U/P s4=d/U/- pd=',
        upstream: 's1=E/U/P s2=E/U/P s3=E/U/P s4=d/U/- pd= ipvs=s1,s2,s3',
        from: 'maintainState P0',
      },
      {
        step: { conf: { s4: 'yes' } },
        wikitech: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=E/U/P s2=E/U/P s3=E/U/P s4=E/D/- pd= ipvs=s1,s2,s3 !',
        from: 'merge P1; refreshPreexistingServer: assert fails (s4 wedged)',
      },
      {
        step: { conf: { s1: 'no' } },
        wikitech: 's1=d/U/- s2=E/U/P s3=E/U/P s4=E/U/P pd=',
        upstream: 's1=d/U/- s2=E/U/P s3=E/U/P s4=d/D/- pd= ipvs=s1,s2,s3 !',
        from: 'onConfigUpdate merges s1 (P0: not pooled; Server.dumpState, what /pools serves, says so), then meets s4: assert fails, so _serverInitDone → assignServers never runs and LVS keeps s1. (Python 2 iterates this dict as s3, s2, s1, s4: s1 is merged before s4 there too)',
      },
    ],
  },
  {
    name: 'a conftool change before a new server’s first check (upstream: assert, the change half-applied and lost)',
    start: { s1: 'yes' },
    rows: [
      {
        step: { conf: { s1: 'no' } },
        wikitech: 's1=d/U/P pd=s1',
        upstream: 's1=d/U/- pd= ipvs=s1 !',
        from: 'merge → P0; refreshPreexistingServer: assert up (True, DEF_STATE) == calcStatus() (None: no result yet) fails; assignServers never runs, so LVS still has s1',
      },
      {
        step: { first: { s1: true } },
        wikitech: 's1=d/U/P pd=s1',
        upstream: 's1=d/U/- pd= ipvs=s1',
        from: 'first check → resultUp (firstChecksCompleted): up; disabled, so no repool',
      },
      {
        step: { conf: { s1: 'yes' } },
        wikitech: 's1=E/U/P pd=',
        upstream: 's1=d/U/- pd= ipvs=s1',
        from: 'etcd.py onUpdate: the new config equals lastConfig (which kept yes) → onConfigUpdate is not called',
      },
    ],
  },
];

describe.each(['wikitech', 'upstream'] as const)('threshold scenarios step by step, mode %s', (mode) => {
  it.each(scenarios)('$name', (sc) => {
    const got = play(mode, sc);
    // Compared row by row, with the step and its source, so a failure names the step that differs.
    expect(got.map((v, i) => ({ step: sc.rows[i]!.step, from: sc.rows[i]!.from, view: v }))).toEqual(
      sc.rows.map((r) => ({ step: r.step, from: r.from, view: r[mode] })),
    );
  });
});

describe('upstream specifics', () => {
  it('a wedged server (failed assert on re-enable) makes every later change of its pool fail until its monitor flaps; the lost yes then disables it again', () => {
    const c = new UpstreamCoordinator('p', 0.5);
    c.setAll(new Map(Object.entries(FOUR).map(([h, p]) => [h, cfg(p)])));
    for (const h of Object.keys(FOUR)) c.checkResult(h, true);
    c.setServer('s1', cfg('no'));
    c.setServer('s1', cfg('yes'));
    expect(c.assertionErrors).toEqual(['s1 up status inconsistent']);
    c.setServer('s4', { weight: 5, enabled: true });
    expect(c.assertionErrors).toHaveLength(2);
    // Not merged: s1 comes first in the config; merged from lastConfig (which never took its yes)
    // it is disabled again, and its `up` (False) still disagrees with its monitor: assert again.
    expect(c.servers.get('s4')!.weight).toBe(10);
    expect(c.servers.get('s1')).toMatchObject({ enabled: false, up: false, pooled: false });
    // The monitor's next results are "up" again: no transition, the coordinator is not told.
    c.checkResult('s1', true);
    expect(c.servers.get('s1')).toMatchObject({ up: false });
    // A flap (down, then up) makes `up` right again (disabled: not repooled); the next change goes through.
    c.checkResult('s1', false);
    c.checkResult('s1', true);
    c.setServer('s4', { weight: 5, enabled: true });
    expect(c.assertionErrors).toHaveLength(2);
    expect(c.servers.get('s4')!.weight).toBe(5);
    // conftool says yes; this PyBal has s1 disabled until s1's object is written again.
    expect(c.servers.get('s1')).toMatchObject({ enabled: false, up: true, pooled: false });
    expect(c.ipvs.has('s1')).toBe(false);
  });

  it('a re-list keeps a key deleted meanwhile (etcd.py updates lastConfig with what it read) and drops inactive ones', () => {
    const c = new UpstreamCoordinator('p', 0.5);
    c.setAll(new Map(Object.entries(FOUR).map(([h, p]) => [h, cfg(p)])));
    for (const h of Object.keys(FOUR)) c.checkResult(h, true); // before any check, any update fails its assert
    c.setAll(
      new Map([
        ['s1', cfg('yes')],
        ['s2', undefined],
      ]),
    );
    expect([...c.servers.keys()]).toEqual(['s1', 's3', 's4']);
    const w = build('wikitech', 0.5).c;
    w.setAll(new Map(Object.entries(FOUR).map(([h, p]) => [h, cfg(p)])), () => true);
    w.setAll(
      new Map([
        ['s1', cfg('yes')],
        ['s2', undefined],
      ]),
      () => true,
    );
    expect([...w.servers.keys()]).toEqual(['s1']);
  });

  it('etcd.py decoding: only pooled=yes enables, a missing pooled keeps the state, a non-integer weight is ignored', () => {
    const c = new UpstreamCoordinator('p', 0.5);
    c.setAll(
      new Map([
        ['s1', { enabled: true, weight: 10 }],
        ['s2', { weight: 3 }],
        ['s3', { enabled: false, weight: 2.5 }],
      ]),
    );
    expect([...c.servers.values()].map((s) => [s.host, s.enabled, s.weight])).toEqual([
      ['s1', true, 10],
      ['s2', true, 3],
      ['s3', false, 10],
    ]);
  });
});

describe('metrics as coordinator.py and monitor.py set them', () => {
  it.each(['wikitech', 'upstream'] as const)(
    '%s: gauges after config changes, the counter on a refused depool, monitor counters per result',
    (mode) => {
      const { c, metrics } = build(mode, 0.5);
      c.setAll(new Map(Object.entries(FOUR).map(([h, p]) => [h, cfg(p)])), () => true);
      for (let i = 0; i < 3; i++) for (const h of Object.keys(FOUR)) c.checkResult(h, true);
      c.setServer('s1', cfg('no'), true);
      c.setServer('s2', cfg('no'), true);
      c.checkResult('s3', false);
      const text = metrics.registry.render();
      const value = (name: string, labels: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
        return line === undefined ? undefined : Number(line.split(' ')[1]);
      };
      const svc = 'service="p"';
      expect(value('pybal_service_servers', svc)).toBe(4);
      expect(value('pybal_service_servers_enabled', svc)).toBe(2);
      expect(value('pybal_service_depool_threshold', svc)).toBe(0.5);
      expect(value('pybal_service_servers_pooled', svc)).toBe(2);
      expect(value('pybal_service_pooled_down_servers', svc)).toBe(1);
      expect(value('pybal_service_can_depool', svc)).toBe(0);
      expect(value('pybal_service_could_not_depool_total', svc)).toBe(1);
      // servers_up is only set on config changes (s3 went down after the last one).
      expect(value('pybal_service_servers_up', svc)).toBe(4);
      const mon = (h: string) => `host="${h}",monitor="ProxyFetch",${svc}`;
      expect(value('pybal_monitor_up_results_total', mon('s3'))).toBe(3);
      expect(value('pybal_monitor_down_results_total', mon('s3'))).toBe(1);
      // The first check counts as a transition (monitor.py's firstCheck), then only changes.
      expect(value('pybal_monitor_up_transitions_total', mon('s3'))).toBe(1);
      expect(value('pybal_monitor_down_transitions_total', mon('s3'))).toBe(1);
      expect(value('pybal_monitor_status', mon('s3'))).toBe(0);
      expect(value('pybal_monitor_status', mon('s4'))).toBe(1);
      // A child exists only once used, as prometheus_client's labels() creates it.
      expect(value('pybal_monitor_down_results_total', mon('s4'))).toBeUndefined();
    },
  );
});
