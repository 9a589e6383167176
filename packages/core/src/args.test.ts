import { describe, expect, it } from '@jest/globals';
import {
  argvShape,
  checkArgSpec,
  cookbookArgSpec,
  normalizeArgv,
  parseSimpleArgv,
  redactArgs,
  redactArgv,
  validateCookbookArgs,
} from './args.js';
import { type AnyCookbook, type ArgCheck, type ArgSpec, defineCookbook } from './cookbook.js';
import { type ArgProblem, ArgsError, ArgSpecError } from './errors.js';

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
    const spec = {
      select: { type: 'string' as const },
      reason: { type: 'string' as const, alias: 'r' },
      new: { type: 'boolean' as const },
    };
    const { flags, valued } = argvShape(spec);
    expect(normalizeArgv(['--select', 'dc=eqiad,cluster=x', '-r', 'a=b'], flags, valued)).toEqual([
      '--select',
      'dc=eqiad,cluster=x',
      '-r',
      'a=b',
    ]);
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
      redactArgv(
        [
          '--token',
          's3cr3t',
          'api-key=zzz',
          '--api-key=yyy',
          '-p',
          '1234',
          'pin=99',
          'cluster=token',
          '--key',
          'lockname',
          '--',
          '--token',
          'x',
        ],
        spec,
      ),
    ).toEqual([
      '--token',
      '***',
      'api-key=***',
      '--api-key=***',
      '-p',
      '***',
      'pin=***',
      'cluster=token',
      '--key',
      'lockname',
      '--',
      '--token',
      'x',
    ]);
    expect(redactArgs({ token: 's3cr3t', 'api-key': 'zzz', pin: '1', cluster: 'x' }, spec)).toEqual({
      token: '***',
      'api-key': '***',
      pin: '***',
      cluster: 'x',
    });
  });
});

describe('validateCookbookArgs: the one argument check (CLI and harness)', () => {
  const even: ArgCheck = {
    accepts: 'an even number',
    check: (v, name) => (Number(v) % 2 === 0 ? undefined : `${name}=${String(v)}: must be even`),
  };
  const book = defineCookbook({
    title: 't',
    reason: 'required',
    task: 'optional',
    args: {
      cluster: { type: 'string', demandOption: true },
      dc: { type: 'string', choices: ['eqiad', 'codfw'] },
      n: { type: 'number', default: 2, check: even },
      force: { type: 'boolean', default: false },
      command: { type: 'string', array: true },
      wait: { type: 'string', default: '60s', requires: 'probe' },
      probe: { type: 'string' },
      token: {
        type: 'string',
        secret: true,
        check: { accepts: 'six letters', check: (v, name) => (String(v).length === 6 ? undefined : `${name}=${String(v)}: wrong length`) },
      },
    },
    async run() {},
  });
  const problems = (values: Record<string, unknown>, positionals: string[] = []): ArgProblem[] => {
    try {
      validateCookbookArgs('x.y', book, values, positionals);
    } catch (err) {
      expect(err).toBeInstanceOf(ArgsError);
      return [...(err as ArgsError).problems];
    }
    throw new Error('expected ArgsError');
  };

  it('valid values: converted, defaults filled, reason and task split off', () => {
    expect(
      validateCookbookArgs('x.y', book, { cluster: 'c', n: '4', force: 'true', command: 'ls', reason: 'why', 'task-id': 'T1' }),
    ).toEqual({
      args: { cluster: 'c', n: 4, force: true, command: ['ls'], wait: '60s' },
      reason: 'why',
      taskId: 'T1',
    });
  });

  it('lists every problem at once: unknown, positional, missing, repeated, type, choice, check, reason, task', () => {
    const p = problems({ dc: ['eqiad', 'codfw'], n: 'abc', bogus: '1', 'task-id': '42' }, ['stray']);
    expect(p.map((x) => [x.kind, x.arg])).toEqual([
      ['positional', undefined],
      ['unknown', 'bogus'],
      ['missing', 'cluster'],
      ['repeated', 'dc'],
      ['type', 'n'],
      ['missing', 'reason'],
      ['invalid', 'task-id'],
    ]);
    expect(p.find((x) => x.arg === 'dc')?.message).toBe('dc given 2 times (eqiad, codfw); give it once');
    expect(p.find((x) => x.arg === 'n')?.message).toBe('n=abc: expected a number');
    const q = problems({ cluster: 'c', reason: 'r', dc: 'esams', n: '3' });
    expect(q.map((x) => x.message)).toEqual(['argument dc: invalid value "esams", accepted values: "eqiad", "codfw"', 'n=3: must be even']);
  });

  it('the message of ArgsError names the cookbook and lists each problem on its own line', () => {
    expect(() => validateCookbookArgs('x.y', book, { n: '3', reason: 'r' })).toThrow(
      /^x\.y: 2 problems with the arguments:\n {2}- missing required argument cluster\n {2}- n=3: must be even$/,
    );
  });

  it('a secret value never appears in a problem, not even repeated', () => {
    const p = problems({ cluster: 'c', reason: 'r', token: 'hunter2' });
    expect(p).toEqual([{ arg: 'token', kind: 'invalid', message: 'token=***: wrong length' }]);
    expect(problems({ cluster: 'c', reason: 'r', token: ['hunter2', 'abcdef'] })[0]!.message).toBe(
      'token given 2 times (***, ***); give it once',
    );
  });

  it('an option that needs another is refused alone (not silently ignored), also when its default would apply', () => {
    expect(problems({ cluster: 'c', reason: 'r', wait: '5s' })).toEqual([
      { arg: 'wait', kind: 'requires', message: 'wait=5s has no effect without probe; give probe too, or drop wait' },
    ]);
    expect(validateCookbookArgs('x.y', book, { cluster: 'c', reason: 'r', wait: '5s', probe: 'true' }).args).toMatchObject({
      wait: '5s',
      probe: 'true',
    });
    // not given: its default alone is no problem
    expect(validateCookbookArgs('x.y', book, { cluster: 'c', reason: 'r' }).args).toMatchObject({ wait: '60s' });
  });

  it('parseSimpleArgv keeps a repeated single-valued option as every value, so it is refused rather than the last winning', () => {
    const values = parseSimpleArgv('x.y', cookbookArgSpec(book), ['cluster=a', 'cluster=b', 'reason=r']);
    expect(values.cluster).toEqual(['a', 'b']);
    expect(problems(values).map((x) => x.message)).toEqual(['cluster given 2 times (a, b); give it once']);
  });
});

describe("checkArgSpec: a broken declaration is the cookbook's bug (ArgSpecError → 95), named", () => {
  const spec = (args: unknown, extra: Record<string, unknown> = {}) =>
    defineCookbook({ title: 't', args: args as ArgSpec, ...extra, async run() {} });
  const problemsOf = (c: AnyCookbook): string[] => {
    try {
      checkArgSpec('x.broken', c);
    } catch (err) {
      expect(err).toBeInstanceOf(ArgSpecError);
      expect((err as ArgSpecError).message).toMatch(/^cookbook x\.broken declares its arguments wrongly:/);
      return [...(err as ArgSpecError).problems];
    }
    return [];
  };
  it('a valid spec passes', () => {
    expect(problemsOf(spec({ a: { type: 'string', alias: 'x' }, b: { type: 'number', default: 3 } }))).toEqual([]);
  });
  it('every broken option is listed', () => {
    expect(
      problemsOf(
        spec(
          {
            a: { type: 'strnig' },
            b: { type: 'string', alias: 'a' },
            c: { type: 'number', default: 'many' },
            d: { choices: ['x'], default: 'y' },
            e: { type: 'string', demandOption: true, default: 'z' },
            f: { type: 'string', check: (v: unknown) => v },
            'bad name': { type: 'string' },
            g: 'string',
            reason: { type: 'string' },
            h: { type: 'string', alias: 'r' },
            i: { type: 'string', requires: 'nope' },
          },
          { reason: 'optional' },
        ),
      ),
    ).toEqual([
      'option reason: the runner adds it (reason:/task: on the cookbook); do not declare it in args',
      'option a: type "strnig" is not one of string, number, boolean, array',
      'option b: the name or alias a is already used by option a',
      'option c: its default "many" is not valid: c=many: expected a number',
      'option d: its default "y" is not valid: argument d: invalid value "y", accepted values: "x"',
      'option e: is both required (demandOption) and has a default; pick one',
      'option f: check must be an object { accepts: string, check(value, name) }',
      'option bad name: the name must start with a letter and hold only letters, digits, - and _ (it is typed as key=value)',
      'option g: must be an option object ({ type, describe, ... }), got string',
      'option h: the name or alias r is already used by option reason',
      'option i: requires "nope", which is not another option of this cookbook',
    ]);
    expect(problemsOf(spec([]))).toEqual(['args must be an object of options, got an array']);
  });
});
