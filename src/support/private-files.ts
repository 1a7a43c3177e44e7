/**
 * Files that hold secrets or keys: 0600, in directories keystack creates as 0700. Whatever
 * already exists is trust-checked (support/trust.ts) before it is used.
 */
import { chmodSync, closeSync, linkSync, mkdirSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { checkTrustedDir, checkTrustedFile, readTrustedSecretFile, type TrustWarn } from './trust.js';

export interface PrivateDirOptions {
  /** Tighten the directory to 0700 if others can read it, telling the user through this. */
  tighten?: TrustWarn | undefined;
}

/**
 * Creates `dir` and any missing parents as 0700. An existing `dir` must be trusted (it may be
 * tightened, see the option); so must the nearest existing parent when something is created.
 */
export function ensurePrivateDir(dir: string, options: PrivateDirOptions = {}): void {
  if (checkTrustedDir(dir, options)) return;
  createPrivateDir(dir);
}

function createPrivateDir(dir: string): void {
  const parent = dirname(dir);
  // A parent someone else could write to would let them swap what we create in it.
  if (parent !== dir && !checkTrustedDir(parent)) createPrivateDir(parent);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    checkTrustedDir(dir); // another process made it first: it must still be ours
    return;
  }
  chmodSync(dir, 0o700); // the umask may have dropped bits the other way
}

/** Creates an empty 0600 file if there is none, so that SQLite's own files inherit the mode. */
export function ensurePrivateFile(file: string, options: PrivateDirOptions = {}): void {
  ensurePrivateDir(dirname(file), options);
  const existed = checkTrustedFile(file);
  if (!existed) closeSync(openSync(file, 'a', 0o600));
  const st = statSync(file);
  // A root-owned file we only use (not own) cannot be changed, and does not need to be.
  if ((st.mode & 0o777) !== 0o600 && st.uid === process.getuid?.()) chmodSync(file, 0o600);
}

/**
 * Writes `data` to `file` only if it does not exist yet, atomically: concurrent callers all end
 * up reading the same content, and nobody ever sees a half-written file. Returns the content
 * that is in the file afterwards, which must pass the key-file checks.
 */
export function writeOnce(file: string, data: Buffer): Buffer {
  ensurePrivateDir(dirname(file));
  const existing = readTrustedSecretFile(file);
  if (existing) return existing;
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file); // fails with EEXIST if another process won the race
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    unlinkSync(tmp);
  }
  const written = readTrustedSecretFile(file);
  if (!written) throw new Error(`${file} vanished right after it was written`);
  return written;
}
