/**
 * Where a local store's key comes from, and the proof that it is the right one. The order is
 * fixed and decided in one place (keyInput): KEYSTACK_LOCAL_KEY, else KEYSTACK_PASSPHRASE, else
 * the key file beside the store, so that opening a store, `keystack status` and a restore never
 * disagree about which key is in use. The store's `meta` table holds only what the key needs (its
 * check, where it came from, a passphrase's salt), so this file owns that table's rows.
 */
import type Database from 'better-sqlite3';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../../errors.js';
import type { FlavorContext } from '../../core/types.js';
import { deriveKeySync, KEY_BYTES, SALT_BYTES } from '../../support/aead.js';
import { writeOnce } from '../../support/private-files.js';
import { readTrustedSecretFile, type TrustWarn } from '../../support/trust.js';
import { openBlob, sealBlob } from './rows.js';

type Env = FlavorContext<unknown>['env'];

export type KeySource = 'env-key' | 'passphrase' | 'key-file';

/** Minimum length of KEYSTACK_PASSPHRASE, in characters (documented in the README). */
export const MIN_PASSPHRASE_LENGTH = 12;

const KEY_VARIABLE = { 'env-key': 'KEYSTACK_LOCAL_KEY', passphrase: 'KEYSTACK_PASSPHRASE' } as const;

/** Where a local store's key comes from, for `keystack status`; never the key itself. */
export type LocalKeySource =
  | { source: 'env-key' | 'passphrase'; variable: 'KEYSTACK_LOCAL_KEY' | 'KEYSTACK_PASSPHRASE' }
  | { source: 'key-file'; file: string };

type KeyInput =
  | { source: 'env-key'; text: string }
  | { source: 'passphrase'; passphrase: string }
  | { source: 'key-file' };

/** The one place the order is decided: KEYSTACK_LOCAL_KEY, else KEYSTACK_PASSPHRASE, else the key file. */
export function keyInput(env: Env): KeyInput {
  const text = env['KEYSTACK_LOCAL_KEY'];
  if (text) return { source: 'env-key', text };
  const passphrase = env['KEYSTACK_PASSPHRASE'];
  if (passphrase) return { source: 'passphrase', passphrase };
  return { source: 'key-file' };
}

export function keyFilePath(storeFile: string): string {
  return `${storeFile}.key`;
}

export function localKeySource(storeFile: string, env: Env): LocalKeySource {
  const { source } = keyInput(env);
  return source === 'key-file' ? { source, file: keyFilePath(storeFile) } : { source, variable: KEY_VARIABLE[source] };
}

function readMeta(db: Database.Database, k: string): Buffer | undefined {
  return (db.prepare('SELECT v FROM meta WHERE k = ?').get(k) as { v: Buffer } | undefined)?.v;
}

function writeMeta(db: Database.Database, k: string, v: Buffer): void {
  db.prepare('INSERT INTO meta (k, v) VALUES (?, ?)').run(k, v);
}

/** Where the store's key came from when it was set up (stores that recorded nothing used the key file). */
export function recordedKeySource(db: Database.Database): KeySource {
  const source = readMeta(db, 'key_source')?.toString();
  return source === 'env-key' || source === 'passphrase' ? source : 'key-file';
}

const KEY_CHECK_AAD = Buffer.from('keystack/local/v1:key-check');
const KEY_CHECK_PLAIN = Buffer.from('keystack local store key check');

function keyCheckPasses(key: Buffer, check: Buffer | undefined): boolean {
  const plain = check ? openBlob(key, KEY_CHECK_AAD, check) : null;
  return plain !== null && timingSafeEqual(plain, KEY_CHECK_PLAIN);
}

/** Whether `key` is the key of the store in `db` (its recorded key check opens under it). */
export function keyOpensStore(db: Database.Database, key: Buffer): boolean {
  return keyCheckPasses(key, readMeta(db, 'key_check'));
}

/** Runs inside the init transaction, so only one process ever sets up a new store's key. */
export function loadKey(db: Database.Database, file: string, env: Env, warn: TrustWarn): Buffer {
  const check = readMeta(db, 'key_check');
  const recorded = recordedKeySource(db);
  const input = keyInput(env);
  const key =
    input.source === 'env-key'
      ? decodeLocalKey(input.text)
      : input.source === 'passphrase'
        ? passphraseKey(db, file, input.passphrase, check === undefined, warn)
        : keyFileKey(file, check === undefined, recorded);
  if (!check) {
    writeMeta(db, 'key_check', sealBlob(key, KEY_CHECK_AAD, KEY_CHECK_PLAIN));
    writeMeta(db, 'key_source', Buffer.from(input.source));
    return key;
  }
  if (!keyCheckPasses(key, check)) {
    const was = recorded === 'key-file' ? `the key file ${keyFilePath(file)}` : KEY_VARIABLE[recorded];
    throw new ConfigError(`wrong key for local store ${file}`, {
      hint: `The store was created with ${was}; provide that key (KEYSTACK_LOCAL_KEY or KEYSTACK_PASSPHRASE override the key file).`,
    });
  }
  return key;
}

function passphraseKey(db: Database.Database, file: string, passphrase: string, isNew: boolean, warn: TrustWarn) {
  if (Array.from(passphrase).length < MIN_PASSPHRASE_LENGTH) {
    const hint = `Use a passphrase of at least ${MIN_PASSPHRASE_LENGTH} characters (several random words), or set KEYSTACK_LOCAL_KEY to a random 32-byte key.`;
    // A store already sealed with a short one stays readable, so that nobody is locked out.
    if (isNew)
      throw new ConfigError(`KEYSTACK_PASSPHRASE must be at least ${MIN_PASSPHRASE_LENGTH} characters long`, { hint });
    warn(
      `KEYSTACK_PASSPHRASE for ${file} is shorter than ${MIN_PASSPHRASE_LENGTH} characters; new stores refuse it. Move its secrets to a store with a stronger key.`,
    );
  }
  let salt = readMeta(db, 'kdf_salt');
  if (!salt) writeMeta(db, 'kdf_salt', (salt = randomBytes(SALT_BYTES)));
  return deriveKeySync(passphrase, salt);
}

function keyFileKey(file: string, isNew: boolean, recorded: KeySource): Buffer {
  const keyFile = keyFilePath(file);
  const existing = readTrustedSecretFile(keyFile);
  if (!isNew && !existing) {
    throw new ConfigError(`the key for local store ${file} is missing`, {
      hint:
        recorded !== 'key-file'
          ? `This store was created with ${KEY_VARIABLE[recorded]}; set it again.`
          : `Restore the key file ${keyFile} from a backup; without it the secrets cannot be decrypted.`,
    });
  }
  const key = existing ?? writeOnce(keyFile, randomBytes(KEY_BYTES));
  if (key.length !== KEY_BYTES) throw new ConfigError(`the key file ${keyFile} is damaged (expected 32 bytes)`);
  return key;
}

/** The key that `env` supplies for the store in `db` (KEYSTACK_LOCAL_KEY or KEYSTACK_PASSPHRASE), or null when it supplies none. */
export function localKeyFromEnv(db: Database.Database, env: Env): Buffer | null {
  const input = keyInput(env);
  if (input.source === 'env-key') return decodeLocalKey(input.text);
  if (input.source === 'key-file') return null;
  const salt = readMeta(db, 'kdf_salt');
  // A store whose key never came from a passphrase has no salt: no passphrase can open it.
  return salt ? deriveKeySync(input.passphrase, salt) : Buffer.alloc(KEY_BYTES);
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
