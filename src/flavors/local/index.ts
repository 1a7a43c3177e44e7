/**
 * `local`: the embedded default. One SQLite file per backend domain, shared by every local manager
 * that does not name another path; every secret sealed with AES-256-GCM, the scoped name as
 * additional authenticated data (DESIGN §5).
 */
import type Database from 'better-sqlite3';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { decodeContent, encodeContent } from '../../secrets/content.js';
import { BackendError, ConfigError } from '../../errors.js';
import { scopePath } from '../../secrets/scope.js';
import { deriveKeySync, KEY_BYTES, open as openSealed, SALT_BYTES, seal as sealWith } from '../../support/aead.js';
import { ensurePrivateDir, writeOnce } from '../../support/private-files.js';
import { isBusy, openShared, retryBusy } from '../../support/sqlite.js';
import { checkTrustedFile, defaultTrustWarn, readTrustedSecretFile, type TrustWarn } from '../../support/trust.js';
import {
  defineFlavor,
  type FlavorContext,
  type ReplaceOutcome,
  type SecretsBackend,
  type VersionedSecret,
} from '../../core/types.js';

export const FLAVOR_NAME = 'local';

export interface LocalFlavorOptions {
  /** The store file. @default `<config dir>/local_stores/secrets.db` */
  path?: string;
}

export default defineFlavor<LocalFlavorOptions>({
  name: FLAVOR_NAME,
  description: 'Encrypted SQLite store on this machine (the default)',
  supportsScoping: true,
  isLocal: true,
  separator: '/',
  locationFields: ['path'],
  nameRule: { pattern: /[^/]+/, maxLength: 128, description: "must not contain '/'" },
  maxContentBytes: 512 * 1024,
  config: {
    path: { type: 'string', description: 'store file (default: <config dir>/local_stores/secrets.db)' },
  },
  create: (ctx) => createLocalBackend(ctx),
});

export function defaultStorePath(configDir: string): string {
  return join(configDir, 'local_stores', 'secrets.db');
}

/** The store file of a local manager with this config. */
export function localStorePath(configDir: string, config: LocalFlavorOptions): string {
  return resolve(config.path ?? defaultStorePath(configDir));
}

/** Where a local store's key comes from, for `keystack status`; never the key itself. */
export type LocalKeySource =
  | { source: 'env-key' | 'passphrase'; variable: 'KEYSTACK_LOCAL_KEY' | 'KEYSTACK_PASSPHRASE' }
  | { source: 'key-file'; file: string };

/** The same order as loadKey: KEYSTACK_LOCAL_KEY, else KEYSTACK_PASSPHRASE, else the key file. */
export function localKeySource(storeFile: string, env: Readonly<Record<string, string | undefined>>): LocalKeySource {
  if (env['KEYSTACK_LOCAL_KEY']) return { source: 'env-key', variable: 'KEYSTACK_LOCAL_KEY' };
  if (env['KEYSTACK_PASSPHRASE']) return { source: 'passphrase', variable: 'KEYSTACK_PASSPHRASE' };
  return { source: 'key-file', file: `${storeFile}.key` };
}

function createLocalBackend(ctx: FlavorContext<LocalFlavorOptions>): SecretsBackend {
  const file = localStorePath(ctx.configDir, ctx.config);
  const scope = scopePath(ctx.scope).join('/');
  let store: Store | undefined;
  // The default store directory holds only keystack's files, so it may be tightened; a
  // directory the user named is checked but left as it is.
  const tighten =
    dirname(file) === dirname(resolve(defaultStorePath(ctx.configDir))) ? (ctx.warn ?? defaultTrustWarn) : undefined;
  const open = () => (store ??= openStore(file, ctx.env, { tighten, warn: ctx.warn ?? defaultTrustWarn }));
  // A read-only or full store file is the machine's state, not a backend failure: say which file.
  const retry = <T>(fn: () => T): T => {
    try {
      return retryBusy(fn);
    } catch (e) {
      throw storeError(file, e);
    }
  };
  const aad = (name: string) => Buffer.from(`keystack/local/v1:${ctx.names.full(name)}`, 'utf8');
  const seal = (name: string, secret: Parameters<typeof encodeContent>[0]) =>
    encrypt(open().key, aad(name), Buffer.from(encodeContent(secret, ctx.scope.prefix), 'utf8'));
  const unseal = (name: string, data: Buffer) => {
    const plain = decrypt(open().key, aad(name), data);
    if (!plain) {
      throw new BackendError({
        flavor: FLAVOR_NAME,
        operation: 'get',
        secretName: name,
        reason: `the stored data failed its integrity check in ${file}`,
        hint: 'The row was altered or copied from another name. Restore the store from a backup, or delete and register the secret again.',
      });
    }
    return decodeContent(plain.toString('utf8'), ctx.scope.prefix);
  };
  const readRow = (name: string): VersionedSecret | null => {
    const { db } = open();
    const row = retry(() => db.prepare('SELECT data FROM secrets WHERE scope = ? AND name = ?').get(scope, name)) as
      | { data: Buffer }
      | undefined;
    return row ? { secret: unseal(name, row.data), version: blobVersion(row.data) } : null;
  };

  return {
    async create(name, secret) {
      const { db } = open();
      const now = Date.now();
      const data = seal(name, secret);
      const r = retry(() =>
        db
          .prepare(
            'INSERT INTO secrets (scope, name, data, created_at, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
          )
          .run(scope, name, data, now, now),
      );
      return r.changes === 1;
    },
    async get(name) {
      return readRow(name)?.secret ?? null;
    },
    async read(name) {
      return readRow(name);
    },
    async describe(name) {
      const { db } = open();
      const row = retry(() =>
        db.prepare('SELECT data, created_at, updated_at FROM secrets WHERE scope = ? AND name = ?').get(scope, name),
      ) as { data: Buffer; created_at: number; updated_at: number } | undefined;
      return row
        ? { secret: unseal(name, row.data), createdAt: new Date(row.created_at), updatedAt: new Date(row.updated_at) }
        : null;
    },
    async replaceIf(name, secret, version) {
      const { db } = open();
      const data = seal(name, secret);
      // Compare and write in one immediate transaction: no other process can write in between.
      const swap = db.transaction((): ReplaceOutcome => {
        const row = db.prepare('SELECT data FROM secrets WHERE scope = ? AND name = ?').get(scope, name) as
          | { data: Buffer }
          | undefined;
        if (!row) return 'absent';
        if (blobVersion(row.data) !== version) return 'conflict';
        db.prepare('UPDATE secrets SET data = ?, updated_at = ? WHERE scope = ? AND name = ?').run(
          data,
          Date.now(),
          scope,
          name,
        );
        return 'updated';
      });
      return retry(() => swap.immediate());
    },
    async list() {
      const { db } = open();
      const rows = retry(() => db.prepare('SELECT name FROM secrets WHERE scope = ? ORDER BY name').all(scope)) as {
        name: string;
      }[];
      return rows.map((r) => r.name);
    },
    async update(name, secret) {
      const { db } = open();
      const data = seal(name, secret);
      const r = retry(() =>
        db
          .prepare('UPDATE secrets SET data = ?, updated_at = ? WHERE scope = ? AND name = ?')
          .run(data, Date.now(), scope, name),
      );
      return r.changes === 1;
    },
    async delete(name) {
      const { db } = open();
      return retry(() => db.prepare('DELETE FROM secrets WHERE scope = ? AND name = ?').run(scope, name)).changes === 1;
    },
    async deleteAll() {
      const { db } = open();
      return retry(() => db.prepare('DELETE FROM secrets WHERE scope = ?').run(scope)).changes;
    },
    close() {
      store?.db.close();
      store = undefined;
    },
  };
}

interface Store {
  db: Database.Database;
  key: Buffer;
}

type KeySource = 'env-key' | 'passphrase' | 'key-file';

const STORE_VERSION = 1;

/** Minimum length of KEYSTACK_PASSPHRASE, in characters (documented in the README). */
export const MIN_PASSPHRASE_LENGTH = 12;

interface OpenOptions {
  tighten: TrustWarn | undefined;
  warn: TrustWarn;
}

function openStore(file: string, env: FlavorContext<unknown>['env'], options: OpenOptions): Store {
  // Everything an attacker could have planted beside the store is checked before anything is
  // created or read: the directory, then the key file (if it is the key in use), then the store
  // and its WAL files (in openShared).
  try {
    ensurePrivateDir(dirname(file), { tighten: options.tighten });
    if (!env['KEYSTACK_LOCAL_KEY'] && !env['KEYSTACK_PASSPHRASE']) checkTrustedFile(`${file}.key`, { secret: true });
  } catch (e) {
    throw storeError(file, e);
  }
  // Idempotent, so a busy moment while another process sets up the same new file is retried.
  return retryBusy(() => {
    let db: Database.Database | undefined;
    try {
      db = openShared(file, ['secure_delete = ON']);
      const d = db;
      if (d.pragma('user_version', { simple: true }) === STORE_VERSION) {
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

const KEY_CHECK_AAD = Buffer.from('keystack/local/v1:key-check');
const KEY_CHECK_PLAIN = Buffer.from('keystack local store key check');

/** Runs inside the init transaction, so only one process ever sets up a new store's key. */
function loadKey(db: Database.Database, file: string, env: FlavorContext<unknown>['env'], warn: TrustWarn): Buffer {
  const meta = (k: string) => (db.prepare('SELECT v FROM meta WHERE k = ?').get(k) as { v: Buffer } | undefined)?.v;
  const setMeta = (k: string, v: Buffer) => db.prepare('INSERT INTO meta (k, v) VALUES (?, ?)').run(k, v);
  const check = meta('key_check');
  const recorded = meta('key_source')?.toString() as KeySource | undefined;
  const keyFile = `${file}.key`;
  let key: Buffer;
  let source: KeySource;
  if (env['KEYSTACK_LOCAL_KEY']) {
    source = 'env-key';
    key = decodeLocalKey(env['KEYSTACK_LOCAL_KEY']);
  } else if (env['KEYSTACK_PASSPHRASE']) {
    source = 'passphrase';
    if (Array.from(env['KEYSTACK_PASSPHRASE']).length < MIN_PASSPHRASE_LENGTH) {
      const hint = `Use a passphrase of at least ${MIN_PASSPHRASE_LENGTH} characters (several random words), or set KEYSTACK_LOCAL_KEY to a random 32-byte key.`;
      // A store already sealed with a short one stays readable, so that nobody is locked out.
      if (!check)
        throw new ConfigError(`KEYSTACK_PASSPHRASE must be at least ${MIN_PASSPHRASE_LENGTH} characters long`, {
          hint,
        });
      warn(
        `KEYSTACK_PASSPHRASE for ${file} is shorter than ${MIN_PASSPHRASE_LENGTH} characters; new stores refuse it. Move its secrets to a store with a stronger key.`,
      );
    }
    let salt = meta('kdf_salt');
    if (!salt) setMeta('kdf_salt', (salt = randomBytes(SALT_BYTES)));
    key = deriveKeySync(env['KEYSTACK_PASSPHRASE'], salt);
  } else {
    source = 'key-file';
    const existing = readTrustedSecretFile(keyFile);
    if (check && !existing) {
      throw new ConfigError(`the key for local store ${file} is missing`, {
        hint:
          recorded && recorded !== 'key-file'
            ? `This store was created with ${recorded === 'env-key' ? 'KEYSTACK_LOCAL_KEY' : 'KEYSTACK_PASSPHRASE'}; set it again.`
            : `Restore the key file ${keyFile} from a backup; without it the secrets cannot be decrypted.`,
      });
    }
    key = existing ?? writeOnce(keyFile, randomBytes(KEY_BYTES));
    if (key.length !== KEY_BYTES) throw new ConfigError(`the key file ${keyFile} is damaged (expected 32 bytes)`);
  }
  if (!check) {
    setMeta('key_check', encrypt(key, KEY_CHECK_AAD, KEY_CHECK_PLAIN));
    setMeta('key_source', Buffer.from(source));
    return key;
  }
  const plain = decrypt(key, KEY_CHECK_AAD, check);
  if (!plain || !timingSafeEqual(plain, KEY_CHECK_PLAIN)) {
    const was =
      recorded === 'env-key'
        ? 'KEYSTACK_LOCAL_KEY'
        : recorded === 'passphrase'
          ? 'KEYSTACK_PASSPHRASE'
          : `the key file ${keyFile}`;
    throw new ConfigError(`wrong key for local store ${file}`, {
      hint: `The store was created with ${was}; provide that key (KEYSTACK_LOCAL_KEY or KEYSTACK_PASSPHRASE override the key file).`,
    });
  }
  return key;
}

const LOCAL_KEY_HINT =
  "Generate one with: node -e \"console.log(require('crypto').randomBytes(32).toString('base64'))\"";

/**
 * KEYSTACK_LOCAL_KEY, strictly: Buffer.from(x, 'base64') skips characters that are not base64
 * and stops at junk, so a truncated or mistyped key would otherwise become some other key.
 */
export function decodeLocalKey(text: string): Buffer {
  const key = /^[A-Za-z0-9+/]*={0,2}$/.test(text) && text.length % 4 === 0 ? Buffer.from(text, 'base64') : null;
  if (!key || key.toString('base64') !== text) {
    throw new ConfigError('KEYSTACK_LOCAL_KEY is not valid base64', {
      hint: `It must be exactly 32 bytes in standard base64 (44 characters, no spaces). ${LOCAL_KEY_HINT}`,
    });
  }
  if (key.length !== 32) {
    throw new ConfigError(`KEYSTACK_LOCAL_KEY must be 32 bytes encoded as base64, not ${key.length}`, {
      hint: LOCAL_KEY_HINT,
    });
  }
  return key;
}

const VERSION = 1;

/**
 * A row's version for compare-and-set: a digest of its sealed blob. Every write seals with a fresh
 * nonce, so every write changes it, and no schema change (version column) is needed. The digest
 * of ciphertext reveals nothing about the values.
 */
function blobVersion(blob: Buffer): string {
  return createHash('sha256').update(blob).digest('base64url');
}

/** `VERSION ‖ nonce ‖ tag ‖ ciphertext`. */
function encrypt(key: Buffer, aad: Buffer, plain: Buffer): Buffer {
  return sealWith(key, aad, plain, Buffer.from([VERSION]));
}

/** The plaintext, or null when the key, the name or the data does not match. */
function decrypt(key: Buffer, aad: Buffer, blob: Buffer): Buffer | null {
  return blob[0] === VERSION ? openSealed(key, aad, blob, 1) : null;
}

function storeError(file: string, e: unknown): unknown {
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

// --- Backups (src/flavors/local-backup.ts) ---

/**
 * An existing store opened with the key it needs under `env` (the key check passed), and where
 * that key came from: what a backup must carry.
 */
export function openLocalStoreForBackup(
  file: string,
  env: FlavorContext<unknown>['env'],
  warn: TrustWarn = defaultTrustWarn,
): { db: Database.Database; key: Buffer; keySource: KeySource } {
  const store = openStore(resolve(file), env, { tighten: undefined, warn });
  const source = (
    store.db.prepare("SELECT v FROM meta WHERE k = 'key_source'").get() as { v: Buffer } | undefined
  )?.v.toString();
  return { ...store, keySource: source === 'env-key' || source === 'passphrase' ? source : 'key-file' };
}

/**
 * Whether `key` opens the store in `db` (its key check) and every secret in it decrypts under its
 * own scoped name; a restore checks this before it replaces anything.
 */
export function verifyLocalStore(
  db: Database.Database,
  key: Buffer,
): { keyMatches: boolean; secrets: number; damaged: number } {
  const check = (db.prepare("SELECT v FROM meta WHERE k = 'key_check'").get() as { v: Buffer } | undefined)?.v;
  const plain = check ? decrypt(key, KEY_CHECK_AAD, check) : null;
  if (!plain || !timingSafeEqual(plain, KEY_CHECK_PLAIN)) return { keyMatches: false, secrets: 0, damaged: 0 };
  const rows = db.prepare('SELECT scope, name, data FROM secrets').all() as {
    scope: string;
    name: string;
    data: Buffer;
  }[];
  const damaged = rows.filter(
    (r) => !decrypt(key, Buffer.from(`keystack/local/v1:${r.scope ? `${r.scope}/` : ''}${r.name}`, 'utf8'), r.data),
  ).length;
  return { keyMatches: true, secrets: rows.length, damaged };
}

export type { KeySource };

/** The key that `env` supplies for the store in `db` (KEYSTACK_LOCAL_KEY or KEYSTACK_PASSPHRASE), or null when it supplies none. */
export function localKeyFromEnv(db: Database.Database, env: FlavorContext<unknown>['env']): Buffer | null {
  if (env['KEYSTACK_LOCAL_KEY']) return decodeLocalKey(env['KEYSTACK_LOCAL_KEY']);
  const passphrase = env['KEYSTACK_PASSPHRASE'];
  if (!passphrase) return null;
  const salt = (db.prepare("SELECT v FROM meta WHERE k = 'kdf_salt'").get() as { v: Buffer } | undefined)?.v;
  // A store whose key never came from a passphrase has no salt: no passphrase can open it.
  return salt ? deriveKeySync(passphrase, salt) : Buffer.alloc(KEY_BYTES);
}
