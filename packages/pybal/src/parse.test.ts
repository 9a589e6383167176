import { describe, expect, it } from '@jest/globals';
import { BodyShapeError, formatOf, parseAlerts, parseHost, parsePool, parsePools } from './parse.js';

describe('PyBal body parsers', () => {
  const poolCases: { name: string; json: string; text: string }[] = [
    {
      name: 'all states',
      json: JSON.stringify({
        'mw1001.eqiad.wmnet': { pooled: true, weight: 10, up: true, enabled: true },
        'mw1002.eqiad.wmnet': { pooled: false, weight: 10, up: true, enabled: false },
        'mw1003.eqiad.wmnet': { pooled: true, weight: 10, up: false, enabled: false },
        'mw1004.eqiad.wmnet': { pooled: false, weight: 0, up: false, enabled: true },
      }),
      text: 'mw1001.eqiad.wmnet:\tenabled/up/pooled\nmw1002.eqiad.wmnet:\tdisabled/up/not pooled\nmw1003.eqiad.wmnet:\tdisabled/down/pooled\nmw1004.eqiad.wmnet:\tenabled/partially up/not pooled\n',
    },
    { name: 'empty pool', json: '{}', text: '' },
    {
      name: 'CRLF text',
      json: JSON.stringify({ a: { pooled: true, weight: 1, up: true, enabled: true } }),
      text: 'a:\tenabled/up/pooled\r\n',
    },
  ];
  it.each(poolCases)('pool text and JSON parse identically: $name', ({ json, text }) => {
    const j = parsePool(json, 'json');
    const t = parsePool(text, 'text');
    expect([...t.keys()]).toEqual([...j.keys()]);
    for (const [h, v] of j) {
      const { weight, ...rest } = v;
      expect(typeof weight).toBe('number');
      expect(t.get(h)).toEqual(rest);
    }
  });

  it('reads "partially up" as not up (PyBal: some monitors up, server not up)', () => {
    expect(parseHost('enabled/partially up/not pooled\n', 'text')).toEqual({ enabled: true, up: false, pooled: false });
  });

  it('parses hosts, pools and alerts identically in both forms', () => {
    expect(parseHost('{"pooled": false, "weight": 10, "up": true, "enabled": false}', 'json')).toEqual({
      pooled: false,
      weight: 10,
      up: true,
      enabled: false,
    });
    expect(parseHost('disabled/up/not pooled\n', 'text')).toEqual({ pooled: false, up: true, enabled: false });
    expect(parsePools('["a_80", "b_443"]', 'json')).toEqual(parsePools('a_80\nb_443\n', 'text'));
    const alerts: [string, string][] = [
      ['{"status": "ok", "msg": "All pools are healthy"}', 'OK - All pools are healthy'],
      ['{"status": "warning", "msg": "Pool X is too small to allow depooling. "}', 'WARNING - Pool X is too small to allow depooling. '],
      [
        '{"status": "critical", "msg": "a: Servers x, y are marked down but pooled; b: Servers z are marked down but pooled"}',
        'CRITICAL - a: Servers x, y are marked down but pooled; b: Servers z are marked down but pooled',
      ],
    ];
    for (const [j, t] of alerts) expect(parseAlerts(t, 'text')).toEqual(parseAlerts(j, 'json'));
    expect(parseAlerts(alerts[1]![0], 'json')).toEqual({ status: 'warning', msg: 'Pool X is too small to allow depooling.' });
  });

  const bad: { name: string; fn: () => unknown; msg: RegExp }[] = [
    { name: 'truncated JSON', fn: () => parsePool('{"a": {"pooled": true', 'json'), msg: /not valid JSON/ },
    {
      name: 'string booleans',
      fn: () => parseHost('{"pooled": "yes", "up": true, "enabled": true}', 'json'),
      msg: /boolean pooled\/up\/enabled/,
    },
    { name: 'array for pool', fn: () => parsePool('[1,2]', 'json'), msg: /host → state/ },
    { name: 'pools not strings', fn: () => parsePools('[1]', 'json'), msg: /array of pool names/ },
    { name: 'text line without status', fn: () => parsePool('mw1001: up\n', 'text'), msg: /mw1001/ },
    { name: 'text line without colon', fn: () => parsePool('mw1001 enabled/up/pooled\n', 'text'), msg: /host:/ },
    { name: 'HTML as host', fn: () => parseHost('<html>hi</html>', 'text'), msg: /enabled\|disabled/ },
    { name: 'two host lines', fn: () => parseHost('enabled/up/pooled\nenabled/up/pooled\n', 'text'), msg: /one/ },
    { name: 'unknown alert status', fn: () => parseAlerts('{"status": "UNKNOWN", "msg": ""}', 'json'), msg: /status/ },
    { name: 'alert text', fn: () => parseAlerts('all good', 'text'), msg: /OK\|WARNING\|CRITICAL/ },
    { name: 'HTML pool list', fn: () => parsePools('<html><body>x</body></html>', 'text'), msg: /pool name per line/ },
  ];
  it.each(bad)('rejects an unexpected body: $name', ({ fn, msg }) => {
    expect(fn).toThrow(BodyShapeError);
    expect(fn).toThrow(msg);
  });

  it('decides the form from the content type', () => {
    expect(formatOf('application/json')).toBe('json');
    expect(formatOf('application/json; charset=utf-8')).toBe('json');
    expect(formatOf('text/plain')).toBe('text');
    expect(formatOf(undefined)).toBe('text');
  });
});
