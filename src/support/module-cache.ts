/**
 * A compile cache for registered TypeScript modules (plugins, schemas). Loading tsx costs every
 * command that loads such a module most of a second (it registers loader hooks on a worker
 * thread), so the module is compiled once with esbuild, to one ES module whose imports are
 * resolved at compile time to absolute file URLs, and kept as
 * `<configDir>/cache/modules/<hash>.mjs`. The hash covers the module's path and source, the
 * compiler's version and the options; an edited module gets a new hash, and so a new compile.
 *
 * Files are 0600 in a 0700 directory and pass the trust checks before they are imported: a cache
 * file that another user owns or can write, or whose content does not match the hash in its first
 * line, is deleted and compiled again, never loaded.
 *
 * Only what Node would load as ESM is cached (`.mts`, `.ts` in a `"type": "module"` package), and
 * only a module whose imports are all JavaScript or built-ins: a module importing other `.ts`
 * files, or compiled to CommonJS by tsx, goes through tsx as before (`undefined` here).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as EsbuildModule from 'esbuild';
import { writePrivateFileAtomic } from './atomic-file.js';
import { ensurePrivateDir } from './private-files.js';
import { checkTrustedFile } from './trust.js';

type Esbuild = Pick<typeof EsbuildModule, 'build'>;

/** Bumped when the shape of a cache file changes, so that old files are never read as new ones. */
const CACHE_FORMAT = 1;
const HEADER = '// keystack module cache, sha256=';
const TS_IMPORT = /\.(?:[cm]?ts|tsx)$/;

/** What happened, for `KEYSTACK_DEBUG` and the tests. */
export type ModuleCacheEvent =
  | { kind: 'hit' | 'compiled'; module: string; file: string }
  | { kind: 'refused'; module: string; file: string; reason: string }
  | { kind: 'skipped'; module: string; reason: string };

export interface ModuleCacheOptions {
  /** The cache directory, `<configDir>/cache/modules`. */
  dir: string;
  onEvent?: ((e: ModuleCacheEvent) => void) | undefined;
  /** How esbuild is loaded (replaceable so tests can have it missing). */
  loadEsbuild?: (() => Promise<Esbuild>) | undefined;
  /** esbuild's version, read without loading esbuild itself (which costs a cache hit ~0.3 s). */
  esbuildVersion?: (() => Promise<string>) | undefined;
}

/**
 * Imports the TypeScript module at the absolute `path` through the cache, or returns undefined
 * when the module is not cacheable (the caller then imports it with tsx).
 */
export async function importCachedModule(
  path: string,
  options: ModuleCacheOptions,
): Promise<Record<string, unknown> | undefined> {
  const skip = (reason: string): void => {
    options.onEvent?.({ kind: 'skipped', module: path, reason });
  };
  if (!isEsm(path)) {
    skip('Node loads it as CommonJS');
    return undefined;
  }
  let version: string;
  try {
    version = await (options.esbuildVersion ?? installedEsbuildVersion)();
  } catch {
    skip('esbuild is not installed');
    return undefined;
  }
  const source = readFileSync(path);
  const buildOptions = {
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    write: false,
    logLevel: 'silent',
    // Where a module asks where it is, the answer is its source, not the cache file.
    define: {
      'import.meta.url': JSON.stringify(pathToFileURL(path).href),
      'import.meta.filename': JSON.stringify(path),
      'import.meta.dirname': JSON.stringify(dirname(path)),
    },
  } as const;
  const key = createHash('sha256')
    .update(JSON.stringify({ format: CACHE_FORMAT, esbuild: version, options: buildOptions, path }))
    .update('\0')
    .update(source)
    .digest('hex');
  const file = join(options.dir, `${key}.mjs`);

  ensurePrivateDir(options.dir);
  const refusal = refuseReason(file);
  if (refusal === null) {
    options.onEvent?.({ kind: 'hit', module: path, file });
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  }
  if (refusal !== 'absent') {
    options.onEvent?.({ kind: 'refused', module: path, file, reason: refusal });
    unlinkSync(file); // the directory is ours (0700, checked), so the file can go whoever owns it
  }

  let esbuild: Esbuild;
  try {
    esbuild = await (options.loadEsbuild ?? (() => import('esbuild')))();
  } catch {
    skip('esbuild does not load');
    return undefined;
  }
  // Either makes tsx the loader, whose errors (Node's "Cannot find package") callers explain.
  let tsImport: string | undefined;
  let unresolved: string | undefined;
  const result = await esbuild.build({
    ...buildOptions,
    entryPoints: [path],
    plugins: [
      {
        name: 'keystack-resolve-to-urls',
        setup(b) {
          b.onResolve({ filter: /.*/ }, async (args) => {
            if (args.kind === 'entry-point' || args.pluginData === 'inner') return undefined;
            if (isBuiltin(args.path)) return { path: args.path, external: true };
            const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: 'inner' });
            if (r.errors.length > 0) {
              unresolved ??= args.path;
              return { path: args.path, external: true };
            }
            if (TS_IMPORT.test(r.path)) tsImport ??= args.path;
            return { path: pathToFileURL(r.path).href, external: true };
          });
        },
      },
    ],
  });
  if (tsImport !== undefined || unresolved !== undefined) {
    skip(tsImport !== undefined ? `it imports TypeScript (${tsImport})` : `'${unresolved}' cannot be resolved`);
    return undefined;
  }
  const code = result.outputFiles[0]?.text ?? '';
  writePrivateFileAtomic(file, `${HEADER}${sha256(code)}\n${code}`, { overwrite: true });
  options.onEvent?.({ kind: 'compiled', module: path, file });
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}

/** Null when the cache file may be imported; 'absent'; or why it may not. */
function refuseReason(file: string): string | null {
  try {
    if (!checkTrustedFile(file, { secret: true })) return 'absent';
  } catch (e) {
    return (e as Error).message;
  }
  const text = readFileSync(file, 'utf8');
  const newline = text.indexOf('\n');
  const head = newline < 0 ? text : text.slice(0, newline);
  if (!head.startsWith(HEADER) || head.slice(HEADER.length) !== sha256(text.slice(newline + 1)))
    return 'its content does not match its hash';
  return null;
}

async function installedEsbuildVersion(): Promise<string> {
  const pkg = (await import('esbuild/package.json', { with: { type: 'json' } })) as { default: { version: string } };
  return pkg.default.version;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Whether Node loads the file as an ES module: `.mts`, or `.ts`/`.tsx` in a `"type": "module"` package. */
function isEsm(path: string): boolean {
  const ext = extname(path);
  if (ext === '.mts') return true;
  if (ext !== '.ts' && ext !== '.tsx') return false;
  for (let d = dirname(path); ; d = dirname(d)) {
    const pkg = join(d, 'package.json');
    if (existsSync(pkg)) {
      try {
        return (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: unknown }).type === 'module';
      } catch {
        return false;
      }
    }
    if (dirname(d) === d) return false;
  }
}
