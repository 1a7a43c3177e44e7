/**
 * vault's session with one server: the address, mount and credentials from the config and the
 * environment (checked when a backend is created), the https agent, the token (a fixed one, or an
 * AppRole login renewed once when it expires), one authenticated request, and telling a 404 that
 * means "no such secret" from a wrong mount or a server that is not Vault.
 */
import type { Agent } from 'node:https';
import { ConfigError } from '../errors.js';
import { retryAfterMs, type CallLimits } from '../support/caller.js';
import { requestJson } from '../support/http.js';
import type { FlavorContext } from '../core/types.js';
import {
  notKv2,
  notVault,
  readCa,
  segments,
  VaultHttpError,
  type Reply,
  type VaultFlavorOptions,
} from './vault-client.js';

export interface VaultSettings {
  base: URL;
  mountPoint: string;
  approle: { role_id: string; secret_id?: string } | undefined;
  fixed: string | undefined;
}

/** Where and as whom to connect; a ConfigError when the address or every credential is missing. */
export function vaultSettings(ctx: FlavorContext<VaultFlavorOptions>): VaultSettings {
  const { config, env } = ctx;
  const url = config.url ?? env['BAO_ADDR'];
  if (!url)
    throw new ConfigError('the vault flavor needs a server address', {
      hint: 'Pass --url=https://HOST:8200 when registering, or set VAULT_ADDR (or BAO_ADDR).',
    });
  const approle = config.role_id
    ? { role_id: config.role_id, ...(config.secret_id ? { secret_id: config.secret_id } : {}) }
    : undefined;
  const fixed = config.token ?? env['BAO_TOKEN'];
  if (!approle && !fixed) {
    throw new ConfigError('the vault flavor has no credentials', {
      hint: 'Set VAULT_TOKEN (or BAO_TOKEN), or VAULT_ROLE_ID and VAULT_SECRET_ID for AppRole; do not store them in the config.',
    });
  }
  // Defaults are applied at registration; configs built in code may leave them out.
  return { base: new URL(url), mountPoint: config.mount_point ?? 'secret', approle, fixed };
}

export interface VaultSession {
  /** One authenticated request; `ok` lists the statuses that are answers rather than failures. */
  call(method: string, path: string, body?: unknown, ok?: number[]): Promise<Reply>;
  /**
   * A 404 that means "no such secret". A missing mount is a failure; and since Vault answers
   * `{"errors":[]}` to any unknown path outside /v1 too (a url with a wrong path prefix), the first
   * such answer is checked once against the server's unauthenticated health endpoint.
   */
  absent(r: Reply): Promise<null>;
  close(): void;
}

export async function openSession(ctx: FlavorContext<VaultFlavorOptions>, limits: CallLimits): Promise<VaultSession> {
  const { config } = ctx;
  const { base, mountPoint, approle, fixed } = vaultSettings(ctx);
  const agent: Agent | undefined =
    base.protocol === 'https:'
      ? new (await import('node:https')).Agent({
          keepAlive: true,
          rejectUnauthorized: config.tls_skip_verify !== true,
          ...(config.ca_cert ? { ca: readCa(config.ca_cert) } : {}),
        })
      : undefined;
  let token: Promise<string> | undefined = approle ? undefined : Promise.resolve(fixed ?? '');
  let vaultConfirmed: Promise<void> | undefined;

  const send = async (
    method: string,
    path: string,
    tok: string | undefined,
    body?: unknown,
    namespaced = true,
  ): Promise<Reply> => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (tok) headers['x-vault-token'] = tok;
    if (config.vault_namespace && namespaced) headers['x-vault-namespace'] = config.vault_namespace;
    const url = new URL(`${base.pathname.replace(/\/$/, '')}/v1/${path}`, base);
    return requestJson(url, { method, headers, body, agent, timeoutMs: limits.requestTimeoutMs });
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
  const confirmVault = async () => {
    const r = await send('GET', 'sys/health?standbyok=true&perfstandbyok=true', undefined, undefined, false);
    if (typeof (r.body as { initialized?: unknown } | null)?.initialized !== 'boolean')
      throw notVault(r, 'GET sys/health');
  };

  return {
    /** With AppRole, an expired token is renewed by one new login. */
    async call(method, path, body, ok = [200, 204]) {
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
    },
    async absent(r) {
      const errors = Array.isArray(r.body?.errors) ? (r.body.errors as unknown[]) : [];
      if (errors.some((e) => typeof e === 'string' && /no handler for route/i.test(e))) throw notKv2(mountPoint);
      if (r.body?.data) return null; // soft-deleted: Vault sent the version's metadata
      await (vaultConfirmed ??= confirmVault().catch((e: unknown) => {
        vaultConfirmed = undefined;
        throw e;
      }));
      return null;
    },
    close: () => agent?.destroy(),
  };
}
