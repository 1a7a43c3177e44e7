/**
 * `github`: GitHub Actions repository secrets through the REST API (@octokit/rest). Values are
 * sealed with the repository's public key (libsodium `crypto_box_seal`), so GitHub's API can write
 * them but never read them back: values reach only workflows running in GitHub Actions, as
 * environment variables. Outside Actions, `get` is an UnsupportedOperationError.
 *
 * Backend names: GitHub allows only `[A-Z0-9_]` (stored upper-case, matched case-insensitively),
 * so keystack names are lowercase words joined by single underscores, and the scope path is
 * joined with `__`: `KEYSTACK__COMPONENT__<UUID with _>__DB_CREDS`. Because a name never contains
 * `__`, the mapping is injective and every scope is supported.
 */
import { decodeContent, encodeContent, type StoredSecret } from '../secrets/content.js';
import { ConfigError, InvalidNameError, UnsupportedOperationError } from '../secrets/errors.js';
import { scopePath, type ScopeContext } from '../secrets/scope.js';
import { importLib, withRetry } from './support.js';
import { defineFlavor, type FlavorContext, type SecretsBackend } from './types.js';

export const FLAVOR_NAME = 'github';

export interface GitHubFlavorOptions {
  owner: string;
  repository: string;
  /** REST API root, e.g. for GitHub Enterprise Server. @default `https://api.github.com` */
  api_url?: string;
  /** Environment variable that holds the token (never stored in the config). @default `GITHUB_TOKEN` */
  token_env?: string;
}

/** Where a workflow may pass every secret at once: `KEYSTACK_GITHUB_SECRETS: ${{ toJSON(secrets) }}`. */
export const SECRETS_JSON_ENV = 'KEYSTACK_GITHUB_SECRETS';

// GitHub documents "48 KB" per secret without saying whether it counts the plaintext or the
// sealed, base64-encoded value, nor 1000 or 1024: bound the sealed form by 48,000 characters.
const SEAL_BYTES = 48;
const MAX_SEALED_BASE64 = 48_000;
const DELETE_CONCURRENCY = 8;

export default defineFlavor<GitHubFlavorOptions>({
  name: FLAVOR_NAME,
  description: 'GitHub Actions repository secrets',
  supportsScoping: true,
  separator: '__',
  locationFields: ['owner', 'repository', 'api_url'],
  nameRule: {
    pattern: /[a-z0-9]+(?:_[a-z0-9]+)*/,
    maxLength: 64,
    description: 'must be lowercase letters and digits, in words joined by single underscores (GitHub stores names upper-case)',
  },
  maxContentBytes: (MAX_SEALED_BASE64 / 4) * 3 - SEAL_BYTES,
  capabilities: { readValues: false, maxSecrets: 100, note: 'values readable only inside GitHub Actions' },
  config: {
    owner: { type: 'string', description: 'repository owner (user or organization)', required: true },
    repository: { type: 'string', description: 'repository name', required: true },
    api_url: { type: 'string', description: 'REST API root (default https://api.github.com)', env: 'GITHUB_API_URL' },
    token_env: { type: 'string', description: 'environment variable holding the token', default: 'GITHUB_TOKEN' },
  },
  dependencies: { '@octokit/rest': '^22.0.1', 'libsodium-wrappers': '^0.8.4' },
  create: (ctx) => createGitHubBackend(ctx),
});

type Octokit = import('@octokit/rest').Octokit;
type Sodium = (typeof import('libsodium-wrappers'))['default'];

function createGitHubBackend(ctx: FlavorContext<GitHubFlavorOptions>): SecretsBackend {
  const { owner, repository: repo, token_env: tokenEnv = 'GITHUB_TOKEN' } = ctx.config;
  const naming = githubNaming(ctx.scope);
  const repoArgs = { owner, repo };
  let client: Promise<Octokit> | undefined;
  let publicKey: Promise<{ key_id: string; key: string }> | undefined;

  const octokit = () =>
    (client ??= (async () => {
      const token = ctx.env[tokenEnv];
      if (!token) {
        throw new ConfigError(`the github flavor needs a token in the environment variable ${tokenEnv}`, {
          hint: `Set ${tokenEnv} to a token that may administer the secrets of ${owner}/${repo} (fine-grained: "Secrets" read and write).`,
        });
      }
      const { Octokit } = await importLib(FLAVOR_NAME, '@octokit/rest', () => import('@octokit/rest'));
      const quiet = () => undefined;
      const baseUrl = ctx.config.api_url?.replace(/\/+$/, '');
      return new Octokit({ auth: token, userAgent: 'keystack', ...(baseUrl ? { baseUrl } : {}), log: { debug: quiet, info: quiet, warn: quiet, error: quiet } });
    })());
  /** One call with GitHub's throttling answers retried; a 404 becomes null. */
  const call = async <T>(fn: (o: Octokit) => Promise<T>): Promise<T | null> => {
    const o = await octokit();
    try {
      return await withRetry(() => fn(o), { isRetryable, retryAfterMs });
    } catch (e) {
      if (status(e) === 404) return null;
      throw e;
    }
  };
  /** The repository key, fetched once per backend: every write needs it. */
  const repoKey = () =>
    (publicKey ??= call((o) => o.rest.actions.getRepoPublicKey(repoArgs)).then((r) => {
      if (!r) throw notFoundRepo(owner, repo);
      return r.data;
    })).catch((e: unknown) => {
      publicKey = undefined;
      throw e;
    });
  const exists = async (name: string) => (await call((o) => o.rest.actions.getRepoSecret({ ...repoArgs, secret_name: naming.full(name) }))) !== null;
  const put = async (name: string, secret: StoredSecret, retried = false): Promise<void> => {
    const { key_id, key } = await repoKey();
    const encrypted_value = await seal(key, encodeContent(secret, ctx.scope.prefix));
    try {
      const r = await call((o) => o.rest.actions.createOrUpdateRepoSecret({ ...repoArgs, secret_name: naming.full(name), encrypted_value, key_id }));
      if (!r) throw notFoundRepo(owner, repo);
    } catch (e) {
      // A 422 may mean the key was rotated since it was cached: if a fresh one differs, retry once.
      if (status(e) !== 422 || retried) throw e;
      publicKey = undefined;
      if ((await repoKey()).key_id === key_id) throw e;
      await put(name, secret, true);
    }
  };

  /** Every page (100 names each): ZenML read only the first. */
  const list = async () => {
    const o = await octokit();
    try {
      const all = await withRetry(() => o.paginate(o.rest.actions.listRepoSecrets, { ...repoArgs, per_page: 100 }), { isRetryable, retryAfterMs });
      return all.map((s) => naming.parse(s.name)).filter((n): n is string => n !== null);
    } catch (e) {
      throw status(e) === 404 ? notFoundRepo(owner, repo) : e;
    }
  };
  const remove = async (name: string) =>
    (await call((o) => o.rest.actions.deleteRepoSecret({ ...repoArgs, secret_name: naming.full(name) }))) !== null;

  return {
    // GitHub has no create-if-absent: a PUT overwrites. So register reads the metadata first and
    // writes only when it is absent; a writer racing between the two calls can be overwritten.
    async create(name, secret) {
      if (await exists(name)) return false;
      await put(name, secret);
      return true;
    },
    async get(name) {
      const full = naming.full(name);
      if (ctx.env['GITHUB_ACTIONS'] !== 'true') {
        throw new UnsupportedOperationError(
          FLAVOR_NAME,
          `read the values of secret '${name}' here`,
          "GitHub's API never returns secret values; they reach only workflows running in GitHub Actions",
          `Inside a workflow, pass it to the step as \`env: { ${full}: \${{ secrets.${full} }} }\` (or all at once with \`${SECRETS_JSON_ENV}: \${{ toJSON(secrets) }}\`). For local work use a readable flavor such as local.`,
        );
      }
      const value = ctx.env[full] ?? injectedSecrets(ctx.env)[full];
      return value === undefined ? null : decodeContent(value, ctx.scope.prefix);
    },
    list,
    // Update re-puts the sealed value; it first checks the secret exists, so an update of a
    // missing name does not create it (a delete racing in between is undone).
    async update(name, secret) {
      if (!(await exists(name))) return false;
      await put(name, secret);
      return true;
    },
    delete: remove,
    async deleteAll() {
      const names = await list();
      let count = 0;
      for (let i = 0; i < names.length; i += DELETE_CONCURRENCY) {
        const done = await Promise.all(names.slice(i, i + DELETE_CONCURRENCY).map(remove));
        count += done.filter(Boolean).length;
      }
      return count;
    },
  };
}

/** Keystack name ⇄ GitHub secret name for one scope. */
export function githubNaming(scope: ScopeContext): { full(name: string): string; parse(full: string): string | null } {
  const prefix = scope.prefix;
  if (scope.scope !== 'none' && (/__|_$/.test(prefix) || /^github/.test(prefix))) {
    throw new ConfigError(`the github flavor cannot use the scope_prefix '${prefix}'`, {
      hint: "GitHub names join the scope path with '__' and refuse a GITHUB_ prefix: use a prefix without '__', a trailing '_' or a leading 'github'.",
    });
  }
  const path = scopePath(scope).map((p) => p.replace(/-/g, '_').toUpperCase());
  const head = path.length ? `${path.join('__')}__` : '';
  return {
    full(name) {
      if (scope.scope === 'none' && (/^[0-9]/.test(name) || name.startsWith('github_'))) {
        throw new InvalidNameError('secret name', name, "an unscoped GitHub secret name must not start with a digit or 'github_'");
      }
      return head + name.toUpperCase();
    },
    parse(full) {
      const upper = full.toUpperCase();
      if (!upper.startsWith(head)) return null;
      const rest = upper.slice(head.length);
      return /^[A-Z0-9]+(?:_[A-Z0-9]+)*$/.test(rest) ? rest.toLowerCase() : null;
    },
  };
}

let sodiumReady: Promise<Sodium> | undefined;

async function seal(publicKeyB64: string, plaintext: string): Promise<string> {
  const sodium = await (sodiumReady ??= importLib(FLAVOR_NAME, 'libsodium-wrappers', async () => {
    const s = (await import('libsodium-wrappers')).default;
    await s.ready;
    return s;
  }));
  const key = sodium.from_base64(publicKeyB64, sodium.base64_variants.ORIGINAL);
  return sodium.to_base64(sodium.crypto_box_seal(sodium.from_string(plaintext), key), sodium.base64_variants.ORIGINAL);
}

function injectedSecrets(env: FlavorContext<unknown>['env']): Record<string, string | undefined> {
  const raw = env[SECRETS_JSON_ENV];
  if (!raw) return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, string>) : {};
  } catch {
    throw new ConfigError(`${SECRETS_JSON_ENV} is not JSON`, { hint: `Set it with \`${SECRETS_JSON_ENV}: \${{ toJSON(secrets) }}\` in the workflow.` });
  }
}

function status(e: unknown): number | undefined {
  const s = (e as { status?: unknown }).status;
  return typeof s === 'number' ? s : undefined;
}

function header(e: unknown, name: string): string | undefined {
  const h = (e as { response?: { headers?: Record<string, unknown> } }).response?.headers?.[name];
  return typeof h === 'string' ? h : h === undefined ? undefined : String(h);
}

/** Rate limits (429, or 403 with a Retry-After or an exhausted quota) and gateway errors. */
function isRetryable(e: unknown): boolean {
  const s = status(e);
  if (s === 429 || s === 502 || s === 503 || s === 504) return true;
  return s === 403 && (header(e, 'retry-after') !== undefined || header(e, 'x-ratelimit-remaining') === '0');
}

function retryAfterMs(e: unknown): number | undefined {
  const after = Number(header(e, 'retry-after'));
  return Number.isFinite(after) && after > 0 ? after * 1000 : undefined;
}

function notFoundRepo(owner: string, repo: string): Error {
  return new ConfigError(`GitHub repository ${owner}/${repo} was not found, or the token may not see it`, {
    hint: 'Check owner and repository (`keystack secrets-manager describe`) and that the token has access to the repository.',
  });
}
