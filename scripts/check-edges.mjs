// Package edges (run by `pnpm lint`): for every workspace package, its package.json dependencies, its
// tsconfig references and the imports its files really make must agree, and every import of another
// workspace package must go through an entry that package exports. Prints one line per problem, naming the
// package, the file and the import, and exits 1 if there is any.
//
// Files are sorted by what they are:
// - build: the files the package's tsconfig.json compiles (what ships in dist/);
// - testing: build files under src/testing/ (the `testing` entry, used by other packages' tests);
// - dev: everything else (unit and integration tests, benches).
// Rules:
// - a build file imports only `dependencies`; a testing or dev file also `devDependencies` and the root's
//   devDependencies (jest, typescript...);
// - every `dependencies` entry is imported by a build file that is not a test helper, every
//   `devDependencies` entry by some file (`@types/x` counts as used where `x` is);
// - the tsconfig references are exactly the workspace packages the build files import;
// - `@galley/x/sub` names an entry of x's package.json `exports`;
// - node builtins are imported with the `node:` prefix;
// - `dependencies` have no cycle.
// Relative imports across packages are refused by eslint (import-x/no-relative-packages).
/* global process, console */
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import ts from 'typescript';
import { workspaceDirs as dirsOf } from './workspace.mjs';

const root = path.resolve(import.meta.dirname, '..');
const rel = (p) => path.relative(root, p);
const readJson = (p) => JSON.parse(fs.readFileSync(p, 'utf8'));
const builtins = new Set(builtinModules);
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;

function walk(dir, out = []) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, out);
    else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** The package name of a bare specifier (`@scope/name/sub` → `@scope/name`), or undefined for a relative one. */
function packageOf(spec) {
  if (spec.startsWith('.') || spec.startsWith('/')) return undefined;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Every module specifier a file names, and whether it names it for types only (erased from the JS). */
function importsOf(file) {
  const text = fs.readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const found = [];
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      found.push({ spec: node.moduleSpecifier.text, typeOnly });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const typeOnly =
        node.isTypeOnly ||
        (node.exportClause !== undefined &&
          ts.isNamedExports(node.exportClause) &&
          node.exportClause.elements.length > 0 &&
          node.exportClause.elements.every((e) => e.isTypeOnly));
      found.push({ spec: node.moduleSpecifier.text, typeOnly });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push({ spec: node.argument.literal.text, typeOnly: true });
    } else if (
      ts.isCallExpression(node) &&
      node.arguments.length >= 1 &&
      ts.isStringLiteralLike(node.arguments[0]) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))
    ) {
      found.push({ spec: node.arguments[0].text, typeOnly: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function buildFiles(dir) {
  const configPath = path.join(dir, 'tsconfig.json');
  if (!fs.existsSync(configPath)) return { files: new Set(), references: undefined };
  const parsed = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  const references = (parsed.projectReferences ?? []).map((r) => path.resolve(r.path));
  return { files: new Set(parsed.fileNames.map((f) => path.resolve(f))), references };
}

const problems = [];
const rootManifest = readJson(path.join(root, 'package.json'));
const rootDev = new Set(Object.keys(rootManifest.devDependencies ?? {}));
const packages = dirsOf(root).map((dir) => ({ dir, manifest: readJson(path.join(dir, 'package.json')) }));
const byName = new Map(packages.map((p) => [p.manifest.name, p]));

for (const { dir, manifest } of packages) {
  const name = manifest.name;
  const deps = new Set(Object.keys(manifest.dependencies ?? {}));
  const devDeps = new Set(Object.keys(manifest.devDependencies ?? {}));
  const { files: build, references } = buildFiles(dir);
  const testingDir = path.join(dir, 'src', 'testing') + path.sep;
  const usedByProd = new Set();
  const usedAnywhere = new Set();
  const usedByBuild = new Set();
  const report = (file, spec, what) => problems.push(`${name}: ${rel(file)} imports '${spec}': ${what}`);

  for (const file of walk(dir)) {
    const inBuild = build.has(file);
    const isTesting = inBuild && file.startsWith(testingDir);
    for (const { spec, typeOnly } of importsOf(file)) {
      const pkg = packageOf(spec);
      if (pkg === undefined) continue;
      if (spec.startsWith('node:')) continue;
      if (builtins.has(pkg)) {
        report(file, spec, `a node builtin: import it as 'node:${spec}'`);
        continue;
      }
      usedAnywhere.add(pkg);
      if (inBuild) usedByBuild.add(pkg);
      if (inBuild && !isTesting) usedByProd.add(pkg);
      const typesPkg = `@types/${pkg.replace(/^@([^/]+)\//, '$1__')}`;
      if (pkg === name) {
        if (inBuild) report(file, spec, 'the package imports itself by name; use a relative import');
      } else if (inBuild && !isTesting) {
        // Types are only needed to compile; nothing here is published, so @types/x may be a devDependency.
        const ok = deps.has(pkg) || (typeOnly && (deps.has(typesPkg) || devDeps.has(typesPkg)));
        if (!ok)
          report(
            file,
            spec,
            devDeps.has(pkg) ? `${pkg} is only a devDependency; shipped code needs it in dependencies` : `${pkg} is not in dependencies`,
          );
      } else if (!deps.has(pkg) && !devDeps.has(pkg) && !rootDev.has(pkg)) {
        report(file, spec, `${pkg} is in neither dependencies nor devDependencies`);
      }
      const target = byName.get(pkg);
      if (target && spec !== pkg) {
        const sub = '.' + spec.slice(pkg.length);
        if (!Object.hasOwn(target.manifest.exports ?? {}, sub))
          report(file, spec, `${pkg} exports no '${sub}' entry (it exports ${Object.keys(target.manifest.exports ?? {}).join(', ')})`);
      }
    }
  }

  const used = (set, dep) =>
    set.has(dep) || (dep.startsWith('@types/') && [...set].some((p) => dep === `@types/${p.replace(/^@([^/]+)\//, '$1__')}`));
  for (const dep of deps) {
    if (!used(usedByProd, dep)) {
      const where = used(usedAnywhere, dep)
        ? 'only tests, benches or the testing entry import it: make it a devDependency'
        : 'nothing imports it: remove it';
      problems.push(`${name}: package.json dependencies lists '${dep}' but ${where}`);
    }
  }
  for (const dep of devDeps) {
    if (deps.has(dep)) problems.push(`${name}: package.json lists '${dep}' in both dependencies and devDependencies`);
    else if (!used(usedAnywhere, dep))
      problems.push(`${name}: package.json devDependencies lists '${dep}' but nothing imports it: remove it`);
  }

  if (references !== undefined) {
    const refNames = new Map();
    for (const ref of references) {
      const target = packages.find((p) => p.dir === ref);
      if (!target) problems.push(`${name}: tsconfig.json references ${rel(ref)}, which is not a workspace package`);
      else refNames.set(target.manifest.name, ref);
    }
    for (const pkg of usedByBuild) {
      if (byName.has(pkg) && pkg !== name && !refNames.has(pkg))
        problems.push(`${name}: its build imports ${pkg} but tsconfig.json has no reference to ${rel(byName.get(pkg).dir)}`);
    }
    for (const pkg of refNames.keys()) {
      if (!usedByBuild.has(pkg))
        problems.push(
          `${name}: tsconfig.json references ${rel(refNames.get(pkg))} but its build never imports ${pkg}: remove the reference`,
        );
    }
  }
}

// The root tsconfig builds every package that has one.
const rootRefs = new Set((readJson(path.join(root, 'tsconfig.json')).references ?? []).map((r) => path.resolve(root, r.path)));
for (const { dir, manifest } of packages) {
  if (fs.existsSync(path.join(dir, 'tsconfig.json')) && !rootRefs.has(dir))
    problems.push(`${manifest.name}: the root tsconfig.json does not reference ${rel(dir)}, so \`pnpm build\` skips it`);
}

// Shipped code has no package cycle (devDependencies may close one: confctl's tests use the lab, which
// seeds conftool with confctl).
const prodDeps = (p) => Object.keys(p.manifest.dependencies ?? {}).filter((d) => byName.has(d));
const state = new Map();
const cycles = new Set();
const visit = (name, trail) => {
  if (state.get(name) === 'done') return;
  if (state.get(name) === 'open') {
    const cycle = trail.slice(trail.indexOf(name));
    const key = [...cycle].sort().join(' ');
    if (!cycles.has(key)) problems.push(`${name}: a cycle of dependencies: ${[...cycle, name].join(' -> ')}`);
    cycles.add(key);
    return;
  }
  state.set(name, 'open');
  for (const d of prodDeps(byName.get(name))) visit(d, [...trail, name]);
  state.set(name, 'done');
};
for (const p of packages) visit(p.manifest.name, []);

if (problems.length > 0) {
  console.error(`package edges: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`package edges: ${packages.length} packages agree (dependencies, tsconfig references, imports)`);
