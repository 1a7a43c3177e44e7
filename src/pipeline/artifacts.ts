/**
 * The `local` artifact store at run time: step outputs as JSON files in a directory, encrypted
 * with AES-256-GCM when the store has an `encryption_key` (typically a secret reference, resolved
 * on first use during the run).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError } from '../secrets/errors.js';
import { ensurePrivateDir } from '../support/private-files.js';
import type { ResolvedComponent } from '../stack/runtime.js';

const MAGIC = Buffer.from('KSA1');

export interface StoredArtifact {
  /** Path relative to the store's directory. */
  uri: string;
  /** SHA-256 of the JSON content (before encryption): what downstream cache keys use. */
  hash: string;
}

export class LocalArtifactStore {
  readonly component: ResolvedComponent;
  readonly root: string;
  #key: Promise<Buffer | undefined> | undefined;

  constructor(component: ResolvedComponent, configDir: string) {
    if (component.flavor.name !== 'local') {
      throw new ConfigError(`artifact-store flavor '${component.flavor.name}' cannot be used by this version of keystack`);
    }
    this.component = component;
    const path = component.config['path'];
    this.root = typeof path === 'string' && path !== '' ? path : join(configDir, 'artifacts');
  }

  async write(uri: string, value: unknown): Promise<StoredArtifact> {
    const json = Buffer.from(JSON.stringify({ value }), 'utf8');
    const key = await this.#encryptionKey();
    const body = key ? seal(key, json, uri) : json;
    const file = join(this.root, uri);
    ensurePrivateDir(dirname(file));
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, body, { mode: 0o600 });
    renameSync(tmp, file);
    return { uri, hash: createHash('sha256').update(json).digest('hex') };
  }

  async read(uri: string): Promise<unknown> {
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
    if (body.subarray(0, MAGIC.length).equals(MAGIC)) {
      const key = await this.#encryptionKey();
      if (!key) {
        throw new UnreadableArtifactError(`artifact ${uri} is encrypted, but artifact-store '${this.component.name}' has no encryption_key`, {
          hint: 'Set the encryption_key it was written with, or run the pipeline again without cache: keystack pipeline run FILE --no-cache.',
        });
      }
      json = open(key, body, uri, this.component.name);
    }
    return (JSON.parse(json.toString('utf8')) as { value: unknown }).value;
  }

  exists(uri: string): boolean {
    return existsSync(join(this.root, uri));
  }

  /**
   * Whether an artifact can be read back with this store's current settings: a cached output
   * encrypted under an encryption_key that has since been rotated is not a usable cache hit.
   * Failing to get the key itself (an unresolvable reference) is an error, not a "no".
   */
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

  #encryptionKey(): Promise<Buffer | undefined> {
    return (this.#key ??= this.component.getString('encryption_key').then((passphrase) =>
      passphrase === undefined
        ? undefined
        : new Promise<Buffer>((resolve, reject) =>
            scrypt(passphrase, `keystack-artifacts:${this.component.record.uuid}`, 32, (e, k) => (e ? reject(e) : resolve(k))),
          ),
    ));
  }
}

/** An artifact that exists but cannot be read with the store's current key. */
export class UnreadableArtifactError extends ConfigError {}

function seal(key: Buffer, plain: Buffer, aad: string): Buffer {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(Buffer.from(aad));
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([MAGIC, nonce, c.getAuthTag(), body]);
}

function open(key: Buffer, sealed: Buffer, aad: string, store: string): Buffer {
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
