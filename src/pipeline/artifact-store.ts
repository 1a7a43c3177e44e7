/**
 * What every artifact store shares, apart from sealing (sealing.ts): the `ArtifactStore` contract
 * the runner (and a remote worker) uses, the URI rule, the stored output's JSON form and the cache
 * index's entry format. Both stores and the factory (artifacts.ts) import it, and it imports none
 * of them, so the stores form no import circle.
 */
import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.js';
import type { ResolvedComponent } from '../stack/runtime.js';

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
  /** Sealed copies of outputs, for a remote run to carry beside the store. */
  readonly copies: SealedCopies;
  /**
   * Writes one output completely or throws; a reader never sees half of it. `encoded`, when the
   * caller has it already (the leak guard scanned it), is `encodeArtifact(value)`, written as is.
   */
  write(uri: string, value: unknown, encoded?: EncodedArtifact): Promise<StoredArtifact>;
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

/**
 * An output sealed exactly as the store keeps it, under its URI, so that it can travel outside
 * the store (in Redis) and be read without a request to the store (sealing.ts).
 */
export interface SealedCopies {
  /** `json` sealed for `uri`; undefined when the store has no encryption_key: no copy travels in clear. */
  sealCopy(json: Buffer, uri: string): Promise<Buffer | undefined>;
  /**
   * The JSON of a copy made for `uri` under this store's key. Throws UnreadableArtifactError for
   * anything else: unsealed bytes, another URI's copy, another key's, or altered bytes.
   */
  openCopy(body: Buffer, uri: string): Promise<Buffer>;
}

/** An artifact that exists but cannot be read with the store's current key. */
export class UnreadableArtifactError extends ConfigError {}

/** How many cache entries a lookup considers: older ones are only history. */
export const CACHE_LOOKUP_LIMIT = 5;

/** Where a store keeps its cache index, beside the runs' directories (run ids are uuids). */
export const CACHE_DIR = '.cache';

/**
 * Refuses a URI that could leave the store: absolute, with `..`, `.`, empty segments,
 * backslashes or NUL. The URI is not quoted: it may come from a message anyone could write.
 */
export function checkArtifactUri(uri: string): void {
  if (
    typeof uri !== 'string' ||
    uri === '' ||
    uri.startsWith('/') ||
    /[\\\0]/.test(uri) ||
    uri.split('/').some((s) => s === '' || s === '.' || s === '..')
  ) {
    throw new ConfigError(
      'refused an artifact URI that is not a relative path inside the artifact store (absolute, or with . or .. segments)',
      {
        hint: 'Artifact URIs are RUN/STEP.json paths; something handed this process another one.',
      },
    );
  }
}

/** An output as stored before any sealing, and its hash (StoredArtifact.hash). */
export interface EncodedArtifact {
  json: Buffer;
  hash: string;
}

export function encodeArtifact(value: unknown): EncodedArtifact {
  const json = Buffer.from(JSON.stringify({ value }), 'utf8');
  return { json, hash: createHash('sha256').update(json).digest('hex') };
}

/**
 * encodeArtifact, or undefined for a value JSON cannot hold (a cycle, a BigInt): the runner's
 * JSON check then says what is wrong with it, after the leak guard has looked at it field by field.
 */
export function tryEncodeArtifact(value: unknown): EncodedArtifact | undefined {
  try {
    return encodeArtifact(value);
  } catch {
    return undefined;
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
    throw new UnreadableArtifactError(
      `artifact ${uri} in artifact-store '${store}' is not an output keystack wrote (${json.length} bytes that are not its JSON)`,
      {
        hint: 'It was altered or replaced; run the pipeline again without cache: keystack pipeline run FILE --no-cache.',
      },
    );
  }
  return (parsed as { value: unknown }).value;
}

/**
 * A cache entry's name: newest first when sorted in reverse, without relying on file or object
 * timestamps (which S3 keeps at one-second resolution).
 */
export function cacheEntryName(runId: string, now: number = Date.now()): string {
  return `${now.toString().padStart(15, '0')}-${runId}.json`;
}

/** A stored cache entry, or null when it is not one (a foreign or damaged file is not a hit). */
export function parseCacheEntry(text: string): CacheEntry | null {
  try {
    const e = JSON.parse(text) as Partial<CacheEntry> | null;
    if (e && typeof e.uri === 'string' && typeof e.hash === 'string' && typeof e.runId === 'string')
      return { uri: e.uri, hash: e.hash, runId: e.runId };
  } catch {
    // fall through
  }
  return null;
}
