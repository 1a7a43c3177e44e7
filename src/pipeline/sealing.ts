/**
 * Sealing of artifacts: AES-256-GCM (support/aead.ts) under a key derived with scrypt from the
 * store's `encryption_key`, with the artifact's URI as additional data, so an object copied onto
 * another URI fails to decrypt.
 *
 * Written now, `KSA2`: `'KSA2' ‖ KDF parameters (4 bytes, aead.encodeKdfParams) ‖ nonce (12) ‖
 * tag (16) ‖ ciphertext`, the 8-byte header being additional data too. A reader derives the key
 * with the parameters the artifact names, so raising the policy later leaves older ones readable.
 * Read only, `KSA1`: `'KSA1' ‖ nonce ‖ tag ‖ ciphertext`, which recorded no parameters: it was
 * always scrypt's defaults (N=2^14, r=8, p=1).
 *
 * The salt is the store's, not the artifact's (the caller picks it: see each store), so it is not
 * in the header: an artifact never tells a reader which salt to use.
 *
 * A sealed copy (SealedCopies) is those same bytes carried outside the store, in Redis, for a
 * remote run's next step and its client (issue 22): only a store with a key makes one, and
 * opening one refuses anything unsealed, since a copy, unlike the store, can be written by
 * whoever can write to Redis.
 */
import {
  decodeKdfParams,
  deriveKey,
  encodeKdfParams,
  KDF_HEADER_BYTES,
  KDF_POLICY,
  open,
  seal,
  type KdfParams,
} from '../support/aead.js';
import type { ResolvedComponent } from '../stack/runtime.js';
import { UnreadableArtifactError, type SealedCopies } from './artifact-store.js';

const KSA1 = Buffer.from('KSA1');
const KSA2 = Buffer.from('KSA2');
const KSA1_KDF: Readonly<KdfParams> = Object.freeze({ N: 2 ** 14, r: 8, p: 1 });
const KSA2_HEAD_BYTES = KSA2.length + KDF_HEADER_BYTES;

function isSealed(body: Buffer): boolean {
  const magic = body.subarray(0, 4);
  return magic.equals(KSA2) || magic.equals(KSA1);
}

/** Seals and opens one store's artifacts with the key its `encryption_key` gives. */
export class ArtifactSealer implements SealedCopies {
  readonly #component: ResolvedComponent;
  readonly #salt: string;
  /** One derivation per parameter set; the passphrase itself is not kept. */
  readonly #keys = new Map<string, Promise<Buffer | undefined>>();

  constructor(component: ResolvedComponent, salt: string) {
    this.#component = component;
    this.#salt = salt;
  }

  /**
   * The key for `params` (resolved through the stack's secrets manager); undefined when the store
   * has no `encryption_key`. Failing to resolve it throws.
   */
  key(params: Readonly<KdfParams> = KDF_POLICY): Promise<Buffer | undefined> {
    const id = `${params.N}:${params.r}:${params.p}`;
    let key = this.#keys.get(id);
    if (!key) {
      key = this.#component
        .getString('encryption_key')
        .then((passphrase) => (passphrase === undefined ? undefined : deriveKey(passphrase, this.#salt, params)));
      this.#keys.set(id, key);
    }
    return key;
  }

  /** `json` as the store keeps it: sealed (KSA2) when the store has a key, else as it is. */
  async seal(json: Buffer, uri: string): Promise<Buffer> {
    const key = await this.key();
    if (!key) return json;
    const head = Buffer.concat([KSA2, encodeKdfParams(KDF_POLICY)]);
    return seal(key, Buffer.concat([head, Buffer.from(uri)]), json, head);
  }

  async sealCopy(json: Buffer, uri: string): Promise<Buffer | undefined> {
    return (await this.key()) ? this.seal(json, uri) : undefined;
  }

  async openCopy(body: Buffer, uri: string): Promise<Buffer> {
    if (!isSealed(body)) {
      throw new UnreadableArtifactError(
        `the copy of artifact ${uri} carried beside artifact-store '${this.#component.name}' is not sealed`,
        { hint: 'Something other than a keystack worker wrote it; the output is read from the store instead.' },
      );
    }
    return this.open(body, uri);
  }

  /** The JSON of a stored artifact, unsealing it when it is sealed; UnreadableArtifactError when it cannot be. */
  async open(body: Buffer, uri: string): Promise<Buffer> {
    if (!isSealed(body)) return body;
    const store = this.#component.name;
    const v2 = body.subarray(0, 4).equals(KSA2);
    const params = v2 ? decodeKdfParams(body.subarray(4, KSA2_HEAD_BYTES)) : KSA1_KDF;
    if (!params) {
      throw new UnreadableArtifactError(
        `artifact ${uri} of artifact-store '${store}' has a damaged header (its key-derivation parameters are unknown or beyond what keystack accepts)`,
        {
          hint: 'It was altered or written by something else; run the pipeline again without cache: keystack pipeline run FILE --no-cache.',
        },
      );
    }
    const key = await this.key(params);
    if (!key) {
      throw new UnreadableArtifactError(
        `artifact ${uri} is encrypted, but artifact-store '${store}' has no encryption_key`,
        {
          hint: 'Set the encryption_key it was written with, or run the pipeline again without cache: keystack pipeline run FILE --no-cache.',
        },
      );
    }
    const head = body.subarray(0, v2 ? KSA2_HEAD_BYTES : KSA1.length);
    const plain = open(key, v2 ? Buffer.concat([head, Buffer.from(uri)]) : Buffer.from(uri), body, head.length);
    if (!plain) {
      throw new UnreadableArtifactError(
        `cannot decrypt artifact ${uri} of artifact-store '${store}': wrong encryption_key, or the file was altered`,
        {
          hint: `If the encryption_key was rotated, older outputs cannot be read with the new one: run the pipeline again (cached steps whose outputs cannot be read run again), or restore the old key to read them.`,
        },
      );
    }
    return plain;
  }
}
