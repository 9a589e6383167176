import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent } from 'undici';
import { PybalClient } from './client.js';
import { FakePybal } from './testing/fake-server.js';
import { pybalApiContract } from './testing/contract.js';

const up = { pooled: true, weight: 10, up: true, enabled: true };

describe('FakePybal passes the PyBal API contract', () => {
  let fake: FakePybal;
  beforeAll(async () => {
    fake = await FakePybal.start('lvs-contract');
    fake.setPool('jobrunner_nginx', {
      'mw1001.eqiad.wmnet': up,
      'mw1002.eqiad.wmnet': { pooled: true, weight: 5, up: false, enabled: false },
      'mw1003.eqiad.wmnet': { pooled: false, weight: 10, up: true, enabled: false },
    });
  });
  afterAll(async () => fake.close());
  pybalApiContract(() => ({ lb: fake.ref, pool: 'jobrunner_nginx', host: 'mw1001.eqiad.wmnet' }));
});

describe('PybalClient', () => {
  let fake: FakePybal;
  let client: PybalClient;
  beforeAll(async () => {
    fake = await FakePybal.start('lvs1019');
  });
  afterAll(async () => fake.close());
  afterEach(async () => {
    await client.close();
    fake.mode = 'ok';
    fake.ignoreAccept = false;
    fake.requests.length = 0;
    await fake.up();
  });
  const seed = (): void => {
    fake.setPool('p', { h1: up, h2: { pooled: false, weight: 10, up: true, enabled: false } });
  };

  it('asks for JSON and gets weights', async () => {
    seed();
    client = new PybalClient({ retries: 0 });
    const p = await client.pool(fake.ref, 'p');
    expect(p.get('h1')).toEqual(up);
    expect(fake.requests[0]).toEqual({ path: '/pools/p', accept: ['application/json'] });
  });

  it('falls back to the text form when PyBal ignores Accept, with the same answers minus weight', async () => {
    seed();
    client = new PybalClient({ retries: 0 });
    const json = await client.pool(fake.ref, 'p');
    const jsonAlerts = await client.alerts(fake.ref);
    fake.ignoreAccept = true;
    const text = await client.pool(fake.ref, 'p');
    expect([...text]).toEqual([...json].map(([h, { weight: _w, ...v }]) => [h, v]));
    expect(await client.host(fake.ref, 'p', 'h2')).toEqual({ pooled: false, up: true, enabled: false });
    expect(await client.pools(fake.ref)).toEqual(['p']);
    expect(await client.alerts(fake.ref)).toEqual(jsonAlerts);
  });

  it('retries 5xx and connection resets for these idempotent GETs, then answers', async () => {
    seed();
    client = new PybalClient({ retries: 2, retryDelayMs: 5 });
    fake.failNext(500, 'reset');
    const v = await client.host(fake.ref, 'p', 'h2');
    expect(v).toEqual({ pooled: false, weight: 10, up: true, enabled: false });
    expect(fake.requests).toHaveLength(3);
  });

  it('gives up after the bounded retries on 5xx with an error naming the LB, status and URL', async () => {
    seed();
    client = new PybalClient({ retries: 2, retryDelayMs: 5 });
    fake.mode = 'error';
    const err = await client.pool(fake.ref, 'p').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_PYBAL_HTTP_STATUS' });
    expect((err as Error).message).toBe(`load balancer lvs1019 answered HTTP 500 for ${fake.url}/pools/p`);
    expect(fake.requests).toHaveLength(3);
  });

  it('treats 404 for an unknown host as an answer: null, one request', async () => {
    seed();
    client = new PybalClient({ retries: 3, retryDelayMs: 5 });
    expect(await client.host(fake.ref, 'p', 'nope')).toBeNull();
    expect(await client.host(fake.ref, 'nope', 'h1')).toBeNull();
    await expect(client.pool(fake.ref, 'nope')).rejects.toMatchObject({
      code: 'ERR_PYBAL_POOL_NOT_FOUND',
      message: expect.stringContaining('lvs1019 does not carry pool nope'),
    });
    expect(fake.requests).toHaveLength(3);
  });

  it('reports connection refused naming the LB and URL after its retries', async () => {
    client = new PybalClient({ retries: 1, retryDelayMs: 5 });
    await fake.down();
    const err = await client.alerts(fake.ref).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_PYBAL_UNREACHABLE', details: { lb: 'lvs1019', code: 'ECONNREFUSED' } });
    expect((err as Error).message).toBe(`load balancer lvs1019 unreachable at ${fake.url}/alerts: connection refused (2 tries)`);
  });

  it('times out a request that never answers, per request', async () => {
    seed();
    client = new PybalClient({ retries: 1, retryDelayMs: 5, requestTimeoutMs: 150 });
    fake.mode = 'hang';
    const t0 = Date.now();
    const err = await client.pools(fake.ref).catch((e: unknown) => e);
    const took = Date.now() - t0;
    expect(err).toMatchObject({ code: 'ERR_PYBAL_UNREACHABLE' });
    expect((err as Error).message).toContain('no answer within 150 ms (2 tries)');
    expect(took).toBeGreaterThanOrEqual(300);
    expect(took).toBeLessThan(5000); // far below a hang; loose for loaded CI machines
    expect(fake.requests).toHaveLength(2);
  });

  it.each([
    ['garbage', 'json' as const, /unexpected json body from load balancer lvs1019 at http:\/\/127\.0\.0\.1:\d+\/pools\/p: not valid JSON/],
    [
      'garbage',
      'text' as const,
      /unexpected text body from load balancer lvs1019 at http:\/\/127\.0\.0\.1:\d+\/pools\/p: .*what\/is\/this/,
    ],
    ['html', 'json' as const, /unexpected text body from load balancer lvs1019 at http:\/\/127\.0\.0\.1:\d+\/pools\/p/],
  ])('an unexpected body (%s, asked %s) is ERR_PYBAL_BAD_RESPONSE naming the LB and URL, not retried', async (mode, format, msg) => {
    seed();
    client = new PybalClient({ retries: 2, retryDelayMs: 5, format });
    fake.mode = mode as 'garbage' | 'html';
    const err = await client.pool(fake.ref, 'p').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_PYBAL_BAD_RESPONSE' });
    expect((err as Error).message).toMatch(msg);
    expect(fake.requests).toHaveLength(1);
  });

  it('stops at once when the caller aborts, without retrying', async () => {
    seed();
    client = new PybalClient({ retries: 5, retryDelayMs: 5, requestTimeoutMs: 5000 });
    fake.mode = 'hang';
    const ac = new AbortController();
    const pending = client.pools(fake.ref, { signal: ac.signal });
    // Abort once the request is in flight (not on a timer: a loaded machine may not have sent it yet).
    while (fake.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    ac.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.requests).toHaveLength(1);
  });

  it('uses an injected dispatcher and leaves it open on close()', async () => {
    seed();
    const agent = new Agent();
    client = new PybalClient({ dispatcher: agent, retries: 0 });
    expect(await client.pools(fake.ref)).toEqual(['p']);
    await client.close();
    expect(agent.closed).toBe(false);
    expect(await new PybalClient({ dispatcher: agent }).pools(fake.ref)).toEqual(['p']);
    await agent.close();
  });
});
