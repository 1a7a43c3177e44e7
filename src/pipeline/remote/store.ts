/** The artifact store as the client and the workers of a remote run open it. */
import type { ResolvedComponent } from '../../stack/runtime.js';
import { openArtifactStore, type ArtifactStore } from '../artifacts.js';

export type RunArtifactStore = ArtifactStore;

export async function openRunArtifactStore(
  component: ResolvedComponent,
  configDir: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<RunArtifactStore> {
  return openArtifactStore(component, { configDir, env });
}
