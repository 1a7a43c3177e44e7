/**
 * Artifact stores at run time. `ArtifactStore` is what the runner (and a remote worker) needs: step
 * outputs written and read by URI, and the cache index, kept in the store itself so that a second
 * machine sharing the store finds the same cache hits. `openArtifactStore` picks the
 * implementation by flavor.
 *
 * The `local` store keeps outputs as JSON files in a directory, encrypted with AES-256-GCM when the
 * store has an `encryption_key` (typically a secret reference, resolved on first use during a run).
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError } from '../errors.js';
import { ensurePrivateDir } from '../support/private-files.js';
import type { ResolvedComponent } from '../stack/runtime.js';
import { cacheEntryName, isSealed, openArtifact, parseCacheEntry, sealArtifact, sealingKey, UnreadableArtifactError } from './sealing.js';

export { UnreadableArtifactError } from './sealing.js';

export interface StoredArtifact {
  /** Path relative to the store's root (directory or s3 prefix). */
  uri: string;
  /** SHA-256 of the JSON content (before encryption): what downstream cache keys use. */
  hash: string;
}

/** A cached output: the artifact and the run that produced it. */
export interface CacheEntry extends StoredArtifact {
  runId: string;
}

export interface ArtifactStore {
  readonly component: ResolvedComponent;
  /** Writes one output completely or throws; a reader never sees half of it. */
  write(uri: string, value: unknown): Promise<StoredArtifact>;
  /** The value; throws when it is missing or cannot be decrypted. */
  read(uri: string): Promise<unknown>;
  /**
   * Whether an artifact can be read back with this store's current settings: a cached output
   * encrypted under an encryption_key that has since been rotated is not a usable cache hit.
   * Failing to reach the store or to get the key itself is an error, not a "no".
   */
  readable(uri: string): Promise<boolean>;
  /** Records that `entry` is a finished output for `cacheKey`. */
  putCacheEntry(cacheKey: string, entry: CacheEntry): Promise<void>;
  /** The outputs recorded for `cacheKey`, newest first (at most a few); [] when none. */
  findCacheEntries(cacheKey: string): Promise<CacheEntry[]>;
}

export interface ArtifactStoreContext {
  /** The config directory: the local store's default root. */
  configDir: string;
  /** The environment (for the SDK of a remote store). */
  env?: Readonly<Record<string, string | undefined>> | undefined;
}

/** How many cache entries a lookup considers: older ones are only history. */
export const CACHE_LOOKUP_LIMIT = 5;

/** The artifact store for a component, by flavor. No I/O: clients are made on first use. */
export async function openArtifactStore(component: ResolvedComponent, ctx: ArtifactStoreContext): Promise<ArtifactStore> {
  switch (component.flavor.name) {
    case 'local':
      return new LocalArtifactStore(component, ctx.configDir);
    case 's3': {
      // Loaded only for s3 stacks; the SDK itself loads on first use.
      const { S3ArtifactStore } = await import('./s3-artifacts.js');
      return new S3ArtifactStore(component, ctx.env ?? process.env);
    }
    default:
      throw new ConfigError(`artifact-store flavor '${component.flavor.name}' cannot be used by this version of keystack`, {
        hint: 'Use an artifact store of flavor local or s3.',
      });
  }
}

export class LocalArtifactStore implements ArtifactStore {
  readonly component: ResolvedComponent;
  readonly root: string;
  #key: Promise<Buffer | undefined> | undefined;

  constructor(component: ResolvedComponent, configDir: string) {
    if (component.flavor.name !== 'local') {
      throw new ConfigError(`artifact-store flavor '${component.flavor.name}' is not a local store`, { hint: 'Open it with openArtifactStore.' });
    }
    this.component = component;
    const path = component.config['path'];
    this.root = typeof path === 'string' && path !== '' ? path : join(configDir, 'artifacts');
  }

  async write(uri: string, value: unknown): Promise<StoredArtifact> {
    checkArtifactUri(uri);
    const json = Buffer.from(JSON.stringify({ value }), 'utf8');
    const key = await this.#encryptionKey();
    this.#writeFile(uri, key ? sealArtifact(key, json, uri) : json);
    return { uri, hash: createHash('sha256').update(json).digest('hex') };
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
    let json = body;
    if (isSealed(body)) {
      const key = await this.#encryptionKey();
      if (!key) {
        throw new UnreadableArtifactError(`artifact ${uri} is encrypted, but artifact-store '${this.component.name}' has no encryption_key`, {
          hint: 'Set the encryption_key it was written with, or run the pipeline again without cache: keystack pipeline run FILE --no-cache.',
        });
      }
      json = openArtifact(key, body, uri, this.component.name);
    }
    return decodeArtifact(json, uri, this.component.name);
  }

  exists(uri: string): boolean {
    checkArtifactUri(uri);
    return existsSync(join(this.root, uri));
  }

  async readable(uri: string): Promise<boolean> {
    if (!this.exists(uri)) return false;
    await this.#encryptionKey();
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

  #encryptionKey(): Promise<Buffer | undefined> {
    // The salt is the component's uuid, as artifacts written before the store interface had it.
    return (this.#key ??= sealingKey(this.component, `keystack-artifacts:${this.component.record.uuid}`));
  }
}

/** Where a store keeps its cache index, beside the runs' directories (run ids are uuids). */
export const CACHE_DIR = '.cache';

/**
 * Refuses a URI that could leave the store: absolute, with `..`, `.`, empty segments,
 * backslashes or NUL. The URI is not quoted: it may come from a message anyone could write.
 */
export function checkArtifactUri(uri: string): void {
  if (typeof uri !== 'string' || uri === '' || uri.startsWith('/') || /[\\\0]/.test(uri) || uri.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new ConfigError('refused an artifact URI that is not a relative path inside the artifact store (absolute, or with . or .. segments)', {
      hint: 'Artifact URIs are RUN/STEP.json paths; something handed this process another one.',
    });
  }
}

/**
 * The value of a stored output. What the store holds is not quoted in the error: the parser's
 * message would carry its first bytes, which may be anything (another file, a secret).
 */
export function decodeArtifact(json: Buffer, uri: string, store: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json.toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || !Object.hasOwn(parsed, 'value')) {
    throw new UnreadableArtifactError(`artifact ${uri} in artifact-store '${store}' is not an output keystack wrote (${json.length} bytes that are not its JSON)`, {
      hint: 'It was altered or replaced; run the pipeline again without cache: keystack pipeline run FILE --no-cache.',
    });
  }
  return (parsed as { value: unknown }).value;
}
