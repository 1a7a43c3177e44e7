/**
 * azure's client side: Key Vault's rules for the vault name and URL (checked at register), the
 * lazily imported SecretClient, and how its errors read (absent, conflict, throttled, auth).
 */
import { readFileSync } from 'node:fs';
import type { SecretClient } from '@azure/keyvault-secrets';
import type { TokenCredential } from '@azure/core-auth';
import { ConfigError, InvalidNameError } from '../errors.js';
import { backendFailure } from '../support/scrub.js';
import { errorHeader, retryAfterMs, type FailureClassifier } from '../support/caller.js';
import { httpStatus as _status } from '../support/http.js';
import { importLib } from '../support/optional-import.js';

const FLAVOR_NAME = 'azure';
const SERVICE_VERSION = '2025-07-01'; // pinned: Lowkey and older vaults reject newer SDK defaults
const AZURE_HOST = /\.(vault\.azure\.net|vault\.azure\.cn|vault\.usgovcloudapi\.net|managedhsm\.azure\.net)$/i;

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

/** The inner error code of a Key Vault error body (`error.innererror.code`), e.g. ObjectIsBeingDeleted. */
export function _inner(e: unknown): string | undefined {
  const code = (e as { details?: { error?: { innerError?: { code?: unknown } } } } | undefined)?.details?.error
    ?.innerError?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Key Vault's rules for a vault name and URL, so that a bad one fails at register, not at first use. */
export function _checkVault(o: Partial<AzureFlavorOptions>): void {
  if (o.vault_url !== undefined && !/^https:\/\//i.test(o.vault_url))
    throw new ConfigError(`vault_url must be an https:// URL (Key Vault refuses bearer tokens over http)`);
  const name = o.key_vault_name;
  if (name !== undefined && (!/^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$/.test(name) || name.includes('--'))) {
    throw new ConfigError(
      `invalid key_vault_name '${name}': 3-24 letters, digits and -, starting with a letter, ending with a letter or digit, no consecutive -`,
    );
  }
}

/** A name whose vault name (scope path included) is beyond Key Vault's limit. */
export function _tooLong(name: string, full: string, max: number): InvalidNameError {
  return new InvalidNameError(
    'secret name',
    name,
    `is too long here: the vault name '${full.slice(0, 40)}…' would exceed ${max} characters`,
  );
}

export function _vaultUrl(o: AzureFlavorOptions): string {
  if (o.vault_url) return o.vault_url.replace(/\/+$/, '');
  if (!o.key_vault_name) {
    throw new ConfigError('the azure flavor needs key_vault_name or vault_url', {
      hint: 'Pass --key_vault_name=NAME (or --vault_url=https://…) when registering the manager.',
    });
  }
  return `https://${o.key_vault_name}.vault.azure.net`;
}

export async function _connect(url: string, o: AzureFlavorOptions, timeoutMs: number): Promise<SecretClient> {
  const { SecretClient } = await importLib(
    FLAVOR_NAME,
    '@azure/keyvault-secrets',
    () => import('@azure/keyvault-secrets'),
  );
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
    additionalPolicies: [
      {
        position: 'perCall',
        policy: {
          name: 'keystackTimeout',
          sendRequest: (req, next) => {
            req.timeout = timeoutMs;
            return next(req);
          },
        },
      },
    ],
    ...(o.ca_file ? { tlsOptions: { ca: readFileSync(o.ca_file) } } : {}),
  });
}

/** A 409 on register, explained by its inner error code. */
export function _conflictOnRegister(name: string, full: string, e: unknown): unknown {
  if (_status(e) !== 409) return e;
  const ctx = { flavor: FLAVOR_NAME, operation: 'register', secretName: name };
  switch (_inner(e)) {
    case 'ObjectIsDeletedButRecoverable':
      return backendFailure(
        ctx,
        e,
        `the vault still holds a deleted (not purged) secret named '${full}'`,
        `Recover it (az keyvault secret recover --name ${full}) or purge it (az keyvault secret purge --name ${full}), then register again. keystack purges on delete when the vault allows it.`,
      );
    case 'ObjectIsBeingDeleted':
      return backendFailure(
        ctx,
        e,
        `a secret named '${full}' is still being deleted or purged`,
        'Wait a minute and register again.',
      );
    default:
      return backendFailure(
        ctx,
        e,
        `the vault refused the write with a conflict (${_inner(e) ?? 'no inner error code'})`,
        "Another operation on this name may be in progress; retry, and check the vault's activity log if it persists.",
      );
  }
}

const UNREACHABLE =
  'Check key_vault_name / vault_url and the network; for an emulator, check that it is running and its certificate is trusted.';

/** Throttling is retried; auth, throttling and connectivity failures get a next step. */
export const CLASSIFY: FailureClassifier = {
  throttled: (e) => (_status(e) === 429 ? (retryAfterMs(errorHeader(e, 'retry-after')) ?? true) : false),
  // keystack aborts nothing else, so an abort is the per-request timeout set in _connect.
  timedOut: (e) => (e as { name?: unknown } | null)?.name === 'AbortError',
  explain(e) {
    const status = _status(e);
    if (status === 403 && _inner(e) === 'SecretDisabled') {
      return {
        reason: 'the secret is disabled in the vault (HTTP 403 SecretDisabled)',
        hint: 'Enable it: az keyvault secret set-attributes --vault-name VAULT --name NAME --enabled true.',
      };
    }
    if (status === 401 || status === 403) {
      return {
        reason: `access denied (HTTP ${status})`,
        hint: 'Check the credential (az login, AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, a managed identity, or access_token) and that it may get, list, set, delete and purge secrets (RBAC role "Key Vault Secrets Officer" or an access policy).',
      };
    }
    if (status === 429)
      return { reason: 'throttled (HTTP 429)', hint: 'Key Vault limits requests per vault; wait and retry.' };
    const code = (e as { code?: unknown }).code;
    if (
      status === undefined &&
      (code === 'REQUEST_SEND_ERROR' || (typeof code === 'string' && /^E[A-Z]+$/.test(code)))
    ) {
      return { reason: `cannot reach the vault (${code})`, hint: UNREACHABLE };
    }
    return undefined;
  },
  unreachableHint: UNREACHABLE,
};

/** The wait between retries of a name that is still being deleted or purged (4 retries at most). */
const BEING_DELETED_WAIT_MS = 1000;

/**
 * CLASSIFY, and a name still being deleted or purged (409 ObjectIsBeingDeleted) retried: it frees
 * up within seconds, so a register after keystack's own purge, and the purge right after a
 * delete, wait for it.
 */
export const PATIENT: FailureClassifier = {
  ...CLASSIFY,
  throttled: (e) => (_inner(e) === 'ObjectIsBeingDeleted' ? BEING_DELETED_WAIT_MS : CLASSIFY.throttled(e)),
};
