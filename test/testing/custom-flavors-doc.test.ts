// The minimal flavor of docs/custom-flavors.md is the code this test runs: it is extracted from
// the page (the ```ts block after `<!-- conformance-tested -->`), loaded the way `flavor register`
// loads a module, and put through the published conformance suite, so the page cannot rot.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { testFlavor } from 'keystack/testing';
import { loadPlugin } from '../../src/core/plugins.js';
import { vitestRunner } from '../support/runner.js';

const DOC = resolve('docs/custom-flavors.md');

/** The code block that follows the marker; a page without one fails here, not silently. */
function testedBlock(markdown: string): string {
  const m = /<!-- conformance-tested -->\s*```ts\n([\s\S]*?)\n```/.exec(markdown);
  if (!m?.[1]) throw new Error(`${DOC} has no \`\`\`ts block after <!-- conformance-tested -->`);
  return m[1];
}

const source = testedBlock(readFileSync(DOC, 'utf8'));
// The page imports 'keystack' as a user's module would; outside this package that name resolves
// nowhere, so the copy imports the built package entry instead (what `npm install keystack` gives).
const dir = mkdtempSync(join(tmpdir(), 'keystack-doc-flavor-'));
const file = join(dir, 'flat-files.ts');
writeFileSync(
  file,
  source.replace(/from 'keystack'/g, `from ${JSON.stringify(pathToFileURL(resolve('dist/lib/index.js')).href)}`),
  { mode: 0o600 },
);
const plugin = await loadPlugin(file);
const flavor = plugin.flavors[0];
if (!flavor) throw new Error('the example of docs/custom-flavors.md exports no flavor');

describe('the minimal flavor of docs/custom-flavors.md', () => {
  it('is the whole module of the page, importing only keystack and node built-ins', () => {
    expect(flavor.name).toBe('flat-files');
    const imports = [...source.matchAll(/from '([^']+)'/g)].map((x) => x[1]);
    expect(imports.every((i) => i === 'keystack' || i?.startsWith('node:'))).toBe(true);
  });

  it('relies on the core for deleteAll and has no compare-and-set, as the page says', () => {
    const backend = flavor.create({
      config: { path: join(dir, 'probe') },
      scope: { scope: 'none', componentUuid: 'u', componentName: 'm', prefix: 'keystack' },
      names: { prefix: '', full: (n) => n, parse: (n) => n },
      configDir: dir,
      env: {},
    });
    expect(Object.keys(backend).sort()).toEqual(['create', 'delete', 'get', 'list', 'update']);
  });
});

testFlavor({
  flavor,
  config: { path: join(dir, 'store') },
  configDir: dir,
  env: {},
  runner: vitestRunner,
  faults: { skip: 'a local directory: there is no server to fail' },
});
