import { describe, expect, it } from '@jest/globals';
import { sshSchema } from './config.js';
import { defaultSshConfig } from './ssh-defaults.js';

describe('the ssh section', () => {
  it('has the same defaults as a Remote built without one (ssh-defaults.ts, no zod)', () => {
    expect(defaultSshConfig()).toEqual(sshSchema.parse({}));
    // fresh arrays each time: a caller's edit never leaks into the next Remote
    const a = defaultSshConfig();
    a.identityFiles.push('/x');
    expect(defaultSshConfig().identityFiles).toEqual([]);
  });
});
