/**
 * Opening SQLite files that several processes share. The busy timeout makes SQLite wait for a
 * lock in most cases, but some contention returns SQLITE_BUSY at once, without the busy handler:
 * a second process switching a new file to WAL, WAL recovery, a stale WAL snapshot. Those are
 * retried here, for a bounded time, around steps that are safe to repeat.
 */
import type Database from 'better-sqlite3';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.js';
import { ensurePrivateDir, ensurePrivateFile, type PrivateDirOptions } from './private-files.js';
import { checkTrustedFile } from './trust.js';

const BUSY_WAIT_MS = 30_000;

let sqlite: typeof Database | undefined;

/**
 * better-sqlite3, loaded on the first connection rather than with the library: a pipeline module
 * imports keystack for `step` and `pipeline` in every step child, which is refused a store, and
 * the addon costs each of them about 20 ms. The CLI bundle is CommonJS (its own `require`, which
 * the build makes lazy too); the library is ESM and resolves it from here.
 */
function sqliteConstructor(): typeof Database {
  sqlite ??= (typeof require === 'function' ? require : createRequire(import.meta.url))(
    'better-sqlite3',
  ) as typeof Database;
  return sqlite;
}

/**
 * `new Database(...)`, except that a native addon built for another Node.js version (better-sqlite3
 * loads it on the first connection) is a one-line ConfigError that says how to rebuild it.
 */
export function openDatabase(filename: string | Buffer, options?: Database.Options): Database.Database {
  try {
    return new (sqliteConstructor())(filename, options);
  } catch (e) {
    const versions = addonBuiltForOtherNode(e);
    if (!versions) throw e;
    const built = versions.built ? ` (NODE_MODULE_VERSION ${versions.built}` : ' (';
    const needs = `${versions.built ? '; ' : ''}node ${process.version} needs ${versions.needs ?? process.versions.modules})`;
    throw new ConfigError(`better-sqlite3's native addon was built for another Node.js version${built}${needs}`, {
      hint: 'Rebuild it for this node: `npm rebuild better-sqlite3` (or `npm run setup`) in the keystack checkout.',
      cause: e,
    });
  }
}

/**
 * Whether `e` is Node refusing a native addon compiled for another ABI ("was compiled against a
 * different Node.js version using NODE_MODULE_VERSION 115. This version of Node.js requires
 * NODE_MODULE_VERSION 127."); then the two ABI versions, as far as the message names them.
 */
export function addonBuiltForOtherNode(e: unknown): { built?: string; needs?: string } | null {
  const message = e instanceof Error ? e.message : typeof e === 'string' ? e : '';
  if (!/compiled against a different Node\.js version|NODE_MODULE_VERSION \d+/.test(message)) return null;
  const built = /using\s+NODE_MODULE_VERSION (\d+)/.exec(message)?.[1];
  const needs = /requires\s+NODE_MODULE_VERSION (\d+)/.exec(message)?.[1];
  return { ...(built ? { built } : {}), ...(needs ? { needs } : {}) };
}

export function isBusy(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' && (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_') || code === 'SQLITE_LOCKED')
  );
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Runs `fn`, retrying it while SQLite reports the database busy or locked. */
export function retryBusy<T>(fn: () => T, waitMs = BUSY_WAIT_MS): T {
  const deadline = Date.now() + waitMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return fn();
    } catch (e) {
      if (!isBusy(e) || Date.now() >= deadline) throw e;
      // Synchronous, like better-sqlite3 itself: a few ms, growing, with jitter.
      Atomics.wait(pause, 0, 0, Math.min(200, 2 ** Math.min(attempt, 7)) * (0.5 + Math.random()));
    }
  }
}

/** SQLite reads these beside the database: a planted WAL is as good as a planted database. */
const COMPANIONS = ['-wal', '-shm', '-journal'];

/**
 * A connection to a 0600 file, set up for many processes: busy timeout, NORMAL sync in WAL. The
 * directory, the file and SQLite's companion files are trust-checked before anything is created.
 * A file this process cannot write (a read-only mount, a 0400 file in a 0500 directory) is
 * opened read-only instead, so that it can still be read; writes then fail with
 * SQLITE_READONLY, which callers report. `db.readonly` tells which it is.
 */
export function openShared(
  file: string,
  pragmas: readonly string[] = [],
  options: PrivateDirOptions = {},
): Database.Database {
  ensurePrivateDir(dirname(file), options);
  for (const suffix of COMPANIONS) checkTrustedFile(file + suffix);
  try {
    return openWritable(file, pragmas);
  } catch (e) {
    if (!cannotWrite(e) || !existsSync(file)) throw e;
    return openReadOnly(file, e);
  }
}

function openWritable(file: string, pragmas: readonly string[]): Database.Database {
  ensurePrivateFile(file);
  const db = openDatabase(file);
  try {
    db.pragma(`busy_timeout = ${BUSY_WAIT_MS}`);
    db.pragma('synchronous = NORMAL');
    for (const p of pragmas) db.pragma(p);
    // Reading the header needs the WAL index (-shm) of a WAL file: this fails now, not later.
    db.pragma('user_version', { simple: true });
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

function openReadOnly(file: string, writeError: unknown): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = openDatabase(file, { readonly: true, fileMustExist: true });
    db.pragma(`busy_timeout = ${BUSY_WAIT_MS}`);
    db.pragma('user_version', { simple: true });
    return db;
  } catch (e) {
    db?.close();
    if (!cannotWrite(e)) throw e;
  }
  // SQLite reads a WAL database only with its -shm file beside it, which a read-only directory
  // cannot get. A cleanly closed database has everything in the main file, so read an image of
  // it (marked as a rollback-journal file, which is what an image in memory can be). With a
  // non-empty -wal file the image would miss committed changes: then give up.
  const wal = `${file}-wal`;
  if (existsSync(wal) && statSync(wal).size > 0) throw writeError;
  const image = readFileSync(file);
  if (image.length >= 20 && image[18] === 2 && image[19] === 2) image.fill(1, 18, 20);
  return openDatabase(image, { readonly: true });
}

/** The file or its directory cannot be written by this process. */
export function cannotWrite(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    (['EACCES', 'EPERM', 'EROFS', 'SQLITE_CANTOPEN', 'SQLITE_PERM'].includes(code) ||
      code.startsWith('SQLITE_READONLY'))
  );
}
