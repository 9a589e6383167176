import { describe, expect, it } from '@jest/globals';
import { argvShape, normalizeArgv, parseSimpleArgv, redactArgs, redactArgv } from './args.js';

describe('cookbook argv', () => {
  it('maps key=value positionals to options, task to task-id, and a bare boolean name to its flag', () => {
    expect(normalizeArgv(['host=mw1001.eqiad.wmnet', 'new', 'task=T123', '--os', 'bookworm'], new Set(['new']))).toEqual([
      '--host=mw1001.eqiad.wmnet',
      '--new',
      '--task-id=T123',
      '--os',
      'bookworm',
    ]);
  });
  it('leaves a bare word alone unless it names a boolean option, and everything after --', () => {
    expect(normalizeArgv(['new', '--', 'a=b'])).toEqual(['new', '--', 'a=b']);
  });
  it('parseSimpleArgv honours bare boolean flags of the spec', () => {
    const args = parseSimpleArgv('sre.hosts.reimage', { host: { type: 'string' }, new: { type: 'boolean' } }, ['host=mw1001', 'new']);
    expect(args).toMatchObject({ host: 'mw1001', new: true });
  });
  it('keeps the value after a non-boolean --key / -k as typed, even when it contains =', () => {
    const spec = { select: { type: 'string' as const }, reason: { type: 'string' as const, alias: 'r' }, new: { type: 'boolean' as const } };
    const { flags, valued } = argvShape(spec);
    expect(normalizeArgv(['--select', 'dc=eqiad,cluster=x', '-r', 'a=b'], flags, valued)).toEqual(['--select', 'dc=eqiad,cluster=x', '-r', 'a=b']);
    // a boolean flag takes no value: the word after it is still a key=value argument
    expect(normalizeArgv(['--new', 'select=x', 'new'], flags, valued)).toEqual(['--new', '--select=x', '--new']);
    expect(parseSimpleArgv('x', spec, ['--select', 'dc=eqiad,cluster=x', '-r', 'note=maintenance', 'new'])).toEqual({
      select: 'dc=eqiad,cluster=x',
      reason: 'note=maintenance',
      new: true,
    });
  });
  it('redactArgv hides secret values in every form they can be typed; other values stay', () => {
    const spec = {
      token: { type: 'string' as const },
      'api-key': { type: 'string' as const },
      pin: { type: 'string' as const, secret: true, alias: 'p' },
      key: { type: 'string' as const },
      cluster: { type: 'string' as const },
    };
    expect(
      redactArgv(['--token', 's3cr3t', 'api-key=zzz', '--api-key=yyy', '-p', '1234', 'pin=99', 'cluster=token', '--key', 'lockname', '--', '--token', 'x'], spec),
    ).toEqual(['--token', '***', 'api-key=***', '--api-key=***', '-p', '***', 'pin=***', 'cluster=token', '--key', 'lockname', '--', '--token', 'x']);
    expect(redactArgs({ token: 's3cr3t', 'api-key': 'zzz', pin: '1', cluster: 'x' }, spec)).toEqual({ token: '***', 'api-key': '***', pin: '***', cluster: 'x' });
  });
});
