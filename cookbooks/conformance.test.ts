// Every cookbook in this tree, loaded through the runner's real discovery, honours the contract:
// a one-line title, a known owner (own or inherited from its group), args that build with yargs,
// a sane lock spec, and nothing failed to load.
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { type AnyCookbook, type ArgSpec, discover, resolveLockSpec, runnerArgSpec } from '@galley/core';
// The CLI's own yargs builder (cookbooks may not import yargs themselves).
import { cookbookHelp } from '@galley/cli';
import { OWNERS } from './owners.js';

const ROOT = import.meta.dirname;
// jest's own module pipeline (swc) loads the .ts sources; discovery itself is the real one.
const catalog = await discover([ROOT], { manifest: false, importer: async (file) => (await import(file)) as Record<string, unknown> });
const names = [...catalog.cookbooks.keys()].sort();

/** Sample values for a lock function: every option's default, or a placeholder of its type. */
function sampleArgs(spec: ArgSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, o] of Object.entries(spec)) {
    const choices = o.choices as readonly unknown[] | undefined;
    out[k] =
      (o.default as unknown) ?? choices?.[0] ?? (o.type === 'number' ? 1 : o.type === 'boolean' ? false : o.type === 'array' ? ['x'] : 'x');
  }
  return out;
}

describe('cookbook tree conformance', () => {
  it('discovers the cookbooks and every module loads', () => {
    expect(catalog.errors).toEqual([]);
    expect(names).toContain('sre.ping');
  });

  it('every group module has a title and a known owner', () => {
    for (const g of catalog.groups.values()) {
      expect({ group: g.name, title: typeof g.title === 'string' && g.title.length > 0 }).toEqual({ group: g.name, title: true });
      if (g.owner !== undefined) expect(OWNERS).toContain(g.owner);
    }
  });

  describe.each(names)('%s', (name) => {
    let c: AnyCookbook;
    it('loads as a defineCookbook object', async () => {
      c = await catalog.load(name);
      expect(typeof c.run).toBe('function');
    });

    it('has a one-line title and a known owner', () => {
      const info = catalog.cookbooks.get(name)!;
      expect(c.title.trim().length).toBeGreaterThan(0);
      expect(c.title).not.toMatch(/\n/);
      expect(c.title.length).toBeLessThanOrEqual(120);
      expect(OWNERS).toContain(info.owner);
      expect(path.relative(ROOT, info.file).replace(/\.ts$/, '').split(path.sep).join('.')).toBe(name);
    });

    it('its args build with yargs (plus the runner flags) and --help renders', async () => {
      for (const key of Object.keys((c.args ?? {}) as ArgSpec)) {
        // the runner owns these flags
        if (c.reason) expect(key).not.toBe('reason');
        if (c.task) expect(key).not.toBe('task-id');
        expect(['help', 'h']).not.toContain(key);
      }
      const help = await cookbookHelp(name, c, catalog.cookbooks.get(name)!.owner);
      for (const key of Object.keys({ ...((c.args ?? {}) as ArgSpec), ...runnerArgSpec(c) })) expect(help).toContain(`--${key}`);
    });

    it('has a sane lock spec', () => {
      const args = sampleArgs((c.args ?? {}) as ArgSpec);
      const lock = resolveLockSpec(c, args);
      expect(Number.isInteger(lock.concurrency) && lock.concurrency >= 1).toBe(true);
      expect(lock.ttlSeconds).toBeGreaterThan(0);
      expect(lock.ttlSeconds).toBeLessThanOrEqual(24 * 3600);
      if (lock.suffix !== undefined) expect(lock.suffix).toMatch(/^[^/\s]+$/);
    });
  });
});
