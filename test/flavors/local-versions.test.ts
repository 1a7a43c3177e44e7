// The local store's versions: a store written before versions (store version 1, built here with
// that version's SQL and row format) migrates in place; max_versions bounds what is kept; each
// version is sealed with its number in the additional data; the CAS token is the version number.
import Database from 'better-sqlite3';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import local from '../../src/flavors/local/index.js';
import { rowAad, sealBlob } from '../../src/flavors/local/rows.js';
import { SecretsManager } from '../../src/core/manager.js';
import { encodeContent } from '../../src/secrets/content.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';

const managers: SecretsManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

const key = randomBytes(32);
const env = { KEYSTACK_LOCAL_KEY: key.toString('base64') };

function manager(path: string, extra: Record<string, unknown> = {}, uuid = randomUUID()): SecretsManager {
  const m = new SecretsManager({
    record: { uuid, name: 'm', flavor: 'local', config: { path, scope: 'none', ...extra } },
    flavor: local,
    configDir: mkdtempSync(join(tmpdir(), 'ks-lv-cfg-')),
    env,
    schemas: createSchemaRegistry(),
  });
  managers.push(m);
  return m;
}

/** A store exactly as keystack wrote it before versions: user_version 1, rows sealed under their name. */
function oldStore(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'ks-lv-')), 'secrets.db');
  const db = new Database(file);
  db.exec(`
    CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS secrets (
      scope TEXT NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL,
      created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
      PRIMARY KEY (scope, name)) WITHOUT ROWID;`);
  const put = db.prepare('INSERT INTO meta (k, v) VALUES (?, ?)');
  put.run(
    'key_check',
    sealBlob(key, Buffer.from('keystack/local/v1:key-check'), Buffer.from('keystack local store key check')),
  );
  put.run('key_source', Buffer.from('env-key'));
  const row = (name: string, values: Record<string, string>) =>
    db
      .prepare('INSERT INTO secrets VALUES (?, ?, ?, ?, ?)')
      .run(
        '',
        name,
        sealBlob(key, rowAad(name), Buffer.from(encodeContent({ schema: 'arbitrary', values }, 'keystack'))),
        1000,
        2000,
      );
  row('db', { password: 'old-pw-1' });
  row('api', { token: 'old-token-2' });
  db.pragma('user_version = 1');
  db.close();
  return file;
}

describe('local store versions', () => {
  it('migrates a store from before versions in place: every secret is its version 1, sealed with it', async () => {
    const file = oldStore();
    const m = manager(file);
    expect((await m.get('db')).values).toEqual({ password: 'old-pw-1' });
    expect((await m.history('api')).map((v) => [v.version, v.labels])).toEqual([['1', ['current']]]);
    expect((await m.getVersioned('db')).version).toBe('1');
    await m.update('db', { password: 'new-pw-3' });
    expect((await m.getVersion('db', 'previous')).values).toEqual({ password: 'old-pw-1' });
    await m.close();
    const db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(2);
    const rows = db.prepare('SELECT name, version, data FROM secrets ORDER BY name').all() as {
      name: string;
      version: number;
      data: Buffer;
    }[];
    expect(rows.map((r) => [r.name, r.version, r.data[0]])).toEqual([
      ['api', 1, 2],
      ['db', 2, 2],
    ]);
    db.close();
    // Opening it again does not migrate twice.
    expect((await manager(file).get('api')).values).toEqual({ token: 'old-token-2' });
  });

  it('keeps max_versions versions, the current one included, and drops the oldest', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ks-lv-')), 'secrets.db');
    const m = manager(file, { max_versions: 3 });
    await m.register('s', { v: 'value-0' });
    for (let i = 1; i <= 4; i++) await m.update('s', { v: `value-${i}` });
    expect((await m.history('s')).map((v) => v.version)).toEqual(['5', '4', '3']);
    await expect(m.getVersion('s', '2')).rejects.toMatchObject({ code: 'not_found' });
    expect(() => manager(file, { max_versions: 0 }).keepsVersions).toThrow(/max_versions must be a whole number/);
  });

  it('seals each version with its number: an older row copied onto another version fails its check', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ks-lv-')), 'secrets.db');
    const m = manager(file);
    await m.register('s', { v: 'first-value-11' });
    await m.update('s', { v: 'second-value-22' });
    await m.update('s', { v: 'third-value-33' });
    await m.close();
    const db = new Database(file);
    db.prepare(
      'UPDATE secret_versions SET data = (SELECT data FROM secret_versions WHERE version = 1) WHERE version = 2',
    ).run();
    db.close();
    const again = manager(file);
    await expect(again.getVersion('s', '2')).rejects.toMatchObject({
      code: 'backend',
      message: expect.stringContaining('integrity check'),
    });
    expect((await again.getVersion('s', '1')).values).toEqual({ v: 'first-value-11' });
  });

  it('deletes versions with the secret: a secret registered again under the name starts at version 1', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ks-lv-')), 'secrets.db');
    const m = manager(file);
    await m.register('s', { v: 'a-value-1' });
    await m.update('s', { v: 'a-value-2' });
    await m.delete('s');
    await m.register('s', { v: 'b-value-1' });
    expect((await m.history('s')).map((v) => v.version)).toEqual(['1']);
    await expect(m.getVersion('s', '2')).rejects.toMatchObject({ code: 'not_found' });
  });
});
