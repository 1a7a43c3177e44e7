/**
 * `github`: GitHub Actions repository secrets through the REST API (@octokit/core with the
 * paginate plugin: five endpoints need no generated method table). Values are
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
import { ConfigError, UnsupportedOperationError } from '../errors.js';
import { httpStatus as status } from '../support/http.js';
import { classifier, connectWithToken, notFoundRepo, seal, unlikeGitHub } from './github-client.js';
import type { GitHubFlavorOptions, Octokit } from './github-client.js';
import { githubNaming } from './github-naming.js';
import { defineFlavor, type Connection, type FlavorContext, type SecretsBackend } from '../core/types.js';

export const FLAVOR_NAME = 'github';
export { githubNaming } from './github-naming.js';

export type { GitHubFlavorOptions } from './github-client.js';

/** Where a workflow may pass every secret at once: `KEYSTACK_GITHUB_SECRETS: ${{ toJSON(secrets) }}`. */
export const SECRETS_JSON_ENV = 'KEYSTACK_GITHUB_SECRETS';

// GitHub documents "48 KB" per secret without saying whether it counts the plaintext or the
// sealed, base64-encoded value, nor 1000 or 1024: bound the sealed form by 48,000 characters.
const SEAL_BYTES = 48;
const MAX_SEALED_BASE64 = 48_000;

export default defineFlavor<GitHubFlavorOptions, Octokit>({
  name: FLAVOR_NAME,
  description: 'GitHub Actions repository secrets',
  supportsScoping: true,
  naming: githubNaming,
  locationFields: ['owner', 'repository', 'api_url'],
  // Which of a worker's own credentials is used: a job may not pick another.
  trustFields: ['token_env'],
  nameRule: {
    pattern: /[a-z0-9]+(?:_[a-z0-9]+)*/,
    maxLength: 64,
    description:
      'must be lowercase letters and digits, in words joined by single underscores (GitHub stores names upper-case)',
  },
  maxContentBytes: (MAX_SEALED_BASE64 / 4) * 3 - SEAL_BYTES,
  capabilities: {
    readValues: false,
    maxSecrets: 100,
    note: 'values readable only inside GitHub Actions',
    atomicCreate: false,
  },
  config: {
    owner: { type: 'string', description: 'repository owner (user or organization)', required: true },
    repository: { type: 'string', description: 'repository name', required: true },
    api_url: { type: 'string', description: 'REST API root (default https://api.github.com)', env: 'GITHUB_API_URL' },
    token_env: { type: 'string', description: 'environment variable holding the token', default: 'GITHUB_TOKEN' },
  },
  dependencies: {
    '@octokit/core': '~7.0.8',
    '@octokit/plugin-paginate-rest': '~16.0.0',
    'libsodium-wrappers': '~0.8.4',
  },
  connect: connectWithToken,
  classify: (ctx) => classifier(ctx.config.token_env ?? 'GITHUB_TOKEN', `${ctx.config.owner}/${ctx.config.repository}`),
  operations: githubOperations,
});

function githubOperations(conn: Connection<Octokit>, ctx: FlavorContext<GitHubFlavorOptions>): SecretsBackend {
  const { owner, repository: repo } = ctx.config;
  const { names } = ctx;
  const repoArgs = { owner, repo };
  let publicKey: Promise<{ key_id: string; key: string }> | undefined;
  const run = conn.call;

  /** The repository key, fetched once per backend: every write needs it, and it proves the repository is visible. */
  const repoKey = (op: string, name: string | undefined) =>
    (publicKey ??= conn
      .orNull(op, name, (o) => o.request('GET /repos/{owner}/{repo}/actions/secrets/public-key', repoArgs))
      .then((r) => {
        if (!r) throw notFoundRepo(owner, repo);
        if (typeof r.data.key_id !== 'string' || typeof r.data.key !== 'string')
          throw unlikeGitHub(op, name, 'the public key has no key_id and key');
        return r.data;
      })).catch((e: unknown) => {
      publicKey = undefined;
      throw e;
    });
  /**
   * A per-secret request whose 404 means "no such secret" only once the repository is known to
   * be there: a wrong repository or a token that cannot see it also answers 404.
   */
  const orAbsent = async <T>(op: string, name: string, fn: (o: Octokit) => Promise<T>): Promise<T | null> => {
    const r = await conn.orNull(op, name, fn);
    if (r === null) await repoKey(op, name);
    return r;
  };
  const exists = async (op: string, name: string) => {
    const r = await orAbsent(op, name, (o) =>
      o.request('GET /repos/{owner}/{repo}/actions/secrets/{secret_name}', {
        ...repoArgs,
        secret_name: names.full(name),
      }),
    );
    if (r && typeof (r.data as { name?: unknown }).name !== 'string')
      throw unlikeGitHub(op, name, 'the secret metadata has no name');
    return r !== null;
  };
  const put = async (op: string, name: string, secret: StoredSecret, retried = false): Promise<void> => {
    const { key_id, key } = await repoKey(op, name);
    const encrypted_value = await seal(key, encodeContent(secret, ctx.scope.prefix));
    try {
      const r = await run(op, name, (o) =>
        o.request('PUT /repos/{owner}/{repo}/actions/secrets/{secret_name}', {
          ...repoArgs,
          secret_name: names.full(name),
          encrypted_value,
          key_id,
        }),
      );
      if (![201, 204].includes(r.status)) throw unlikeGitHub(op, name, `HTTP ${r.status} to the write, not 201 or 204`);
    } catch (e) {
      if (status(e) === 404) throw notFoundRepo(owner, repo);
      // A 422 may mean the key was rotated since it was cached: if a fresh one differs, retry once.
      if (status(e) !== 422 || retried) throw e;
      publicKey = undefined;
      if ((await repoKey(op, name)).key_id === key_id) throw e;
      await put(op, name, secret, true);
    }
  };

  return {
    // GitHub has no create-if-absent: a PUT overwrites. So register reads the metadata first and
    // writes only when it is absent; a writer racing between the two calls can be overwritten.
    async create(name, secret) {
      if (await exists('register', name)) return false;
      await put('register', name, secret);
      return true;
    },
    async get(name) {
      const full = names.full(name);
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
    /** Every page (100 names each): ZenML read only the first. */
    async list() {
      try {
        const all: unknown = await run('list', undefined, (o) =>
          o.paginate('GET /repos/{owner}/{repo}/actions/secrets', { ...repoArgs, per_page: 100 }),
        );
        if (!Array.isArray(all) || !all.every((s) => typeof (s as { name?: unknown } | null)?.name === 'string'))
          throw unlikeGitHub('list', undefined, 'the listing is not a list of secrets');
        return (all as { name: string }[]).map((s) => names.parse(s.name)).filter((n): n is string => n !== null);
      } catch (e) {
        throw status(e) === 404 ? notFoundRepo(owner, repo) : e;
      }
    },
    // Update re-puts the sealed value; it first checks the secret exists, so an update of a
    // missing name does not create it (a delete racing in between is undone).
    async update(name, secret) {
      if (!(await exists('update', name))) return false;
      await put('update', name, secret);
      return true;
    },
    async delete(name) {
      const r = await orAbsent('delete', name, (o) =>
        o.request('DELETE /repos/{owner}/{repo}/actions/secrets/{secret_name}', {
          ...repoArgs,
          secret_name: names.full(name),
        }),
      );
      if (r && (r.status as number) !== 204)
        throw unlikeGitHub('delete', name, `HTTP ${r.status} to the delete, not 204`);
      return r !== null;
    },
  };
}

function injectedSecrets(env: FlavorContext<unknown>['env']): Record<string, string | undefined> {
  const raw = env[SECRETS_JSON_ENV];
  if (!raw) return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, string>) : {};
  } catch {
    throw new ConfigError(`${SECRETS_JSON_ENV} is not JSON`, {
      hint: `Set it with \`${SECRETS_JSON_ENV}: \${{ toJSON(secrets) }}\` in the workflow.`,
    });
  }
}
