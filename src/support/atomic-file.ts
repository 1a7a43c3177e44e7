/**
 * Writing a private file (0600) whole or not at all: the data goes to a temporary file in the
 * same directory, is synced, and only then takes the file's name, with one rename (or link). A
 * crash or kill at any instant leaves either the old file or the complete new one under the name,
 * never a part; at worst a `.NAME.*.tmp` file (0600) is left beside it.
 */
import { closeSync, fchmodSync, fsyncSync, linkSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface AtomicWriteOptions {
  /** Replace an existing file. Without it an existing file is kept and the call returns false. */
  overwrite?: boolean | undefined;
  /** For fault-injection tests: runs after the data is written and synced, before it gets the name. */
  beforeCommit?: (() => void) | undefined;
}

/** Writes `data` to `file` (mode 0600) atomically; false when `file` exists and `overwrite` is off. */
export function writePrivateFileAtomic(file: string, data: string | Buffer, options: AtomicWriteOptions = {}): boolean {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    try {
      fchmodSync(fd, 0o600); // whatever the umask
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    options.beforeCommit?.();
    if (options.overwrite) renameSync(tmp, file);
    else {
      // link, not rename: it fails if the name was taken meanwhile, where rename would replace it.
      try {
        linkSync(tmp, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw e;
      }
    }
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // renamed into place, as it should be
    }
  }
  syncDir(dir);
  return true;
}

/** Makes the rename itself durable; some filesystems cannot sync a directory, which is no error. */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // best effort
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
