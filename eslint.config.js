// ESLint flat config: type-aware typescript-eslint rules, import cycles forbidden, and the
// architecture's boundaries (cookbooks never import network libraries; one process.exit per binary).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.lab/**', 'coverage/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: ['./tsconfig.test.json'], tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    // Resolve as TypeScript does under NodeNext: `./x.js` is ./x.ts in the sources.
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.mjs'], extensionAlias: { '.js': ['.ts', '.js'] } })],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      // Another package is reached through its name and an entry it exports (scripts/check-edges.mjs checks the entry).
      'import-x/no-relative-packages': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      eqeqeq: ['error', 'smart'],
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'exit', message: "only a binary's src/bin.ts calls process.exit" },
      ],
    },
  },
  { files: ['**/src/bin.ts', '**/src/*-bin.ts', 'scripts/**', '**/test/**', 'jest.*.js'], rules: { 'no-restricted-properties': 'off' } },
  {
    files: ['cookbooks/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['ssh2', 'etcd3', 'listr2', 'yargs', 'undici', 'node:child_process'].map((name) => ({
            name,
            message: 'cookbooks use the clients injected by @galley/core',
          })),
        },
      ],
    },
  },
  {
    files: ['**/*.test.ts', '**/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
);
