/**
 * How the local store seals what it keeps: one format for every secret row and for the key check,
 * so a reader of the file (the backend, the key check, a restore's verification) opens it the
 * same way. Each row is sealed under its own scoped name and version as additional authenticated
 * data, so a row copied onto another name, scope or version fails to open (DESIGN §5).
 */
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

/** The format byte of a secret row sealed with its version (store version 2 onwards). */
const ROW_FORMAT = 2;

/**
 * The additional data of version `version` of the secret whose scoped name is `fullName`: a row
 * copied onto another name, or onto another version of the same name, fails to open.
 */
export function versionAad(fullName: string, version: number): Buffer {
  return Buffer.from(`keystack/local/v2:${version}:${fullName}`, 'utf8');
}

/** `ROW_FORMAT ‖ nonce ‖ tag ‖ ciphertext` under the version's additional data. */
export function sealRow(key: Buffer, fullName: string, version: number, plain: Buffer): Buffer {
  return seal(key, versionAad(fullName, version), plain, Buffer.from([ROW_FORMAT]));
}

/** The plaintext of a row sealed by sealRow, or null when key, name, version or data does not match. */
export function openRow(key: Buffer, fullName: string, version: number, blob: Buffer): Buffer | null {
  return blob[0] === ROW_FORMAT ? open(key, versionAad(fullName, version), blob, 1) : null;
}

/**
 * A row of a store from before versions (format 1, sealed under its name alone): what the
 * migration to store version 2 and the check of an old backup open.
 */
export function openLegacyRow(key: Buffer, fullName: string, blob: Buffer): Buffer | null {
  return openBlob(key, rowAad(fullName), blob);
}
