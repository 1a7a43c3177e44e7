/**
 * The keys of remote runs, kept in the config directory (`keys/`, 0700):
 *   client.ed25519     the client signs each step of a run with it;
 *   worker.ed25519     a worker signs each step result with it;
 *   <role>.next.ed25519   a key being rolled out (see `keystack keys rotate`);
 *   trusted-clients    on a worker: the client keys whose jobs it runs, one per line;
 *   trusted-workers    on a client: the worker keys whose results it records.
 * Trust can also come from flags and variables, never from Redis.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../errors.js';
import { writePrivateFileAtomic } from '../../support/atomic-file.js';
import { ensurePrivateDir } from '../../support/private-files.js';
import { checkTrustedFile } from '../../support/trust.js';
import {
  keyring,
  loadOrCreateSigningKey,
  loadSigningKey,
  parsePublicKey,
  parsePublicKeys,
  readPublicKeysFile,
  signingKeyFile,
  type PublicKeyInfo,
  type SigningKey,
  type TrustedKey,
} from '../../support/signing.js';

export type KeyRole = 'client' | 'worker';

/** Workers read the client keys they trust from this variable too (keys, comma- or newline-separated). */
export const WORKER_TRUSTED_KEYS_ENV = 'KEYSTACK_WORKER_TRUSTED_KEYS';
/** Clients read the worker keys they trust from this variable too. */
export const CLIENT_TRUSTED_WORKER_KEYS_ENV = 'KEYSTACK_TRUSTED_WORKER_KEYS';

export function keysDir(configDir: string): string {
  return join(configDir, 'keys');
}

/** This machine's key for `role`, created on first use. */
export function ownKey(configDir: string, role: KeyRole): SigningKey {
  ensurePrivateDir(keysDir(configDir));
  return loadOrCreateSigningKey(signingKeyFile(keysDir(configDir), role));
}

/** This machine's key for `role` if it has one; nothing is created. */
export function existingKey(configDir: string, role: KeyRole): SigningKey | null {
  return loadSigningKey(signingKeyFile(keysDir(configDir), role));
}

/** The key being rolled out for `role`, if a rotation was started. */
export function nextKey(configDir: string, role: KeyRole, create: boolean): SigningKey | null {
  const file = signingKeyFile(keysDir(configDir), `${role}.next`);
  if (!create) return loadSigningKey(file);
  ensurePrivateDir(keysDir(configDir));
  return loadOrCreateSigningKey(file);
}

/**
 * Makes the next key the current one. The old key file is kept as `<role>.retired-<time>.ed25519`
 * (its public key may still be trusted somewhere; removing it from trust lists is the operator's step).
 */
export function activateNextKey(configDir: string, role: KeyRole): { retired: SigningKey; current: SigningKey } {
  const dir = keysDir(configDir);
  const next = nextKey(configDir, role, false);
  if (!next) {
    throw new ConfigError(`there is no ${role} key being rolled out`, {
      hint: `Start with \`keystack keys rotate --role ${role}\`, trust the printed key everywhere, then run it again with --activate.`,
    });
  }
  const retired = ownKey(configDir, role);
  const retiredFile = signingKeyFile(dir, `${role}.retired-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  renameSync(retired.file, retiredFile);
  renameSync(next.file, signingKeyFile(dir, role));
  return { retired: { ...retired, file: retiredFile }, current: ownKey(configDir, role) };
}

/** The file listing the keys of `role` that this machine trusts (client keys on a worker, worker keys on a client). */
export function trustListFile(configDir: string, role: KeyRole): string {
  return join(keysDir(configDir), role === 'client' ? 'trusted-clients' : 'trusted-workers');
}

export interface TrustSources {
  configDir: string;
  /** Files given with flags (`--trust-key`, `--trust-worker-key`). */
  files?: readonly string[] | undefined;
  env: Readonly<Record<string, string | undefined>>;
}

/** Every key of `role` this machine trusts: its trust list, the given files and the variable. */
export function trustedKeys(role: KeyRole, o: TrustSources): Map<string, TrustedKey> {
  const envName = role === 'client' ? WORKER_TRUSTED_KEYS_ENV : CLIENT_TRUSTED_WORKER_KEYS_ENV;
  const keys = [...readPublicKeysFile(trustListFile(o.configDir, role))];
  for (const f of o.files ?? []) {
    if (!existsSync(f))
      throw new ConfigError(`the key file ${f} does not exist`, {
        hint: 'Give a file holding a public key printed by `keystack keys show-public`.',
      });
    const found = readPublicKeysFile(f);
    if (found.length === 0)
      throw new ConfigError(`${f} holds no public key`, {
        hint: 'Give a file holding a public key printed by `keystack keys show-public`.',
      });
    keys.push(...found);
  }
  const fromEnv = o.env[envName];
  if (fromEnv !== undefined && fromEnv.trim() !== '') keys.push(...parsePublicKeys(fromEnv, envName));
  return keyring(keys);
}

/**
 * The keys of `role` this machine trusts, read again on demand: a worker added (and trusted) while
 * a run is going is accepted without restarting the client.
 */
export class TrustedKeys {
  #keys: Map<string, TrustedKey>;
  readonly #role: KeyRole;
  readonly #sources: TrustSources;

  constructor(role: KeyRole, sources: TrustSources) {
    this.#role = role;
    this.#sources = sources;
    this.#keys = trustedKeys(role, sources);
  }

  get keys(): ReadonlyMap<string, TrustedKey> {
    return this.#keys;
  }

  /** Re-reads the sources when `id` is not trusted yet; true when it is trusted afterwards. */
  refreshFor(id: unknown): boolean {
    if (typeof id !== 'string') return false;
    if (!this.#keys.has(id)) this.#keys = trustedKeys(this.#role, this.#sources);
    return this.#keys.has(id);
  }
}

/** Reads a public key given as the key text itself or as a file holding it. */
export function publicKeyArgument(arg: string): TrustedKey {
  if (arg.trim().startsWith('keystack-ed25519:')) return parsePublicKey(arg, 'the key given');
  if (!existsSync(arg))
    throw new ConfigError(`'${arg}' is neither a public key nor a file`, {
      hint: 'Give the line printed by `keystack keys show-public`, or a file holding it.',
    });
  checkTrustedFile(arg);
  const keys = parsePublicKeys(readFileSync(arg, 'utf8'), arg);
  if (keys.length !== 1)
    throw new ConfigError(`${arg} holds ${keys.length} public keys, not one`, { hint: 'Trust one key per call.' });
  return keys[0] as TrustedKey;
}

interface ListedKey {
  id: string;
  text: string;
  name: string | null;
}

function readTrustList(configDir: string, role: KeyRole): ListedKey[] {
  const file = trustListFile(configDir, role);
  if (!checkTrustedFile(file)) return [];
  const out: ListedKey[] = [];
  for (const [i, line] of readFileSync(file, 'utf8').split('\n').entries()) {
    const [body = '', ...comment] = line.split('#');
    if (body.trim() === '') continue;
    const k = parsePublicKey(body, `${file} (line ${i + 1})`);
    const name = comment.join('#').trim();
    out.push({ id: k.id, text: k.text, name: name === '' ? null : name });
  }
  return out;
}

function writeTrustList(configDir: string, role: KeyRole, keys: readonly ListedKey[]): void {
  ensurePrivateDir(keysDir(configDir));
  const header = `# ${role} keys this machine trusts, one per line; written by \`keystack keys trust\`\n`;
  writePrivateFileAtomic(
    trustListFile(configDir, role),
    header + keys.map((k) => `${k.text}${k.name ? ` # ${k.name}` : ''}\n`).join(''),
    { overwrite: true },
  );
}

export function listTrusted(configDir: string, role: KeyRole): ListedKey[] {
  return readTrustList(configDir, role);
}

/** Adds a key to the trust list; false when it was there already. */
export function addTrusted(configDir: string, role: KeyRole, key: PublicKeyInfo, name: string | undefined): boolean {
  const keys = readTrustList(configDir, role);
  if (keys.some((k) => k.id === key.id)) return false;
  writeTrustList(configDir, role, [...keys, { id: key.id, text: key.text, name: name ?? null }]);
  return true;
}

/** Removes a key (by id, text or name) from the trust list; false when it was not there. */
export function removeTrusted(configDir: string, role: KeyRole, which: string): boolean {
  const keys = readTrustList(configDir, role);
  const kept = keys.filter((k) => k.id !== which && k.text !== which.trim() && k.name !== which);
  if (kept.length === keys.length) return false;
  writeTrustList(configDir, role, kept);
  return true;
}
