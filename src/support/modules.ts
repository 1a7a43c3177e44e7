/**
 * Importing a user's module (plugins, pipelines): TypeScript through tsx, which is only loaded
 * when a `.ts` module is imported, or natively for `.js` / `.mjs`. tsx is an optional dependency:
 * only `.ts` modules need it, so its absence is a ConfigError saying what to install.
 */
import { extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as TsxApiModule from 'tsx/esm/api';
import { ConfigError } from '../errors.js';

const TS = new Set(['.ts', '.mts', '.cts', '.tsx']);

type TsxApi = Pick<typeof TsxApiModule, 'tsImport'>;

/**
 * Imports the module at the absolute `path`; relative imports inside it resolve from `cwd`.
 * `loadTsx` is how tsx is loaded (replaceable so tests can have it missing).
 */
export async function importUserModule(
  path: string,
  cwd: string = process.cwd(),
  loadTsx: () => Promise<TsxApi> = () => import('tsx/esm/api'),
): Promise<Record<string, unknown>> {
  if (TS.has(extname(path))) {
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
    return (await tsx.tsImport(pathToFileURL(path).href, pathToFileURL(`${cwd}/`).href)) as Record<string, unknown>;
  }
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
}
