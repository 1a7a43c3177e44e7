/**
 * Where Node 22+'s compile cache lives for keystack's own processes: the CLI (bin/keystack.cjs,
 * through dist/compile-cache.cjs) and the step children a worker or local_process starts
 * (step-host/parent.ts). One definition, so that both use the same directory under the same rules.
 * Node built-ins only: the CLI loads this before its bundle, on every call.
 */
import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import module from 'node:module';
import { dirname, join } from 'node:path';

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
    for (const d of [dir, dirname(dir)]) {
      const s = lstatSync(d);
      if (!s.isDirectory() || s.uid !== uid || (s.mode & 0o077) !== 0) return undefined;
    }
    return dir;
  } catch {
    return undefined;
  }
}
