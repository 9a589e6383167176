// The Alertmanager client's requests, against a tiny local server that records them and answers as
// Alertmanager's API v2 does (the real Alertmanager is in test/integration/lab.test.ts and the lb e2e tests).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseConfig } from '@galley/config';
import { AlertmanagerMonitoring } from './alertmanager.js';
import { isMonitoringError, MonitoringErrorCode } from './errors.js';
import { fromConfig } from './from-config.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}
const seen: Seen[] = [];
const silences = new Map<string, Record<string, unknown>>();
let answer: ((req: Seen) => { status: number; body: unknown } | undefined) | undefined;
let server: http.Server;
let url: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      const s: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: text ? JSON.parse(text) : undefined };
      seen.push(s);
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const forced = answer?.(s);
      if (forced) return send(forced.status, forced.body);
      if (s.method === 'GET' && s.url === '/api/v2/status')
        return send(200, { cluster: { status: 'disabled' }, versionInfo: { version: '0.25.0' } });
      if (s.method === 'POST' && s.url === '/api/v2/silences') {
        const b = s.body as Record<string, unknown>;
        const id = typeof b.id === 'string' ? b.id : `sil-${silences.size + 1}`;
        silences.set(id, { ...b, id, status: { state: 'active' } });
        return send(200, { silenceID: id });
      }
      const m = /^\/api\/v2\/silence\/(.+)$/.exec(s.url);
      if (m && s.method === 'GET') return silences.has(m[1]!) ? send(200, silences.get(m[1]!)) : send(404, 'silence not found');
      if (m && s.method === 'DELETE') {
        const sil = silences.get(m[1]!);
        if (!sil) return send(500, 'silence not found');
        sil.status = { state: 'expired' };
        return send(200, '');
      }
      send(404, 'not found');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const H = 'mw1301.eqiad.wmnet';

describe('AlertmanagerMonitoring (API v2 request shapes)', () => {
  it('a silence per host: matchers on the host (FQDN or FQDN:port) and the services, createdBy, comment with the run id, endsAt', async () => {
    seen.length = 0;
    const am = new AlertmanagerMonitoring({ url: `${url}/`, token: 'am-t0ken-1', headers: { 'X-Scope-OrgID': 'tenant-1' } });
    try {
      const t0 = Date.now();
      const id = await am.downtime(H, {
        durationMs: 600_000,
        reason: 'rolling restart of jobrunner',
        services: ['php-fpm', 'nginx'],
        createdBy: 'alice',
        runId: 'run-42',
      });
      expect(id).toBe('sil-1');
      const post = seen.find((s) => s.method === 'POST')!;
      expect(post.url).toBe('/api/v2/silences');
      expect(post.headers.authorization).toBe('Bearer am-t0ken-1');
      expect(post.headers['x-scope-orgid']).toBe('tenant-1');
      const b = post.body as { matchers: unknown; createdBy: string; comment: string; startsAt: string; endsAt: string };
      expect(b.matchers).toEqual([
        { name: 'instance', value: 'mw1301\\.eqiad\\.wmnet(:[0-9]+)?', isRegex: true, isEqual: true },
        { name: 'service', value: 'nginx|php-fpm', isRegex: true, isEqual: true },
      ]);
      expect(b.createdBy).toBe('alice');
      expect(b.comment).toBe('rolling restart of jobrunner (galley run run-42)');
      const ends = Date.parse(b.endsAt);
      expect(ends).toBeGreaterThanOrEqual(t0 + 600_000);
      expect(ends).toBeLessThan(Date.now() + 600_000 + 1000);
      expect(Date.parse(b.startsAt)).toBeLessThanOrEqual(Date.now());

      await am.removeDowntime(id);
      expect(seen.at(-1)).toMatchObject({ method: 'DELETE', url: '/api/v2/silence/sil-1' });
    } finally {
      await am.close();
    }
  });

  it('configured label names; no services: the host alone', async () => {
    seen.length = 0;
    const am = new AlertmanagerMonitoring({ url, hostLabel: 'host', serviceLabel: 'job' });
    try {
      await am.downtime(H, { durationMs: 60_000, reason: 'reimage' });
      expect((seen[0]!.body as { matchers: unknown }).matchers).toEqual([
        { name: 'host', value: 'mw1301\\.eqiad\\.wmnet(:[0-9]+)?', isRegex: true, isEqual: true },
      ]);
      expect((seen[0]!.body as { comment: string }).comment).toBe('reimage');
      expect((seen[0]!.body as { createdBy: string }).createdBy).not.toBe('');
    } finally {
      await am.close();
    }
  });

  it('extendDowntime: the same silence (id, matchers, start) posted again with a later end and the reason added, then read back', async () => {
    const am = new AlertmanagerMonitoring({ url });
    try {
      const id = await am.downtime(H, { durationMs: 60_000, reason: 'restart', services: ['nginx'], createdBy: 'bob', runId: 'r1' });
      const before = silences.get(id)!;
      seen.length = 0;
      const t0 = Date.now();
      const st = await am.extendDowntime(id, { durationMs: 7_200_000, reason: 'left depooled after a failure' });
      expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
        `GET /api/v2/silence/${id}`,
        'POST /api/v2/silences',
        `GET /api/v2/silence/${id}`,
      ]);
      const b = seen[1]!.body as Record<string, unknown>;
      expect(b).toMatchObject({
        id,
        matchers: before.matchers,
        startsAt: before.startsAt,
        createdBy: 'bob',
        comment: 'restart (galley run r1); left depooled after a failure',
      });
      expect(Date.parse(b.endsAt as string)).toBeGreaterThanOrEqual(t0 + 7_200_000);
      expect(st).toEqual({ id, state: 'active', endsAt: b.endsAt });
      // an expired one is not brought back
      await am.removeDowntime(id);
      await expect(am.extendDowntime(id, { durationMs: 1000, reason: 'x' })).rejects.toMatchObject({
        code: MonitoringErrorCode.ALERTMANAGER,
        message: expect.stringContaining('expired already'),
      });
    } finally {
      await am.close();
    }
  });

  it('dry-run: no request that writes; the intended silence is recorded and logged with its matchers', async () => {
    seen.length = 0;
    const lines: string[] = [];
    const am = new AlertmanagerMonitoring({ url }).with({ dryRun: true, log: (l) => lines.push(l) });
    try {
      await am.check();
      const id = await am.downtime(H, { durationMs: 60_000, reason: 'r', services: ['nginx'], createdBy: 'carol', runId: 'r2' });
      await am.extendDowntime(id, { durationMs: 1000, reason: 'kept' });
      await am.removeDowntime(id);
      expect(seen.map((s) => s.method)).toEqual(['GET']);
      expect(am.actions.map((a) => `${a.action}:${a.dryRun}`)).toEqual(['downtime:true', 'extend-downtime:true', 'remove-downtime:true']);
      expect(lines[0]).toMatch(
        /^DRY-RUN: would silence mw1301\.eqiad\.wmnet \(nginx\) in Alertmanager http:\/\/127\.0\.0\.1:\d+ until \S+: \{instance=~"mw1301\\\.eqiad\\\.wmnet\(:\[0-9\]\+\)\?", service=~"nginx"\}, by carol, "r \(galley run r2\)"$/,
      );
    } finally {
      await am.close();
    }
  });

  it('errors are named: unreachable, refused, not Alertmanager; the URL in the message, a hint', async () => {
    const dead = new AlertmanagerMonitoring({ url: 'http://127.0.0.1:9', timeoutMs: 2000 });
    try {
      const err = await dead.check().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isMonitoringError(err)).toBe(true);
      expect(err).toMatchObject({
        code: 'ERR_MONITORING_ALERTMANAGER',
        message: expect.stringMatching(/^Alertmanager at http:\/\/127\.0\.0\.1:9 is not reachable \(a status request\): /),
        hint: expect.stringContaining('monitoring.url'),
      });
    } finally {
      await dead.close();
    }
    const am = new AlertmanagerMonitoring({ url });
    try {
      answer = (s) =>
        s.method === 'POST'
          ? { status: 400, body: 'bad matchers' }
          : s.url === '/api/v2/status'
            ? { status: 200, body: { hello: 1 } }
            : undefined;
      await expect(am.downtime(H, { durationMs: 1000, reason: 'x' })).rejects.toMatchObject({
        code: 'ERR_MONITORING_ALERTMANAGER',
        message: expect.stringContaining(`refused the silence of ${H}: HTTP 400 bad matchers`),
      });
      await expect(am.check()).rejects.toMatchObject({
        code: 'ERR_MONITORING_ALERTMANAGER',
        message: expect.stringContaining("not Alertmanager's status"),
      });
    } finally {
      answer = undefined;
      await am.close();
    }
  });

  it('from config: type alertmanager with its options; a bad label or URL is a config problem', () => {
    const cfg = parseConfig(
      { monitoring: { type: 'alertmanager', url, token: 't0ken-x', headers: { 'X-A': 'b' }, hostLabel: 'host', keepFailedForMs: 60_000 } },
      'test.yaml',
    );
    const m = fromConfig(cfg).monitoring!;
    expect(m.kind).toBe('alertmanager');
    expect(m.silencesTakeOuts).toBe(true);
    expect(m.keepFailedForMs).toBe(60_000);
    expect(new AlertmanagerMonitoring({ url }).keepFailedForMs).toBe(2 * 3600_000);
    expect(() => parseConfig({ monitoring: { type: 'alertmanager', url: 'am:9093', hostLabel: 'bad-label' } }, 'test.yaml')).toThrow(
      /monitoring\.url.*\n.*monitoring\.hostLabel|monitoring\.hostLabel[\s\S]*monitoring\.url|monitoring\.url[\s\S]*monitoring\.hostLabel/,
    );
  });
});
