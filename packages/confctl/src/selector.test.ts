import { describe, expect, it } from '@jest/globals';
import { compileSelector, escapeRegex, literalPath, parseSelector } from './selector.js';

const tags = (name: string, dc = 'eqiad') => ({ dc, cluster: 'appserver', service: 'nginx', name });

describe('selectors', () => {
  it('anchors and groups: a|b matches exactly a or b, never a prefix (Spicerack bug)', () => {
    const m = compileSelector({ name: 'mw1001|mw1002' });
    expect(['mw1001', 'mw1002', 'mw10010', 'mw1002x', 'xmw1001', 'mw1001|mw1002'].filter((n) => m(tags(n)))).toEqual(['mw1001', 'mw1002']);
    expect(compileSelector({ name: 'mw10.*' })(tags('amw1001'))).toBe(false);
    expect(compileSelector({ dc: 'eqiad', name: escapeRegex('mw1001.eqiad.wmnet') })(tags('mw1001xeqiad.wmnet'))).toBe(false);
  });

  it('parses the CLI form, allowing commas inside a regex', () => {
    expect(parseSelector('dc=eqiad,cluster=jobrunner,service=nginx,name=mw10.*')).toEqual({
      dc: 'eqiad',
      cluster: 'jobrunner',
      service: 'nginx',
      name: 'mw10.*',
    });
    expect(parseSelector('name=mw1{1,2}0')).toEqual({ name: 'mw1{1,2}0' });
    for (const bad of ['', 'eqiad', 'host=x', 'name=', 'name=a,name=b', 'name=(']) {
      expect(() => parseSelector(bad)).toThrow(expect.objectContaining({ code: 'ERR_CONFCTL_BAD_SELECTOR' }));
    }
  });

  it('narrows the range read only by literal leading tags', () => {
    expect(literalPath({ dc: 'eqiad', cluster: 'appserver', service: 'nginx', name: 'x' })).toEqual(['eqiad', 'appserver', 'nginx']);
    expect(literalPath({ dc: 'eqiad', service: 'nginx' })).toEqual(['eqiad']);
    expect(literalPath({ dc: 'eqiad|codfw', cluster: 'appserver' })).toEqual([]);
    expect(literalPath({ cluster: 'appserver' })).toEqual([]);
  });
});
