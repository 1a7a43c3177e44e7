/**
 * The local store as a file: checking what lies around it before it is touched, creating its
 * schema once, opening it with its key, and saying in the user's terms what went wrong with the
 * file (read-only, full, damaged) instead of a bare SQLite code. The backend and backups both
 * open a store only through here, so both get the same checks and the same messages.
 */
import type Database from 'better-sqlite3';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../../errors.js';
import type { FlavorContext } from '../../core/types.js';
import { ensurePrivateDir } from '../../support/private-files.js';
import { isBusy, openShared, retryBusy } from '../../support/sqlite.js';
import { checkTrustedFile, defaultTrustWarn, type TrustWarn } from '../../support/trust.js';
import { keyFilePath, keyInput, keyOpensStore, loadKey, recordedKeySource, type KeySource } from './key.js';
import { openLegacyRow, openRow, sealRow } from './rows.js';

type Env = FlavorContext<unknown>['env'];

export interface Store {
  db: Database.Database;
  key: Buffer;
}

/**
 * 1: one sealed row per secret. 2: versions: the current row carries its version number (the one
 * version column every reader uses: CAS, history, records of reads), older versions are kept in
 * `secret_versions`, and every row is sealed with its version in the additional data.
 */
const STORE_VERSION = 2;

interface OpenOptions {
  tighten: TrustWarn | undefined;
  warn: TrustWarn;
}

export function openStore(file: string, env: Env, options: OpenOptions): Store {
  // Everything an attacker could have planted beside the store is checked before anything is
  // created or read: the directory, then the key file (if it is the key in use), then the store
  // and its WAL files (in openShared).
  try {
    ensurePrivateDir(dirname(file), { tighten: options.tighten });
    if (keyInput(env).source === 'key-file') checkTrustedFile(keyFilePath(file), { secret: true });
  } catch (e) {
    throw storeError(file, e);
  }
  // Idempotent, so a busy moment while another process sets up the same new file is retried.
  return retryBusy(() => {
    let db: Database.Database | undefined;
    try {
      db = openShared(file, ['secure_delete = ON']);
      const d = db;
      const found = d.pragma('user_version', { simple: true }) as number;
      if (found > STORE_VERSION) throw newerStore(file, found);
      if (found === STORE_VERSION) {
        // An initialised store: reading its key check needs no write lock.
        return { db: d, key: d.transaction(() => loadKey(d, file, env, options.warn)).deferred() };
      }
      d.pragma('journal_mode = WAL');
      const init = d.transaction(() => {
        d.exec(`
          CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
          CREATE TABLE IF NOT EXISTS secrets (
            scope TEXT NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL,
            created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
            PRIMARY KEY (scope, name)) WITHOUT ROWID;`);
        const key = loadKey(d, file, env, options.warn);
        // Another process may have migrated it while this one waited for the lock.
        if ((d.pragma('user_version', { simple: true }) as number) < 2) migrateToVersions(d, key);
        d.pragma(`user_version = ${STORE_VERSION}`);
        return key;
      });
      return { db: d, key: init.immediate() };
    } catch (e) {
      db?.close();
      throw isBusy(e) ? e : storeError(file, e);
    }
  });
}

/**
 * Store version 1 → 2, in place and in the transaction that opens the store: the version column
 * (every existing secret is its version 1), the table of older versions, and each row sealed
 * again with its version in the additional data. A row that does not open is left as it was, to
 * fail its integrity check on read as it did before.
 */
function migrateToVersions(db: Database.Database, key: Buffer): void {
  const columns = new Set((db.pragma('table_info(secrets)') as { name: string }[]).map((c) => c.name));
  if (!columns.has('version')) db.exec('ALTER TABLE secrets ADD COLUMN version INTEGER NOT NULL DEFAULT 1');
  db.exec(`
    CREATE TABLE IF NOT EXISTS secret_versions (
      scope TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL, data BLOB NOT NULL,
      created_at INTEGER NOT NULL, PRIMARY KEY (scope, name, version)) WITHOUT ROWID;`);
  const rows = db.prepare('SELECT scope, name, version, data FROM secrets').all() as {
    scope: string;
    name: string;
    version: number;
    data: Buffer;
  }[];
  const put = db.prepare('UPDATE secrets SET data = ? WHERE scope = ? AND name = ?');
  for (const r of rows) {
    const full = fullName(r.scope, r.name);
    const plain = openLegacyRow(key, full, r.data);
    if (plain) put.run(sealRow(key, full, r.version, plain), r.scope, r.name);
  }
}

function fullName(scope: string, name: string): string {
  return scope ? `${scope}/${name}` : name;
}

function newerStore(file: string, version: number): ConfigError {
  return new ConfigError(
    `the local store ${file} has store version ${version}, newer than this keystack understands (${STORE_VERSION})`,
    { hint: 'Upgrade keystack to use this store.' },
  );
}

/** A failure to reach the store file, in the user's terms and naming the file; anything else as it is. */
export function storeError(file: string, e: unknown): unknown {
  const code = (e as { code?: string }).code;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new ConfigError(`the local store ${file} is not a keystack store or is damaged (${code})`, {
      hint: 'Restore it from a backup, or move it away to start an empty store.',
    });
  }
  if (code === 'SQLITE_CANTOPEN' || code === 'EACCES' || code === 'EISDIR' || code === 'ENOTDIR' || code === 'EPERM') {
    return new ConfigError(`cannot open the local store ${file} (${code})`, {
      hint: 'Check that the path is a file this user can read and write.',
    });
  }
  if (code === 'EROFS' || code?.startsWith('SQLITE_READONLY')) {
    return new ConfigError(`the local store ${file} is read-only (${code}); it can be read, not changed`, {
      hint: 'Make the file and its directory writable to change secrets in it, or use a manager with another --path.',
    });
  }
  if (code === 'ENOSPC' || code === 'SQLITE_FULL') {
    return new ConfigError(`the disk holding the local store ${file} is full (${code}); nothing was changed`, {
      hint: 'Free some space, then run the command again.',
    });
  }
  if (code === 'EIO' || code?.startsWith('SQLITE_IOERR')) {
    return new ConfigError(`cannot read or write the local store ${file} (${code})`, {
      hint: 'Check the disk and the file system it is on, then run the command again.',
    });
  }
  return e;
}

// --- What backups need (backup.ts) ---

/**
 * An existing store opened with the key it needs under `env` (the key check passed), and where
 * that key came from: what a backup must carry.
 */
export function openLocalStoreForBackup(
  file: string,
  env: Env,
  warn: TrustWarn = defaultTrustWarn,
): Store & { keySource: KeySource } {
  const store = openStore(resolve(file), env, { tighten: undefined, warn });
  return { ...store, keySource: recordedKeySource(store.db) };
}

/**
 * Whether `key` opens the store in `db` (its key check) and every secret in it decrypts under its
 * own scoped name; a restore checks this before it replaces anything.
 */
export function verifyLocalStore(
  db: Database.Database,
  key: Buffer,
): { keyMatches: boolean; secrets: number; damaged: number } {
  if (!keyOpensStore(db, key)) return { keyMatches: false, secrets: 0, damaged: 0 };
  // A backup of a store from before versions holds rows sealed the old way; opening it migrates them.
  const legacy = (db.pragma('user_version', { simple: true }) as number) < 2;
  type Row = { scope: string; name: string; version?: number; data: Buffer };
  const rows = db
    .prepare(legacy ? 'SELECT scope, name, data FROM secrets' : 'SELECT scope, name, version, data FROM secrets')
    .all() as Row[];
  const older = legacy ? [] : (db.prepare('SELECT scope, name, version, data FROM secret_versions').all() as Row[]);
  const opens = (r: Row) =>
    legacy || r.version === undefined
      ? openLegacyRow(key, fullName(r.scope, r.name), r.data)
      : openRow(key, fullName(r.scope, r.name), r.version, r.data);
  const damaged = [...rows, ...older].filter((r) => !opens(r)).length;
  return { keyMatches: true, secrets: rows.length, damaged };
}
