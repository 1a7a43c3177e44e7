/**
 * User modules that extend keystack: a module exports flavors and/or schemas (as named exports,
 * a default export, or arrays of them). TypeScript modules are compiled on the fly (with tsx, or
 * once into the compile cache when one is given), so users can write `my-flavor.ts` without a
 * build step.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, isKeystackError } from '../errors.js';
import { isSecretSchema, type SecretSchema } from '../secrets/schema.js';
import type { ModuleCacheOptions } from '../support/module-cache.js';
import { importUserModule, moduleLoadError } from '../support/modules.js';
import { checkTrustedChain } from '../support/trust.js';
import { isFlavorDefinition, type FlavorDefinition } from './types.js';

export interface PluginExports {
  module: string;
  flavors: FlavorDefinition<unknown>[];
  schemas: SecretSchema<unknown>[];
}

const loaded = new Map<string, Promise<PluginExports>>();

/**
 * The real path of a module to register, after its trust checks: a symlink is resolved, since
 * re-targeting it later would run another file under the registered name.
 */
export function resolveModulePath(module: string, cwd = process.cwd()): string {
  const path = resolve(cwd, module);
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new ConfigError(`module ${module} does not exist or is not a file`, {
      hint: 'Give the path of a .js, .mjs or .ts file that exports a flavor or schemas.',
    });
  }
  return checkTrustedChain(path);
}

/**
 * Imports a plugin module once per process and collects what it exports. The module and every
 * directory above it are trust-checked again first: what was safe at registration may not be now.
 */
export function loadPlugin(path: string, cache?: ModuleCacheOptions): Promise<PluginExports> {
  let p = loaded.get(path);
  if (!p) loaded.set(path, (p = importPlugin(path, cache)));
  return p;
}

async function importPlugin(path: string, cache: ModuleCacheOptions | undefined): Promise<PluginExports> {
  const real = checkTrustedChain(path);
  if (real !== path) {
    throw new ConfigError(`module ${path} now resolves to ${real} through a symlink`, {
      hint: `A link can be re-targeted to run other code. If ${real} is right, register it by that path and unregister ${path}.`,
    });
  }
  let mod: Record<string, unknown>;
  try {
    mod = await importUserModule(path, process.cwd(), undefined, cache);
  } catch (e) {
    if (isKeystackError(e)) throw e; // already says what to do (a missing tsx)
    throw moduleLoadError(e, path, 'module', 'Fix the module so that it loads with `node`, then try again.');
  }
  const flavors: FlavorDefinition<unknown>[] = [];
  const schemas: SecretSchema<unknown>[] = [];
  const visit = (v: unknown) => {
    if (isFlavorDefinition(v)) {
      checkFlavor(v, path);
      flavors.push(v);
      for (const s of v.schemas ?? []) schemas.push(s);
    } else if (isSecretSchema(v)) schemas.push(v);
    else if (Array.isArray(v)) v.forEach(visit);
  };
  for (const v of Object.values(mod)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && !isFlavorDefinition(v) && !isSecretSchema(v)) {
      Object.values(v as Record<string, unknown>).forEach(visit); // `export default { flavor, schemas }`
    } else visit(v);
  }
  if (flavors.length === 0 && schemas.length === 0) {
    throw new ConfigError(`module ${path} exports no keystack flavor or schema`, {
      hint: 'Export the result of defineFlavor(...) or defineSchema(...) from it.',
    });
  }
  return { module: path, flavors: unique(flavors), schemas: unique(schemas) };
}

const FLAVOR_NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;

/** Catches a hand-made or mistyped flavor object at registration instead of at first use. */
function checkFlavor(f: FlavorDefinition<unknown>, path: string): void {
  const bad = (what: string) =>
    new ConfigError(`module ${path} exports a flavor with ${what}`, {
      hint: 'Build it with defineFlavor({...}); see docs/custom-flavors.md.',
    });
  if (typeof f.name !== 'string' || !FLAVOR_NAME.test(f.name))
    throw bad(`an invalid name ${JSON.stringify(f.name)} (use lowercase letters, digits, - and _)`);
  if (typeof f.create !== 'function') throw bad(`no create(ctx) function ('${f.name}')`);
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a hand-made flavor object may lack nameRule, whatever its type claims
  if (!(f.nameRule?.pattern instanceof RegExp) || !(f.nameRule.maxLength > 0))
    throw bad(`no valid nameRule ('${f.name}')`);
  if (!(f.maxContentBytes > 0)) throw bad(`no valid maxContentBytes ('${f.name}')`);
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
