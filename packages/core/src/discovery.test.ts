import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { discover, editDistance, renderTree } from './discovery.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'galley-discovery-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function write(rel: string, text: string) {
  const f = path.join(root, rel);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, text);
}
const cb = (title: string, owner?: string) =>
  `export default { title: ${JSON.stringify(title)}, ${owner ? `owner: ${JSON.stringify(owner)}, ` : ''}async run() {} };\n`;

// Modules are plain .mjs evaluated by an importer that counts imports (the real one would cache them).
let imports = 0;
const importer = async (file: string) => {
  imports++;
  const text = fs.readFileSync(file, 'utf8');
  if (text.startsWith('throw')) throw new Error(`broken: ${path.basename(file)}`);
  const field = (re: RegExp) => (re.exec(text)?.[1] !== undefined ? (JSON.parse(re.exec(text)![1]!) as string) : undefined);
  const title = field(/title: ("[^"]*")/);
  const owner = field(/owner: ("[^"]*")/);
  if (text.startsWith('export const group')) return { group: { title, owner } };
  if (text.startsWith('export default')) return { default: { title, ...(owner ? { owner } : {}), run: async () => undefined } };
  return {};
};

describe('discovery', () => {
  const a = path.join(root, 'a');
  const b = path.join(root, 'b');
  write('a/sre/index.mjs', 'export const group = { title: "SRE", owner: "SRE" };\n');
  write('a/sre/lb/index.mjs', 'export const group = { title: "LB", owner: "Traffic" };\n');
  write('a/sre/lb/status.mjs', cb('Status'));
  write('a/sre/ping.mjs', cb('Ping'));
  write('a/sre/own.mjs', cb('Own owner', 'Observability'));
  write('a/top.mjs', cb('Top level'));
  write('a/sre/helpers.mjs', 'export const x = 1;\n');
  write('a/sre/broken.mjs', "throw new Error('x');\n");
  write('b/sre/ping.mjs', cb('Shadow attempt'));
  write('b/sre/hosts/reimage.mjs', cb('Reimage'));
  write('a/sre/ping.test.mjs', cb('not a cookbook'));

  it('merges dirs, names from paths, inherits owners, reports failures and shadowing', async () => {
    const c = await discover([a, b], { importer, manifest: false });
    expect(c.list().map((x) => [x.name, x.owner, x.title])).toEqual([
      ['sre.hosts.reimage', 'SRE', 'Reimage'],
      ['sre.lb.status', 'Traffic', 'Status'],
      ['sre.own', 'Observability', 'Own owner'],
      ['sre.ping', 'SRE', 'Ping'],
      ['top', 'unowned', 'Top level'],
    ]);
    expect(c.errors.map((e) => [path.relative(root, e.file), e.error.slice(0, 30)])).toEqual([
      ['a/sre/broken.mjs', 'broken: broken.mjs'],
      ['b/sre/ping.mjs', expect.stringContaining('cookbook sre.ping is already') as unknown as string],
    ]);
    expect(c.isGroup('sre.lb')).toBe(true);
    expect(c.suggest('sre.lb.stauts')).toEqual(['sre.lb.status']);
    expect(renderTree(c, { prefix: 'sre.l', verbose: true })).toBe(
      ['cookbooks', '`-- sre: SRE', '    `-- sre.lb: LB', '        `-- sre.lb.status: Status [Traffic]'].join('\n'),
    );
    expect(renderTree(c, { prefix: 'top' })).toBe(['cookbooks', '`-- top [unowned]'].join('\n'));
  });

  it('the manifest avoids re-importing unchanged modules and notices changed ones', async () => {
    imports = 0;
    await discover([a], { importer });
    const first = imports;
    expect(first).toBeGreaterThan(5);
    imports = 0;
    const again = await discover([a], { importer });
    expect(imports).toBe(0);
    expect(again.cookbooks.get('sre.ping')?.title).toBe('Ping');
    write('a/sre/ping.mjs', cb('Ping, renamed title'));
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(a, 'sre/ping.mjs'), later, later);
    imports = 0;
    const changed = await discover([a], { importer });
    expect(imports).toBe(1);
    expect(changed.cookbooks.get('sre.ping')?.title).toBe('Ping, renamed title');
    expect(changed.errors).toHaveLength(1);
  });

  it('edit distance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });
});
