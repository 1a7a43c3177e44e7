/** The compile cache of registered TypeScript modules (src/support/module-cache.ts). */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importCachedModule, type ModuleCacheEvent } from '../../src/support/module-cache.js';
import { moduleLoadError } from '../../src/support/modules.js';

function setup(type: 'module' | 'commonjs' = 'module') {
  const root = mkdtempSync(join(tmpdir(), 'keystack-module-cache-'));
  const project = join(root, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ type }));
  const events: ModuleCacheEvent[] = [];
  const dir = join(root, 'config/cache/modules');
  const load = (file: string) => importCachedModule(join(project, file), { dir, onEvent: (e) => events.push(e) });
  const write = (file: string, text: string) => writeFileSync(join(project, file), text);
  return { project, dir, events, load, write };
}

const kinds = (events: ModuleCacheEvent[]) => events.map((e) => e.kind);
const cacheFile = (events: ModuleCacheEvent[]) => {
  const e = events.find((x) => x.kind === 'compiled');
  if (!e || !('file' in e)) throw new Error('nothing was compiled');
  return e.file;
};

describe('module compile cache', () => {
  it('compiles once into a 0600 file in a 0700 directory; the next load uses the file as it is', async () => {
    const c = setup();
    c.write('plugin.ts', "import { join } from 'node:path';\nexport const value: string = join('a', 'first');\n");
    expect((await c.load('plugin.ts'))?.['value']).toBe('a/first');
    const file = cacheFile(c.events);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(c.dir).mode & 0o777).toBe(0o700);
    const mtime = statSync(file).mtimeMs;
    expect((await c.load('plugin.ts'))?.['value']).toBe('a/first');
    expect(kinds(c.events)).toEqual(['compiled', 'hit']);
    expect(statSync(file).mtimeMs).toBe(mtime);
  });

  it('an edited module is compiled again, to another file', async () => {
    const c = setup();
    c.write('plugin.ts', 'export const value: number = 1;\n');
    expect((await c.load('plugin.ts'))?.['value']).toBe(1);
    c.write('plugin.ts', 'export const value: number = 2;\n');
    expect((await c.load('plugin.ts'))?.['value']).toBe(2);
    expect(kinds(c.events)).toEqual(['compiled', 'compiled']);
    const files = c.events.flatMap((e) => ('file' in e ? [e.file] : []));
    expect(new Set(files).size).toBe(2);
  });

  it('a cache file whose content does not match its hash is refused and compiled again', async () => {
    const c = setup();
    c.write('plugin.ts', 'export const value: string = "honest";\n');
    await c.load('plugin.ts');
    const file = cacheFile(c.events);
    const [head] = readFileSync(file, 'utf8').split('\n');
    writeFileSync(file, `${head}\nexport const value = "tampered";\n`, { mode: 0o600 });
    await c.load('plugin.ts');
    expect(c.events[1]).toMatchObject({ kind: 'refused', reason: 'its content does not match its hash' });
    expect(kinds(c.events)).toEqual(['compiled', 'refused', 'compiled']);
    expect(readFileSync(file, 'utf8')).not.toContain('tampered');
  });

  it('a cache file that others can write is refused and compiled again, 0600', async () => {
    const c = setup();
    c.write('plugin.ts', 'export const value: string = "perms";\n');
    await c.load('plugin.ts');
    const file = cacheFile(c.events);
    chmodSync(file, 0o666);
    await c.load('plugin.ts');
    expect(kinds(c.events)).toEqual(['compiled', 'refused', 'compiled']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('leaves to tsx what it cannot cache: CommonJS .ts, TypeScript imports, unresolvable imports, no esbuild', async () => {
    const cjs = setup('commonjs');
    cjs.write('plugin.ts', 'export const value = 1;\n');
    expect(await cjs.load('plugin.ts')).toBeUndefined();
    expect(cjs.events[0]).toMatchObject({ kind: 'skipped', reason: 'Node loads it as CommonJS' });

    const c = setup();
    c.write('helper.ts', 'export const h = 1;\n');
    c.write('plugin.ts', "import { h } from './helper.ts';\nexport const value = h;\n");
    c.write('missing.ts', "import { x } from 'not-installed-anywhere';\nexport const value = x;\n");
    expect(await c.load('plugin.ts')).toBeUndefined();
    expect(await c.load('missing.ts')).toBeUndefined();
    expect(c.events.map((e) => ('reason' in e ? e.reason : e.kind))).toEqual([
      'it imports TypeScript (./helper.ts)',
      "'not-installed-anywhere' cannot be resolved",
    ]);
    const none = await importCachedModule(join(c.project, 'plugin.ts'), {
      dir: c.dir,
      esbuildVersion: () => Promise.reject(new Error("Cannot find package 'esbuild'")),
    });
    expect(none).toBeUndefined();
  });

  it('a syntax error is reported as file:line:col and the message', async () => {
    const c = setup();
    c.write('bad.ts', 'export const value: number = ;\n');
    const path = join(c.project, 'bad.ts');
    const err = await c.load('bad.ts').catch((e: unknown) => e);
    expect(moduleLoadError(err, path, 'module', 'unused').message).toBe(
      `module ${path} does not compile: ${path}:1:30: Unexpected ";"`,
    );
  });
});
