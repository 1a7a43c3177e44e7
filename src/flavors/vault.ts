/**
 * `vault`: HashiCorp Vault or OpenBao, KV v2. One keystack secret is one KV path
 * `<mount>/<scope path>/<name>` whose data is the values plus `<prefix>_schema_name` (ZenML 0.30's
 * layout). Plain HTTP(S) through node:http(s): there is no official Node SDK, and TLS options
 * (a CA file, skip-verify) need an https agent, which fetch does not take.
 */
import { fromPayload, toPayload, type StoredSecret } from '../secrets/content.js';
import {
  CLASSIFY,
  isCasError,
  keptChanging,
  notKv2,
  notVault,
  segments,
  versionState,
  VaultHttpError,
  type Reply,
  type VaultFlavorOptions,
} from './vault-client.js';
import { LastSeen } from '../core/kit.js';
import { defineFlavor, type Connection, type FlavorContext, type SecretsBackend } from '../core/types.js';
import { openSession, vaultSettings, type VaultSession } from './vault-session.js';
import { vaultListing } from './vault-listing.js';
import { vaultVersions } from './vault-versions.js';

export type { VaultFlavorOptions } from './vault-client.js';
export const FLAVOR_NAME = 'vault';

export default defineFlavor<VaultFlavorOptions, VaultSession>({
  name: FLAVOR_NAME,
  description: 'HashiCorp Vault / OpenBao (KV v2)',
  supportsScoping: true,
  locationFields: ['url', 'mount_point', 'vault_namespace'],
  trustFields: ['ca_cert', 'tls_skip_verify'],
  // ZenML's vault flavor applies the AWS character rule ('.' included) and no length limit. Vault
  // and OpenBao set none on KV paths either, but OpenBao 2.7.2's time per request grows
  // quadratically with the path (write+list+read+delete: 0.09 s at 1,024 characters, 0.33 s at
  // 4,096, 4.4 s at 16,384), so keystack stops at 4,096.
  nameRule: {
    pattern: /[A-Za-z0-9_+=.@-]+/,
    maxLength: 4096,
    dots: true,
    description: 'must contain only letters, digits and the characters _+=.@-',
  },
  // Vault's default max_request_size is 32 MiB; keep secrets to a size every KV store takes.
  maxContentBytes: 512 * 1024,
  config: {
    url: {
      type: 'string',
      description: 'server address, e.g. https://vault.example.com:8200 (default: VAULT_ADDR or BAO_ADDR)',
      env: 'VAULT_ADDR',
    },
    mount_point: { type: 'string', description: 'KV v2 secrets engine mount', default: 'secret' },
    token: {
      type: 'string',
      description: 'token (default: VAULT_TOKEN or BAO_TOKEN; do not store it)',
      sensitive: true,
      env: 'VAULT_TOKEN',
    },
    role_id: { type: 'string', description: 'AppRole role_id', env: 'VAULT_ROLE_ID' },
    secret_id: {
      type: 'string',
      description: 'AppRole secret_id (default: VAULT_SECRET_ID; do not store it)',
      sensitive: true,
      env: 'VAULT_SECRET_ID',
    },
    approle_mount: { type: 'string', description: 'AppRole auth mount', default: 'approle' },
    ca_cert: { type: 'string', description: 'PEM file of the CA for the server certificate', env: 'VAULT_CACERT' },
    tls_skip_verify: {
      type: 'boolean',
      description: 'do not verify the server certificate (testing only)',
      default: false,
    },
    vault_namespace: { type: 'string', description: 'Vault/OpenBao namespace', env: 'VAULT_NAMESPACE' },
  },
  connect: openSession,
  classify: CLASSIFY,
  disconnect: (session) => session.close(),
  // Vault rejects a throttled request before doing anything: whole operations are retried.
  retry: 'operation',
  operations: vaultOperations,
});

function vaultOperations(conn: Connection<VaultSession>, ctx: FlavorContext<VaultFlavorOptions>): SecretsBackend {
  const { scope, names } = ctx;
  // A missing address or credentials is a ConfigError when the backend is created, before any use.
  const mountPoint = vaultSettings(ctx).mountPoint;
  const mount = segments(mountPoint);
  const call = async (method: string, path: string, body?: unknown, ok?: number[]) =>
    (await conn.client()).call(method, path, body, ok);
  const absent = async (r: Reply) => (await conn.client()).absent(r);
  // Versions this manager last read (get then update is how the CLI patches): an update of such a
  // secret is one write, with check-and-set on that version, instead of a metadata read first.
  const versions = new LastSeen<number>();
  const lastWritten = new Map<string, number>();

  const kv = (kind: 'data' | 'metadata' | 'detailed-metadata' | 'destroy', name?: string) =>
    [...mount, kind, ...segments(name === undefined ? names.prefix : names.full(name))]
      .map(encodeURIComponent)
      .join('/');
  const write = async (name: string, secret: StoredSecret, cas: number): Promise<'ok' | 'conflict'> => {
    const r = await call(
      'POST',
      kv('data', name),
      { data: toPayload(secret, scope.prefix), options: { cas } },
      [200, 204, 400, 404],
    );
    // Vault answers a KV v2 write 404 only for a missing mount; `{"errors":[]}` is not Vault's KV.
    if (r.status === 404) throw await absent(r).then(() => notVault(r, `POST ${kv('data', name)}`));
    if (r.status === 400) {
      if (isCasError(r)) return 'conflict';
      throw new VaultHttpError(r.status, r.body?.errors);
    }
    // KV version 1 answers a write with 204 and no version.
    if (r.status === 204) throw notKv2(mountPoint);
    const version = r.body?.data?.['version'];
    if (typeof version !== 'number') throw notVault(r, `POST ${kv('data', name)}`);
    if (versions.has(name)) versions.set(name, version);
    lastWritten.set(name, version);
    return 'ok';
  };
  /** The current version and whether it is readable; null when the path does not exist. */
  const state = async (name: string): Promise<{ version: number; live: boolean } | null> => {
    const r = await call('GET', kv('metadata', name), undefined, [200, 404]);
    if (r.status === 404) return absent(r);
    const s = versionState(r.body?.data);
    if (!s) throw notVault(r, `GET ${kv('metadata', name)}`);
    return s;
  };
  /** The secret and its KV version; null when the path does not exist or its latest version is deleted. */
  const readVersioned = async (name: string): Promise<{ secret: StoredSecret; version: number | undefined } | null> => {
    const r = await call('GET', kv('data', name), undefined, [200, 404]);
    versions.delete(name);
    if (r.status === 404) return absent(r);
    const data = r.body?.data;
    const payload = data?.['data'];
    const metadata = data?.['metadata'];
    if (!payload || typeof payload !== 'object' || !metadata || typeof metadata !== 'object')
      throw notVault(r, `GET ${kv('data', name)}`);
    const version = (metadata as { version?: unknown }).version;
    if (typeof version === 'number') versions.remember(name, version);
    return {
      secret: fromPayload(payload as Record<string, unknown>, scope.prefix),
      version: typeof version === 'number' ? version : undefined,
    };
  };
  const list = vaultListing({ call, absent, state, kv, names });

  return {
    ...vaultVersions({ call, absent, kv, prefix: scope.prefix, written: (name) => lastWritten.get(name) }),
    async create(name, secret) {
      if ((await write(name, secret, 0)) === 'ok') return true;
      // CAS 0 also fails when only deleted versions remain; such a secret reads as absent, so
      // registering it writes the next version.
      const s = await state(name);
      if (s?.live) return false;
      return (await write(name, secret, s?.version ?? 0)) === 'ok';
    },
    async get(name) {
      return (await readVersioned(name))?.secret ?? null;
    },
    async read(name) {
      const r = await readVersioned(name);
      if (r && r.version === undefined) throw notKv2(mountPoint);
      return r && { secret: r.secret, version: String(r.version) };
    },
    list,
    /**
     * A replace, not a merge: the body is the whole new content, so writing it again on top of a
     * newer version after a check-and-set conflict loses nothing the caller meant to keep. Merges
     * go through replaceIf, which never retries a stale write.
     */
    async update(name, secret) {
      const seen = versions.get(name);
      if (seen !== undefined && (await write(name, secret, seen)) === 'ok') return true;
      for (let attempt = 0; attempt < 3; attempt++) {
        const s = await state(name);
        if (!s?.live) return false;
        if ((await write(name, secret, s.version)) === 'ok') return true;
      }
      throw keptChanging(name);
    },
    async replaceIf(name, secret, version) {
      const cas = Number(version);
      if (!Number.isSafeInteger(cas) || cas < 1) throw new Error(`not a KV v2 version: ${version}`);
      if ((await write(name, secret, cas)) === 'ok') return 'updated';
      // Check-and-set failed: the secret moved on, or it was deleted (its metadata is gone, or its
      // latest version soft-deleted). Absence is told apart so the core reports "not found".
      return (await state(name))?.live ? 'conflict' : 'absent';
    },
    async delete(name) {
      // DELETE on metadata answers 204 whether or not the path exists, so absence needs a look first.
      if (!(await state(name))?.live) return false;
      await call('DELETE', kv('metadata', name));
      versions.delete(name);
      return true;
    },
  };
}
