import { describe, expect, it } from '@jest/globals';
import { REDACTED, SecretValues, redact, redactObject, secretValuesIn } from './redact.js';

// Each row: the text as a cookbook, a command or a library might print it, and what may be shown.
// `S` is a value registered as secret (a `secret: true` argument, a password from the config).
const S = 'hunter2-Xq9!';
const values = new SecretValues();
values.add(S, 'tok-registered-42', 'a"b\\c-json', 'p@ss w/rd');

const TABLE: [string, string, string][] = [
  // by value: wherever the value appears, in whatever words
  ['a secret arg value in a log message', `connecting with ${S} now`, 'connecting with *** now'],
  ['a secret arg value in a thrown error', `Error: login failed for ${S}`, 'Error: login failed for ***'],
  ['a secret value inside a word', `x${S}y`, 'x***y'],
  ['a secret value twice', `${S} and ${S}`, '*** and ***'],
  ['a secret value JSON-escaped inside JSON text', JSON.stringify({ v: 'a"b\\c-json' }), '{"v":"***"}'],
  ['a secret value URL-encoded', `https://h/x?q=${encodeURIComponent('p@ss w/rd')}`, 'https://h/x?q=***'],
  ['a config token in a command line', 'curl -H X-Token:tok-registered-42 http://h', 'curl -H X-Token:*** http://h'],
  // key=value in free text
  ['password=', 'reason="rotate password=X1" ok', 'reason="rotate password=***" ok'],
  ['passwd=', 'passwd=abc def', 'passwd=*** def'],
  ['token=', 'token=abc123', 'token=***'],
  ['*_token=', 'refresh_token=abc123&x=1', 'refresh_token=***&x=1'],
  ['access_token= in a URL query', 'GET /api?access_token=abc123&page=2', 'GET /api?access_token=***&page=2'],
  ['api_key=', 'api_key=abc', 'api_key=***'],
  ['api-key=', 'api-key=abc', 'api-key=***'],
  ['apikey=', 'apikey=abc', 'apikey=***'],
  ['MY_TOKEN= (an env var)', 'MY_TOKEN=abc ./deploy', 'MY_TOKEN=*** ./deploy'],
  ['AWS_SECRET_ACCESS_KEY=', 'AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI', 'AWS_SECRET_ACCESS_KEY=***'],
  ['client_secret= (case-insensitive)', 'CLIENT_SECRET=abc', 'CLIENT_SECRET=***'],
  ['a double-quoted value with spaces, whole', 'password="a b c" next', 'password="***" next'],
  ['a single-quoted value, whole', "token='a b' next", "token='***' next"],
  ['--password=VALUE', 'mysql --password=abc', 'mysql --password=***'],
  ['--password VALUE', 'mysql --password abc -h db', 'mysql --password *** -h db'],
  ['--api-key VALUE', 'tool --api-key abc', 'tool --api-key ***'],
  // key: value (JSON, YAML, headers)
  ['JSON "token": "…"', '{"token":"abc","n":1}', '{"token":"***","n":1}'],
  ['JSON with spaces', '{ "password": "a b" }', '{ "password": "***" }'],
  ['YAML password: …', 'password: hunter3', 'password: ***'],
  ['X-Api-Key: header', 'X-Api-Key: abc123', 'X-Api-Key: ***'],
  // Authorization, whole
  ['Authorization: Bearer …', 'Authorization: Bearer abc.def.ghi', 'Authorization: Bearer ***'],
  ['Authorization: Basic …', 'authorization: Basic dXNlcjpwYXNz', 'authorization: Basic ***'],
  ['Authorization: token …', 'Authorization: token ghx123', 'Authorization: token ***'],
  ['Authorization without scheme', 'Authorization=abc123', 'Authorization=***'],
  ['Proxy-Authorization', 'Proxy-Authorization: Basic Zm9vOmJhcg==', 'Proxy-Authorization: Basic ***'],
  ['curl -H "Authorization: Bearer …"', `curl -H "Authorization: Bearer abc" x`, `curl -H "Authorization: Bearer ***" x`],
  ['a bare Bearer token', "-H 'Bearer abc.def'", "-H 'Bearer ***'"],
  // URLs
  ['user:password@ in a URL', 'http://root:hunter2@127.0.0.1:2379', 'http://root:***@127.0.0.1:2379'],
  ['a token as the user of an https URL', 'https://ghx_abc@github.com/o/r.git', 'https://***@github.com/o/r.git'],
  [
    'credentials in an etcd URL among others',
    'endpoints https://a:b1@e1:2379,https://e2:2379',
    'endpoints https://a:***@e1:2379,https://e2:2379',
  ],
  // shapes
  ['a JWT', 'got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijk', 'got ***'],
  ['a GitHub token', 'ghp_0123456789abcdefghijklmnopqrstuvwxyz', '***'],
  ['a Slack token', 'xoxb-1234567890-abcdef', '***'],
  ['an AWS access key id', 'key AKIAIOSFODNN7EXAMPLE used', 'key *** used'],
  [
    'a PEM private key, whole',
    '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----',
    '-----BEGIN OPENSSH PRIVATE KEY-----***-----END OPENSSH PRIVATE KEY-----',
  ],
  // what must stay
  ['a lock key is no secret', 'lock /galley/locks/hosts/mw1001/ab-12', 'lock /galley/locks/hosts/mw1001/ab-12'],
  [
    'an argument error names the flag, not a value',
    'argument --token: must be a non-empty string',
    'argument --token: must be a non-empty string',
  ],
  ['prose about tokens', 'the tokens were rotated', 'the tokens were rotated'],
  ['a short registered-looking word is left (too short to mask by value)', 'no', 'no'],
  ['already redacted stays as it is', 'token=*** Authorization: Bearer ***', 'token=*** Authorization: Bearer ***'],
];

describe('redaction by value and by pattern', () => {
  it(`has at least 30 forms (${TABLE.length})`, () => {
    expect(TABLE.length).toBeGreaterThanOrEqual(30);
  });
  it.each(TABLE)('%s', (_what, input, shown) => {
    const got = redact(input, values);
    if (got !== shown)
      console.log(`input:    ${JSON.stringify(input)}\nexpected: ${JSON.stringify(shown)}\ngot:      ${JSON.stringify(got)}`);
    expect(got).toBe(shown);
  });

  it('objects: credential-named fields blanked, every string redacted by value, booleans and lock keys kept', () => {
    const e = {
      type: 'log',
      msg: `using ${S}`,
      fields: { token: 'abc', apiKey: 'k1', db: { password: 12345 }, secret: true, note: `x=${S}` },
      key: '/galley/locks/hosts/h/1',
      changes: [{ key: '/conftool/v1/pools/a/b/c/h' }],
    };
    expect(redactObject(e, values)).toEqual({
      type: 'log',
      msg: 'using ***',
      fields: { token: REDACTED, apiKey: REDACTED, db: { password: REDACTED }, secret: true, note: 'x=***' },
      key: '/galley/locks/hosts/h/1',
      changes: [{ key: '/conftool/v1/pools/a/b/c/h' }],
    });
  });

  it("the config's secrets: credential-named fields, URL passwords and webhook URLs", () => {
    const cfg = {
      etcd: { endpoints: ['https://root:etcd-pw-1@e1:2379', 'https://e2:2379'], auth: { username: 'root', password: 'etcd-pw-2' } },
      monitoring: { type: 'http', url: 'https://am', token: 'mon-tok-3' },
      notifier: { webhook: 'https://hooks.example/T0/B0/xyz', timeoutMs: 2000 },
      ssh: { user: 'root', identityFiles: ['/root/.ssh/id'] },
    };
    expect(secretValuesIn(cfg).sort()).toEqual(['etcd-pw-1', 'etcd-pw-2', 'https://hooks.example/T0/B0/xyz', 'mon-tok-3']);
    const v = new SecretValues();
    v.add(secretValuesIn(cfg));
    expect(redact('auth failed for etcd-pw-2 / mon-tok-3', v)).toBe('auth failed for *** / ***');
  });

  it('every value of a headers: map is a secret, whatever the header is called (an Alertmanager behind an auth proxy)', () => {
    const cfg = {
      monitoring: {
        type: 'alertmanager',
        url: 'https://am:9093',
        headers: { 'X-Scope-OrgID': 'tenant-0rg-7', Cookie: 'sess-c00kie-8' },
        hostLabel: 'instance',
      },
    };
    expect(secretValuesIn(cfg).sort()).toEqual(['sess-c00kie-8', 'tenant-0rg-7']);
    const v = new SecretValues();
    v.add(secretValuesIn(cfg));
    expect(redact('POST https://am:9093/api/v2/silences x-scope-orgid=tenant-0rg-7 instance', v)).toBe(
      'POST https://am:9093/api/v2/silences x-scope-orgid=*** instance',
    );
  });
});
