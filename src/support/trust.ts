/**
 * Trust checks on paths, the way ssh and gpg make them (DESIGN §12): a file or directory is used
 * only if it is owned by the current user or root, and nobody else can write to it (a sticky-bit
 * directory such as /tmp excepted, since others cannot replace what we put there). Key files must
 * also be regular files that nobody else can read. Everything else is refused before it is read
 * or written, with the path and the command that fixes it.
 *
 * Group-writable is "nobody else" when the group is the user's private group (see
 * `privateGroupGid`): with Debian's umask 002 every file and directory a user makes is
 * group-writable, and refusing those would refuse the user's own files. Key files stay strict:
 * never group-readable, whatever the group.
 *
 * Absence is not failure: a check on a path that does not exist returns false, so that the caller
 * can create it.
 */
import {
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  statSync,
  type Stats,
} from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.js';

/** Where the user hears about a directory that was tightened (the CLI's warnings, by default Node's). */
export type TrustWarn = (message: string) => void;

export const defaultTrustWarn: TrustWarn = (message) => {
  process.emitWarning(message, 'KeystackWarning');
};

/** The current uid; null where there is none (Windows), which has no such modes to check. */
function currentUid(): number | null {
  return typeof process.getuid === 'function' ? process.getuid() : null;
}

export interface TrustedDirOptions {
  /**
   * When given, a directory that others can read (but not write) is changed to 0700 and the
   * user is told. Only for directories that hold nothing but keystack's own files.
   */
  tighten?: TrustWarn | undefined;
}

/** Checks a directory. False when it does not exist; throws ConfigError when it is not trusted. */
export function checkTrustedDir(dir: string, options: TrustedDirOptions = {}): boolean {
  const st = statOrNull(dir, statSync);
  if (!st) return false;
  if (!st.isDirectory()) {
    // Not a trust matter: the error mkdir or open would give, which callers already explain.
    throw Object.assign(new Error(`ENOTDIR: not a directory, '${dir}'`), { code: 'ENOTDIR', path: dir });
  }
  checkOwnerAndWriters(dir, st, 'dir');
  const uid = currentUid();
  if (options.tighten && (st.mode & 0o077) !== 0 && uid !== null && st.uid === uid) {
    chmodSync(dir, 0o700);
    options.tighten(
      `${dir} was readable by ${who(st.mode, 0o044)}; keystack changed it to 0700 because it holds secrets and keys.`,
    );
  }
  return true;
}

/**
 * Checks a file that keystack reads or writes. False when it does not exist; throws ConfigError
 * when it is not trusted. `secret` files (keys) must also be regular files, not symlinks, that
 * nobody else can read.
 */
export function checkTrustedFile(file: string, options: { secret?: boolean } = {}): boolean {
  const st = statOrNull(file, options.secret ? lstatSync : statSync);
  if (!st) return false;
  checkFileStats(file, st, options.secret === true);
  return true;
}

/**
 * Reads a key file: opened without following a symlink and checked on the open descriptor, so
 * that the file checked is the file read. Null when it does not exist.
 */
export function readTrustedSecretFile(file: string, maxBytes = 4096): Buffer | null {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP')
      throw refuse(
        file,
        'it is a symlink, and a key file must be a regular file',
        `Replace the link with the file itself: cp --remove-destination "$(readlink -f ${q(file)})" ${q(file)}`,
      );
    throw e;
  }
  try {
    checkFileStats(file, fstatSync(fd), true);
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += r;
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * Checks a module that keystack imports and every directory above it, up to `/`: whoever can
 * write to any of them can change the code that runs. Returns the module's real path, which is
 * what must be stored and loaded (a symlink can be re-targeted later).
 */
export function checkTrustedChain(path: string): string {
  let real: string;
  try {
    real = realpathSync(path);
  } catch (e) {
    throw new ConfigError(`module ${path} cannot be resolved (${(e as NodeJS.ErrnoException).code ?? 'error'})`, {
      hint: 'Give the path of a .js, .mjs or .ts file that exports a flavor or schemas.',
    });
  }
  const st = statSync(real);
  if (!st.isFile()) throw refuse(real, 'it is not a regular file', 'Give the path of a .js, .mjs or .ts file.');
  checkOwnerAndWriters(real, st, 'file');
  for (let dir = dirname(real); ; dir = dirname(dir)) {
    checkOwnerAndWriters(dir, statSync(dir), 'dir');
    if (dirname(dir) === dir) break;
  }
  return real;
}

function checkFileStats(file: string, st: Stats, secret: boolean): void {
  if (secret && st.isSymbolicLink()) {
    throw refuse(
      file,
      'it is a symlink, and a key file must be a regular file',
      `Replace the link with the file itself: cp --remove-destination "$(readlink -f ${q(file)})" ${q(file)}`,
    );
  }
  if (!st.isFile()) throw refuse(file, 'it is not a regular file', 'Move it away, or use another path.');
  checkOwnerAndWriters(file, st, 'file');
  if (secret && (st.mode & 0o077) !== 0) {
    throw refuse(
      file,
      `it is readable by ${who(st.mode, 0o077)}, and it is a key`,
      `Run \`chmod 600 ${q(file)}\`, and treat the key as exposed.`,
    );
  }
}

function checkOwnerAndWriters(path: string, st: Stats, kind: 'file' | 'dir'): void {
  const uid = currentUid();
  if (uid === null) return;
  if (st.uid !== uid && st.uid !== 0) {
    throw refuse(
      path,
      `it is owned by uid ${st.uid}, not by you (uid ${uid})`,
      kind === 'dir'
        ? `Use a directory you own, or have it handed to you: chown $(id -un) ${q(path)}`
        : `Someone else may have planted it: check it, then remove it or take it over (chown $(id -un) ${q(path)}).`,
    );
  }
  const sticky = kind === 'dir' && (st.mode & 0o1000) !== 0;
  if ((st.mode & 0o022) === 0 || sticky) return;
  // Only a path writable by its group alone makes /etc be read: most checks never get here.
  const groupOnly = (st.mode & 0o022) === 0o020;
  if (groupOnly && st.gid === privateGroupGid(uid)) return;
  throw refuse(
    path,
    `it is writable by ${who(st.mode, 0o022)}${groupOnly ? ` (gid ${st.gid}, which is not your private group)` : ''}`,
    kind === 'dir'
      ? `Run \`chmod 700 ${q(path)}\` (or chmod go-w), then check what it contains.`
      : `Run \`chmod 600 ${q(path)}\` (or chmod go-w), then check its content.`,
  );
}

/**
 * The gid of the private group of the user `uid`, or null when they have none. A group is that
 * user's private group when all of these hold, as /etc/passwd and /etc/group list them:
 * - its gid is the user's primary gid (the fourth field of their /etc/passwd line),
 * - its name is the user's name,
 * - nobody else is in it: no /etc/passwd line of another uid has it as primary group, and its
 *   member list in /etc/group is empty or names only the user.
 * That is what Debian's adduser makes, and the rule Debian's OpenSSH applies under StrictModes.
 * Users and groups that only a directory service (LDAP, NIS `+` lines) knows cannot be proved to
 * have no other members, so they have no private group here. Not cached: a long-running worker
 * must see a member added to the group since it started.
 */
function privateGroupGid(uid: number): number | null {
  return findPrivateGroup(uid, readEtc('/etc/passwd'), readEtc('/etc/group'));
}

/** `privateGroupGid` on given /etc/passwd and /etc/group texts. */
export function findPrivateGroup(uid: number, passwd: string, group: string): number | null {
  const users = rows(passwd);
  if (users.some(isNisLine) || rows(group).some(isNisLine)) return null;
  const me = users.find((u) => u[2] === String(uid));
  const [name, , , gid] = me ?? [];
  if (name === undefined || gid === undefined) return null;
  const grp = rows(group).find((g) => g[2] === gid);
  if (grp?.[0] !== name) return null;
  const members = (grp[3] ?? '').split(',').filter((m) => m !== '');
  if (members.some((m) => m !== name)) return null;
  if (users.some((u) => u[3] === gid && u[2] !== String(uid))) return null;
  return Number(gid);
}

function rows(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

function isNisLine(row: string[]): boolean {
  return /^[+-]/.test(row[0] ?? '');
}

function readEtc(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return ''; // no such file: no private group, so group-writable stays refused
  }
}

function refuse(path: string, why: string, hint: string): ConfigError {
  return new ConfigError(`refusing to use ${path}: ${why}`, { hint });
}

/** "group", "others" or "group and others", from the bits of `mask` that are set in `mode`. */
function who(mode: number, mask: number): string {
  const g = (mode & mask & 0o070) !== 0;
  const o = (mode & mask & 0o007) !== 0;
  return g && o ? 'group and others' : g ? 'group' : 'others';
}

function statOrNull(path: string, stat: typeof statSync): Stats | null {
  try {
    // Not throwing for a missing path keeps the usual case (no WAL file yet) cheap.
    return stat(path, { throwIfNoEntry: false }) ?? null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw e;
  }
}

/** Quotes a path for a shell command in a hint, only when it needs it. */
function q(path: string): string {
  return /^[\w./@%+=:,-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}
