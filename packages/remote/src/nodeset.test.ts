import { describe, expect, it } from '@jest/globals';
import { NodeSet } from './nodeset.js';
import { NodeSetSyntaxError } from './errors.js';

describe('NodeSet', () => {
  it('expands ranges, lists and several patterns', () => {
    const ns = NodeSet.parse('mw[1001-1003,1010].eqiad.wmnet', 'lvs1019.eqiad.wmnet,db[2001-2002].codfw.wmnet');
    expect(ns.size).toBe(7);
    expect(ns.hosts()).toEqual([
      'db2001.codfw.wmnet', 'db2002.codfw.wmnet', 'lvs1019.eqiad.wmnet',
      'mw1001.eqiad.wmnet', 'mw1002.eqiad.wmnet', 'mw1003.eqiad.wmnet', 'mw1010.eqiad.wmnet',
    ]);
  });

  it('keeps zero padding and folds it back', () => {
    const ns = NodeSet.parse('h[08-11]');
    expect(ns.hosts()).toEqual(['h08', 'h09', 'h10', 'h11']);
    expect(ns.toString()).toBe('h[08-11]');
    expect(NodeSet.parse('h[1-3],h[01-02]').toString()).toBe('h[1-3,01-02]');
  });

  it('supports steps and cartesian products', () => {
    expect(NodeSet.parse('n[1-7/3]').hosts()).toEqual(['n1', 'n4', 'n7']);
    expect(NodeSet.parse('r[1-2]n[1-2]').size).toBe(4);
  });

  it('folds for display', () => {
    const ns = NodeSet.parse('mw1001.eqiad.wmnet,mw1002.eqiad.wmnet,mw1003.eqiad.wmnet,mw1005.eqiad.wmnet,lvs1019.eqiad.wmnet,bastion');
    expect(ns.toString()).toBe('bastion,lvs1019.eqiad.wmnet,mw[1001-1003,1005].eqiad.wmnet');
    expect(NodeSet.parse(ns.toString()).hosts()).toEqual(ns.hosts());
  });

  it('deduplicates', () => {
    expect(NodeSet.parse('h[1-3]', 'h2').size).toBe(3);
  });

  it('splits into near-equal slices, first ones larger, like ClusterShell', () => {
    const parts = NodeSet.parse('h[1-10]').split(3);
    expect(parts.map((p) => p.toString())).toEqual(['h[1-4]', 'h[5-7]', 'h[8-10]']);
    expect(NodeSet.parse('h[1-2]').split(5).map((p) => p.size)).toEqual([1, 1]);
    expect(() => NodeSet.parse('h1').split(0)).toThrow();
  });

  it('rejects bad syntax with a usage error naming the pattern', () => {
    for (const bad of ['h[1-', 'h[3-1]', 'h[a-b]', 'h]1', 'h[1-2[3]]']) {
      let err: unknown;
      try {
        NodeSet.parse(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NodeSetSyntaxError);
      expect((err as NodeSetSyntaxError).code).toBe('ERR_REMOTE_NODESET_SYNTAX');
      expect((err as Error).message).toContain(bad);
    }
  });
});
