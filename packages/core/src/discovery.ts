/**
 * Cookbook discovery: several directories merged into one tree; the name comes from the path
 * (`sre/lb/rolling-restart.js` → `sre.lb.rolling-restart`); `index` modules describe groups.
 * Metadata (title, owner) is cached in a manifest invalidated by file mtimes (oclif-style), so that
 * `cookbook -l` does not import 300 modules.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type AnyCookbook, type GroupMeta, isCookbook } from './cookbook.js';
import { CookbookNotFoundError } from './errors.js';

export interface CookbookInfo {
  name: string;
  title: string;
  /** Own or inherited from the nearest group; `unowned` otherwise. */
  owner: string;
  file: string;
}
export interface GroupInfo {
  name: string;
  title?: string | undefined;
  owner?: string | undefined;
  file?: string | undefined;
}
export interface LoadFailure {
  file: string;
  error: string;
}

export type Importer = (file: string) => Promise<Record<string, unknown>>;

interface ManifestFile {
  mtimeMs: number;
  size: number;
  entry:
    | { kind: 'cookbook'; title: string; owner?: string | undefined }
    | { kind: 'group'; title?: string | undefined; owner?: string | undefined }
    | { kind: 'error'; error: string }
    | { kind: 'none' };
}
interface Manifest {
  version: 1;
  dir: string;
  files: Record<string, ManifestFile>;
}

const EXT = /\.(m?js|ts)$/;
const SKIP = /(\.d\.ts|\.test\.[mc]?[jt]s|\.spec\.[mc]?[jt]s|\.map)$/;

let jiti: { import(id: string): Promise<unknown> } | undefined;
/** `.js`/`.mjs` through Node; `.ts` through jiti (loaded only when a .ts cookbook is met). */
export const defaultImporter: Importer = async (file) => {
  if (file.endsWith('.ts')) {
    if (!jiti) {
      const { createJiti } = await import('jiti');
      jiti = createJiti(import.meta.url, { interopDefault: false, moduleCache: true });
    }
    return (await jiti.import(file)) as Record<string, unknown>;
  }
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
};

/** Files under a cookbook dir, relative, `/`-separated; a compiled `.js` wins over its `.ts` source. */
function walk(dir: string): Map<string, { rel: string; abs: string; mtimeMs: number; size: number }> {
  const out = new Map<string, { rel: string; abs: string; mtimeMs: number; size: number }>();
  const rec = (sub: string) => {
    let ents: fs.Dirent[];
    try {
      ents = fs.readdirSync(path.join(dir, sub), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      if (e.name.startsWith('.') || e.name === 'node_modules' || e.name.startsWith('_')) continue;
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!sub && e.name === 'dist') continue;
        rec(rel);
      } else if (EXT.test(e.name) && !SKIP.test(e.name)) {
        const base = rel.replace(EXT, '');
        const prev = out.get(base);
        if (prev && prev.rel.endsWith('.js') && rel.endsWith('.ts')) continue;
        const st = fs.statSync(path.join(dir, rel));
        out.set(base, { rel, abs: path.join(dir, rel), mtimeMs: st.mtimeMs, size: st.size });
      }
    }
  };
  rec('');
  return out;
}

function manifestPath(dir: string): string[] {
  const h = crypto.createHash('sha1').update(path.resolve(dir)).digest('hex').slice(0, 16);
  // Kept out of the cookbook tree (no stray files in a checkout, works on read-only installs).
  const cache = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache');
  return [path.join(cache, 'galley', `manifest-${h}.json`), path.join(os.tmpdir(), `galley-manifest-${os.userInfo().uid}-${h}.json`)];
}

function readManifest(dir: string): Manifest | undefined {
  for (const p of manifestPath(dir)) {
    try {
      const m = JSON.parse(fs.readFileSync(p, 'utf8')) as Manifest;
      if (m.version === 1 && m.dir === path.resolve(dir)) return m;
    } catch {
      // absent or unreadable: try the next place
    }
  }
  return undefined;
}

function writeManifest(dir: string, m: Manifest): void {
  for (const p of manifestPath(dir)) {
    try {
      fs.mkdirSync(path.dirname(p), { recursive: true, mode: 0o700 });
      const tmp = `${p}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(m));
      fs.renameSync(tmp, p);
      return;
    } catch {
      // unwritable cache dir: fall back to the temp dir
    }
  }
}

function describeModule(mod: Record<string, unknown>, isIndex: boolean): ManifestFile['entry'] {
  if (isIndex) {
    const g = (mod.group ?? mod.default) as GroupMeta | undefined;
    return { kind: 'group', title: g?.title, owner: g?.owner };
  }
  const c = mod.default;
  // Helper modules (no default export) live in the tree too; they are not cookbooks.
  if (c === undefined) return { kind: 'none' };
  if (!isCookbook(c)) return { kind: 'error', error: 'the default export is not a defineCookbook({...}) object' };
  return { kind: 'cookbook', title: c.title, owner: c.owner };
}

export interface DiscoverOptions {
  importer?: Importer;
  /** Use and refresh the mtime manifest (default true). */
  manifest?: boolean;
}

export class Catalog {
  readonly cookbooks = new Map<string, CookbookInfo>();
  readonly groups = new Map<string, GroupInfo>();
  readonly errors: LoadFailure[] = [];
  private readonly importer: Importer;

  constructor(importer: Importer) {
    this.importer = importer;
  }

  /** `-l PREFIX` filter: Spicerack's string prefix (`sre.ho` matches `sre.hosts.*`). */
  list(prefix = ''): CookbookInfo[] {
    return [...this.cookbooks.values()].filter((c) => c.name.startsWith(prefix)).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  isGroup(name: string): boolean {
    return this.groups.has(name) || [...this.cookbooks.keys()].some((k) => k.startsWith(`${name}.`));
  }

  async load(name: string): Promise<AnyCookbook> {
    const info = this.cookbooks.get(name);
    if (!info) throw new CookbookNotFoundError(name, this.suggest(name));
    const mod = await this.importer(info.file);
    const c = mod.default;
    if (!isCookbook(c)) throw new CookbookNotFoundError(name, []);
    return c;
  }

  /** Closest names by edit distance (and containment), for "not found". */
  suggest(name: string, max = 3): string[] {
    const limit = Math.max(2, Math.floor(name.length / 3));
    return [...this.cookbooks.keys()]
      .map((n) => ({ n, d: editDistance(name, n) }))
      .filter((x) => x.d <= limit)
      .sort((a, b) => a.d - b.d || (a.n < b.n ? -1 : 1))
      .slice(0, max)
      .map((x) => x.n);
  }
}

export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** Walk every dir, import what the manifest does not already describe, and build the tree. */
export async function discover(dirs: readonly string[], opts: DiscoverOptions = {}): Promise<Catalog> {
  const importer = opts.importer ?? defaultImporter;
  const useManifest = opts.manifest ?? true;
  const catalog = new Catalog(importer);
  const ownOwner = new Map<string, string | undefined>();
  for (const rawDir of dirs) {
    const dir = path.resolve(rawDir);
    const files = walk(dir);
    const old = useManifest ? readManifest(dir) : undefined;
    const next: Manifest = { version: 1, dir, files: {} };
    let dirty = old === undefined;
    for (const [base, f] of files) {
      const cached = old?.files[f.rel];
      let entry: ManifestFile['entry'];
      if (cached && cached.mtimeMs === f.mtimeMs && cached.size === f.size) {
        entry = cached.entry;
      } else {
        dirty = true;
        try {
          entry = describeModule(await importer(f.abs), path.posix.basename(base) === 'index');
        } catch (err) {
          entry = { kind: 'error', error: err instanceof Error ? err.message.split('\n')[0]! : String(err) };
        }
      }
      next.files[f.rel] = { mtimeMs: f.mtimeMs, size: f.size, entry };
      const parts = base.split('/');
      const isIndex = parts.at(-1) === 'index';
      const name = (isIndex ? parts.slice(0, -1) : parts).join('.');
      if (entry.kind === 'error') {
        catalog.errors.push({ file: f.abs, error: entry.error });
      } else if (entry.kind === 'group') {
        if (!catalog.groups.has(name)) catalog.groups.set(name, { name, title: entry.title, owner: entry.owner, file: f.abs });
      } else if (entry.kind === 'cookbook') {
        if (catalog.cookbooks.has(name)) {
          catalog.errors.push({
            file: f.abs,
            error: `cookbook ${name} is already defined by ${catalog.cookbooks.get(name)!.file}; later directories cannot shadow it`,
          });
        } else {
          catalog.cookbooks.set(name, { name, title: entry.title.split('\n')[0]!, owner: '', file: f.abs });
          ownOwner.set(name, entry.owner);
        }
      }
    }
    if (useManifest && (dirty || Object.keys(old?.files ?? {}).length !== files.size)) writeManifest(dir, next);
  }
  for (const c of catalog.cookbooks.values()) {
    let owner = ownOwner.get(c.name);
    const parts = c.name.split('.');
    for (let i = parts.length - 1; owner === undefined && i >= 0; i--) owner = catalog.groups.get(parts.slice(0, i).join('.'))?.owner;
    c.owner = owner ?? 'unowned';
  }
  return catalog;
}

/** Spicerack's `-l` tree: `|-- `/`` `-- `` branches, `[owner]`, titles with verbose. */
export function renderTree(catalog: Catalog, opts: { prefix?: string; verbose?: boolean } = {}): string {
  const items = catalog.list(opts.prefix ?? '');
  interface Node {
    name: string;
    children: Map<string, Node>;
    cookbook?: CookbookInfo;
  }
  const root: Node = { name: '', children: new Map() };
  for (const c of items) {
    const parts = c.name.split('.');
    let cur = root;
    for (let i = 0; i < parts.length; i++) {
      const full = parts.slice(0, i + 1).join('.');
      let next = cur.children.get(parts[i]!);
      if (!next) {
        next = { name: full, children: new Map() };
        cur.children.set(parts[i]!, next);
      }
      cur = next;
    }
    cur.cookbook = c;
  }
  const lines = ['cookbooks'];
  const rec = (node: Node, indent: string) => {
    const kids = [...node.children.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    kids.forEach((k, i) => {
      const last = i === kids.length - 1;
      let label = k.name;
      if (k.cookbook) {
        label += opts.verbose ? `: ${k.cookbook.title}` : '';
        label += ` [${k.cookbook.owner}]`;
      } else if (opts.verbose) {
        const g = catalog.groups.get(k.name);
        if (g?.title) label += `: ${g.title}`;
      }
      lines.push(`${indent}${last ? '`-- ' : '|-- '}${label}`);
      rec(k, indent + (last ? '    ' : '|   '));
    });
  };
  rec(root, '');
  return lines.join('\n');
}
