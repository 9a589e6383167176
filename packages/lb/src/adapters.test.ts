import { describe, expect, it } from '@jest/globals';
import { FakeConftool } from '@galley/confctl/testing';
import { conftoolStore, failureText, outputTail } from './adapters.js';
import { describePoolStoreContract } from './testing/index.js';

// The confctl adapter over the real Conftool logic (in-memory kv); the same suite runs on the lab's etcd.
describePoolStoreContract('conftoolStore over FakeConftool', async () => {
  const hosts: [string, string, string] = ['mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet', 'mw1003.eqiad.wmnet'];
  const c = new FakeConftool().seed({
    [`eqiad/jobrunner/nginx/${hosts[0]}`]: { pooled: 'yes', weight: 10 },
    [`eqiad/jobrunner/nginx/${hosts[1]}`]: { pooled: 'no', weight: 10 },
    [`eqiad/jobrunner/nginx/${hosts[2]}`]: { pooled: 'inactive', weight: 10 },
    'codfw/jobrunner/nginx/mw2001.codfw.wmnet': { pooled: 'yes', weight: 10 },
  });
  const key = (h: string): string => `/conftool/v1/pools/eqiad/jobrunner/nginx/${h}`;
  return {
    store: conftoolStore(c),
    dc: 'eqiad',
    cluster: 'jobrunner',
    hosts,
    read: async (h) => (await c.select({ name: h.replace(/\./g, '\\.') }))[0]?.pooled,
    write: async (h, pooled, weight = 10) => {
      c.memory.put(key(h), JSON.stringify({ pooled, weight }));
    },
    corrupt: async (h) => {
      c.memory.put(key(h), '{"pooled": yes');
    },
    close: async () => {},
  };
});

describe('a failed host says why in its own words', () => {
  const base = { host: 'mw1302.eqiad.wmnet', exitCode: 1 as number | null };
  it("the failing command's stderr tail, not `exit code 1` twice", () => {
    const stderr =
      'Job for nginx.service failed because the control process exited with error code.\nSee "systemctl status nginx.service" and "journalctl -xeu nginx.service" for details.\n';
    expect(
      failureText({
        ...base,
        failure: 'exit-code',
        message: "'systemctl restart nginx' exited with 1",
        commands: [{ stdout: '', stderr }],
      }),
    ).toBe(
      `'systemctl restart nginx' exited with 1: Job for nginx.service failed because the control process exited with error code. | See "systemctl status nginx.service" and "journalctl -xeu nginx.service" for details.`,
    );
  });
  it('stdout when stderr is empty; only the last lines, the rest counted and left to the audit log', () => {
    const stdout = Array.from({ length: 10 }, (_, i) => `line ${i + 1}`).join('\n');
    expect(failureText({ ...base, message: "'deploy' exited with 2", commands: [{ stdout, stderr: '  \n' }] })).toBe(
      `'deploy' exited with 2: (7 earlier lines in the audit log) line 8 | line 9 | line 10`,
    );
    expect(outputTail({ stdout: 'x'.repeat(500), stderr: '' })).toBe(`${'x'.repeat(240)}…`);
  });
  it("a timeout names the host once (remote's message starts with it; the caller names it already)", () => {
    expect(
      failureText({
        ...base,
        exitCode: null,
        failure: 'timeout',
        message: 'mw1302.eqiad.wmnet: command timed out after 1.0s (remote process group killed)',
        commands: [{ stdout: '', stderr: '' }],
      }),
    ).toBe('command timed out after 1.0s (remote process group killed)');
  });
});
