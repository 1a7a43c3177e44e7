/**
 * The built-in flavors, each loaded on first use, which keeps their module code (not only their
 * SDKs) off the start-up path; `local`, the default, too, so that the core imports no flavor
 * statically (the CLI bundle holds it, so its first load costs no file read).
 */
import { ConfigError, NotFoundError } from '../errors.js';
import type { FlavorDefinition } from './types.js';

type Loaded = FlavorDefinition<unknown>;
const load = (m: Promise<{ default: unknown }>) => m.then((x) => x.default as Loaded);

/** Every built-in flavor by name, in the order `flavor list` shows them. */
export const BUILTIN_FLAVOR_LOADERS: Readonly<Record<string, () => Promise<Loaded>>> = {
  local: () => load(import('../flavors/local/index.js')),
  aws: () => load(import('../flavors/aws.js')),
  vault: () => load(import('../flavors/vault.js')),
  gcp: () => load(import('../flavors/gcp.js')),
  azure: () => load(import('../flavors/azure.js')),
  github: () => load(import('../flavors/github.js')),
};

export async function loadBuiltinFlavors(): Promise<Loaded[]> {
  return Promise.all(Object.values(BUILTIN_FLAVOR_LOADERS).map((l) => l()));
}

export interface FlavorRegistry {
  get(name: string): Promise<FlavorDefinition<unknown>>;
  list(): Promise<{ flavor: FlavorDefinition<unknown>; source: string }[]>;
}

/** Built-ins plus custom flavors loaded from registered modules. */
export function createFlavorRegistry(
  custom: () => Promise<{ flavor: FlavorDefinition<unknown>; source: string }[]> = async () => [],
  failures: () => Promise<{ module: string; error: unknown }[]> = async () => [],
): FlavorRegistry {
  const list = async () => [
    ...(await loadBuiltinFlavors()).map((flavor) => ({ flavor, source: 'built-in' })),
    ...(await custom()),
  ];
  return {
    list,
    async get(name) {
      const builtin = Object.hasOwn(BUILTIN_FLAVOR_LOADERS, name) ? BUILTIN_FLAVOR_LOADERS[name] : undefined;
      if (builtin) return builtin();
      const found = (await custom()).find((c) => c.flavor.name === name);
      if (found) return found.flavor;
      const broken = await failures();
      if (broken.length > 0) {
        const why = broken.map((b) => `${b.module} (${firstLine(b.error)})`).join('; ');
        throw new ConfigError(
          `unknown secrets-manager flavor '${name}'; registered modules that failed to load: ${why}`,
          {
            hint: 'Restore or fix the module, or remove it with `keystack secrets-manager flavor unregister MODULE`.',
          },
        );
      }
      throw new NotFoundError(
        `unknown secrets-manager flavor '${name}'`,
        'Run `keystack secrets-manager flavor list`, or add one with `keystack secrets-manager flavor register MODULE`.',
      );
    },
  };
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n', 1)[0] ?? '';
}
