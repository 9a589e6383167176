import { describe, expect, it } from '@jest/globals';
import { combineAlerts, PoolCoordinator, serverText } from './coordinator.js';

/** A pool of `n` healthy, enabled servers s1..sn. */
function pool(n: number, threshold = 0.5): PoolCoordinator {
  const p = new PoolCoordinator('p', threshold);
  p.setAll(new Map(Array.from({ length: n }, (_, i) => [`s${i + 1}`, { weight: 10, enabled: true }])), () => true);
  return p;
}

type Step = ['disable' | 'enable' | 'down' | 'up' | 'inactive', string];

function run(p: PoolCoordinator, steps: Step[]): void {
  for (const [what, host] of steps) {
    if (what === 'disable') p.setServer(host, { weight: 10, enabled: false });
    else if (what === 'enable') p.setServer(host, { weight: 10, enabled: true }, p.servers.get(host)?.up ?? true);
    else if (what === 'inactive') p.setServer(host, undefined);
    else if (what === 'down') p.resultDown(host);
    else p.resultUp(host);
  }
}

const state = (p: PoolCoordinator) => Object.fromEntries([...p.servers.values()].map((s) => [s.host, serverText(s)]));

describe('PoolCoordinator (PyBal coordinator rules + the seed semantics)', () => {
  const cases: { name: string; n: number; threshold?: number; steps: Step[]; expect: Record<string, string>; pooledDown: string[] }[] = [
    {
      name: 'a monitor-driven depool happens while canDepool (3 up of 4 >= 2)',
      n: 4,
      steps: [['down', 's1']],
      expect: { s1: 'enabled/down/not pooled', s2: 'enabled/up/pooled', s3: 'enabled/up/pooled', s4: 'enabled/up/pooled' },
      pooledDown: [],
    },
    {
      name: 'two admin depools then a failure: the failed server stays pooled (pooled-down)',
      n: 4,
      steps: [
        ['disable', 's1'],
        ['disable', 's2'],
        ['down', 's3'],
      ],
      expect: { s1: 'disabled/up/not pooled', s2: 'disabled/up/not pooled', s3: 'enabled/down/pooled', s4: 'enabled/up/pooled' },
      pooledDown: ['s3'],
    },
    {
      name: 'healing a pooled-down server keeps it pooled and clears pooledDownServers',
      n: 4,
      steps: [
        ['disable', 's1'],
        ['disable', 's2'],
        ['down', 's3'],
        ['up', 's3'],
      ],
      expect: { s1: 'disabled/up/not pooled', s2: 'disabled/up/not pooled', s3: 'enabled/up/pooled', s4: 'enabled/up/pooled' },
      pooledDown: [],
    },
    {
      name: 'repool drains pooledDownServers while canDepool',
      n: 4,
      steps: [
        ['disable', 's1'],
        ['disable', 's2'],
        ['down', 's3'],
        ['enable', 's1'],
      ],
      expect: { s1: 'enabled/up/pooled', s2: 'disabled/up/not pooled', s3: 'enabled/down/not pooled', s4: 'enabled/up/pooled' },
      pooledDown: [],
    },
    {
      name: 'seed semantics: an admin disable that would breach the threshold keeps the server pooled',
      n: 4,
      steps: [
        ['down', 's1'],
        ['disable', 's2'],
        ['disable', 's3'],
      ],
      expect: { s1: 'enabled/down/not pooled', s2: 'disabled/up/not pooled', s3: 'disabled/up/pooled', s4: 'enabled/up/pooled' },
      pooledDown: ['s3'],
    },
    {
      name: 'seed semantics: the kept server is depooled when capacity returns',
      n: 4,
      steps: [
        ['down', 's1'],
        ['disable', 's2'],
        ['disable', 's3'],
        ['up', 's1'],
      ],
      expect: { s1: 'enabled/up/pooled', s2: 'disabled/up/not pooled', s3: 'disabled/up/not pooled', s4: 'enabled/up/pooled' },
      pooledDown: [],
    },
    {
      name: 'inactive removes the server from the pool and the totals (4 → 3: one more depool possible)',
      n: 4,
      steps: [
        ['inactive', 's1'],
        ['down', 's2'],
      ],
      expect: { s2: 'enabled/down/not pooled', s3: 'enabled/up/pooled', s4: 'enabled/up/pooled' },
      pooledDown: [],
    },
    {
      name: 'pooled=no servers still count in the total (same failure, no inactive: stays pooled)',
      n: 4,
      steps: [
        ['disable', 's1'],
        ['down', 's2'],
        ['down', 's3'],
      ],
      expect: { s1: 'disabled/up/not pooled', s2: 'enabled/down/not pooled', s3: 'enabled/down/pooled', s4: 'enabled/up/pooled' },
      pooledDown: ['s3'],
    },
    {
      name: 'threshold 1.0: no depool is ever possible',
      n: 3,
      threshold: 1,
      steps: [['down', 's1']],
      expect: { s1: 'enabled/down/pooled', s2: 'enabled/up/pooled', s3: 'enabled/up/pooled' },
      pooledDown: ['s1'],
    },
  ];

  it.each(cases)('$name', (c) => {
    const p = pool(c.n, c.threshold);
    run(p, c.steps);
    expect(state(p)).toEqual(c.expect);
    expect([...p.pooledDownServers].sort()).toEqual(c.pooledDown);
  });

  it('canDepool is upServerCount >= total * threshold, evaluated after marking down', () => {
    const p = pool(4);
    expect(p.canDepool()).toBe(true);
    run(p, [
      ['down', 's1'],
      ['down', 's2'],
    ]); // 2 up >= 2: both depooled
    expect(p.pooledCount).toBe(2);
    run(p, [['down', 's3']]); // 1 up < 2: s3 stays
    expect(p.canDepool()).toBe(false);
    expect(p.servers.get('s3')!.pooled).toBe(true);
    expect(p.couldNotDepoolTotal).toBe(1);
  });

  it('_ensureDepoolThreshold force-pools enabled servers (even down ones) after a config change', () => {
    const p = new PoolCoordinator('p', 0.5);
    // Four new servers, all failing their health checks: nobody would be pooled.
    p.setAll(new Map(['a', 'b', 'c', 'd'].map((h) => [h, { weight: 1, enabled: true }])), () => false);
    expect(p.pooledCount).toBe(2);
    expect(p.pooledDownServers.size).toBe(2);
    expect(p.thresholdUnmet).toBe(false);
  });

  it('_ensureDepoolThreshold never overrides an administrative pooled=no', () => {
    const p = new PoolCoordinator('p', 0.5);
    p.setAll(new Map(['a', 'b', 'c', 'd'].map((h) => [h, { weight: 1, enabled: h === 'a' }])), () => false);
    expect(state(p)).toEqual({
      a: 'enabled/down/pooled',
      b: 'disabled/down/not pooled',
      c: 'disabled/down/not pooled',
      d: 'disabled/down/not pooled',
    });
    expect(p.thresholdUnmet).toBe(true);
  });

  it('alerts: critical names the pooled-down servers; warning when the pool cannot lose one server; ok otherwise', () => {
    const a = pool(4);
    expect(a.alert()).toEqual({ level: 'ok' });
    run(a, [
      ['disable', 's1'],
      ['disable', 's2'],
      ['down', 's3'],
    ]);
    expect(a.alert()).toEqual({ level: 'critical', msg: 'p: Servers s3 are marked down but pooled' });
    const small = new PoolCoordinator('tiny', 0.9);
    small.setAll(
      new Map([
        ['x', { weight: 1, enabled: true }],
        ['y', { weight: 1, enabled: true }],
      ]),
      () => true,
    );
    expect(small.alert()).toEqual({ level: 'warning', msg: 'Pool tiny is too small to allow depooling. ' });
    expect(combineAlerts([small])).toEqual({ status: 'warning', msg: 'Pool tiny is too small to allow depooling. ' });
    expect(combineAlerts([small, a]).status).toBe('critical');
    expect(combineAlerts([pool(3)])).toEqual({ status: 'ok', msg: 'All pools are healthy' });
  });

  it('a weight change alone changes nothing else', () => {
    const p = pool(2);
    p.setServer('s1', { weight: 0, enabled: true });
    expect(p.servers.get('s1')).toMatchObject({ weight: 0, enabled: true, up: true, pooled: true });
  });
});
