/**
 * How the local store seals what it keeps: one format for every secret row and for the key check,
 * so a reader of the file (the backend, the key check, a restore's verification) opens it the
 * same way. Each row is sealed under its own scoped name as additional authenticated data, so a
 * row copied onto another name or scope fails to open (DESIGN §5).
 */
import { createHash } from 'node:crypto';
import { open, seal } from '../../support/aead.js';

/** The format byte every sealed blob starts with. */
const VERSION = 1;

/** The additional data of the secret whose scoped name (`scope/name`, or `name` unscoped) is `fullName`. */
export function rowAad(fullName: string): Buffer {
  return Buffer.from(`keystack/local/v1:${fullName}`, 'utf8');
}

/** `VERSION ‖ nonce ‖ tag ‖ ciphertext`. */
export function sealBlob(key: Buffer, aad: Buffer, plain: Buffer): Buffer {
  return seal(key, aad, plain, Buffer.from([VERSION]));
}

/** The plaintext, or null when the key, the name or the data does not match. */
export function openBlob(key: Buffer, aad: Buffer, blob: Buffer): Buffer | null {
  return blob[0] === VERSION ? open(key, aad, blob, 1) : null;
}

/**
 * A row's version for compare-and-set: a digest of its sealed blob. Every write seals with a fresh
 * nonce, so every write changes it, and no schema change (version column) is needed. The digest
 * of ciphertext reveals nothing about the values.
 */
export function blobVersion(blob: Buffer): string {
  return createHash('sha256').update(blob).digest('base64url');
}
