/**
 * github's client side: the lazily imported Octokit with paging, sealing values with the
 * repository's public key (libsodium, also imported on first use), and how GitHub's errors read
 * (absent, throttled, auth).
 */
import { ConfigError } from '../errors.js';
import { unlikeBackend } from '../core/kit.js';
import type { FlavorContext } from '../core/types.js';
import { errorHeader as header, retryAfterMs, type CallLimits, type FailureClassifier } from '../support/caller.js';
import { fetchWithTimeout, httpStatus as status } from '../support/http.js';
import { importLib } from '../support/optional-import.js';

const FLAVOR_NAME = 'github';

export interface GitHubFlavorOptions {
  owner: string;
  repository: string;
  /** REST API root, e.g. for GitHub Enterprise Server. @default `https://api.github.com` */
  api_url?: string;
  /** Environment variable that holds the token (never stored in the config). @default `GITHUB_TOKEN` */
  token_env?: string;
}

export type Octokit = Awaited<ReturnType<typeof connect>>;
type Sodium = typeof import('libsodium-wrappers')['default'];

/** The client for the token in the variable named by token_env; a ConfigError when it is not set. */
export function connectWithToken(ctx: FlavorContext<GitHubFlavorOptions>, limits: CallLimits): Promise<Octokit> {
  const { owner, repository, token_env: tokenEnv = 'GITHUB_TOKEN' } = ctx.config;
  const token = ctx.env[tokenEnv];
  if (!token) {
    return Promise.reject(
      new ConfigError(`the github flavor needs a token in the environment variable ${tokenEnv}`, {
        hint: `Set ${tokenEnv} to a token that may administer the secrets of ${owner}/${repository} (fine-grained: "Secrets" read and write).`,
      }),
    );
  }
  return connect(token, ctx.config.api_url?.replace(/\/+$/, ''), limits.requestTimeoutMs);
}

export async function connect(token: string, baseUrl: string | undefined, timeoutMs: number) {
  const [{ Octokit }, { paginateRest }] = await Promise.all([
    importLib(FLAVOR_NAME, '@octokit/core', () => import('@octokit/core')),
    importLib(FLAVOR_NAME, '@octokit/plugin-paginate-rest', () => import('@octokit/plugin-paginate-rest')),
  ]);
  const quiet = () => undefined;
  const WithPaging = Octokit.plugin(paginateRest);
  return new WithPaging({
    auth: token,
    userAgent: 'keystack',
    ...(baseUrl ? { baseUrl } : {}),
    request: { fetch: fetchWithTimeout(timeoutMs) },
    log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
  });
}

let sodiumReady: Promise<Sodium> | undefined;

export async function seal(publicKeyB64: string, plaintext: string): Promise<string> {
  const sodium = await (sodiumReady ??= importLib(FLAVOR_NAME, 'libsodium-wrappers', async () => {
    const s = (await import('libsodium-wrappers')).default;
    await s.ready;
    return s;
  }));
  const key = sodium.from_base64(publicKeyB64, sodium.base64_variants.ORIGINAL);
  return sodium.to_base64(sodium.crypto_box_seal(sodium.from_string(plaintext), key), sodium.base64_variants.ORIGINAL);
}

/**
 * Rate limits (429, or 403 with a Retry-After or an exhausted quota, whose reset time says how
 * long to wait) and gateway errors are retried; 404 is absence (once the repository is confirmed).
 */
export function classifier(tokenEnv: string, repo: string): FailureClassifier {
  const throttled = (e: unknown): boolean | number => {
    const s = status(e);
    const asked = retryAfterMs(header(e, 'retry-after'));
    if (s === 429 || s === 502 || s === 503 || s === 504) return asked ?? true;
    if (s !== 403) return false;
    if (asked !== undefined) return asked;
    const reset = Number(header(e, 'x-ratelimit-reset'));
    if (header(e, 'x-ratelimit-remaining') !== '0') return false;
    return Number.isFinite(reset) && reset > 0 ? Math.max(0, reset * 1000 - Date.now()) : true;
  };
  return {
    throttled,
    absent: (e) => status(e) === 404,
    explain(e) {
      const s = status(e);
      if (throttled(e) !== false)
        return {
          reason: `GitHub kept rate-limiting the request (HTTP ${s ?? '?'})`,
          hint: 'Wait and try again, or spread the calls out (GitHub limits requests per token).',
        };
      if (s === 401)
        return {
          reason: 'GitHub rejected the token (HTTP 401)',
          hint: `Check that ${tokenEnv} holds a valid, unexpired token.`,
        };
      if (s === 403)
        return {
          reason: 'GitHub refused the request (HTTP 403)',
          hint: `Give the token in ${tokenEnv} access to the secrets of ${repo} (fine-grained: "Secrets" read and write; classic: repo scope).`,
        };
      return undefined;
    },
    unreachableHint: 'Check api_url (GITHUB_API_URL) and that this machine can reach it.',
  };
}

/** A success GitHub would not send (a proxy's page, truncated JSON): a failure, never a result. */
export function unlikeGitHub(operation: string, secretName: string | undefined, detail: string): Error {
  return unlikeBackend(FLAVOR_NAME, operation, secretName, {
    service: 'GitHub',
    detail,
    check:
      'Check api_url (GITHUB_API_URL): it must be the REST API root, e.g. https://api.github.com or https://HOST/api/v3.',
  });
}

export function notFoundRepo(owner: string, repo: string): Error {
  return new ConfigError(`GitHub repository ${owner}/${repo} was not found, or the token may not see it`, {
    hint: 'Check owner and repository (`keystack secrets-manager describe`) and that the token has access to the repository.',
  });
}
