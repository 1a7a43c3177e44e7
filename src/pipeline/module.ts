/** Loading a pipeline from a module file (.ts through tsx, or .js/.mjs). */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, isKeystackError } from '../errors.js';
import { importUserModule, moduleLoadError } from '../support/modules.js';
import { checkTrustedChain } from '../support/trust.js';
import { isPipeline, type Pipeline } from './step.js';

export interface LoadedPipeline {
  pipeline: Pipeline;
  /** Absolute path of the module. */
  module: string;
  exportName: string;
}

/**
 * Imports a pipeline module and picks its pipeline. The module and every directory above it pass
 * the plugin modules' trust checks first, at each load: the client's `pipeline run`, a
 * `local_process` step process and a remote worker all load through here, and each runs the code.
 */
export async function loadPipelineModule(
  file: string,
  exportName?: string,
  cwd = process.cwd(),
): Promise<LoadedPipeline> {
  const path = resolve(cwd, file);
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new ConfigError(`pipeline module ${file} does not exist or is not a file`, {
      hint: 'Give the path of a .ts, .js or .mjs file that exports a pipeline.',
    });
  }
  // The file checked is the file imported: a symlink re-targeted after the check changes nothing.
  const real = checkTrustedChain(path);
  let mod: Record<string, unknown>;
  try {
    mod = await importUserModule(real, cwd);
  } catch (e) {
    if (isKeystackError(e)) throw e; // already says what to do (a missing tsx)
    throw moduleLoadError(
      e,
      path,
      'pipeline module',
      'Fix the module so that it loads with `npx tsx FILE`, then try again.',
    );
  }
  const found = Object.entries(mod).filter(([, v]) => isPipeline(v)) as [string, Pipeline][];
  let pick: [string, Pipeline] | undefined;
  if (exportName !== undefined) {
    pick = found.find(([k]) => k === exportName);
    if (!pick)
      throw new ConfigError(`module ${path} exports no pipeline named '${exportName}'`, {
        hint: `Its pipelines: ${found.map(([k]) => k).join(', ') || 'none'}.`,
      });
  } else {
    pick = found.find(([k]) => k === 'default') ?? (found.length === 1 ? found[0] : undefined);
    if (!pick) {
      throw new ConfigError(
        found.length === 0 ? `module ${path} exports no pipeline` : `module ${path} exports several pipelines`,
        {
          hint:
            found.length === 0
              ? 'Export the result of pipeline(...), e.g. `export default pipeline(...)`.'
              : `Pick one with --pipeline: ${found.map(([k]) => k).join(', ')}.`,
        },
      );
    }
  }
  return { pipeline: pick[1], module: path, exportName: pick[0] };
}
