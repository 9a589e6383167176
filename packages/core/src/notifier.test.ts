import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { defineCookbook } from './cookbook.js';
import { executeCookbook } from './execute.js';
import { webhookNotifier } from './notifier.js';
import { MemoryJournal, MemoryLocks } from './testing/index.js';

// undici's first import alone takes seconds on a loaded machine
jest.setTimeout(60000);

let server: http.Server;
let url: string;
const got: { text: string }[] = [];
let status = 200;
beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      got.push(JSON.parse(body) as { text: string });
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sal`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function runWith(notifierUrl: string, dryRun: boolean, ret: number) {
  const warnings: string[] = [];
  const c = defineCookbook({
    title: 'n',
    reason: 'required',
    async run() {
      return ret;
    },
  });
  const r = await executeCookbook(
    { name: 'sre.lb.rolling-restart', cookbook: c, argv: ['cluster=jobrunner'], parsed: { args: {}, reason: 'kernel upgrade' }, dryRun },
    {
      sink: { event: () => undefined },
      makeClients: () => ({}) as never,
      locks: new MemoryLocks().session('r', { dryRun }),
      journal: new MemoryJournal(),
      resolve: async () => undefined,
      parseArgs: async () => ({ args: {} }),
      confirm: async () => true,
      signal: new AbortController().signal,
      user: 'u@h',
      notifier: webhookNotifier({ url: notifierUrl, timeoutMs: 10000, user: 'u@h', onError: (m) => warnings.push(m) }),
    },
  );
  return { exitCode: r.exitCode, warnings };
}

describe('webhook notifier', () => {
  it('announces START and END like Spicerack SAL', async () => {
    got.length = 0;
    expect((await runWith(url, false, 0)).exitCode).toBe(0);
    expect(got.map((g) => g.text)).toEqual([
      'u@h START - Cookbook sre.lb.rolling-restart cluster=jobrunner (kernel upgrade)',
      'u@h END (PASS) - Cookbook sre.lb.rolling-restart cluster=jobrunner (kernel upgrade) (exit_code=0)',
    ]);
    got.length = 0;
    await runWith(url, false, 2);
    expect(got[1]?.text).toContain('END (FAIL) - Cookbook sre.lb.rolling-restart cluster=jobrunner (kernel upgrade) (exit_code=2)');
  });

  it('says nothing in dry-run', async () => {
    got.length = 0;
    await runWith(url, true, 0);
    expect(got).toEqual([]);
  });

  it('a failing notifier is reported and never fatal', async () => {
    status = 500;
    const bad = await runWith(url, false, 0);
    status = 200;
    expect(bad.exitCode).toBe(0);
    expect(bad.warnings[0]).toMatch(/HTTP 500/);
    const down = await runWith('http://127.0.0.1:1/nothing', false, 0);
    expect(down.exitCode).toBe(0);
    expect(down.warnings).toHaveLength(2);
    expect(down.warnings[0]).toMatch(/notifier 127\.0\.0\.1:1 failed/);
  });
});
