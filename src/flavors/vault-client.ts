/**
 * vault's client side: the shapes of Vault's answers (KV v2 metadata, check-and-set and
 * unsupported-route errors), answers that are not Vault's, and how its failures read (throttled,
 * auth, TLS).
 */
import { readFileSync } from 'node:fs';
import { BackendError, ConfigError } from '../errors.js';
import type { FailureClassifier } from '../support/caller.js';
import type { JsonReply } from '../support/http.js';
import { unlikeAnswer } from '../core/kit.js';

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

export type Reply = JsonReply & {
  body: { data?: Record<string, unknown> | null; errors?: unknown; auth?: { client_token?: string } } | null;
};

/** A path's current version and whether it is readable, from its metadata; null if it has no such shape. */
export function versionState(meta: unknown): { version: number; live: boolean } | null {
  const m = meta as
    | { current_version?: unknown; versions?: Record<string, { deletion_time?: string; destroyed?: boolean }> }
    | null
    | undefined;
  if (typeof m?.current_version !== 'number' || !m.versions || typeof m.versions !== 'object') return null;
  const v = m.versions[String(m.current_version)];
  return { version: m.current_version, live: m.current_version > 0 && !!v && !v.deletion_time && !v.destroyed };
}

/** Vault's answer for a route the KV engine does not have (detailed-metadata on HashiCorp Vault). */
export function isUnsupported(r: Reply): boolean {
  return (
    Array.isArray(r.body?.errors) &&
    (r.body.errors as unknown[]).some((e) => typeof e === 'string' && /unsupported (path|operation)/i.test(e))
  );
}

export function isCasError(r: Reply): boolean {
  return (
    Array.isArray(r.body?.errors) &&
    (r.body.errors as unknown[]).some((e) => typeof e === 'string' && /check-and-set/i.test(e))
  );
}

/** An update that met a newer version on every try. */
export function keptChanging(name: string): BackendError {
  return new BackendError({
    flavor: 'vault',
    operation: 'update',
    secretName: name,
    reason: 'the secret kept changing while it was being updated (check-and-set conflicts)',
    hint: 'Another writer is updating it at the same time; try again.',
  });
}

export function notKv2(mount: string): Error {
  return new VaultHttpError(404, [`mount '${mount}' is not a KV version 2 secrets engine`], {
    hint: `Enable one with \`vault secrets enable -path=${mount} kv-v2\`, or pass --mount_point=MOUNT of an existing KV v2 mount.`,
  });
}

/** A proxy's page, an empty 404, a JSON object of another shape: never read as absence. */
export function notVault(r: Reply, what: string): Error {
  const { reason, hint } = unlikeAnswer({
    service: 'Vault',
    detail: `${what} answered HTTP ${r.status} with ${r.odd ?? 'JSON of another shape'}`,
    check:
      'Check the url (or VAULT_ADDR): it must be the Vault/OpenBao server address itself, e.g. https://HOST:8200, without a path unless a proxy serves Vault under that path.',
  });
  return new VaultHttpError(r.status, undefined, { what: reason, hint });
}

export function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigError(`cannot read the ca_cert file ${file} (${(e as { code?: string }).code ?? 'error'})`, {
      hint: 'Pass --ca_cert=PATH of a readable PEM file.',
    });
  }
}

export function segments(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

/** A Vault answer that is not a success. Carries only Vault's error strings, never a request body. */
export class VaultHttpError extends Error {
  readonly status: number;
  readonly retryAfterMs: number | undefined;
  readonly hint: string | undefined;
  constructor(
    status: number,
    errors: unknown,
    o: { retryAfterMs?: number | undefined; what?: string; hint?: string } = {},
  ) {
    const detail = (Array.isArray(errors) ? errors.filter((e) => typeof e === 'string') : []).join('; ');
    super(o.what && !detail ? o.what : `${o.what ?? `Vault answered HTTP ${status}`}: ${detail || 'no detail'}`);
    this.name = 'VaultError';
    this.status = status;
    this.retryAfterMs = o.retryAfterMs;
    this.hint = o.hint;
  }
}

export const CLASSIFY: FailureClassifier = {
  throttled: (e) => (e instanceof VaultHttpError && e.status === 429 ? (e.retryAfterMs ?? true) : false),
  explain(e) {
    const code = (e as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) {
      return {
        reason: `the server's TLS certificate was not trusted (${code})`,
        hint: 'Pass --ca_cert=PATH (or set VAULT_CACERT) with the CA that signed it.',
      };
    }
    if (!(e instanceof VaultHttpError)) return undefined;
    if (e.status === 429)
      return {
        reason: 'Vault kept rate-limiting the request (HTTP 429)',
        hint: 'Try again later, or raise the rate-limit quota.',
      };
    if (e.status === 403)
      return {
        reason: `Vault denied the request (HTTP 403): ${e.message.replace(/^[^:]*: /, '')}`,
        hint: "Check the token (VAULT_TOKEN) or AppRole ids, and that its policy allows this operation on the mount's data/ and metadata/ paths under the scope prefix.",
      };
    return { reason: e.message, hint: e.hint };
  },
  unreachableHint: 'Check the url (or VAULT_ADDR) and that the server is running and reachable from here.',
};
