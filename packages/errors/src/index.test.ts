import { describe, expect, it } from '@jest/globals';
import { ConfigError, ExitCode, GalleyError, formatError, isGalleyError, redact, redactObject } from './index.js';

describe('errors', () => {
  it('formats message, cause chain and hint', () => {
    const err = new GalleyError('ERR_X', 'object eqiad/x is broken', { hint: 'fix it', cause: new Error('socket closed') });
    expect(formatError(err)).toBe('error: object eqiad/x is broken [ERR_X]\ncaused by: socket closed\nhint: fix it');
    expect(isGalleyError(err)).toBe(true);
    expect(isGalleyError(new Error('plain'))).toBe(false);
  });
  it('lists every config problem', () => {
    const err = new ConfigError('/etc/x.yaml', ['etcd.endpoints: required', 'ssh.user: too short']);
    expect(err.message).toContain('/etc/x.yaml');
    expect(err.message).toContain('  - etcd.endpoints: required\n  - ssh.user: too short');
    expect(err.code).toBe('ERR_CONFIG_INVALID');
  });
  it('redacts credentials in URLs, text and objects', () => {
    expect(redact('http://root:hunter2@127.0.0.1:2379')).toBe('http://root:***@127.0.0.1:2379');
    expect(redact('login with password=hunter2 now')).toBe('login with password=*** now');
    expect(redactObject({ auth: { username: 'root', password: 'hunter2' }, n: 1 })).toEqual({
      auth: { username: 'root', password: '***' },
      n: 1,
    });
  });
  it('keeps the reserved exit codes distinct', () => {
    const reserved = [
      ExitCode.ROLLBACK_FAILED,
      ExitCode.INIT_FAILED,
      ExitCode.ARG_PARSER_FAILED,
      ExitCode.ARGS_INVALID,
      ExitCode.INTERRUPTED,
      ExitCode.NOT_FOUND,
      ExitCode.EXCEPTION,
    ];
    expect(new Set(reserved).size).toBe(reserved.length);
  });
});
