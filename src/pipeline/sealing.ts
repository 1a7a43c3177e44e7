/**
 * What every artifact store shares: AES-256-GCM sealing of artifacts under a key derived from the
 * store's `encryption_key`, with the artifact's URI as additional data (an object copied onto
 * another URI fails to decrypt), and the cache index's entry format.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { ConfigError } from '../errors.js';
import type { ResolvedComponent } from '../stack/runtime.js';
import type { CacheEntry } from './artifacts.js';

const MAGIC = Buffer.from('KSA1');

/** An artifact that exists but cannot be read with the store's current key. */
export class UnreadableArtifactError extends ConfigError {}

/** The key for `encryption_key` (resolved through the stack's secrets manager); undefined without one. */
export async function sealingKey(component: ResolvedComponent, salt: string): Promise<Buffer | undefined> {
  const passphrase = await component.getString('encryption_key');
  if (passphrase === undefined) return undefined;
  return new Promise<Buffer>((resolve, reject) => scrypt(passphrase, salt, 32, (e, k) => (e ? reject(e) : resolve(k))));
}

export function isSealed(body: Buffer): boolean {
  return body.subarray(0, MAGIC.length).equals(MAGIC);
}

export function sealArtifact(key: Buffer, plain: Buffer, aad: string): Buffer {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(Buffer.from(aad));
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([MAGIC, nonce, c.getAuthTag(), body]);
}

export function openArtifact(key: Buffer, sealed: Buffer, aad: string, store: string): Buffer {
  const nonce = sealed.subarray(4, 16);
  const tag = sealed.subarray(16, 32);
  try {
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(tag);
    return Buffer.concat([d.update(sealed.subarray(32)), d.final()]);
  } catch {
    throw new UnreadableArtifactError(`cannot decrypt artifact ${aad} of artifact-store '${store}': wrong encryption_key, or the file was altered`, {
      hint: `If the encryption_key was rotated, older outputs cannot be read with the new one: run the pipeline again (cached steps whose outputs cannot be read run again), or restore the old key to read them.`,
    });
  }
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
    if (e && typeof e.uri === 'string' && typeof e.hash === 'string' && typeof e.runId === 'string') return { uri: e.uri, hash: e.hash, runId: e.runId };
  } catch {
    // fall through
  }
  return null;
}
