// Type-aware linting (typescript-eslint recommended + strict). A disabled rule carries its reason.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'node_modules/', '.bench/', 'scripts/', '**/*.mjs', '**/*.cjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.lint.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      // Template literals interpolate numbers and booleans in messages all the time; both print well.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // Backends and commands implement Promise-returning contracts; some implementations are
      // synchronous (SQLite), and staying `async` keeps a throw a rejection, as callers expect.
      '@typescript-eslint/require-await': 'off',
      // `() => void fn()` callbacks and `return send(...)` early exits from void functions read clearly.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true, ignoreVoidOperator: true, ignoreVoidReturningFunctions: true }],
    },
  },
  {
    files: ['test/**/*.ts', 'examples/**/*.test.ts', 'bench/**/*.ts'],
    rules: {
      // Tests index into results they have just asserted on; a wrong assumption fails the test anyway.
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.js', 'eslint.config.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
