import { describe, expect, it } from '@jest/globals';
import { normalizeArgv, parseSimpleArgv } from './args.js';

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
});
