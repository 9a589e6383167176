// parseGlobals: global options before the cookbook name, the cookbook's own after it.
import { describe, expect, it } from '@jest/globals';
import { parseGlobals } from './globals.js';

describe('parseGlobals', () => {
  it('stops at the cookbook name: what follows is the cookbook’s, options included', () => {
    const o = parseGlobals(['-c', 'cfg.yaml', '-d', 'sre.lb.rolling-restart', 'cluster=x', '--batch', '2', '-d']);
    expect(o).toMatchObject({
      config: 'cfg.yaml',
      dryRun: true,
      cookbook: 'sre.lb.rolling-restart',
      args: ['cluster=x', '--batch', '2', '-d'],
    });
  });

  it('short flags combine; long options take --name=value and --name value; --config-file is --config', () => {
    expect(parseGlobals(['-dvy', 'x'])).toMatchObject({ dryRun: true, verbose: true, yes: true, cookbook: 'x', args: [] });
    expect(parseGlobals(['--output=json', '--resume', 'R1', 'x'])).toMatchObject({ output: 'json', resume: 'R1' });
    expect(parseGlobals(['--config-file', 'a.yaml'])).toMatchObject({ config: 'a.yaml', cookbook: undefined });
    expect(parseGlobals(['--no-locks', '--locks', 'sre.'])).toMatchObject({ noLocks: true, locks: true, cookbook: 'sre.' });
    expect(parseGlobals(['-l', '-v', 'sre.lb'])).toMatchObject({ list: true, verbose: true, cookbook: 'sre.lb' });
    expect(parseGlobals(['--pause', 'R', '--continue', 'S', '--break-lock', 'K'])).toMatchObject({
      pause: 'R',
      continue: 'S',
      breakLock: 'K',
    });
    expect(parseGlobals(['--report', 'R', '--report-file', 'f.html', '-h', '--version'])).toMatchObject({
      report: 'R',
      reportFile: 'f.html',
      help: true,
      version: true,
    });
  });

  it('-- ends the global options: the next word is the cookbook even if it starts with -', () => {
    expect(parseGlobals(['-d', '--', '-odd', 'a=1'])).toMatchObject({ dryRun: true, cookbook: '-odd', args: ['a=1'] });
  });

  it('a cookbook given as a path becomes its dotted name', () => {
    expect(parseGlobals(['./sre/lb/status.ts', 'cluster=x'])).toMatchObject({ cookbook: 'sre.lb.status', args: ['cluster=x'] });
  });

  it.each([
    [['--bogus', 'x'], 'unknown global option --bogus'],
    [['-dq', 'x'], 'unknown global option -q'],
    [['-c'], 'option -c needs a value'],
    [['-c', '-d', 'x'], 'option -c needs a value'],
    [['--resume'], 'option --resume needs a value'],
    [['--output', 'yaml', 'x'], '--output: invalid value "yaml", accepted values: text, json'],
    [['--dry-run=yes', 'x'], 'option --dry-run takes no value'],
  ])('%j is refused: %s', (argv, message) => {
    expect(() => parseGlobals(argv)).toThrow(expect.objectContaining({ code: 'ERR_CLI_USAGE', message: expect.stringContaining(message) }));
  });
});
