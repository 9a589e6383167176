// The workspace's packages, from pnpm-workspace.yaml's `packages:` list (plain dirs and dir/* globs):
// one reading for check-edges.mjs and layout.mjs.
import fs from 'node:fs';
import path from 'node:path';

export function workspaceDirs(root) {
  const yaml = fs.readFileSync(path.join(root, 'pnpm-workspace.yaml'), 'utf8');
  const block = /^packages:\n((?:\s+-.*\n)+)/m.exec(yaml);
  if (!block) throw new Error('pnpm-workspace.yaml has no packages: list');
  const dirs = [];
  for (const line of block[1].split('\n')) {
    const m = /^\s+-\s+['"]?([^'"#\s]+)/.exec(line);
    if (!m) continue;
    if (m[1].endsWith('/*')) {
      const parent = path.join(root, m[1].slice(0, -2));
      for (const d of fs.readdirSync(parent).sort())
        if (fs.existsSync(path.join(parent, d, 'package.json'))) dirs.push(path.join(parent, d));
    } else dirs.push(path.join(root, m[1]));
  }
  return dirs;
}
