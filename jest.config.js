/* global process */
// Two projects: `unit` (pure logic and fakes; loopback only, enforced by a setup file) and
// `integration` (the lab: real etcd, real sshd hosts, PyBal simulators over HTTP).
// Tests run from TypeScript sources through @swc/jest; `tsc` type-checks separately.
import fs from 'node:fs';
import path from 'node:path';

const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'es6' } }],
};
// Every entry a workspace package exports (package.json `exports`: ./dist/X.js) maps to its source
// (src/X.ts), so tests run the code they see and can reach nothing a package does not export.
const moduleNameMapper = {};
for (const dir of fs.readdirSync(path.join(import.meta.dirname, 'packages')).sort()) {
  const file = path.join(import.meta.dirname, 'packages', dir, 'package.json');
  if (!fs.existsSync(file)) continue;
  const { name, exports = {} } = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const [entry, target] of Object.entries(exports)) {
    const js = typeof target === 'string' ? target : target.default;
    const src = js.replace(/^\.\/dist\//, `<rootDir>/packages/${dir}/src/`).replace(/\.js$/, '.ts');
    const spec = name + entry.slice(1);
    moduleNameMapper[`^${spec.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`] = src;
  }
}
moduleNameMapper['^(\\.{1,2}/.*)\\.js$'] = '$1';
const common = {
  rootDir: import.meta.dirname,
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper,
  transform,
  modulePathIgnorePatterns: ['<rootDir>/.*/dist/', '<rootDir>/.lab'],
};
// Two workers, each with a shared lab of its own (packages/lab/test/global-setup.ts): the integration
// tests mostly wait on PyBal delays and timeouts, so two at once nearly halve the wall time on two
// cores. A user's own lab (GALLEY_LAB_DIR) is shared by every test file, so then one worker.
const LAB_WORKERS = process.env.GALLEY_LAB_DIR ? 1 : 2;
export default {
  maxWorkers: LAB_WORKERS,
  // testTimeout is a global option (jest ignores it inside a project); unit tests are fast anyway.
  testTimeout: 60000,
  // The lab's etcd/gRPC handles can keep the main process alive after globalTeardown has stopped
  // every lab process; never let CI hang on them.
  forceExit: true,
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/packages/*/src/**/*.test.ts', '<rootDir>/cookbooks/**/*.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/jest.unit-setup.js'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/packages/*/test/integration/**/*.test.ts', '<rootDir>/test/e2e/**/*.test.ts'],
      globalSetup: '<rootDir>/packages/lab/test/global-setup.ts',
      setupFiles: ['<rootDir>/packages/lab/test/worker-lab.js'],
      globalTeardown: '<rootDir>/packages/lab/test/global-teardown.ts',
      slowTestThreshold: 30,
    },
  ],
};
