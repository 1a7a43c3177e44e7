/**
 * `vault`: HashiCorp Vault or OpenBao, KV v2. One keystack secret is one KV path
 * `<mount>/<scope path>/<name>` whose data is the values plus `<prefix>_schema_name` (ZenML 0.30's
 * layout). Plain HTTP(S) through node:http(s): there is no official Node SDK, and TLS options
 * (a CA file, skip-verify) need an https agent, which fetch does not take.
 */
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import type { Agent } from 'node:https';
import { fromPayload, toPayload, type StoredSecret } from '../secrets/content.js';
import { BackendError, ConfigError } from '../secrets/errors.js';
import { scopePath } from '../secrets/scope.js';
import { backendFailure, withRetry } from './support.js';
import { defineFlavor, type FlavorContext, type SecretsBackend } from './types.js';

export const FLAVOR_NAME = 'vault';

export interface VaultFlavorOptions {
  /** Server address; else VAULT_ADDR or BAO_ADDR. */
  url?: string;
  /** KV v2 mount. @default `secret` */
  mount_point?: string;
  /** Token auth; else VAULT_TOKEN or BAO_TOKEN. */
  token?: string;
  /** AppRole auth (wins over a token when both ids are given). */
  role_id?: string;
  secret_id?: string;
  /** @default `approle` */
  approle_mount?: string;
  /** PEM file of the CA that signed the server's certificate. */
  ca_cert?: string;
  tls_skip_verify?: boolean;
  /** Vault Enterprise / OpenBao namespace (X-Vault-Namespace). */
  vault_namespace?: string;
}

export default defineFlavor<VaultFlavorOptions>({
  name: FLAVOR_NAME,
  description: 'HashiCorp Vault / OpenBao (KV v2)',
  supportsScoping: true,
  separator: '/',
  locationFields: ['url', 'mount_point', 'vault_namespace'],
  // ZenML's vault flavor applies the AWS character rule ('.' included) and no length limit. Vault
  // and OpenBao set none on KV paths either (a 60,000-character name round-trips on OpenBao 2.7.2);
  // this bound only keeps the request line far below Go's 1 MiB header limit.
  nameRule: { pattern: /[A-Za-z0-9_+=.@-]+/, maxLength: 65536, dots: true, description: 'must contain only letters, digits and the characters _+=.@-' },
  // Vault's default max_request_size is 32 MiB; keep secrets to a size every KV store takes.
  maxContentBytes: 512 * 1024,
  config: {
    url: { type: 'string', description: 'server address, e.g. https://vault.example.com:8200 (default: VAULT_ADDR or BAO_ADDR)', env: 'VAULT_ADDR' },
    mount_point: { type: 'string', description: 'KV v2 secrets engine mount', default: 'secret' },
    token: { type: 'string', description: 'token (default: VAULT_TOKEN or BAO_TOKEN; do not store it)', sensitive: true, env: 'VAULT_TOKEN' },
    role_id: { type: 'string', description: 'AppRole role_id', env: 'VAULT_ROLE_ID' },
    secret_id: { type: 'string', description: 'AppRole secret_id (default: VAULT_SECRET_ID; do not store it)', sensitive: true, env: 'VAULT_SECRET_ID' },
    approle_mount: { type: 'string', description: 'AppRole auth mount', default: 'approle' },
    ca_cert: { type: 'string', description: 'PEM file of the CA for the server certificate', env: 'VAULT_CACERT' },
    tls_skip_verify: { type: 'boolean', description: 'do not verify the server certificate (testing only)', default: false },
    vault_namespace: { type: 'string', description: 'Vault/OpenBao namespace', env: 'VAULT_NAMESPACE' },
  },
  create: (ctx) => createVaultBackend(ctx),
});

interface Reply {
  status: number;
  body: { data?: Record<string, unknown> | null; errors?: string[]; auth?: { client_token?: string } } | null;
}

function createVaultBackend(ctx: FlavorContext<VaultFlavorOptions>): SecretsBackend {
  const { config, scope, env } = ctx;
  const url = config.url ?? env['BAO_ADDR'];
  if (!url) throw new ConfigError('the vault flavor needs a server address', { hint: 'Pass --url=https://HOST:8200 when registering, or set VAULT_ADDR (or BAO_ADDR).' });
  const base = new URL(url);
  // Defaults are applied at registration; configs built in code may leave them out.
  const mountPoint = config.mount_point ?? 'secret';
  const mount = segments(mountPoint);
  const approle = config.role_id ? { role_id: config.role_id, ...(config.secret_id ? { secret_id: config.secret_id } : {}) } : undefined;
  const fixed = config.token ?? env['BAO_TOKEN'];
  if (!approle && !fixed) {
    throw new ConfigError('the vault flavor has no credentials', { hint: 'Set VAULT_TOKEN (or BAO_TOKEN), or VAULT_ROLE_ID and VAULT_SECRET_ID for AppRole; do not store them in the config.' });
  }
  let agent: Agent | undefined;
  let token: Promise<string> | undefined = approle ? undefined : Promise.resolve(fixed ?? '');
  // Versions this manager last read (get then update is how the CLI patches): an update of such a
  // secret is one write, with check-and-set on that version, instead of a metadata read first.
  const versions = new Map<string, number>();

  const send = async (method: string, path: string, tok: string | undefined, body?: unknown): Promise<Reply> => {
    const { http, https } = await httpLibs();
    if (base.protocol === 'https:') agent ??= new https.Agent({ keepAlive: true, rejectUnauthorized: config.tls_skip_verify !== true, ...(config.ca_cert ? { ca: readCa(config.ca_cert) } : {}) });
    const headers: Record<string, string> = { accept: 'application/json' };
    if (tok) headers['x-vault-token'] = tok;
    if (config.vault_namespace) headers['x-vault-namespace'] = config.vault_namespace;
    const request = base.protocol === 'https:' ? https.request : http.request;
    return withRetry(() => exchange(request, new URL(`${base.pathname.replace(/\/$/, '')}/v1/${path}`, base), method, headers, body, agent), {
      isRetryable: (e) => e instanceof VaultHttpError && e.status === 429,
      retryAfterMs: (e) => (e instanceof VaultHttpError ? e.retryAfterMs : undefined),
    });
  };
  const login = async (): Promise<string> => {
    const r = await send('POST', `auth/${segments(config.approle_mount ?? 'approle').join('/')}/login`, undefined, approle);
    const t = r.body?.auth?.client_token;
    if (r.status !== 200 || !t) {
      throw new VaultHttpError(r.status, r.body?.errors, undefined, 'AppRole login failed', 'Check role_id and secret_id (VAULT_ROLE_ID, VAULT_SECRET_ID) and approle_mount.');
    }
    return t;
  };
  /** One authenticated request; with AppRole, an expired token is renewed by one new login. */
  const call = async (method: string, path: string, body?: unknown, ok: number[] = [200, 204]): Promise<Reply> => {
    for (let attempt = 0; ; attempt++) {
      const current = (token ??= login());
      current.catch(() => (token = undefined));
      const r = await send(method, path, await current, body);
      if (r.status === 403 && approle && attempt === 0) {
        token = undefined;
        continue;
      }
      if (ok.includes(r.status)) return r;
      throw new VaultHttpError(r.status, r.body?.errors);
    }
  };
  const kv = (kind: 'data' | 'metadata', name?: string) => [...mount, kind, ...scopePath(scope), ...(name === undefined ? [] : [name])].map(encodeURIComponent).join('/');
  const write = async (name: string, secret: StoredSecret, cas: number): Promise<'ok' | 'conflict'> => {
    const r = await call('POST', kv('data', name), { data: toPayload(secret, scope.prefix), options: { cas } }, [200, 400]);
    if (r.status === 400) {
      if (isCasError(r)) return 'conflict';
      throw new VaultHttpError(r.status, r.body?.errors);
    }
    const version = r.body?.data?.['version'];
    if (typeof version !== 'number') throw notKv2(mountPoint);
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
    if (r.status === 404) return missing(r, mountPoint);
    const data = r.body?.data ?? {};
    const version = Number(data['current_version'] ?? 0);
    const v = (data['versions'] as Record<string, { deletion_time?: string; destroyed?: boolean }> | undefined)?.[String(version)];
    return { version, live: version > 0 && !!v && !v.deletion_time && !v.destroyed };
  };
  const listNames = async (): Promise<string[]> => {
    const r = await call('GET', `${kv('metadata')}/?list=true`, undefined, [200, 404]);
    if (r.status === 404) return missing(r, mountPoint) ?? [];
    const keys = (r.body?.data?.['keys'] ?? []) as unknown[];
    return keys.filter((k): k is string => typeof k === 'string' && !k.endsWith('/'));
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
      const r = await call('GET', kv('data', name), undefined, [200, 404]);
      versions.delete(name);
      if (r.status === 404) return missing(r, mountPoint);
      const data = r.body?.data;
      const payload = data?.['data'];
      if (!payload || typeof payload !== 'object') return null;
      const version = (data['metadata'] as { version?: unknown } | undefined)?.version;
      if (typeof version === 'number') remember(name, version);
      return fromPayload(payload as Record<string, unknown>, scope.prefix);
    },
    list: listNames,
    async update(name, secret) {
      const seen = versions.get(name);
      if (seen !== undefined && (await write(name, secret, seen)) === 'ok') return true;
      for (let attempt = 0; attempt < 3; attempt++) {
        const s = await state(name);
        if (!s?.live) return false;
        if ((await write(name, secret, s.version)) === 'ok') return true;
      }
      throw new BackendError({ flavor: FLAVOR_NAME, operation: 'update', secretName: name, reason: 'the secret kept changing while it was being updated (check-and-set conflicts)', hint: 'Another writer is updating it at the same time; try again.' });
    },
    async delete(name) {
      // DELETE on metadata answers 204 whether or not the path exists, so absence needs a look first.
      if (!(await state(name))?.live) return false;
      await call('DELETE', kv('metadata', name));
      versions.delete(name);
      return true;
    },
    async deleteAll() {
      const names = await listNames();
      for (const name of names) await call('DELETE', kv('metadata', name));
      versions.clear();
      return names.length;
    },
    close() {
      agent?.destroy();
      agent = undefined;
    },
  };
  return guarded(backend);
}

/** The backend with every failure explained (auth, rate limits, unreachable server). */
function guarded(be: SecretsBackend): SecretsBackend {
  const wrap = <A extends unknown[], R>(op: string, fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      try {
        return await fn(...a);
      } catch (e) {
        throw explainVault(op, typeof a[0] === 'string' ? a[0] : undefined, e);
      }
    };
  return {
    create: wrap('register', be.create),
    get: wrap('get', be.get),
    list: wrap('list', be.list),
    update: wrap('update', be.update),
    delete: wrap('delete', be.delete),
    deleteAll: wrap('delete-all', be.deleteAll),
    close: () => be.close?.(),
  };
}

/** A 404 that means "no such secret", as opposed to a missing mount (which is a failure). */
function missing(r: Reply, mount: string): null {
  if ((r.body?.errors ?? []).some((e) => /no handler for route/i.test(e))) throw notKv2(mount);
  return null;
}

function isCasError(r: Reply): boolean {
  return (r.body?.errors ?? []).some((e) => /check-and-set/i.test(e));
}

function notKv2(mount: string): Error {
  return new VaultHttpError(404, [`mount '${mount}' is not a KV version 2 secrets engine`], undefined, undefined,
    `Enable one with \`vault secrets enable -path=${mount} kv-v2\`, or pass --mount_point=MOUNT of an existing KV v2 mount.`);
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigError(`cannot read the ca_cert file ${file} (${(e as { code?: string }).code ?? 'error'})`, { hint: 'Pass --ca_cert=PATH of a readable PEM file.' });
  }
}

function segments(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

/** A Vault answer that is not a success. Carries only Vault's error strings, never a request body. */
export class VaultHttpError extends Error {
  readonly status: number;
  readonly retryAfterMs: number | undefined;
  readonly hint: string | undefined;
  constructor(status: number, errors: string[] | undefined, retryAfterMs?: number, what?: string, hint?: string) {
    const detail = (errors ?? []).join('; ') || 'no detail';
    super(`${what ?? `HTTP ${status}`}: ${detail}`);
    this.name = 'VaultError';
    this.status = status;
    this.retryAfterMs = retryAfterMs;
    this.hint = hint;
  }
}

// node:http and node:https cost a few ms to load; every other CLI call would pay for them.
let httpLibsLoading: Promise<{ http: typeof import('node:http'); https: typeof import('node:https') }> | undefined;
function httpLibs() {
  return (httpLibsLoading ??= Promise.all([import('node:http'), import('node:https')]).then(([http, https]) => ({ http, https })));
}

type RequestFn = typeof import('node:https').request;

function exchange(request: RequestFn, url: URL, method: string, headers: Record<string, string>, body: unknown, agent: Agent | undefined): Promise<Reply> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  return new Promise<Reply>((resolve, reject) => {
    const req = request(url, { method, headers, timeout: 30_000, ...(agent ? { agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: Reply['body'] = null;
        try {
          parsed = text ? (JSON.parse(text) as Reply['body']) : null;
        } catch {
          parsed = { errors: [`unexpected non-JSON answer (${text.length} bytes)`] };
        }
        if (status === 429) reject(new VaultHttpError(429, parsed?.errors, retryAfter(res.headers), 'rate limited'));
        else resolve({ status, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer within 30 s'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(payload);
  });
}

function retryAfter(h: IncomingHttpHeaders): number | undefined {
  const s = Number(h['retry-after']);
  return Number.isFinite(s) && s > 0 ? Math.min(s, 5) * 1000 : undefined;
}

const NETWORK = /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|EAI_AGAIN)$/;

/** Turns a failure into a BackendError with a next step. */
function explainVault(operation: string, secretName: string | undefined, e: unknown): unknown {
  const at = { flavor: FLAVOR_NAME, operation, secretName };
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NETWORK.test(code)) return backendFailure(at, e, undefined, 'Check the url (or VAULT_ADDR) and that the server is running and reachable from here.');
  if (typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) {
    return backendFailure(at, e, `the server's TLS certificate was not trusted (${code})`, 'Pass --ca_cert=PATH (or set VAULT_CACERT) with the CA that signed it.');
  }
  if (!(e instanceof VaultHttpError)) return e;
  if (e.status === 429) return backendFailure(at, e, 'Vault kept rate-limiting the request (HTTP 429), even after retries with backoff', 'Try again later, or raise the rate-limit quota.');
  if (e.status === 403) return backendFailure(at, e, `Vault denied the request (HTTP 403): ${e.message.replace(/^[^:]*: /, '')}`, 'Check the token (VAULT_TOKEN) or AppRole ids, and that its policy allows this operation on the mount\'s data/ and metadata/ paths under the scope prefix.');
  return backendFailure(at, e, undefined, e.hint);
}
