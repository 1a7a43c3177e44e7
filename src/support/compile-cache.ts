/**
 * Where the compile cache lives for keystack's own processes: the CLI (bin/keystack.cjs, through
 * dist/compile-cache.cjs) and the step children a worker or local_process starts
 * (step-host/parent.ts). One definition, so that both use the same directory under the same rules.
 * Node 22+ keeps the cache itself; on Node 20, which has none, `requireWithCodeCache` keeps V8's
 * code cache for the CLI bundle. Node built-ins only: the CLI loads this before its bundle, on
 * every call.
 */
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import module from 'node:module';
import { basename, dirname, join } from 'node:path';
import vm from 'node:vm';

/** True where Node has a compile cache (22.1+): elsewhere there is nothing to turn on. */
export function hasCompileCache(): boolean {
  return typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function';
}

/**
 * The cache's directory, or undefined for none: $XDG_CACHE_HOME/keystack/compile-cache (else
 * ~/.cache/…) of `env`, created private (0700). The cache holds code V8 runs as keystack, so it is
 * used only if it is this user's own and private, and only for code in `codeDir` that no other
 * user can replace (DESIGN §12): stat calls only, and any doubt means no cache, never an error.
 * NODE_DISABLE_COMPILE_CACHE in `env` means none.
 */
export function compileCacheDir(
  codeDir: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  try {
    if (env['NODE_DISABLE_COMPILE_CACHE'] || typeof process.getuid !== 'function') return undefined;
    const uid = process.getuid();
    // The real path, as the loader follows links: each directory above the code.
    for (let d = realpathSync(codeDir); ; d = dirname(d)) {
      const s = lstatSync(d);
      if ((s.uid !== uid && s.uid !== 0) || ((s.mode & 0o022) !== 0 && (s.mode & 0o1000) === 0)) return undefined;
      if (dirname(d) === d) break;
    }
    const home = env['HOME'];
    const base = env['XDG_CACHE_HOME'] || (home ? join(home, '.cache') : undefined);
    if (!base) return undefined;
    const dir = join(base, 'keystack', 'compile-cache');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return isPrivateDir(dir, uid) && isPrivateDir(dirname(dir), uid) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `d` is a directory of `uid`'s that nobody else can read or write (not a link to one). */
function isPrivateDir(d: string, uid: number | undefined): boolean {
  const s = lstatSync(d);
  return s.isDirectory() && s.uid === uid && (s.mode & 0o077) === 0;
}

/**
 * The `import()` that a bundle compiled by `requireWithCodeCache` calls instead of its own
 * (scripts/build.mjs routes them to it): the caller's, which Node compiled as it compiles any
 * module. The bundle's specifiers are package names and file URLs, which resolve the same from the
 * caller's directory as from the bundle's when both are in one package.
 */
export type ImportHost = (specifier: string, options?: ImportCallOptions) => Promise<unknown>;

/**
 * Requires the CommonJS bundle `file` with a code cache where there can be one (Node 22+'s compile
 * cache, else `requireWithCodeCache`), and plainly where there cannot: no private cache directory.
 */
export function requireCached(file: string, importHost: ImportHost): unknown {
  const dir = compileCacheDir(dirname(file));
  if (dir === undefined) return module.createRequire(file)(file);
  if (!hasCompileCache()) return requireWithCodeCache(file, dir, importHost);
  (module as unknown as { enableCompileCache(dir: string): unknown }).enableCompileCache(dir);
  return module.createRequire(file)(file);
}

/**
 * Requires the CommonJS file `file` as `require` would, but compiled through vm.Script with V8's
 * code cache kept in `dir`: Node 20 has no compile cache, and compiling the CLI bundle is the
 * largest part of a call's start-up there (docs/benchmarks.md). `dir` comes from
 * `compileCacheDir`, which vouches that the file's directories and the cache are this user's own;
 * the cache is kept in a subdirectory per Node version, used only if that too is private, and
 * read only from a file of this user's that no one else can write.
 *
 * - The cache is named by the file's size, mtime and inode, so a rebuilt bundle never meets the
 *   code of the old one (V8 itself checks only the source's length, its version and its flags);
 *   stat, not a hash, because hashing the bundle would cost what the cache saves.
 * - It is written at exit, when it also holds the functions the command compiled, and only when
 *   there was none or V8 refused it: through a new 0600 file renamed into place, so that a reader
 *   never sees half of one. Caches of earlier builds of the file are removed then.
 * - Any failure to read or write the cache only means compiling as `require` would.
 * - An `import()` in code V8 read from a cache fails in Node 20, whatever loader the script names,
 *   so the bundle's `import()` calls go to `importHost` instead.
 */
function requireWithCodeCache(file: string, dir: string, importHost: ImportHost): unknown {
  const fd = openSync(file, 'r');
  let source: string;
  let cacheFile: string | undefined;
  try {
    const s = fstatSync(fd);
    source = readFileSync(fd, 'utf8');
    cacheFile = privateCacheFile(dir, `${basename(file)}-${s.size}-${Math.trunc(s.mtimeMs)}-${s.ino}.cache`);
  } finally {
    closeSync(fd);
  }
  const cachedData = cacheFile === undefined ? undefined : readOwnFile(cacheFile);
  // The bundle's first line is on the wrapper's line, as in Node's own wrapper, so that line
  // numbers in stack traces stay the file's.
  const script = new vm.Script(
    `(function (exports, require, module, __filename, __dirname, __kimpHost) {${source}\n})`,
    {
      filename: file,
      ...(cachedData ? { cachedData } : {}),
    },
  );
  const to = cacheFile;
  if (to !== undefined && (cachedData === undefined || script.cachedDataRejected))
    process.once('exit', () => writeCodeCache(to, `${basename(file)}-`, script));
  // The bundle uses only `module.exports` of its module object.
  const mod = { exports: {} as unknown };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper.call(mod.exports, mod.exports, module.createRequire(file), mod, file, dirname(file), importHost);
  return mod.exports;
}

/**
 * The cache file `name` in this Node's subdirectory of `dir`, created private if need be; undefined
 * (no cache) if that subdirectory is not this user's own and private: a file another user could
 * put there would be run as code.
 */
function privateCacheFile(dir: string, name: string): string | undefined {
  try {
    const sub = join(dir, `v8-${process.version}-${process.arch}`);
    mkdirSync(sub, { recursive: true, mode: 0o700 });
    return isPrivateDir(sub, process.getuid?.()) ? join(sub, name) : undefined;
  } catch {
    return undefined;
  }
}

/** The bytes of `file` if it is a regular file of this user's that no one else can write; else undefined. */
function readOwnFile(file: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    const s = fstatSync(fd);
    return s.isFile() && s.uid === process.getuid?.() && (s.mode & 0o022) === 0 ? readFileSync(fd) : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function writeCodeCache(cacheFile: string, stem: string, script: vm.Script): void {
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    const data = script.createCachedData();
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeFileSync(fd, data);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, cacheFile);
    // Earlier builds' caches, and files a writer that died left behind.
    for (const f of readdirSync(dirname(cacheFile)))
      if (f.startsWith(stem) && f !== basename(cacheFile)) unlinkSync(join(dirname(cacheFile), f));
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // Not there: nothing was written.
    }
  }
}
