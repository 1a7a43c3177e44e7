/** Files that hold secrets or keys: 0600, in directories keystack creates as 0700. */
import { chmodSync, closeSync, existsSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Creates `dir` and any missing parents as 0700. Existing directories are left as they are. */
export function ensurePrivateDir(dir: string): void {
  if (existsSync(dir)) return;
  ensurePrivateDir(dirname(dir));
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  chmodSync(dir, 0o700); // the umask may have dropped bits the other way
}

/** Creates an empty 0600 file if there is none, so that SQLite's own files inherit the mode. */
export function ensurePrivateFile(file: string): void {
  ensurePrivateDir(dirname(file));
  const fd = openSync(file, 'a', 0o600);
  closeSync(fd);
  if ((statSync(file).mode & 0o777) !== 0o600) chmodSync(file, 0o600);
}

/**
 * Writes `data` to `file` only if it does not exist yet, atomically: concurrent callers all end
 * up reading the same content, and nobody ever sees a half-written file. Returns the content
 * that is in the file afterwards.
 */
export function writeOnce(file: string, data: Buffer): Buffer {
  ensurePrivateDir(dirname(file));
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
  return readFileSync(file);
}
