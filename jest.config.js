// Two projects: `unit` (pure logic and fakes; loopback only, enforced by a setup file) and
// `integration` (the lab: real etcd, real sshd hosts, PyBal simulators over HTTP).
// Tests run from TypeScript sources through @swc/jest; `tsc` type-checks separately.
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'es6' } }],
};
const moduleNameMapper = {
  '^@galley/([a-z-]+)/testing$': '<rootDir>/packages/$1/src/testing/index.ts',
  '^@galley/([a-z-]+)/errors$': '<rootDir>/packages/$1/src/errors.ts',
  '^@galley/remote/nodeset$': '<rootDir>/packages/remote/src/nodeset.ts',
  '^@galley/core/locks$': '<rootDir>/packages/core/src/locks/index.ts',
  '^@galley/pybal/service$': '<rootDir>/packages/pybal/src/service.ts',
  '^@galley/([a-z-]+)$': '<rootDir>/packages/$1/src/index.ts',
  '^(\\.{1,2}/.*)\\.js$': '$1',
};
const common = {
  rootDir: import.meta.dirname,
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper,
  transform,
  modulePathIgnorePatterns: ['<rootDir>/.*/dist/', '<rootDir>/.lab'],
};
export default {
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
      globalTeardown: '<rootDir>/packages/lab/test/global-teardown.ts',
      slowTestThreshold: 30,
    },
  ],
};
