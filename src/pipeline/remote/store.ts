/**
 * The artifact store as workers use it: outputs and cache entries, shared by every machine of
 * the stack. TEMPORARY until the artifact-store interface (openArtifactStore) lands: the local
 * store with cache entries kept as files beside the artifacts.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedComponent } from '../../stack/runtime.js';
import { LocalArtifactStore, type StoredArtifact } from '../artifacts.js';

export type CacheEntry = StoredArtifact & { runId: string };

export interface RunArtifactStore {
  write(uri: string, value: unknown): Promise<StoredArtifact>;
  read(uri: string): Promise<unknown>;
  readable(uri: string): Promise<boolean>;
  putCacheEntry(cacheKey: string, entry: CacheEntry): Promise<void>;
  findCacheEntries(cacheKey: string): Promise<CacheEntry[]>;
}

export async function openRunArtifactStore(component: ResolvedComponent, configDir: string): Promise<RunArtifactStore> {
  const local = new LocalArtifactStore(component, configDir);
  const dir = (key: string) => join(local.root, 'cache', key);
  return {
    write: (uri, value) => local.write(uri, value),
    read: (uri) => local.read(uri),
    readable: (uri) => local.readable(uri),
    async putCacheEntry(key, entry) {
      mkdirSync(dir(key), { recursive: true, mode: 0o700 });
      const file = join(dir(key), `${entry.runId}.json`);
      writeFileSync(`${file}.tmp`, JSON.stringify(entry), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
    },
    async findCacheEntries(key) {
      if (!existsSync(dir(key))) return [];
      return readdirSync(dir(key)).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(dir(key), f), 'utf8')) as CacheEntry);
    },
  };
}
