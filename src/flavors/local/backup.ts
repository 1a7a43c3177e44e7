/**
 * Backups of a local store together with its key, in one file sealed with a passphrase.
 *
 * Why one sealed file rather than the store plus a separate key file: a backup is what gets
 * copied elsewhere, and a key file travelling beside the store is exactly the "store and key
 * together" case a local store cannot protect against (README, Security). Sealed, the file is
 * safe to keep wherever backups go; only the passphrase must be kept apart.
 *
 * Format (JSON, so it says what it is): a header with the scrypt parameters and salt, and the
 * AES-256-GCM ciphertext of `key (32 bytes) ‖ SQLite image of the store`. The header is the
 * additional authenticated data, so no field of it can be changed unnoticed.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, renameSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError, ExistsError, InputError } from '../../errors.js';
import {
  decrypt,
  deriveKeySync,
  encrypt,
  KDF_POLICY,
  KEY_BYTES,
  kdfParamsAcceptable,
  SALT_BYTES,
} from '../../support/aead.js';
import { writePrivateFileAtomic } from '../../support/atomic-file.js';
import { ensurePrivateDir } from '../../support/private-files.js';
import { openDatabase } from '../../support/sqlite.js';
import type { TrustWarn } from '../../support/trust.js';
import { keyFilePath, localKeyFromEnv, MIN_PASSPHRASE_LENGTH, type KeySource } from './key.js';
import { openLocalStoreForBackup, verifyLocalStore } from './store.js';

export const BACKUP_FORMAT = 'keystack-local-backup';
/** Same rule as KEYSTACK_PASSPHRASE: the file may travel, so guessing must be slow and hard. */
export const MIN_BACKUP_PASSPHRASE_LENGTH = MIN_PASSPHRASE_LENGTH;

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  version: 1;
  createdAt: string;
  /** The manager it was made from, and its store file then (for messages; restore picks its own). */
  manager: string;
  /** Its id: component-scoped secrets in the store are keyed on it. */
  managerId: string;
  store: string;
  /** Where the store's key came from when it was backed up (for messages). */
  keySource: KeySource;
  secrets: number;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  cipher: 'aes-256-gcm';
  nonce: string;
}

interface BackupFile extends BackupHeader {
  /** Ciphertext followed by the 16-byte GCM tag, base64. */
  data: string;
}

/** The sealed backup of store `file`, opened with the key it uses under `env`. */
export function sealLocalBackup(o: {
  file: string;
  env: Readonly<Record<string, string | undefined>>;
  manager: string;
  managerId: string;
  passphrase: string;
  warn?: TrustWarn;
}): { text: string; header: BackupHeader } {
  checkPassphrase(o.passphrase);
  if (!existsSync(o.file)) {
    throw new ConfigError(`the local store ${o.file} does not exist yet, so there is nothing to back up`, {
      hint: 'Register a secret first, or check the manager name.',
    });
  }
  const { db, key, keySource } = openLocalStoreForBackup(o.file, o.env, o.warn);
  let image: Buffer;
  let secrets: number;
  try {
    // One read transaction: the image and the count are of the same moment, WAL included.
    ({ image, secrets } = db.transaction(() => ({
      image: db.serialize(),
      secrets: (db.prepare('SELECT count(*) AS n FROM secrets').get() as { n: number }).n,
    }))());
  } finally {
    db.close();
  }
  // An image in memory can only be a rollback-journal database; restore makes it WAL again.
  if (image.length >= 20) image.fill(1, 18, 20);
  const salt = randomBytes(SALT_BYTES);
  const header: BackupHeader = {
    format: BACKUP_FORMAT,
    version: 1,
    createdAt: new Date().toISOString(),
    manager: o.manager,
    managerId: o.managerId,
    store: o.file,
    keySource,
    secrets,
    kdf: { name: 'scrypt', ...KDF_POLICY, salt: salt.toString('base64') },
    cipher: 'aes-256-gcm',
    nonce: randomBytes(12).toString('base64'),
  };
  const { body, tag } = encrypt(
    derive(o.passphrase, header),
    Buffer.from(header.nonce, 'base64'),
    Buffer.from(JSON.stringify(header)),
    key,
    image,
  );
  const sealed = Buffer.concat([body, tag]);
  const file: BackupFile = { ...header, data: sealed.toString('base64') };
  return { text: JSON.stringify(file, null, 1) + '\n', header };
}

/** The key and store image of a backup; throws without a word about the content when it does not open. */
export function openLocalBackup(
  text: string,
  passphrase: string,
  source: string,
): { header: BackupHeader; key: Buffer; image: Buffer } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (!isBackupFile(parsed)) {
    throw new InputError(
      `${source} is not a keystack local backup`,
      'Give a file written by `keystack secrets-manager backup`.',
    );
  }
  const file = parsed;
  const { data, ...header } = file;
  const sealed = Buffer.from(data, 'base64');
  const plain = decrypt(
    derive(passphrase, header),
    Buffer.from(header.nonce, 'base64'),
    Buffer.from(JSON.stringify(header)),
    sealed.subarray(0, -16),
    sealed.subarray(-16),
  );
  if (!plain) {
    throw new InputError(
      `cannot decrypt ${source}: wrong passphrase, or the file was altered; nothing was changed`,
      'Give the passphrase the backup was made with (KEYSTACK_BACKUP_PASSPHRASE, or at the prompt).',
    );
  }
  return { header, key: plain.subarray(0, KEY_BYTES), image: plain.subarray(KEY_BYTES) };
}

/**
 * Checks that the key opens the backed-up store and every secret in it, then puts store and key
 * in place: all of it or nothing. What was there is moved aside (never deleted) when `force`.
 * The key goes into the store's key file, unless `env` supplies the key (KEYSTACK_LOCAL_KEY or
 * KEYSTACK_PASSPHRASE): then that key must open the backup, and no key file is written.
 */
export function installLocalBackup(o: {
  file: string;
  key: Buffer;
  image: Buffer;
  env: Readonly<Record<string, string | undefined>>;
  force: boolean;
}): { secrets: number; movedAside: string[]; keyFile: string | null } {
  const check = openDatabase(o.image, { readonly: true });
  let verified: ReturnType<typeof verifyLocalStore>;
  let envKey: Buffer | null = null;
  try {
    envKey = localKeyFromEnv(check, o.env);
    verified = verifyLocalStore(check, o.key);
    if (verified.keyMatches && envKey && !verifyLocalStore(check, envKey).keyMatches) {
      throw new ConfigError(
        'the key in KEYSTACK_LOCAL_KEY or KEYSTACK_PASSPHRASE does not open this backup; nothing was changed',
        {
          hint: 'Unset them to restore the key from the backup into the key file, or set the ones the store was made with.',
        },
      );
    }
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    verified = { keyMatches: false, secrets: 0, damaged: 0 };
  } finally {
    check.close();
  }
  if (!verified.keyMatches || verified.damaged > 0) {
    throw new ConfigError(
      `the backup does not open: ${verified.keyMatches ? `${verified.damaged} of ${verified.secrets} secrets fail their integrity check` : 'its key does not match its store'}; nothing was changed`,
      {
        hint: 'Use another backup; this one is damaged.',
      },
    );
  }
  const keyFile = envKey ? null : keyFilePath(o.file);
  const targets = [o.file, `${o.file}-wal`, `${o.file}-shm`, ...(keyFile ? [keyFile] : [])];
  const present = targets.filter((t) => existsSync(t));
  if (present.length > 0 && !o.force) {
    throw new ExistsError(
      `a local store is already at ${o.file}; nothing was changed`,
      'Pass -f to replace it: the current store and key are moved aside (renamed), not deleted.',
    );
  }
  ensurePrivateDir(dirname(o.file));
  const tag = `${process.pid}.${randomBytes(4).toString('hex')}`;
  const newStore = `${o.file}.restore-${tag}`;
  const newKey = keyFile ? `${keyFile}.restore-${tag}` : null;
  const aside: [string, string][] = [];
  try {
    writePrivateFile(newStore, o.image);
    // Back to WAL, as every store is (the image had to be a rollback-journal file).
    const db = openDatabase(newStore);
    db.pragma('journal_mode = WAL');
    db.close();
    if (newKey) writePrivateFile(newKey, o.key);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    for (const t of present) {
      const to = `${t}.replaced-${stamp}`;
      renameSync(t, to);
      aside.push([t, to]);
    }
    if (newKey && keyFile) renameSync(newKey, keyFile);
    renameSync(newStore, o.file);
  } catch (e) {
    // Put back what was moved, so a failed restore leaves the old store working.
    for (const [from, to] of aside.reverse()) {
      try {
        renameSync(to, from);
      } catch {
        // reported below with the original error
      }
    }
    for (const t of [newStore, `${newStore}-wal`, `${newStore}-shm`, ...(newKey ? [newKey] : [])]) {
      try {
        unlinkSync(t);
      } catch {
        // already gone
      }
    }
    throw new ConfigError(
      `the restore failed (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); the previous store was left in place`,
      {
        hint: `Check that ${dirname(o.file)} is writable and not full, then run the restore again.`,
      },
    );
  }
  return { secrets: verified.secrets, movedAside: aside.map(([, to]) => to), keyFile };
}

/** A 0600 file written atomically (support/atomic-file.ts); without `replace`, an existing file is an error. */
export function writePrivateFile(path: string, data: Buffer | string, options: { replace?: boolean } = {}): void {
  if (!writePrivateFileAtomic(path, data, { overwrite: options.replace === true })) {
    throw new ExistsError(`${path} already exists`, 'Pass -f to replace it, or give another file.');
  }
}

function isBackupFile(v: unknown): v is BackupFile {
  if (typeof v !== 'object' || v === null) return false;
  const f = v as Record<string, unknown>;
  const kdf = f['kdf'] as Record<string, unknown> | null | undefined;
  return (
    f['format'] === BACKUP_FORMAT &&
    f['version'] === 1 &&
    typeof f['data'] === 'string' &&
    typeof f['nonce'] === 'string' &&
    typeof kdf === 'object' &&
    kdf !== null &&
    kdf['name'] === 'scrypt' &&
    typeof kdf['salt'] === 'string' &&
    [kdf['N'], kdf['r'], kdf['p']].every((n) => Number.isInteger(n))
  );
}

function checkPassphrase(p: string): void {
  if (Array.from(p).length < MIN_BACKUP_PASSPHRASE_LENGTH) {
    throw new InputError(
      `the backup passphrase must be at least ${MIN_BACKUP_PASSPHRASE_LENGTH} characters long`,
      'Use several random words; keep the passphrase apart from the backup.',
    );
  }
}

function derive(passphrase: string, header: BackupHeader): Buffer {
  const { N, r, p, salt } = header.kdf;
  if (!kdfParamsAcceptable({ N, r, p }))
    throw new InputError(
      'the backup asks for scrypt parameters beyond what keystack writes',
      'Give a file written by `keystack secrets-manager backup`.',
    );
  return deriveKeySync(passphrase, Buffer.from(salt, 'base64'), { N, r, p });
}
