/**
 * `vault`: HashiCorp Vault or OpenBao, KV v2. One keystack secret is one KV path
 * `<mount>/<scope path>/<name>` whose data is the values plus `<prefix>_schema_name` (ZenML 0.30's
 * layout). Plain HTTP(S) through node:http(s): there is no official Node SDK, and TLS options
 * (a CA file, skip-verify) need an https agent, which fetch does not take.
 */
import type { Agent } from 'node:https';
import { fromPayload, toPayload, type StoredSecret } from '../secrets/content.js';
import { BackendError, ConfigError } from '../errors.js';
import { createCaller, retryAfterMs } from '../support/caller.js';
import { mapLimit } from '../support/concurrency.js';
import { requestJson } from '../support/http.js';
import { retryingOperations } from '../core/kit.js';
import {
  CLASSIFY,
  isCasError,
  isUnsupported,
  notKv2,
  notVault,
  readCa,
  segments,
  versionState,
  VaultHttpError,
  type Reply,
  type VaultFlavorOptions,
} from './vault-client.js';
import { defineFlavor, type FlavorContext, type SecretsBackend } from '../core/types.js';

export type { VaultFlavorOptions } from './vault-client.js';
export const FLAVOR_NAME = 'vault';

export default defineFlavor<VaultFlavorOptions>({
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
  create: (ctx) => createVaultBackend(ctx),
});

function createVaultBackend(ctx: FlavorContext<VaultFlavorOptions>): SecretsBackend {
  const { config, scope, env, names } = ctx;
  const url = config.url ?? env['BAO_ADDR'];
  if (!url)
    throw new ConfigError('the vault flavor needs a server address', {
      hint: 'Pass --url=https://HOST:8200 when registering, or set VAULT_ADDR (or BAO_ADDR).',
    });
  const base = new URL(url);
  // Defaults are applied at registration; configs built in code may leave them out.
  const mountPoint = config.mount_point ?? 'secret';
  const mount = segments(mountPoint);
  const approle = config.role_id
    ? { role_id: config.role_id, ...(config.secret_id ? { secret_id: config.secret_id } : {}) }
    : undefined;
  const fixed = config.token ?? env['BAO_TOKEN'];
  if (!approle && !fixed) {
    throw new ConfigError('the vault flavor has no credentials', {
      hint: 'Set VAULT_TOKEN (or BAO_TOKEN), or VAULT_ROLE_ID and VAULT_SECRET_ID for AppRole; do not store them in the config.',
    });
  }
  const caller = createCaller({ flavor: FLAVOR_NAME, env, classify: CLASSIFY });
  let agent: Agent | undefined;
  let token: Promise<string> | undefined = approle ? undefined : Promise.resolve(fixed ?? '');
  let vaultConfirmed: Promise<void> | undefined;
  // Versions this manager last read (get then update is how the CLI patches): an update of such a
  // secret is one write, with check-and-set on that version, instead of a metadata read first.
  const versions = new Map<string, number>();

  const send = async (
    method: string,
    path: string,
    tok: string | undefined,
    body?: unknown,
    namespaced = true,
  ): Promise<Reply> => {
    if (base.protocol === 'https:')
      agent ??= new (await import('node:https')).Agent({
        keepAlive: true,
        rejectUnauthorized: config.tls_skip_verify !== true,
        ...(config.ca_cert ? { ca: readCa(config.ca_cert) } : {}),
      });
    const headers: Record<string, string> = { accept: 'application/json' };
    if (tok) headers['x-vault-token'] = tok;
    if (config.vault_namespace && namespaced) headers['x-vault-namespace'] = config.vault_namespace;
    const url = new URL(`${base.pathname.replace(/\/$/, '')}/v1/${path}`, base);
    return requestJson(url, { method, headers, body, agent, timeoutMs: caller.limits.requestTimeoutMs });
  };
  const login = async (): Promise<string> => {
    const r = await send(
      'POST',
      `auth/${segments(config.approle_mount ?? 'approle').join('/')}/login`,
      undefined,
      approle,
    );
    const t = r.body?.auth?.client_token;
    if (r.odd !== undefined) throw notVault(r, 'the AppRole login');
    if (r.status !== 200 || !t) {
      throw new VaultHttpError(r.status, r.body?.errors, {
        what: 'AppRole login failed',
        hint: 'Check role_id and secret_id (VAULT_ROLE_ID, VAULT_SECRET_ID) and approle_mount.',
      });
    }
    return t;
  };
  /** One authenticated request; with AppRole, an expired token is renewed by one new login. */
  const call = async (method: string, path: string, body?: unknown, ok: number[] = [200, 204]): Promise<Reply> => {
    for (let attempt = 0; ; attempt++) {
      const current = (token ??= login());
      current.catch(() => (token = undefined));
      const r = await send(method, path, await current, body);
      if (r.status === 429)
        throw new VaultHttpError(429, r.body?.errors, {
          what: 'rate limited',
          retryAfterMs: retryAfterMs(r.headers['retry-after']),
        });
      if (r.status === 403 && approle && attempt === 0) {
        token = undefined;
        continue;
      }
      // Vault answers every request but a 204 with a JSON object, and every failure with `errors`.
      if (
        r.status !== 204 &&
        (r.odd !== undefined ||
          (r.status >= 400 && !Array.isArray(r.body?.errors) && !(r.status === 404 && r.body?.data)))
      )
        throw notVault(r, `${method} ${path.split('?')[0]}`);
      if (ok.includes(r.status)) return r;
      throw new VaultHttpError(r.status, r.body?.errors);
    }
  };
  /**
   * A 404 that means "no such secret". A missing mount is a failure; and since Vault answers
   * `{"errors":[]}` to any unknown path outside /v1 too (a url with a wrong path prefix), the first
   * such answer is checked once against the server's unauthenticated health endpoint.
   */
  const absent = async (r: Reply): Promise<null> => {
    const errors = Array.isArray(r.body?.errors) ? (r.body.errors as unknown[]) : [];
    if (errors.some((e) => typeof e === 'string' && /no handler for route/i.test(e))) throw notKv2(mountPoint);
    if (r.body?.data) return null; // soft-deleted: Vault sent the version's metadata
    await (vaultConfirmed ??= confirmVault().catch((e: unknown) => {
      vaultConfirmed = undefined;
      throw e;
    }));
    return null;
  };
  const confirmVault = async () => {
    const r = await send('GET', 'sys/health?standbyok=true&perfstandbyok=true', undefined, undefined, false);
    if (typeof (r.body as { initialized?: unknown } | null)?.initialized !== 'boolean')
      throw notVault(r, 'GET sys/health');
  };
  const kv = (kind: 'data' | 'metadata' | 'detailed-metadata', name?: string) =>
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
    return 'ok';
  };
  const remember = (name: string, version: number) => {
    if (versions.size > 1000) versions.clear();
    versions.set(name, version);
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
    if (typeof version === 'number') remember(name, version);
    return {
      secret: fromPayload(payload as Record<string, unknown>, scope.prefix),
      version: typeof version === 'number' ? version : undefined,
    };
  };
  const parse = (keys: unknown[]) =>
    keys
      .map((k) => (typeof k === 'string' ? names.parse(names.prefix + k) : null))
      .filter((n): n is string => n !== null);
  // LIST also returns paths whose latest version is soft-deleted (`vault kv delete`), which get
  // reads as absent. OpenBao's detailed-metadata LIST brings every path's versions in one call;
  // where it is missing (HashiCorp Vault) or a policy does not grant it, each path's metadata is
  // read (1 + N requests, 8 at a time), and the manager remembers to go that way.
  let detailed = true;
  const list = async (): Promise<string[]> => {
    if (detailed) {
      const r = await call('GET', `${kv('detailed-metadata')}/?list=true`, undefined, [200, 404, 405]).catch(
        (e: unknown) => {
          if (e instanceof VaultHttpError && e.status === 403) return null;
          throw e;
        },
      );
      const info = r?.body?.data?.['key_info'];
      if (r?.status === 200 && info && typeof info === 'object') {
        const all = info as Record<string, unknown>;
        return parse(Object.keys(all)).filter((n) => versionState(all[n])?.live);
      }
      if (r?.status === 200) throw notVault(r, `LIST ${kv('detailed-metadata')}`);
      if (r?.status === 404 && !isUnsupported(r)) return absent(r).then(() => []);
      detailed = false;
    }
    const r = await call('GET', `${kv('metadata')}/?list=true`, undefined, [200, 404]);
    if (r.status === 404) return absent(r).then(() => []);
    const keys = r.body?.data?.['keys'];
    if (!Array.isArray(keys)) throw notVault(r, `LIST ${kv('metadata')}`);
    const candidates = parse(keys);
    const states = await mapLimit(candidates, 8, state);
    return candidates.filter((_, i) => states[i]?.live);
  };

  const backend: SecretsBackend = {
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
      throw new BackendError({
        flavor: FLAVOR_NAME,
        operation: 'update',
        secretName: name,
        reason: 'the secret kept changing while it was being updated (check-and-set conflicts)',
        hint: 'Another writer is updating it at the same time; try again.',
      });
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
    close() {
      agent?.destroy();
      agent = undefined;
    },
  };
  // Vault rejects a throttled request before doing anything: whole operations are retried.
  return retryingOperations(caller, backend);
}
