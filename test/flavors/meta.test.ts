import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { loadBuiltinFlavors } from '../../src/core/registry.js';

const BUILTIN_FLAVORS = await loadBuiltinFlavors();

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { optionalDependencies: Record<string, string> };

describe('flavor meta-checks', () => {
  for (const flavor of BUILTIN_FLAVORS) {
    it(`${flavor.name}: has a test file that runs the conformance suite`, () => {
      const file = `test/flavors/${flavor.name}.test.ts`;
      expect(existsSync(file), file).toBe(true);
      expect(readFileSync(file, 'utf8')).toContain('testFlavor(');
    });

    for (const dep of Object.keys(flavor.dependencies)) {
      // npm silently skips an optional dependency whose tree will not install on this Node; fail
      // here, by name, instead of in every flavor test.
      it(`${flavor.name}: its dependency ${dep} is declared with the same range, and installed`, async () => {
        expect(pkg.optionalDependencies[dep], `${dep} missing from optionalDependencies`).toBeDefined();
        // One source of truth: the flavor's declared range is the one package.json installs.
        expect(flavor.dependencies[dep], `${dep}: the flavor's range differs from package.json's`).toBe(
          pkg.optionalDependencies[dep],
        );
        await expect(import(dep)).resolves.toBeDefined();
      });
    }
  }

  it('every flavor file is registered', () => {
    // A flavor's main file is src/flavors/<name>.ts, or src/flavors/<name>/index.ts for one kept in
    // a folder; companions (src/flavors/<name>/*.ts) and shared helpers declare no flavor.
    const entries = readdirSync('src/flavors', { withFileTypes: true });
    const files = [
      ...entries
        .filter((d) => d.isFile() && /^[a-z]+\.ts$/.test(d.name))
        .map((d) => [d.name.replace('.ts', ''), `src/flavors/${d.name}`]),
      ...entries
        .filter((d) => d.isDirectory() && existsSync(`src/flavors/${d.name}/index.ts`))
        .map((d) => [d.name, `src/flavors/${d.name}/index.ts`]),
    ];
    const flavorFiles = files
      .filter(([, f]) => readFileSync(f ?? '', 'utf8').includes('export default defineFlavor'))
      .map(([n]) => n);
    expect(flavorFiles.sort()).toEqual(BUILTIN_FLAVORS.map((f) => f.name).sort());
  });

  it("every flavor's main file stays under 250 lines, and their median under 200 (issue 19)", () => {
    // Features (versions, repair, listing) go into companion files, so that the main file reads
    // as the flavor's operations; this keeps that true from now on.
    const main = (name: string) =>
      existsSync(`src/flavors/${name}/index.ts`) ? `src/flavors/${name}/index.ts` : `src/flavors/${name}.ts`;
    const lines = BUILTIN_FLAVORS.map((f) => ({
      file: main(f.name),
      lines: readFileSync(main(f.name), 'utf8').split('\n').length - 1,
    }));
    expect(lines.length).toBeGreaterThanOrEqual(6);
    for (const l of lines) expect(l.lines, l.file).toBeLessThan(250);
    const sorted = lines.map((l) => l.lines).sort((a, b) => a - b);
    const mid = sorted.length / 2;
    const median =
      sorted.length % 2 ? (sorted[Math.floor(mid)] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
    expect(median, JSON.stringify(lines)).toBeLessThan(200);
  });
});
