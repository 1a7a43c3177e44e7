/** A full disk under the config store is reported as one, with the path, not as a keystack bug. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { ConfigStore, environmentError } from '../../src/stack/config-store.js';
import { RunStore } from '../../src/pipeline/run-store.js';

describe('config store on a full disk', () => {
  // SQLite's max_page_count makes the database report SQLITE_FULL exactly as a full disk does.
  it('a write that hits SQLITE_FULL is a ConfigError naming the file, and nothing is half-written', () => {
    const store = ConfigStore.open(mkdtempSync(join(tmpdir(), 'keystack-full-')));
    try {
      const pages = store.db.pragma('page_count', { simple: true }) as number;
      store.db.pragma(`max_page_count = ${pages}`);
      const big = { blob: 'x'.repeat(256 * 1024) };
      let err: unknown;
      try {
        store.addComponent({ type: 'orchestrator', flavor: 'local', name: 'huge', config: big });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toBe(
        `the disk holding the config store ${store.file} is full (SQLITE_FULL); nothing was changed`,
      );
      expect((err as ConfigError).hint).toMatch(/Free some space/);
      expect(store.findComponent('orchestrator', 'huge')).toBeUndefined();
      // Run history writes go through the same mapping.
      const runs = new RunStore(store);
      const steps = Array.from({ length: 2000 }, (_, i) => ({
        stepId: `s${i}`,
        name: 's',
        position: i,
        params: big,
        cacheEnabled: true,
      }));
      expect(() =>
        runs.createRun(
          {
            id: 'r',
            pipeline: 'p',
            stack: 'default',
            orchestrator: 'default',
            module: null,
            exportName: null,
            startedAt: new Date().toISOString(),
          },
          steps,
        ),
      ).toThrow(/is full \(SQLITE_FULL\)/);
    } finally {
      store.close();
    }
  });
});

describe('environment errors of the config store', () => {
  // The codes SQLite and the kernel report; the full-disk case above is the real one end to end.
  it.each([
    ['SQLITE_IOERR_WRITE', /cannot read or write the config store \/c\/config\.db \(SQLITE_IOERR_WRITE\)/],
    ['SQLITE_IOERR', /cannot read or write the config store/],
    ['ENOSPC', /the disk holding the config store \/c\/config\.db is full \(ENOSPC\)/],
    ['EROFS', /the config store \/c\/config\.db is read-only \(EROFS\)/],
    ['SQLITE_READONLY_DIRECTORY', /is read-only \(SQLITE_READONLY_DIRECTORY\)/],
    ['EACCES', /permission denied on the config store \/c\/config\.db \(EACCES\)/],
    ['ENOTDIR', /the config directory \/c is not a directory/],
  ])('%s is a ConfigError naming the path, with a hint', (code, message) => {
    const e = environmentError('/c/config.db', Object.assign(new Error('x'), { code }));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e?.message).toMatch(message);
    expect(e?.hint).toBeTruthy();
  });

  it('leaves other errors alone (they are bugs, or busy, handled elsewhere)', () => {
    expect(environmentError('/c/config.db', Object.assign(new Error('x'), { code: 'SQLITE_BUSY' }))).toBeUndefined();
    expect(environmentError('/c/config.db', new TypeError('x'))).toBeUndefined();
  });
});
