import { describe, expect, it } from '@jest/globals';
import { expand, expandHosts, restoreCommands } from './_common.js';

describe('sre.hosts helpers', () => {
  it('expands NodeSet-like host patterns (ranges, lists, padding, several items)', () => {
    expect(expandHosts('mw[1301-1303].eqiad.wmnet')).toEqual(['mw1301.eqiad.wmnet', 'mw1302.eqiad.wmnet', 'mw1303.eqiad.wmnet']);
    expect(expandHosts('db[001-002,010].x.y,mw1.x.y')).toEqual(['db001.x.y', 'db002.x.y', 'db010.x.y', 'mw1.x.y']);
    expect(expandHosts('a[1-2]b[1-2].c')).toEqual(['a1b1.c', 'a1b2.c', 'a2b1.c', 'a2b2.c']);
    expect(() => expandHosts('mw[3-1].x')).toThrow(/bad range/);
    expect(() => expandHosts('mw[a-b].x')).toThrow(/bad range/);
  });

  it('prints one exact confctl command per recorded object', () => {
    expect(restoreCommands([{ key: 'k', tags: { dc: 'eqiad', cluster: 'jobrunner', service: 'php-fpm', name: 'mw1301.eqiad.wmnet' }, pooled: 'no', weight: 7 }])).toEqual([
      "confctl select 'dc=eqiad,cluster=jobrunner,service=php-fpm,name=mw1301.eqiad.wmnet' set/pooled=no:weight=7",
    ]);
  });

  it('substitutes {host}/{os} inside single argv elements', () => {
    expect(expand(['puppet', '--certname={host}', '{os} x'], { host: 'h.x', os: 'trixie' })).toEqual(['puppet', '--certname=h.x', 'trixie x']);
  });
});
