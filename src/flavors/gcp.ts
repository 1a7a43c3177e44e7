/**
 * `gcp`: GCP Secret Manager over gRPC. One Google secret per keystack secret in every scope (ZenML
 * 0.30's scoped layout; its per-key `none` layout is dropped): id = scope path + name joined with
 * `-`, scope labels, and one version per write holding the JSON payload.
 */
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { encodeContent, type StoredSecret } from '../secrets/content.js';
import { ConfigError, InvalidNameError } from '../secrets/errors.js';
import { fullMatch, type NameRule } from '../secrets/names.js';
import { looksScoped, scopeMetadata, secretMetadata, type BackendNames, type ScopeContext } from '../secrets/scope.js';
import { createCaller, decodeOrFail, importLib, type FailureClassifier } from './support.js';
import { defineFlavor, type FlavorContext, type SecretsBackend } from './types.js';

export const FLAVOR_NAME = 'gcp';

export interface GcpFlavorOptions {
  /** The project that holds the secrets. */
  project_id: string;
  /**
   * `host:port` of the Secret Manager API. Loopback hosts (an emulator) get plain-text gRPC with no
   * credentials; any other host gets TLS. @default the public endpoint
   */
  api_endpoint?: string;
  /** A service-account key file. @default Application Default Credentials */
  credentials_file?: string;
}

const NAME_RULE: NameRule = {
  pattern: /[a-z0-9_-]+/,
  maxLength: 63,
  description: 'must contain only lowercase letters, digits, - and _ (it is also a GCP label value)',
};
const PAGE_SIZE = 100;
// gRPC status codes (google.rpc.Code).
const DEADLINE_EXCEEDED = 4;
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;
const PERMISSION_DENIED = 7;
const RESOURCE_EXHAUSTED = 8;
const FAILED_PRECONDITION = 9;
const UNAVAILABLE = 14;
const UNAUTHENTICATED = 16;

export default defineFlavor<GcpFlavorOptions>({
  name: FLAVOR_NAME,
  description: 'GCP Secret Manager',
  supportsScoping: true,
  separator: '-',
  locationFields: ['project_id', 'api_endpoint'],
  nameRule: NAME_RULE,
  maxContentBytes: 64 * 1024,
  config: {
    project_id: { type: 'string', description: 'GCP project id', required: true, env: 'GOOGLE_CLOUD_PROJECT' },
    api_endpoint: { type: 'string', description: 'host:port of the API; plain-text gRPC for loopback emulators only' },
    credentials_file: { type: 'string', description: 'service-account key file (default: ADC)', sensitive: true, env: 'GOOGLE_APPLICATION_CREDENTIALS' },
  },
  dependencies: { '@google-cloud/secret-manager': '~6.3.0', '@grpc/grpc-js': '~1.14.7' },
  create: (ctx) => createGcpBackend(ctx),
});

function createGcpBackend(ctx: FlavorContext<GcpFlavorOptions>): SecretsBackend {
  const { scope } = ctx;
  const parent = `projects/${ctx.config.project_id}`;
  const secretPath = (name: string) => `${parent}/secrets/${ctx.names.full(name)}`;
  let client: Promise<SecretManagerServiceClient> | undefined;
  const sm = () => (client ??= _connect(ctx.config));
  // Our own retry of throttling only; the SDK's retries are off so calls are counted and bounded.
  const caller = createCaller({ flavor: FLAVOR_NAME, env: ctx.env, classify: CLASSIFY });
  const call = async <T>(op: string, name: string | undefined, fn: (c: SecretManagerServiceClient) => Promise<T>): Promise<T> => {
    const c = await sm();
    return caller.run(op, name, () => fn(c));
  };
  /** In `none` scope, names that look like a scoped id belong to no unscoped secret. */
  const reserved = (name: string) => scope.scope === 'none' && looksScoped(scope.prefix, name, '-');
  const OPTS = { retry: null, timeout: caller.limits.requestTimeoutMs } as const;

  const list = async (): Promise<string[]> => {
    const want = scopeMetadata(scope);
    const scopeKey = `${scope.prefix}_scope`;
    // GCP applies the filter; emulators ignore it, so the same test runs again on this side.
    const filter = scope.scope === 'none'
      ? `NOT labels.${scopeKey}:*`
      : Object.entries(want).map(([k, v]) => `labels.${k}=${v}`).join(' AND ');
    const names: string[] = [];
    let pageToken = '';
    do {
      const [secrets, , res] = await call('list', undefined, (c) =>
        c.listSecrets({ parent, filter, pageSize: PAGE_SIZE, pageToken }, { ...OPTS, autoPaginate: false }),
      );
      for (const s of secrets) {
        const id = s.name?.slice(s.name.lastIndexOf('/') + 1) ?? '';
        const labels = (s.labels ?? {}) as Record<string, string>;
        const name = _nameInScope(scope, ctx.names, id, labels);
        if (name !== null) names.push(name);
      }
      pageToken = res?.nextPageToken ?? '';
    } while (pageToken);
    return names;
  };

  return {
    async create(name, secret) {
      if (reserved(name)) {
        throw new InvalidNameError('secret name', name, `names starting with '${scope.prefix}-global-', '-component-' or '-namespace-' are reserved for scoped secrets`);
      }
      const labels = _labels(secretMetadata(scope, name, secret.schema));
      try {
        await call('register', name, (c) => c.createSecret({ parent, secretId: ctx.names.full(name), secret: { labels, replication: { automatic: {} } } }, OPTS));
      } catch (e) {
        if (_code(e) === ALREADY_EXISTS) return false;
        throw e;
      }
      try {
        await addVersion(name, secret, 'register');
      } catch (e) {
        // A secret without a version reads as absent but blocks the name: remove it.
        await call('register', name, (c) => c.deleteSecret({ name: secretPath(name) }, OPTS)).catch(() => undefined);
        throw e;
      }
      return true;
    },
    async get(name) {
      if (reserved(name)) return null;
      let payload: Uint8Array | string | null | undefined;
      try {
        const [v] = await call('get', name, (c) => c.accessSecretVersion({ name: `${secretPath(name)}/versions/latest` }, OPTS));
        payload = v.payload?.data;
      } catch (e) {
        if (_absent(e)) return null;
        throw e;
      }
      const text = typeof payload === 'string' ? payload : Buffer.from(payload ?? []).toString('utf8');
      return decodeOrFail(FLAVOR_NAME, name, text, scope.prefix, 'the latest version');
    },
    list,
    async update(name, secret) {
      if (reserved(name)) return false;
      try {
        await addVersion(name, secret);
        return true;
      } catch (e) {
        if (_code(e) === NOT_FOUND) return false;
        throw e;
      }
    },
    async delete(name) {
      if (reserved(name)) return false;
      try {
        await call('delete', name, (c) => c.deleteSecret({ name: secretPath(name) }, OPTS));
        return true;
      } catch (e) {
        if (_code(e) === NOT_FOUND) return false;
        throw e;
      }
    },
    async close() {
      const c = client;
      client = undefined;
      await (await c?.catch(() => undefined))?.close();
    },
  };

  async function addVersion(name: string, secret: StoredSecret, op = 'update'): Promise<void> {
    const data = Buffer.from(encodeContent(secret, scope.prefix), 'utf8');
    await call(op, name, (c) => c.addSecretVersion({ parent: secretPath(name), payload: { data } }, OPTS));
  }
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '[::1]', 'localhost']);

async function _connect(o: GcpFlavorOptions): Promise<SecretManagerServiceClient> {
  const { v1 } = await importLib(FLAVOR_NAME, '@google-cloud/secret-manager', () => import('@google-cloud/secret-manager'));
  // universeDomain set explicitly: otherwise the client asks the metadata server for it.
  const base = { projectId: o.project_id, universeDomain: 'googleapis.com' };
  if (!o.api_endpoint) return new v1.SecretManagerServiceClient({ ...base, ...(o.credentials_file ? { keyFilename: o.credentials_file } : {}) });
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(o.api_endpoint);
  if (!m) throw new ConfigError(`api_endpoint '${o.api_endpoint}' of the gcp flavor is not host:port`);
  const host = m[1]!;
  const port = m[2] ? Number(m[2]) : 443;
  if (!LOOPBACK.has(host)) {
    return new v1.SecretManagerServiceClient({ ...base, apiEndpoint: host, port, ...(o.credentials_file ? { keyFilename: o.credentials_file } : {}) });
  }
  const grpc = await importLib(FLAVOR_NAME, '@grpc/grpc-js', () => import('@grpc/grpc-js'));
  // An emulator: plain text and no credentials, so nothing asks for a token.
  return new v1.SecretManagerServiceClient({ ...base, apiEndpoint: host.replace(/^\[|\]$/g, ''), port, sslCreds: grpc.credentials.createInsecure() });
}

/** GCP label values: lowercase letters, digits, `_` and `-`, at most 63 characters. */
export function _labelValue(v: string): string {
  return v.toLowerCase().replace(/[^a-z0-9_-]/g, '_').slice(0, 63);
}

function _labels(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, _labelValue(v)]));
}

/** The keystack name of a listed secret in this scope, or null. Labels decide, then the id must agree. */
function _nameInScope(scope: ScopeContext, names: BackendNames, id: string, labels: Record<string, string>): string | null {
  if (scope.scope === 'none') {
    if (`${scope.prefix}_scope` in labels || looksScoped(scope.prefix, id, '-')) return null;
    return fullMatch(NAME_RULE.pattern, id) && id.length <= NAME_RULE.maxLength ? id : null;
  }
  for (const [k, v] of Object.entries(scopeMetadata(scope))) if (labels[k] !== v) return null;
  const name = labels[`${scope.prefix}_secret_name`];
  return name && names.full(name) === id ? name : null;
}


function _code(e: unknown): number | undefined {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

/** Missing secret, or a secret with no enabled version (real GCP: FAILED_PRECONDITION). */
function _absent(e: unknown): boolean {
  return _code(e) === NOT_FOUND || _code(e) === FAILED_PRECONDITION;
}

/** Throttling is retried; auth, quota and connectivity failures get a next step. */
const CLASSIFY: FailureClassifier = {
  throttled: (e) => _code(e) === RESOURCE_EXHAUSTED,
  timedOut: (e) => _code(e) === DEADLINE_EXCEEDED,
  explain(e) {
    const code = _code(e);
    if (code === PERMISSION_DENIED || code === UNAUTHENTICATED) {
      return { reason: code === UNAUTHENTICATED ? 'not authenticated (UNAUTHENTICATED)' : 'permission denied (PERMISSION_DENIED)',
        hint: 'Check GOOGLE_APPLICATION_CREDENTIALS / credentials_file, and that the account has roles/secretmanager.admin (or secretAccessor + secretVersionAdder for read/write) on the project.' };
    }
    if (code === RESOURCE_EXHAUSTED) return { reason: 'quota exceeded (RESOURCE_EXHAUSTED)', hint: 'Wait and retry, or raise the Secret Manager quota of the project.' };
    if (code === UNAVAILABLE) return { reason: 'cannot reach the Secret Manager API (UNAVAILABLE)', hint: 'Check api_endpoint and the network; for an emulator, check that it is running.' };
    return undefined;
  },
  unreachableHint: 'Check api_endpoint and the network; for an emulator, check that it is running.',
};
