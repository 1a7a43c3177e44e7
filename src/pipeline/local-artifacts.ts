/**
 * The `local` artifact store: outputs as JSON files in a directory, sealed (sealing.ts) when the
 * store has an `encryption_key` (typically a secret reference, resolved on first use during a run).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError } from '../errors.js';
import { ensurePrivateDir } from '../support/private-files.js';
import type { ResolvedComponent } from '../stack/runtime.js';
import {
  CACHE_DIR,
  CACHE_LOOKUP_LIMIT,
  cacheEntryName,
  checkArtifactUri,
  decodeArtifact,
  encodeArtifact,
  parseCacheEntry,
  type ArtifactStore,
  type CacheEntry,
  type EncodedArtifact,
  type SealedCopies,
  type StoredArtifact,
} from './artifact-store.js';
import { ArtifactSealer } from './sealing.js';

export class LocalArtifactStore implements ArtifactStore {
  readonly component: ResolvedComponent;
  readonly root: string;
  readonly #sealer: ArtifactSealer;

  constructor(component: ResolvedComponent, configDir: string) {
    if (component.flavor.name !== 'local') {
      throw new ConfigError(`artifact-store flavor '${component.flavor.name}' is not a local store`, {
        hint: 'Open it with openArtifactStore.',
      });
    }
    this.component = component;
    const path = component.config['path'];
    this.root = typeof path === 'string' && path !== '' ? path : join(configDir, 'artifacts');
    // The salt is the component's uuid, as artifacts written before the store interface had it.
    this.#sealer = new ArtifactSealer(component, `keystack-artifacts:${component.record.uuid}`);
  }

  get copies(): SealedCopies {
    return this.#sealer;
  }

  async write(uri: string, value: unknown, encoded?: EncodedArtifact): Promise<StoredArtifact> {
    checkArtifactUri(uri);
    const { json, hash } = encoded ?? encodeArtifact(value);
    this.#writeFile(uri, await this.#sealer.seal(json, uri));
    return { uri, hash };
  }

  async read(uri: string): Promise<unknown> {
    checkArtifactUri(uri);
    const file = join(this.root, uri);
    let body: Buffer;
    try {
      body = readFileSync(file);
    } catch {
      throw new ConfigError(`artifact ${uri} is missing from artifact-store '${this.component.name}' (${this.root})`, {
        hint: 'Run the pipeline again without cache: keystack pipeline run FILE --no-cache.',
      });
    }
    return decodeArtifact(await this.#sealer.open(body, uri), uri, this.component.name);
  }

  exists(uri: string): boolean {
    checkArtifactUri(uri);
    return existsSync(join(this.root, uri));
  }

  async readable(uri: string): Promise<boolean> {
    if (!this.exists(uri)) return false;
    await this.#sealer.key();
    try {
      await this.read(uri);
      return true;
    } catch {
      return false; // rotated key, altered or half-written file: run the step again
    }
  }

  putCacheEntry(cacheKey: string, entry: CacheEntry): Promise<void> {
    this.#writeFile(join(CACHE_DIR, cacheKey, cacheEntryName(entry.runId)), Buffer.from(JSON.stringify(entry), 'utf8'));
    return Promise.resolve();
  }

  findCacheEntries(cacheKey: string): Promise<CacheEntry[]> {
    const dir = join(this.root, CACHE_DIR, cacheKey);
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.json'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return Promise.resolve([]);
      throw e;
    }
    const entries: CacheEntry[] = [];
    for (const n of names.sort().reverse().slice(0, CACHE_LOOKUP_LIMIT)) {
      const entry = parseCacheEntry(readFileSync(join(dir, n), 'utf8'));
      if (entry) entries.push(entry);
    }
    return Promise.resolve(entries);
  }

  /** Atomic: a temp file renamed over the target, so a crash leaves the old file or the new one. */
  #writeFile(relative: string, body: Buffer): void {
    const file = join(this.root, relative);
    ensurePrivateDir(dirname(file));
    const tmp = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
    writeFileSync(tmp, body, { mode: 0o600 });
    renameSync(tmp, file);
  }
}
