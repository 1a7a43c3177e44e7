/**
 * Holds the unit tier (test/unit-tier.ts) to its rule, so that it cannot rot: a listed file, or a
 * test helper it imports, that reads an emulator variable, spawns the built CLI or loads dist/
 * fails here, in both `npm run test:unit` and `npm test`, naming the file and what it uses.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EMULATOR_VARIABLES, UNIT_TESTS } from './unit-tier.js';

/** What a file must not contain to run without emulators and without a build. */
const FORBIDDEN: readonly { what: string; pattern: RegExp }[] = [
  ...EMULATOR_VARIABLES.map((v) => ({ what: `the emulator variable ${v}`, pattern: new RegExp(`\\b${v}\\b`) })),
  { what: 'the built CLI (test/support/cli.ts spawns bin/keystack.cjs)', pattern: /support\/cli\.js'/ },
  { what: 'the built CLI (bin/keystack.cjs)', pattern: /keystack\.cjs/ },
  { what: 'the build output (dist/)', pattern: /\bdist\// },
  {
    what: "the package's own name, which resolves to dist/",
    pattern: /from '(keystack|keystack\/[^']*)'|import\('(keystack|keystack\/[^']*)'\)/,
  },
];

// These two name every forbidden thing, and test files that break the rule, in order to look for them.
const EXEMPT = new Set(['test/unit-tier.ts', 'test/unit-tier.test.ts']);

const withoutComments = (source: string): string =>
  source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');

function violations(source: string): string[] {
  const code = withoutComments(source);
  return FORBIDDEN.filter((f) => f.pattern.test(code)).map((f) => f.what);
}

/**
 * The file and the test code it loads, transitively: relative imports, and the modules it names by
 * path to load at run time (a plugin such as examples/custom-flavor/directory-flavor.ts imports
 * `keystack`, that is dist/). src/ is the code under test, not a helper.
 */
function helpersOf(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  if (EXEMPT.has(file)) return seen;
  const code = withoutComments(readFileSync(file, 'utf8'));
  const imported = [...code.matchAll(/(?:from |import\()'(\.{1,2}\/[^']+)'/g)].map((m) =>
    relative('.', resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts'))),
  );
  const named = [...code.matchAll(/'((?:test|examples)\/[^']+\.ts)'/g)].map((m) => m[1]!);
  for (const target of [...imported, ...named]) {
    if (!target.startsWith('src/') && existsSync(target)) helpersOf(target, seen);
  }
  return seen;
}

describe('the unit tier (test/unit-tier.ts)', () => {
  it('lists existing test files, once each', () => {
    expect(UNIT_TESTS.filter((f) => !existsSync(f) || !/^(test|examples)\/.*\.test\.ts$/.test(f))).toEqual([]);
    expect(new Set(UNIT_TESTS).size).toBe(UNIT_TESTS.length);
  });

  it.each(UNIT_TESTS)('%s needs no emulator and no build', (file) => {
    const found = [...helpersOf(file)]
      .filter((f) => !EXEMPT.has(f))
      .flatMap((f) => violations(readFileSync(f, 'utf8')).map((what) => `${f} uses ${what}`));
    expect(found).toEqual([]);
  });

  it('the check sees each kind of dependency, in a test or in a helper it imports', () => {
    expect(violations("const url = requireEnv('AKV_URL', 'the Key Vault emulator');")).toEqual([
      'the emulator variable AKV_URL',
    ]);
    expect(violations("const redis = process.env['KEYSTACK_TEST_REDIS_URL'];")).toHaveLength(1);
    expect(violations("import { cli, tempEnv } from '../support/cli.js';")).toHaveLength(1);
    expect(violations("spawnSync(process.execPath, [resolve('bin/keystack.cjs'), 'secret', 'list']);")).toHaveLength(1);
    expect(violations("await import(join(root, 'dist/lib/index.js'));")).toHaveLength(1);
    expect(violations("import { testFlavor } from 'keystack/testing';")).toHaveLength(1);
    expect(
      violations("// spawns nothing; the old version read dist/ here\nimport { x } from '../../src/x.js';"),
    ).toEqual([]);
    expect([...helpersOf('test/remote/multi-worker.test.ts')]).toContain('test/remote/harness.ts');
    expect([...helpersOf('test/flavors/custom.test.ts')]).toContain('examples/custom-flavor/directory-flavor.ts');
    expect(
      [...helpersOf('test/remote/multi-worker.test.ts')].flatMap((f) => violations(readFileSync(f, 'utf8'))),
    ).not.toEqual([]);
  });
});
