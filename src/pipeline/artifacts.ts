/**
 * Artifact stores at run time: how each built-in artifact-store flavor opens, keyed by flavor name
 * (the declarations are in stack/components.ts; the key type holds this table to exactly those).
 * The contract they share is in artifact-store.ts; `local` is local-artifacts.ts, `s3`
 * s3-artifacts.ts.
 */
import { ConfigError } from '../errors.js';
import type { ArtifactStoreFlavorName } from '../stack/components.js';
import type { ResolvedComponent } from '../stack/runtime.js';
import type { ArtifactStore } from './artifact-store.js';
import { LocalArtifactStore } from './local-artifacts.js';

export type { ArtifactStore, CacheEntry, StoredArtifact } from './artifact-store.js';

export interface ArtifactStoreContext {
  /** The config directory: the local store's default root. */
  configDir: string;
  /** The environment (for the SDK of a remote store). */
  env?: Readonly<Record<string, string | undefined>> | undefined;
}

export interface ArtifactStoreFlavor {
  /** The store for a component of this flavor. No I/O: clients are made on first use. */
  create(component: ResolvedComponent, ctx: ArtifactStoreContext): Promise<ArtifactStore>;
}

const ARTIFACT_STORES: Readonly<Record<ArtifactStoreFlavorName, ArtifactStoreFlavor>> = {
  local: {
    create: async (component, ctx) => new LocalArtifactStore(component, ctx.configDir),
  },
  s3: {
    async create(component, ctx) {
      // Loaded only for s3 stacks; the SDK itself loads on first use.
      const { S3ArtifactStore } = await import('./s3-artifacts.js');
      return new S3ArtifactStore(component, ctx.env ?? process.env);
    },
  },
};

/** The artifact store for a component, by flavor. No I/O: clients are made on first use. */
export async function openArtifactStore(
  component: ResolvedComponent,
  ctx: ArtifactStoreContext,
): Promise<ArtifactStore> {
  const name = component.flavor.name;
  if (Object.hasOwn(ARTIFACT_STORES, name))
    return ARTIFACT_STORES[name as ArtifactStoreFlavorName].create(component, ctx);
  throw new ConfigError(`artifact-store flavor '${name}' cannot be used by this version of keystack`, {
    hint: `Use an artifact store of flavor ${Object.keys(ARTIFACT_STORES).join(' or ')}.`,
  });
}
