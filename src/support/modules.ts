/**
 * Importing a user's module (plugins, pipelines): TypeScript through tsx, which is only loaded
 * when a `.ts` module is imported, or natively for `.js` / `.mjs`. tsx is an optional dependency:
 * only `.ts` modules need it, so its absence is a ConfigError saying what to install.
 */
import { existsSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as TsxApiModule from 'tsx/esm/api';
import { ConfigError } from '../errors.js';
import { importCachedModule, type ModuleCacheOptions } from './module-cache.js';

const TS = new Set(['.ts', '.mts', '.cts', '.tsx']);

type TsxApi = Pick<typeof TsxApiModule, 'tsImport'>;

/**
 * Imports the module at the absolute `path`; relative imports inside it resolve from `cwd`.
 * `loadTsx` is how tsx is loaded (replaceable so tests can have it missing). With `cache`, a
 * TypeScript module is compiled once and imported from the compile cache (module-cache.ts).
 */
export async function importUserModule(
  path: string,
  cwd: string = process.cwd(),
  loadTsx: () => Promise<TsxApi> = () => import('tsx/esm/api'),
  cache?: ModuleCacheOptions,
): Promise<Record<string, unknown>> {
  if (TS.has(extname(path))) {
    const cached = cache ? await importCachedModule(path, cache) : undefined;
    if (cached) return cached;
    let tsx: TsxApi;
    try {
      tsx = await loadTsx();
    } catch (e) {
      const code = (e as { code?: unknown } | null)?.code;
      if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw e;
      throw new ConfigError(
        `${path} is TypeScript, and importing it needs the npm package 'tsx', which is not installed`,
        {
          hint: 'Install it next to keystack (npm install tsx), or compile the module to .js or .mjs.',
        },
      );
    }
    const mod = (await tsx.tsImport(pathToFileURL(path).href, pathToFileURL(`${cwd}/`).href)) as Record<
      string,
      unknown
    >;
    return unwrapCommonJs(mod);
  }
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
}

/**
 * A `.ts` file in a CommonJS package is compiled to CommonJS, and importing it gives
 * `{ default: module.exports }`: its `export default` and named exports are one level down.
 * Beside it, Node may list the names its lexer found in module.exports, and Node 23+ adds
 * `module.exports` itself: those are the same exports again.
 */
function unwrapCommonJs(mod: Record<string, unknown>): Record<string, unknown> {
  const inner = mod['default'];
  if (
    typeof inner === 'object' &&
    inner !== null &&
    '__esModule' in inner &&
    Object.keys(mod).every((k) => k === 'default' || k === 'module.exports' || k in inner)
  ) {
    const { __esModule: _, ...exports } = inner as Record<string, unknown>;
    return exports;
  }
  return mod;
}

/**
 * Turns the error of importing a user's module into one line that names the fix: a package the
 * module imports that is not installed, ESM syntax in a module Node loads as CommonJS, or a
 * TypeScript syntax error (with its file:line:col, which esbuild puts on the message's second
 * line). `what` names the module ("pipeline module", "module"); `fallbackHint` is for the rest.
 */
export function moduleLoadError(e: unknown, path: string, what: string, fallbackHint: string): ConfigError {
  const message = (e as Partial<Error> | null)?.message ?? String(e);
  const code = (e as { code?: unknown } | null)?.code;
  const syntax = typeScriptSyntaxError(e, message);
  if (syntax) {
    return new ConfigError(`${what} ${path} does not compile: ${syntax}`, {
      hint: 'Fix the TypeScript at that line and column, then try again.',
      cause: e,
    });
  }
  const missing = /Cannot find (?:package|module) '([^']+)'/.exec(message)?.[1];
  if (missing !== undefined && !missing.startsWith('.') && !missing.startsWith('/') && !missing.startsWith('file:')) {
    const pkg = missing.startsWith('@') ? missing.split('/').slice(0, 2).join('/') : (missing.split('/')[0] ?? missing);
    return new ConfigError(`${what} ${path} imports '${missing}', which is not installed where Node looks for it`, {
      hint: `Run \`npm install ${pkg}\` in the module's project: Node looked in ${join(dirname(path), 'node_modules')} and in node_modules of every folder above it.`,
      cause: e,
    });
  }
  if (
    code === 'ERR_REQUIRE_ESM' ||
    code === 'ERR_REQUIRE_ASYNC_MODULE' ||
    /No "exports" main defined|Cannot use import statement outside a module|require\(\) of ES Module/.test(message)
  ) {
    const pkg = nearestPackageJson(dirname(path));
    return new ConfigError(`${what} ${path} uses ESM, but Node loads it as CommonJS: ${firstLine(message)}`, {
      hint: `Rename it to ${/\.[cm]?tsx?$/.test(path) ? '.mts' : '.mjs'}, or set "type": "module" in ${pkg ?? 'its package.json'}.`,
      cause: e,
    });
  }
  return new ConfigError(`cannot load ${what} ${path}: ${firstLine(message)}`, { hint: fallbackHint, cause: e });
}

/**
 * `FILE:LINE:COL: TEXT` of the first error of an esbuild failure, or undefined for another error.
 * esbuild counts columns from 0 and may give the file relative to the working directory; editors
 * and terminals jump to an absolute path and a column counted from 1.
 */
function typeScriptSyntaxError(e: unknown, message: string): string | undefined {
  const first = (
    e as { errors?: { text?: string; location?: { file: string; line: number; column: number } | null }[] }
  ).errors?.[0];
  if (first?.location) {
    const { file, line, column } = first.location;
    return `${resolve(file)}:${line}:${column + 1}: ${first.text ?? ''}`;
  }
  if (!message.startsWith('Transform failed with')) return undefined;
  const at = /^(.+):(\d+):(\d+): ERROR: (.*)$/m.exec(message);
  return at ? `${resolve(at[1] ?? '')}:${at[2]}:${Number(at[3]) + 1}: ${at[4]}` : undefined;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

function nearestPackageJson(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const file = join(d, 'package.json');
    if (existsSync(file)) return file;
    if (dirname(d) === d) return undefined;
  }
}
