/**
 * `azure`: Azure Key Vault secrets. One vault secret per keystack secret in every scope (ZenML
 * 0.30's scoped layout; its per-key `none` layout is dropped): name = scope path + name joined with
 * `-`, value = the JSON payload, scope tags set in the same write. Deletes purge when the vault
 * allows it, so a name can be registered again.
 */
import { readFileSync } from 'node:fs';
import type { KeyVaultSecret, SecretClient } from '@azure/keyvault-secrets';
import type { TokenCredential } from '@azure/core-auth';
import { encodeContent, type StoredSecret } from '../secrets/content.js';
import { ConfigError, InvalidNameError } from '../secrets/errors.js';
import { fullMatch, type NameRule } from '../secrets/names.js';
import { looksScoped, scopeMetadata, secretMetadata, type BackendNames, type ScopeContext } from '../secrets/scope.js';
import { backendFailure, createCaller, decodeOrFail, httpStatus as _status, importLib, retryAfterMs, type FailureClassifier } from './support.js';
import { defineFlavor, type FlavorContext, type SecretsBackend } from './types.js';

export const FLAVOR_NAME = 'azure';

export interface AzureFlavorOptions {
  /** The vault's name; its URL is `https://<name>.vault.azure.net`. */
  key_vault_name?: string;
  /** The vault's URL, for other clouds, private endpoints and emulators (wins over the name). */
  vault_url?: string;
  /**
   * A bearer token used as is instead of DefaultAzureCredential (an emulator, or a token from
   * `az account get-access-token --resource https://vault.azure.net`).
   */
  access_token?: string;
  /** PEM file of the CAs to trust instead of the system ones (an emulator's self-signed certificate). */
  ca_file?: string;
}

const NAME_RULE: NameRule = { pattern: /[0-9A-Za-z-]+/, maxLength: 64, description: 'must contain only letters, digits and - (Key Vault rule)' };
const MAX_VAULT_NAME = 127;
const PAGE_SIZE = 25; // Key Vault's largest maxresults
const SERVICE_VERSION = '2025-07-01'; // pinned: Lowkey and older vaults reject newer SDK defaults
const AZURE_HOST = /\.(vault\.azure\.net|vault\.azure\.cn|vault\.usgovcloudapi\.net|managedhsm\.azure\.net)$/i;

export default defineFlavor<AzureFlavorOptions>({
  name: FLAVOR_NAME,
  description: 'Azure Key Vault',
  supportsScoping: true,
  separator: '-',
  locationFields: ['key_vault_name', 'vault_url'],
  nameRule: NAME_RULE,
  maxContentBytes: 25 * 1024,
  // Key Vault has no create-only write: register reads first, then sets (see create).
  capabilities: { readValues: true, atomicCreate: false },
  config: {
    key_vault_name: { type: 'string', description: 'vault name (https://<name>.vault.azure.net)', env: 'AZURE_KEY_VAULT_NAME' },
    vault_url: { type: 'string', description: 'vault URL (other clouds, private endpoints, emulators)' },
    access_token: { type: 'string', description: 'static bearer token instead of DefaultAzureCredential', sensitive: true, env: 'AZURE_KEYVAULT_ACCESS_TOKEN' },
    ca_file: { type: 'string', description: 'PEM of CAs to trust instead of the system ones (emulators)' },
  },
  dependencies: { '@azure/keyvault-secrets': '~4.11.2', '@azure/identity': '~4.13.0' },
  create: (ctx) => createAzureBackend(ctx),
});

function createAzureBackend(ctx: FlavorContext<AzureFlavorOptions>): SecretsBackend {
  const { scope } = ctx;
  const url = _vaultUrl(ctx.config);
  const P = scope.prefix;
  let client: Promise<SecretClient> | undefined;
  const kv = () => (client ??= _connect(url, ctx.config, caller.limits.requestTimeoutMs));
  const caller = createCaller({ flavor: FLAVOR_NAME, env: ctx.env, classify: CLASSIFY });
  // Right after deletion a purge can meet 409 ("being deleted") for a moment: retried like throttling.
  const purger = createCaller({ flavor: FLAVOR_NAME, env: ctx.env, classify: { ...CLASSIFY, throttled: (e) => (_status(e) === 409 ? true : CLASSIFY.throttled(e)) } });
  const call = async <T>(op: string, name: string | undefined, fn: (c: SecretClient) => Promise<T>, retry409 = false): Promise<T> => {
    const c = await kv();
    return (retry409 ? purger : caller).run(op, name, () => fn(c));
  };
  /** The vault name, or null when no secret of this scope can have that name. */
  const vaultName = (name: string): string | null => {
    if (scope.scope === 'none' && looksScoped(P, name, '-')) return null;
    const full = ctx.names.full(name);
    return full.length <= MAX_VAULT_NAME ? full : null;
  };
  /** The secret, or null when absent or not of this scope. Names are case-insensitive in Key Vault. */
  const read = async (op: string, name: string): Promise<KeyVaultSecret | null> => {
    const full = vaultName(name);
    if (full === null) return null;
    try {
      const s = await call(op, name, (c) => c.getSecret(full));
      return _inScope(scope, s.properties.tags ?? {}, name) ? s : null;
    } catch (e) {
      if (_status(e) === 404) return null;
      throw e;
    }
  };
  const write = (op: string, name: string, secret: StoredSecret, tagName = name) =>
    call(op, name, (c) => c.setSecret(vaultName(name)!, encodeContent(secret, P), { tags: secretMetadata(scope, tagName, secret.schema) }));

  const list = async (): Promise<string[]> => {
    const c = await kv();
    const names: string[] = [];
    // Key Vault has no server-side tag filter: every secret of the vault is read and filtered here.
    const pages = c.listPropertiesOfSecrets().byPage({ maxPageSize: PAGE_SIZE });
    for (;;) {
      const page = await call('list', undefined, () => pages.next());
      if (page.done) break;
      for (const p of page.value) {
        const name = _nameInScope(scope, ctx.names, p.name, p.tags ?? {}, p.managed === true);
        if (name !== null) names.push(name);
      }
    }
    return names;
  };

  return {
    async create(name, secret) {
      if (scope.scope === 'none' && looksScoped(P, name, '-')) {
        throw new InvalidNameError('secret name', name, `names starting with '${P}-global-', '-component-' or '-namespace-' are reserved for scoped secrets`);
      }
      const full = ctx.names.full(name);
      if (full.length > MAX_VAULT_NAME) {
        throw new InvalidNameError('secret name', name, `is too long here: the vault name '${full.slice(0, 40)}…' would exceed ${MAX_VAULT_NAME} characters`);
      }
      // setSecret upserts; a read first keeps "create" from overwriting (not atomic: Key Vault has no create-only write).
      try {
        await call('register', name, (c) => c.getSecret(full));
        return false;
      } catch (e) {
        if (_status(e) !== 404) throw e;
      }
      try {
        await write('register', name, secret);
      } catch (e) {
        if (_status(e) === 409) throw _softDeleted(name, full, e);
        throw e;
      }
      return true;
    },
    async get(name) {
      const s = await read('get', name);
      return s ? decodeOrFail(FLAVOR_NAME, name, s.value ?? '', P, 'the vault secret') : null;
    },
    list,
    async update(name, secret) {
      const current = await read('update', name);
      if (!current) return false;
      // Tags live on each version, so every write carries them (and a changed schema tag).
      await write('update', name, secret, current.properties.tags?.[`${P}_secret_name`] ?? name);
      return true;
    },
    async delete(name) {
      const full = vaultName(name);
      if (full === null) return false;
      let deleted;
      try {
        const poller = await call('delete', name, (c) => c.beginDeleteSecret(full, { intervalInMs: 500 }));
        deleted = await call('delete', name, () => poller.pollUntilDone());
      } catch (e) {
        if (_status(e) === 404) return false;
        throw e;
      }
      const level = deleted.properties.recoveryLevel ?? '';
      if (deleted.properties.recoveryId && level.includes('Purgeable')) {
        // Right after deletion a purge can meet 409 ("being deleted") for a moment.
        await call('delete', name, (c) => c.purgeDeletedSecret(full), true);
      }
      return true;
    },
    close() {
      client = undefined;
    },
  };
}

function _vaultUrl(o: AzureFlavorOptions): string {
  if (o.vault_url) {
    if (!/^https:\/\//i.test(o.vault_url)) throw new ConfigError(`vault_url must be an https:// URL (Key Vault refuses bearer tokens over http)`);
    return o.vault_url.replace(/\/+$/, '');
  }
  if (!o.key_vault_name) {
    throw new ConfigError('the azure flavor needs key_vault_name or vault_url', { hint: 'Pass --key_vault_name=NAME (or --vault_url=https://…) when registering the manager.' });
  }
  if (!/^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$/.test(o.key_vault_name)) {
    throw new ConfigError(`invalid key_vault_name '${o.key_vault_name}': 3-24 letters, digits and -, starting with a letter`);
  }
  return `https://${o.key_vault_name}.vault.azure.net`;
}

async function _connect(url: string, o: AzureFlavorOptions, timeoutMs: number): Promise<SecretClient> {
  const { SecretClient } = await importLib(FLAVOR_NAME, '@azure/keyvault-secrets', () => import('@azure/keyvault-secrets'));
  let credential: TokenCredential;
  if (o.access_token) {
    const token = o.access_token;
    credential = { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
  } else {
    const { DefaultAzureCredential } = await importLib(FLAVOR_NAME, '@azure/identity', () => import('@azure/identity'));
    credential = new DefaultAzureCredential();
  }
  return new SecretClient(url, credential, {
    serviceVersion: SERVICE_VERSION,
    // The challenge names https://vault.azure.net; only a real vault host can be checked against it.
    disableChallengeResourceVerification: !AZURE_HOST.test(new URL(url).hostname),
    // keystack retries throttling itself (below), so every request is counted and bounded.
    retryOptions: { maxRetries: 0 },
    additionalPolicies: [{ position: 'perCall', policy: { name: 'keystackTimeout', sendRequest: (req, next) => {
      req.timeout = timeoutMs;
      return next(req);
    } } }],
    ...(o.ca_file ? { tlsOptions: { ca: readFileSync(o.ca_file) } } : {}),
  });
}

/** Whether a secret's tags put it in this scope (and, given a name, make it that secret). */
function _inScope(scope: ScopeContext, tags: Record<string, string>, name?: string): boolean {
  if (scope.scope === 'none') return !(`${scope.prefix}_scope` in tags);
  const { [`${scope.prefix}_secret_name`]: wantName, ...want } = scopeMetadata(scope, name);
  if (!Object.entries(want).every(([k, v]) => tags[k] === v)) return false;
  const tagged = tags[`${scope.prefix}_secret_name`];
  return tagged !== undefined && (wantName === undefined || tagged.toLowerCase() === wantName.toLowerCase());
}

function _nameInScope(scope: ScopeContext, names: BackendNames, vaultName: string, tags: Record<string, string>, managed: boolean): string | null {
  if (managed || !_inScope(scope, tags)) return null;
  if (scope.scope === 'none') {
    return !looksScoped(scope.prefix, vaultName, '-') && vaultName.length <= NAME_RULE.maxLength && fullMatch(NAME_RULE.pattern, vaultName) ? vaultName : null;
  }
  const name = tags[`${scope.prefix}_secret_name`]!;
  return names.full(name).toLowerCase() === vaultName.toLowerCase() ? name : null;
}


function _retryAfter(e: unknown): number | undefined {
  return retryAfterMs((e as { response?: { headers?: { get(n: string): string | undefined } } }).response?.headers?.get('retry-after'));
}

function _softDeleted(name: string, full: string, e: unknown): Error {
  return backendFailure({ flavor: FLAVOR_NAME, operation: 'register', secretName: name }, e,
    `the vault still holds a deleted (not purged) secret named '${full}'`,
    `Recover it (az keyvault secret recover --name ${full}) or purge it (az keyvault secret purge --name ${full}), then register again. keystack purges on delete when the vault allows it.`);
}

const UNREACHABLE = 'Check key_vault_name / vault_url and the network; for an emulator, check that it is running and its certificate is trusted.';

/** Throttling is retried; auth, throttling and connectivity failures get a next step. */
const CLASSIFY: FailureClassifier = {
  throttled: (e) => (_status(e) === 429 ? (_retryAfter(e) ?? true) : false),
  // keystack aborts nothing else, so an abort is the per-request timeout set in _connect.
  timedOut: (e) => (e as { name?: unknown } | null)?.name === 'AbortError',
  explain(e) {
    const status = _status(e);
    if (status === 401 || status === 403) {
      return { reason: `access denied (HTTP ${status})`,
        hint: 'Check the credential (az login, AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, a managed identity, or access_token) and that it may get, list, set, delete and purge secrets (RBAC role "Key Vault Secrets Officer" or an access policy).' };
    }
    if (status === 429) return { reason: 'throttled (HTTP 429)', hint: 'Key Vault limits requests per vault; wait and retry.' };
    const code = (e as { code?: unknown }).code;
    if (status === undefined && (code === 'REQUEST_SEND_ERROR' || (typeof code === 'string' && /^E[A-Z]+$/.test(code)))) {
      return { reason: `cannot reach the vault (${String(code)})`, hint: UNREACHABLE };
    }
    return undefined;
  },
  unreachableHint: UNREACHABLE,
};
