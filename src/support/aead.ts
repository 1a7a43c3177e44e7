/**
 * The one place keystack encrypts at rest: AES-256-GCM with additional data, and keys derived
 * from passphrases with scrypt under one policy. The local store, its backups and sealed
 * artifacts all use it, so a cost or cipher choice is made here once instead of per format.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt, scryptSync } from 'node:crypto';

export interface KdfParams {
  N: number;
  r: number;
  p: number;
}

/**
 * What every new passphrase-derived key uses. Local stores record only their salt, not these,
 * and have always been derived with exactly them: raising the cost needs a store format that
 * records its parameters first (as backups and KSA2 artifacts do).
 */
export const KDF_POLICY: Readonly<KdfParams> = Object.freeze({ N: 2 ** 15, r: 8, p: 1 });
/** A fresh random salt's length, where the format keeps the salt (the local store, backups). */
export const SALT_BYTES = 16;
export const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** scrypt's memory is 128·N·r bytes: the policy's is 32 MiB, and a file may ask for up to 8 times that. */
const MAX_KDF_MEMORY = 256 * 1024 * 1024;

/**
 * Parameters read from a file are whatever its writer chose: these bounds keep a forged header
 * from making keystack spend gigabytes or minutes on one derivation, while leaving room above the policy.
 */
export function kdfParamsAcceptable({ N, r, p }: KdfParams): boolean {
  return (
    [N, r, p].every((n) => Number.isInteger(n) && n >= 1) &&
    N >= 2 &&
    (N & (N - 1)) === 0 &&
    N <= 2 ** 20 &&
    r <= 16 &&
    p <= 4 &&
    128 * N * r <= MAX_KDF_MEMORY
  );
}

const KDF_SCRYPT = 1;
/** The length of encodeKdfParams' output. */
export const KDF_HEADER_BYTES = 4;

/** scrypt's parameters in 4 bytes: the KDF's id (1 = scrypt), log2 N, r, p. */
export function encodeKdfParams(params: KdfParams): Buffer {
  if (!kdfParamsAcceptable(params)) throw new RangeError('scrypt parameters outside the accepted bounds');
  return Buffer.from([KDF_SCRYPT, Math.log2(params.N), params.r, params.p]);
}

/** The parameters encodeKdfParams wrote; null for another KDF, bytes too short or bounds exceeded. */
export function decodeKdfParams(bytes: Buffer): KdfParams | null {
  const [kdf, log2N, r, p] = bytes;
  if (kdf !== KDF_SCRYPT || log2N === undefined || r === undefined || p === undefined) return null;
  const params = { N: 2 ** log2N, r, p };
  return kdfParamsAcceptable(params) ? params : null;
}

const derived = new Map<string, Buffer>();
const deriving = new Map<string, Promise<Buffer>>();
let derivations = 0;

/** How many scrypt derivations this process ran (memo misses): tests check a worker derives once, not per run. */
export function keyDerivations(): number {
  return derivations;
}

/**
 * scrypt costs ~100 ms by design; keys are memoised per process. The map is keyed by a hash, so
 * the passphrase itself is not kept alive in memory for the life of the process.
 */
function memoId(passphrase: string, salt: Buffer | string, { N, r, p }: KdfParams): string {
  return createHash('sha256')
    .update(`${N}:${r}:${p}\0`)
    .update(salt)
    .update('\0')
    .update(passphrase, 'utf8')
    .digest('hex');
}

function scryptOptions({ N, r, p }: KdfParams) {
  // Node's default ceiling (32 MiB) is just below what the policy needs.
  return { N, r, p, maxmem: 256 * N * r + 1024 * 1024 };
}

/** The key for `passphrase`, synchronously (for callers inside a database transaction). */
export function deriveKeySync(passphrase: string, salt: Buffer | string, params: KdfParams = KDF_POLICY): Buffer {
  const id = memoId(passphrase, salt, params);
  let key = derived.get(id);
  if (!key) {
    derivations++;
    derived.set(id, (key = scryptSync(passphrase, salt, KEY_BYTES, scryptOptions(params))));
  }
  return key;
}

/** The key for `passphrase`, off the event loop's thread. */
export async function deriveKey(
  passphrase: string,
  salt: Buffer | string,
  params: KdfParams = KDF_POLICY,
): Promise<Buffer> {
  const id = memoId(passphrase, salt, params);
  const known = derived.get(id);
  if (known) return known;
  // Two runs starting at once on a worker wait for one derivation, not two.
  let key = deriving.get(id);
  if (!key) {
    derivations++;
    key = new Promise<Buffer>((resolve, reject) =>
      scrypt(passphrase, salt, KEY_BYTES, scryptOptions(params), (e, k) => (e ? reject(e) : resolve(k))),
    ).finally(() => deriving.delete(id));
    deriving.set(id, key);
  }
  const k = await key;
  derived.set(id, k);
  return k;
}

/** AES-256-GCM of the concatenated `parts` under a nonce the caller chose (and must never reuse). */
export function encrypt(key: Buffer, nonce: Buffer, aad: Buffer, ...parts: Buffer[]): { body: Buffer; tag: Buffer } {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  const body = Buffer.concat([...parts.map((x) => c.update(x)), c.final()]);
  return { body, tag: c.getAuthTag() };
}

/** The plaintext, or null when the key, the additional data or the bytes do not match. */
export function decrypt(key: Buffer, nonce: Buffer, aad: Buffer, body: Buffer, tag: Buffer): Buffer | null {
  try {
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAAD(aad);
    d.setAuthTag(tag);
    return Buffer.concat([d.update(body), d.final()]);
  } catch {
    return null;
  }
}

/** `head ‖ nonce ‖ tag ‖ ciphertext` under a fresh random nonce; `head` is the caller's format marker. */
export function seal(key: Buffer, aad: Buffer, plain: Buffer, head: Buffer = Buffer.alloc(0)): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const { body, tag } = encrypt(key, nonce, aad, plain);
  return Buffer.concat([head, nonce, tag, body]);
}

/** The plaintext of what seal wrote after a head of `headBytes`; null when it does not open. */
export function open(key: Buffer, aad: Buffer, sealed: Buffer, headBytes = 0): Buffer | null {
  const at = headBytes + NONCE_BYTES;
  if (sealed.length < at + TAG_BYTES) return null;
  return decrypt(
    key,
    sealed.subarray(headBytes, at),
    aad,
    sealed.subarray(at + TAG_BYTES),
    sealed.subarray(at, at + TAG_BYTES),
  );
}
