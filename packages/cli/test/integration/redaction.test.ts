// Secrets are redacted by value and by pattern everywhere (issue 15): the built `cookbook` binary on a
// fixture cookbook that leaks a `secret: true` argument and a config secret every way it can; the
// value is looked for in stdout, stderr, every NDJSON event, the audit log, its index and the webhook.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { sharedLab } from '@galley/lab/testing';

jest.setTimeout(60000);

const BIN = path.resolve(import.meta.dirname, '../../dist/bin.js');
const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/cookbooks');
let dir: string;
let logs: string;
let cfgFile: string;
let server: http.Server;
const posted: string[] = [];

const SECRET = 'vault-S3cr3t-value-0';
const CONFIG_TOKEN = 'monitoring-token-c0nf1g';
// an Alertmanager behind an auth proxy: a header value named like nothing secret is one all the same
const CONFIG_HEADER = 'proxy-tenant-h3ader';
// what the fixture prints in free text: each must be gone
const FREE = ['hdr-bearer-77', 'hdr-apikey-88', 'url-pass-99', 'free-apikey-11', 'env-token-22', 'field-named-token-1', 'rotate-pw-33'];

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, '-c', cfgFile, ...args], {
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  const lab = await sharedLab();
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      posted.push(body);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-redact-'));
  logs = path.join(dir, 'logs');
  cfgFile = path.join(dir, 'cookbook.config.yaml');
  fs.writeFileSync(
    cfgFile,
    [
      'etcd:',
      `  endpoints: [${lab.info.etcd.endpoints.join(', ')}]`,
      'cookbooks:',
      `  dirs: [${FIXTURES}]`,
      'logs:',
      `  dir: ${logs}`,
      'monitoring:',
      '  type: alertmanager',
      '  url: http://127.0.0.1:9/',
      `  token: ${CONFIG_TOKEN}`,
      `  headers: { X-Scope-OrgID: ${CONFIG_HEADER} }`,
      'notifier:',
      `  webhook: http://127.0.0.1:${(server.address() as { port: number }).port}/sal`,
      '',
    ].join('\n'),
  );
});
afterAll(() => {
  server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('a secret never reaches what is shown or stored', () => {
  it.each([
    ['text', [] as string[]],
    ['--output json', ['--output', 'json']],
  ])(
    '%s: a secret: true value logged, in fields, in a step, in the output and thrown; a config token echoed; headers, URLs and key=value in free text',
    async (_how, globals) => {
      posted.length = 0;
      const r = await run([...globals, 'fx.secret-leaks', `vault=${SECRET}`, 'cluster=x', 'reason=rotate password=rotate-pw-33'], {
        FX_ECHO: `token is ${CONFIG_TOKEN}, tenant ${CONFIG_HEADER}`,
      });
      expect(r.code).toBe(99);
      const audit = fs.readFileSync(path.join(logs, 'fx', 'secret-leaks.jsonl'), 'utf8');
      const index = fs.readFileSync(path.join(logs, 'index.jsonl'), 'utf8');
      expect(posted).toHaveLength(2);
      const places = { stdout: r.stdout, stderr: r.stderr, audit, index, webhook: posted.join('\n') };
      const leaks = Object.entries(places).flatMap(([where, text]) =>
        [SECRET, CONFIG_TOKEN, CONFIG_HEADER, ...FREE].filter((s) => text.includes(s)).map((s) => `${s} in ${where}`),
      );
      expect(leaks).toEqual([]);
      // what was printed instead still says what happened
      const shown = r.stdout + r.stderr;
      expect(shown).toContain('connecting with ***');
      expect(shown).toContain('login failed with ***');
      expect(shown).toContain('echo: token is ***, tenant ***');
      expect(shown).toContain('Authorization: Bearer ***');
      expect(shown).toContain('https://u:***@example.invalid/');
      expect(shown).toContain('reason: rotate password=***');
      expect(JSON.parse(posted[0]!)).toMatchObject({
        message: 'START - Cookbook fx.secret-leaks vault=*** cluster=x reason=rotate password=*** (rotate password=***)',
      });
      if (globals.length) {
        const events = r.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        const log = events.find((e) => e.type === 'log' && String(e.msg).startsWith('connecting'));
        expect(log?.fields).toEqual({ vault: '***', note: 'x-***-y', token: '***' });
        expect(events.find((e) => e.type === 'output')).toMatchObject({ data: { used: '***' }, text: 'used ***' });
      }
    },
  );

  it('a misspelled secret argument: refused as unknown, and its value is not printed in the START line', async () => {
    const r = await run(['fx.secret', 'tokne=typo-secret-44', '--pasword', 'typo-secret-55']);
    expect(r.code).toBe(96);
    expect(r.stdout + r.stderr).not.toMatch(/typo-secret-44|typo-secret-55/);
    expect(fs.readFileSync(path.join(logs, 'fx', 'secret.jsonl'), 'utf8')).not.toMatch(/typo-secret-44|typo-secret-55/);
  });
});
