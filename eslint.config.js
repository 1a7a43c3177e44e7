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
      // `typeof import('x')` types a module that is imported lazily (optional or heavy dependencies)
      // without a top-level import that would load it; value imports of types are still errors.
      '@typescript-eslint/consistent-type-imports': ['error', { disallowTypeAnnotations: false }],
      // A leading underscore marks a binding that is unused on purpose: a loop that only counts, or a
      // rest destructuring that drops keys (`{ secret: _s, ...rest }`).
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      // A catch handler that passes on what it does not handle (`.catch((e) => ... : Promise.reject(e))`)
      // rethrows the caught `unknown` unchanged; wrapping it would change the error callers see.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // Configs, secret values and stack component maps are plain JSON records (stored and sent as
      // such), so dropping a key is `delete`; a Map would need converting at every boundary.
      '@typescript-eslint/no-dynamic-delete': 'off',
      // Template literals interpolate numbers and booleans in messages all the time; both print well.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // Backends and commands implement Promise-returning contracts; some implementations are
      // synchronous (SQLite), and staying `async` keeps a throw a rejection, as callers expect.
      '@typescript-eslint/require-await': 'off',
      // `() => void fn()` callbacks and `return send(...)` early exits from void functions read clearly.
      '@typescript-eslint/no-confusing-void-expression': [
        'error',
        { ignoreArrowShorthand: true, ignoreVoidOperator: true, ignoreVoidReturningFunctions: true },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'examples/**/*.test.ts', 'bench/**/*.ts'],
    rules: {
      // Tests index into results they have just asserted on; a wrong assumption fails the test anyway.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Tests read the CLI's JSON output and the doubles read request bodies through JSON.parse, and
      // vitest types its asymmetric matchers (expect.stringContaining, ...) as `any` so they fit any
      // expected shape; a wrong shape fails the assertion, so typing each one would add only noise.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
  {
    files: ['test/doubles/**/*.ts', 'test/support/*-double.ts'],
    rules: {
      // The HTTP doubles answer from async handlers with `return send(...)`; the rule's exemption
      // for void-returning functions does not extend to Promise<void>.
      '@typescript-eslint/no-confusing-void-expression': 'off',
    },
  },
  {
    files: ['**/*.js', 'eslint.config.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
