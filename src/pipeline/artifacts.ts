/**
 * Artifact stores at run time: `openArtifactStore` picks the implementation by flavor. The
 * contract they share is in artifact-store.ts; `local` is local-artifacts.ts, `s3` s3-artifacts.ts.
 */
import { ConfigError } from '../errors.js';
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

/** The artifact store for a component, by flavor. No I/O: clients are made on first use. */
export async function openArtifactStore(
  component: ResolvedComponent,
  ctx: ArtifactStoreContext,
): Promise<ArtifactStore> {
  switch (component.flavor.name) {
    case 'local':
      return new LocalArtifactStore(component, ctx.configDir);
    case 's3': {
      // Loaded only for s3 stacks; the SDK itself loads on first use.
      const { S3ArtifactStore } = await import('./s3-artifacts.js');
      return new S3ArtifactStore(component, ctx.env ?? process.env);
    }
    default:
      throw new ConfigError(
        `artifact-store flavor '${component.flavor.name}' cannot be used by this version of keystack`,
        {
          hint: 'Use an artifact store of flavor local or s3.',
        },
      );
  }
}
