/** A full disk under the config store is reported as one, with the path, not as a keystack bug. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/secrets/errors.js';
import { ConfigStore } from '../../src/stack/config-store.js';
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
      expect((err as ConfigError).message).toBe(`the disk holding the config store ${store.file} is full (SQLITE_FULL); nothing was changed`);
      expect((err as ConfigError).hint).toMatch(/Free some space/);
      expect(store.findComponent('orchestrator', 'huge')).toBeUndefined();
      // Run history writes go through the same mapping.
      const runs = new RunStore(store);
      const steps = Array.from({ length: 2000 }, (_, i) => ({ stepId: `s${i}`, name: 's', position: i, params: big, cacheEnabled: true }));
      expect(() => runs.createRun({ id: 'r', pipeline: 'p', stack: 'default', orchestrator: 'default', module: null, exportName: null, startedAt: new Date().toISOString() }, steps)).toThrow(/is full \(SQLITE_FULL\)/);
    } finally {
      store.close();
    }
  });
});
