import Module from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';

// Node's own text when a native addon was compiled for another ABI (here: Node 22's, loaded by 20).
const REAL =
  "The module '/opt/keystack/node_modules/better-sqlite3/build/Release/better_sqlite3.node'\n" +
  'was compiled against a different Node.js version using\n' +
  'NODE_MODULE_VERSION 127. This version of Node.js requires\n' +
  'NODE_MODULE_VERSION 115. Please try re-compiling or re-installing\n' +
  'the module (for instance, using `npm rebuild` or `npm install`).';

const state = { error: null as Error | null };
// keystack loads better-sqlite3 with `require` on the first connection (not with an import, which
// vi.mock would intercept), so the stand-in goes in at node's module loader.
type Load = (request: string, ...rest: unknown[]) => unknown;
const loader = Module as unknown as { _load: Load };
const realLoad = loader._load;
loader._load = function load(this: unknown, request: string, ...rest: unknown[]): unknown {
  const loaded = realLoad.call(this, request, ...rest);
  if (request !== 'better-sqlite3') return loaded;
  const real = loaded as new (...a: unknown[]) => unknown;
  return function Database(...args: unknown[]) {
    if (state.error) throw state.error;
    return new real(...args);
  };
};
afterAll(() => {
  loader._load = realLoad;
});

const { addonBuiltForOtherNode, openDatabase } = await import('../../src/support/sqlite.js');
const { ConfigError } = await import('../../src/errors.js');
const { describeError } = await import('../../src/cli/output.js');

describe('a better-sqlite3 addon built for another Node.js', () => {
  it('is recognised from Node’s message, with both ABI versions', () => {
    expect(addonBuiltForOtherNode(Object.assign(new Error(REAL), { code: 'ERR_DLOPEN_FAILED' }))).toEqual({
      built: '127',
      needs: '115',
    });
    expect(addonBuiltForOtherNode(new Error('SQLITE_CANTOPEN: unable to open database file'))).toBeNull();
    expect(addonBuiltForOtherNode(undefined)).toBeNull();
  });

  it('is a one-line ConfigError that says to rebuild the addon, not "a bug in keystack"', () => {
    state.error = Object.assign(new Error(REAL), { code: 'ERR_DLOPEN_FAILED' });
    try {
      let thrown: unknown;
      try {
        openDatabase(':memory:');
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(ConfigError);
      const info = describeError(thrown);
      expect(info.code).toBe('config');
      expect(info.message).toBe(
        `better-sqlite3's native addon was built for another Node.js version (NODE_MODULE_VERSION 127; node ${process.version} needs 115)`,
      );
      expect(info.hint).toContain('npm rebuild better-sqlite3');
      expect(info.hint).toContain('npm run setup');
      expect(info.hint).not.toMatch(/bug in keystack/);
    } finally {
      state.error = null;
    }
  });

  it('leaves other errors alone and opens normally otherwise', () => {
    state.error = new Error('boom');
    try {
      expect(() => openDatabase(':memory:')).toThrow('boom');
    } finally {
      state.error = null;
    }
    const db = openDatabase(':memory:');
    expect(db.pragma('user_version', { simple: true })).toBe(0);
    db.close();
  });
});
