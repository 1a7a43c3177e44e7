/**
 * Importing a user's module (plugins, pipelines): TypeScript through tsx, which is only loaded
 * when a `.ts` module is imported, or natively for `.js` / `.mjs`.
 */
import { extname } from 'node:path';
import { pathToFileURL } from 'node:url';

const TS = new Set(['.ts', '.mts', '.cts', '.tsx']);

/** Imports the module at the absolute `path`; relative imports inside it resolve from `cwd`. */
export async function importUserModule(path: string, cwd: string = process.cwd()): Promise<Record<string, unknown>> {
  if (TS.has(extname(path))) {
    const { tsImport } = await import('tsx/esm/api');
    return (await tsImport(pathToFileURL(path).href, pathToFileURL(`${cwd}/`).href)) as Record<string, unknown>;
  }
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
}
