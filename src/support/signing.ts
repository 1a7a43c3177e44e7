/**
 * Ed25519 signing keys and signed messages (node:crypto only). Remote runs use them so that a
 * worker runs only what a client it trusts signed, and a client records only what a worker it
 * trusts signed: Redis carries the messages but cannot vouch for them (DESIGN §14).
 *
 * A key pair lives in one 0600 PKCS#8 file in a 0700 directory, created on first use and
 * trust-checked like every key file. A public key travels as one line of text,
 * `keystack-ed25519:<base64url of the 32 raw bytes>`, so it fits an environment variable, a
 * file of its own or a list file with one key per line.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as edSign,
  verify as edVerify,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { checkTrustedFile, readTrustedSecretFile } from './trust.js';
import { writeOnce } from './private-files.js';

export const PUBLIC_KEY_PREFIX = 'keystack-ed25519:';

export interface PublicKeyInfo {
  /** The one-line text form: what `keys show-public` prints and trust lists hold. */
  text: string;
  /** A short, stable name for the key: the first 16 hex digits of SHA-256 of its raw bytes. */
  id: string;
}

export interface TrustedKey extends PublicKeyInfo {
  key: KeyObject;
  /** Where the key was taken from (a file, a flag, a variable), for messages. */
  origin: string;
}

export interface SigningKey extends PublicKeyInfo {
  privateKey: KeyObject;
  file: string;
}

function idOf(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

function publicInfo(publicKey: KeyObject): PublicKeyInfo & { key: KeyObject } {
  const x = (publicKey.export({ format: 'jwk' }) as { x?: string }).x ?? '';
  return { text: `${PUBLIC_KEY_PREFIX}${x}`, id: idOf(Buffer.from(x, 'base64url')), key: publicKey };
}

/** The key file of `name` in `dir` (e.g. `<config dir>/keys`, `client`). */
export function signingKeyFile(dir: string, name: string): string {
  return join(dir, `${name}.ed25519`);
}

/**
 * Loads the key pair kept in `file`, creating it on first use. Concurrent first uses end with one
 * key; a damaged file is an error, never silently replaced (its public key may be trusted).
 */
export function loadOrCreateSigningKey(file: string): SigningKey {
  let pem = readTrustedSecretFile(file);
  if (!pem) {
    const { privateKey } = generateKeyPairSync('ed25519');
    pem = writeOnce(file, Buffer.from(privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 'utf8'));
  }
  return signingKeyFrom(pem, file);
}

/** The key pair in `file`, or null when there is none. */
export function loadSigningKey(file: string): SigningKey | null {
  const pem = readTrustedSecretFile(file);
  return pem ? signingKeyFrom(pem, file) : null;
}

function signingKeyFrom(pem: Buffer, file: string): SigningKey {
  let privateKey: KeyObject | undefined;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    privateKey = undefined;
  }
  if (privateKey?.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError(`the signing key file ${file} is damaged (not an Ed25519 private key)`, {
      hint: 'Restore it from a backup. A new key would have to be trusted again by every worker or client: move the file away and run `keystack keys show-public` to create one.',
    });
  }
  const { text, id } = publicInfo(createPublicKey(privateKey));
  return { privateKey, file, text, id };
}

/** Parses one public key line; `origin` names where it came from for the error. */
export function parsePublicKey(text: string, origin: string): TrustedKey {
  const t = text.trim();
  const raw = t.startsWith(PUBLIC_KEY_PREFIX) ? Buffer.from(t.slice(PUBLIC_KEY_PREFIX.length), 'base64url') : null;
  if (!raw || raw.length !== 32 || raw.toString('base64url') !== t.slice(PUBLIC_KEY_PREFIX.length)) {
    throw new ConfigError(`${origin} does not hold a keystack public key`, {
      hint: `A public key is one line starting with ${PUBLIC_KEY_PREFIX}, as printed by \`keystack keys show-public\`.`,
    });
  }
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  return { ...publicInfo(key), origin };
}

/** Public keys in text: one per line or separated by commas; `#` starts a comment. */
export function parsePublicKeys(text: string, origin: string): TrustedKey[] {
  const keys: TrustedKey[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    for (const part of (line.split('#', 1)[0] ?? '').split(',')) {
      if (part.trim() !== '') keys.push(parsePublicKey(part, `${origin} (line ${i + 1})`));
    }
  }
  return keys;
}

/**
 * Reads a file of trusted public keys. It decides what may run with this machine's credentials,
 * so it gets the same ownership and mode checks as any file keystack trusts. Absent → [].
 */
export function readPublicKeysFile(file: string): TrustedKey[] {
  if (!checkTrustedFile(file)) return [];
  return parsePublicKeys(readFileSync(file, 'utf8'), file);
}

/**
 * A signed message. The payload is kept as the exact JSON text that was signed, so a verifier
 * never has to re-serialise what it checks.
 */
export interface SignedMessage {
  /** The payload, as canonical JSON text. */
  p: string;
  /** The signing key's id. */
  k: string;
  /** The Ed25519 signature, base64url, over the domain line and the payload. */
  s: string;
}

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/** SHA-256 (hex) of a value's canonical JSON. */
export function canonicalHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/**
 * The bytes a signature covers. The domain names the kind of message, so that a signature made
 * for one kind (a step result) is never accepted as another (a job).
 */
function signedBytes(domain: string, payload: string): Buffer {
  return Buffer.from(`keystack-signed:${domain}\n${payload}`, 'utf8');
}

export function signMessage(key: SigningKey, domain: string, payload: unknown): SignedMessage {
  const p = canonicalJson(payload);
  return { p, k: key.id, s: edSign(null, signedBytes(domain, p), key.privateKey).toString('base64url') };
}

export type VerifyResult = { ok: true; payload: unknown; key: TrustedKey } | { ok: false; reason: string };

/**
 * Checks a message taken from an untrusted channel. The reasons are fixed texts: they quote
 * nothing of the message, which an attacker wrote.
 */
export function verifyMessage(
  message: unknown,
  domain: string,
  trusted: ReadonlyMap<string, TrustedKey>,
): VerifyResult {
  const m = message as Partial<Record<keyof SignedMessage, unknown>> | null;
  if (
    typeof m !== 'object' ||
    m === null ||
    typeof m.p !== 'string' ||
    typeof m.k !== 'string' ||
    typeof m.s !== 'string'
  ) {
    return { ok: false, reason: 'it is not signed' };
  }
  const key = trusted.get(m.k);
  if (!key) return { ok: false, reason: 'it is signed by a key that is not trusted here' };
  let good = false;
  try {
    good = edVerify(null, signedBytes(domain, m.p), key.key, Buffer.from(m.s, 'base64url'));
  } catch {
    good = false;
  }
  if (!good)
    return {
      ok: false,
      reason: 'its signature does not match its content (altered after signing, or signed for another purpose)',
    };
  try {
    return { ok: true, payload: JSON.parse(m.p) as unknown, key };
  } catch {
    return { ok: false, reason: 'its signed content is not JSON' };
  }
}

/** Trusted keys by id; the same key given twice is one entry. */
export function keyring(keys: readonly TrustedKey[]): Map<string, TrustedKey> {
  return new Map(keys.map((k) => [k.id, k]));
}
