// The example custom flavor, loaded the way `keystack secrets-manager flavor register` loads it
// (TypeScript through tsx, importing 'keystack' from the built package), passes the same suite.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPlugin, resolveModulePath } from '../../src/core/plugins.js';
import { testFlavor } from '../../src/testing/index.js';
import { vitestRunner } from '../support/runner.js';

const dir = mkdtempSync(join(tmpdir(), 'keystack-custom-'));
const plugin = await loadPlugin(resolveModulePath('examples/custom-flavor/directory-flavor.ts'));
const flavor = plugin.flavors[0]!;

testFlavor({
  flavor,
  config: { path: join(dir, 'store') },
  configDir: dir,
  env: {},
  runner: vitestRunner,
  faults: { skip: 'a local directory: there is no server to fail' },
  additionalTests: (h) => {
    it('ships its schema, and typed values come back converted', async () => {
      const m = h.manager();
      const name = h.name();
      h.cleanup(m, name);
      await m.register(name, { token: 'tok-12345678' }, { schema: plugin.schemas[0]! });
      const got = await m.get(name, plugin.schemas[0]!);
      expect(got.data).toEqual({ token: 'tok-12345678', expires_days: 90 });
    });
  },
});

// A flavor without scoping gets the scope group too: its default is `none`, and scoped configs are refused.
testFlavor({
  flavor: { ...flavor, name: 'directory-unscoped', supportsScoping: false },
  config: { path: join(dir, 'unscoped') },
  configDir: dir,
  env: {},
  runner: vitestRunner,
  faults: { skip: 'a local directory: there is no server to fail' },
});

describe('loading custom flavor modules', () => {
  it('collects the flavor and its schema from the module', () => {
    expect(plugin.flavors.map((f) => f.name)).toEqual(['directory']);
    expect(plugin.schemas.map((s) => s.name)).toEqual(['api_token']);
  });

  const write = (name: string, body: string) => {
    const file = join(dir, name);
    writeFileSync(file, body);
    return file;
  };
  const flavorSource = (name: string) =>
    `export default { kind: 'keystack.flavor', name: ${JSON.stringify(name)}, description: 'x', supportsScoping: false, separator: '/', nameRule: { pattern: /.+/, maxLength: 9, description: '' }, maxContentBytes: 9, capabilities: { readValues: true }, dependencies: {}, isLocal: true, config: {}, create: () => ({}) };`;

  it.each([
    ['a missing file', () => 'does/not/exist.ts', /does not exist/],
    [
      'a module that exports nothing of keystack',
      () => write('empty.mjs', 'export const x = 1;'),
      /exports no keystack flavor or schema/,
    ],
    [
      'a module that throws on import',
      () => write('throws.mjs', "throw new Error('boom');"),
      /cannot load module .*: boom/,
    ],
    ['a flavor with an invalid name', () => write('badname.mjs', flavorSource('Bad Name')), /invalid name "Bad Name"/],
  ])('refuses %s with a ConfigError', async (_label, file, message) => {
    await expect((async () => loadPlugin(resolveModulePath(file())))()).rejects.toMatchObject({
      code: 'config',
      message: expect.stringMatching(message),
    });
  });

  it('accepts a plain .mjs module with a hand-written flavor object', async () => {
    const p = await loadPlugin(write('plain.mjs', flavorSource('plain')));
    expect(p.flavors.map((f) => f.name)).toEqual(['plain']);
  });
});
