/**
 * The built-in flavors. Flavor modules are light (their SDKs load on first use), so they are
 * imported statically; `flavor list` needs their metadata anyway.
 */
import { ConfigError, NotFoundError } from '../secrets/errors.js';
import aws from './aws.js';
import azure from './azure.js';
import gcp from './gcp.js';
import github from './github.js';
import local from './local.js';
import vault from './vault.js';
import type { FlavorDefinition } from './types.js';

export const BUILTIN_FLAVORS: readonly FlavorDefinition<unknown>[] = [
  local as FlavorDefinition<unknown>,
  aws as FlavorDefinition<unknown>,
  vault as FlavorDefinition<unknown>,
  gcp as FlavorDefinition<unknown>,
  azure as FlavorDefinition<unknown>,
  github as FlavorDefinition<unknown>,
];

/** Flavors whose issues have not landed yet: listed, but not usable. */
export const PLANNED_FLAVORS: Readonly<Record<string, string>> = {
};

export interface FlavorRegistry {
  get(name: string): Promise<FlavorDefinition<unknown>>;
  list(): Promise<{ flavor: FlavorDefinition<unknown>; source: string }[]>;
}

/** Built-ins plus custom flavors loaded from registered modules. */
export function createFlavorRegistry(
  custom: () => Promise<{ flavor: FlavorDefinition<unknown>; source: string }[]> = async () => [],
  failures: () => Promise<{ module: string; error: unknown }[]> = async () => [],
): FlavorRegistry {
  const list = async () => [...BUILTIN_FLAVORS.map((flavor) => ({ flavor, source: 'built-in' })), ...(await custom())];
  return {
    list,
    async get(name) {
      const builtin = BUILTIN_FLAVORS.find((f) => f.name === name);
      if (builtin) return builtin;
      const found = (await custom()).find((c) => c.flavor.name === name);
      if (found) return found.flavor;
      if (PLANNED_FLAVORS[name]) {
        throw new NotFoundError(`the ${name} flavor is not available in this version of keystack`, 'Run `keystack secrets-manager flavor list` to see the available flavors.');
      }
      const broken = await failures();
      if (broken.length > 0) {
        const why = broken.map((b) => `${b.module} (${firstLine(b.error)})`).join('; ');
        throw new ConfigError(`unknown secrets-manager flavor '${name}'; registered modules that failed to load: ${why}`, {
          hint: 'Restore or fix the module, or remove it with `keystack secrets-manager flavor unregister MODULE`.',
        });
      }
      throw new NotFoundError(`unknown secrets-manager flavor '${name}'`, 'Run `keystack secrets-manager flavor list`, or add one with `keystack secrets-manager flavor register MODULE`.');
    },
  };
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n', 1)[0] ?? '';
}
