import { describe, expect, it } from '@jest/globals';
import { handleApi } from './api.js';
import { PoolCoordinator } from './coordinator.js';

function pools(): Map<string, PoolCoordinator> {
  const p = new PoolCoordinator('jobrunner-nginx_eqiad', 0.5);
  p.setAll(
    new Map([
      ['mw1301.eqiad.wmnet', { weight: 10, enabled: true }],
      ['mw1302.eqiad.wmnet', { weight: 5, enabled: false }],
    ]),
    () => true,
  );
  const q = new PoolCoordinator('appserver-nginx_eqiad', 0.5);
  return new Map([
    [p.pool, p],
    [q.pool, q],
  ]);
}
const JSON_ACCEPT = ['application/json'];

describe('PyBal instrumentation API shapes', () => {
  it('/pools in text and JSON', () => {
    expect(handleApi('/pools', [], pools())).toEqual({
      status: 200,
      contentType: 'text/plain',
      body: 'jobrunner-nginx_eqiad\nappserver-nginx_eqiad\n',
    });
    expect(handleApi('/pools', JSON_ACCEPT, pools())).toEqual({
      status: 200,
      contentType: 'application/json',
      body: '["jobrunner-nginx_eqiad","appserver-nginx_eqiad"]',
    });
  });

  it('/pools/<pool>: one line per server in text, an object per server in JSON', () => {
    expect(handleApi('/pools/jobrunner-nginx_eqiad', [], pools()).body).toBe(
      'mw1301.eqiad.wmnet:\tenabled/up/pooled\nmw1302.eqiad.wmnet:\tdisabled/up/not pooled\n',
    );
    expect(JSON.parse(handleApi('/pools/jobrunner-nginx_eqiad', JSON_ACCEPT, pools()).body)).toEqual({
      'mw1301.eqiad.wmnet': { pooled: true, weight: 10, up: true, enabled: true },
      'mw1302.eqiad.wmnet': { pooled: false, weight: 5, up: true, enabled: false },
    });
  });

  it("/pools/<pool>/<host> with PyBal's key order", () => {
    expect(handleApi('/pools/jobrunner-nginx_eqiad/mw1302.eqiad.wmnet', [], pools()).body).toBe('disabled/up/not pooled\n');
    expect(handleApi('/pools/jobrunner-nginx_eqiad/mw1301.eqiad.wmnet', JSON_ACCEPT, pools()).body).toBe(
      '{"pooled":true,"weight":10,"up":true,"enabled":true}',
    );
  });

  it('JSON only when one Accept value is exactly application/json', () => {
    expect(handleApi('/pools', ['application/json, text/plain'], pools()).contentType).toBe('text/plain');
    expect(handleApi('/pools', ['text/html', 'application/json'], pools()).contentType).toBe('application/json');
    expect(handleApi('/pools', ['application/json;q=1'], pools()).contentType).toBe('text/plain');
  });

  it.each(['/nope', '/pools/nope', '/pools/jobrunner-nginx_eqiad/nope', '/pools/a/b/c', '/'])('404 shapes for %s', (url) => {
    expect(handleApi(url, [], pools())).toEqual({ status: 404, contentType: 'text/plain', body: 'The desired url was not found' });
    expect(handleApi(url, JSON_ACCEPT, pools())).toEqual({
      status: 404,
      contentType: 'application/json',
      body: '{"error":"The desired url was not found"}',
    });
  });

  it('/alerts in text and JSON', () => {
    const ps = pools();
    expect(handleApi('/alerts', [], ps).body).toBe('OK - All pools are healthy');
    const p = ps.get('jobrunner-nginx_eqiad')!;
    p.resultDown('mw1301.eqiad.wmnet'); // 0 up of 2: cannot depool
    expect(handleApi('/alerts', [], ps).body).toBe(
      'CRITICAL - jobrunner-nginx_eqiad: Servers mw1301.eqiad.wmnet are marked down but pooled',
    );
    expect(JSON.parse(handleApi('/alerts', JSON_ACCEPT, ps).body)).toEqual({
      status: 'critical',
      msg: 'jobrunner-nginx_eqiad: Servers mw1301.eqiad.wmnet are marked down but pooled',
    });
  });
});
