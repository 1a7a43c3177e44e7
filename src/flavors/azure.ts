/**
 * `azure`: Azure Key Vault secrets. One vault secret per keystack secret in every scope (ZenML
 * 0.30's scoped layout): name = scope path + name joined with `-` (at most 127 characters in all,
 * Key Vault's limit), value = the JSON payload, scope tags set in the same write. Deletes purge when
 * the vault allows it, so a name can be registered again.
 *
 * ZenML's legacy `none` layout (one vault secret per key, named `zenml-<hex(base64(name-key))>`,
 * tagged `zenml-group-key` / `zenml-key-name` / `zenml-schema-name`) is read as one secret per
 * group, read-only, so that it can be copied; keystack never lists a member as its own secret and
 * never deletes one.
 *
 * Merges (`read` / `replaceIf`): Key Vault has no conditional write, so keystack takes a lease on
 * the version it read (a `<prefix>_lock` tag set with PATCH), waits LOCK_SETTLE_MS, and writes only
 * if the version is still the current one and still carries its own lease; the new version records
 * its base in `<prefix>_base`. This is Fischer's timed mutual exclusion: it cannot lose an update as
 * long as a writer's check-then-PATCH takes less than LOCK_SETTLE_MS. A writer stalled for longer
 * (a paused VM, a very slow network), and writers that do not take part (ZenML, plain `update`),
 * can still overwrite a concurrent merge.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { KeyVaultSecret, SecretClient } from '@azure/keyvault-secrets';
import type { TokenCredential } from '@azure/core-auth';
import { decodeContent, encodeContent, type StoredSecret } from '../secrets/content.js';
import { ConfigError, InvalidNameError, UnsupportedOperationError } from '../errors.js';
import { fullMatch, type NameRule } from '../secrets/names.js';
import { secretMetadata, type ScopeContext } from '../secrets/scope.js';
import { heldLease, readPastLeases, stamp } from './shared/cas.js';
import { backendFailure } from '../support/scrub.js';
import { createCaller, errorHeader, retryAfterMs, type FailureClassifier } from '../support/caller.js';
import { decodeOrFail, deleteEach } from '../core/kit.js';
import { httpStatus as _status } from '../support/http.js';
import { importLib } from '../support/optional-import.js';
import { reservedInNone, reservedNameError, taggedName, tagsInScope } from './shared/tags.js';
import { defineFlavor, type FlavorContext, type ReplaceOutcome, type SecretsBackend, type VersionedSecret } from '../core/types.js';
import { assembleGroup, decodeOwn, GROUP_KEY, GROUP_MEMBER_KEY, GROUP_SCHEMA, groupIsReadOnly, withPayloads, type GroupWording } from './shared/zenml-groups.js';

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

/** Key Vault secret names: 1–127 of [0-9a-zA-Z-]; the limit applies to the full scoped name. */
const MAX_VAULT_NAME = 127;
const NAME_RULE: NameRule = { pattern: /[0-9A-Za-z-]+/, maxLength: MAX_VAULT_NAME, maxScopedLength: MAX_VAULT_NAME, description: 'must contain only letters, digits and - (Key Vault rule)' };
const PAGE_SIZE = 25; // Key Vault's largest maxresults
const DELETE_CONCURRENCY = 4;
const SERVICE_VERSION = '2025-07-01'; // pinned: Lowkey and older vaults reject newer SDK defaults
const AZURE_HOST = /\.(vault\.azure\.net|vault\.azure\.cn|vault\.usgovcloudapi\.net|managedhsm\.azure\.net)$/i;
const GROUPS: GroupWording = { flavor: FLAVOR_NAME, object: 'vault secret', cleanup: 'delete its per-key secrets with az keyvault' };
/** How long a merge waits after taking its lease before it checks that the lease is still its own. */
const LOCK_SETTLE_MS = 300;
/** A lease older than this is abandoned (its writer crashed). */
const LOCK_LEASE_MS = 10_000;
/** The wait between retries of a name that is still being deleted or purged (4 retries at most). */
const BEING_DELETED_WAIT_MS = 1000;

export default defineFlavor<AzureFlavorOptions>({
  name: FLAVOR_NAME,
  description: 'Azure Key Vault',
  supportsScoping: true,
  separator: '-',
  locationFields: ['key_vault_name', 'vault_url'],
  // The CAs the client trusts decide whether the vault it reaches is the real one.
  trustFields: ['ca_file'],
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
  check: _checkVault,
  create: (ctx) => createAzureBackend(ctx),
});

function createAzureBackend(ctx: FlavorContext<AzureFlavorOptions>): SecretsBackend {
  const { scope } = ctx;
  const url = _vaultUrl(ctx.config);
  const P = scope.prefix;
  const none = scope.scope === 'none';
  const lockTag = `${P}_lock`;
  const baseTag = `${P}_base`;
  const schemaTag = `${P}_secret_schema`;
  let client: Promise<SecretClient> | undefined;
  const caller = createCaller({ flavor: FLAVOR_NAME, env: ctx.env, classify: CLASSIFY });
  // A name still being deleted or purged (409 ObjectIsBeingDeleted) frees up within seconds: a
  // register after keystack's own purge, and the purge right after a delete, wait for it.
  const patient = createCaller({ flavor: FLAVOR_NAME, env: ctx.env, classify: { ...CLASSIFY, throttled: (e) => (_inner(e) === 'ObjectIsBeingDeleted' ? BEING_DELETED_WAIT_MS : CLASSIFY.throttled(e)) } });
  const kv = () => (client ??= _connect(url, ctx.config, caller.limits.requestTimeoutMs));
  const call = async <T>(op: string, name: string | undefined, fn: (c: SecretClient) => Promise<T>, retryBeingDeleted = false): Promise<T> => {
    const c = await kv();
    return (retryBeingDeleted ? patient : caller).run(op, name, () => fn(c));
  };
  /** The vault name, or null when no secret of this scope can have that name. */
  const vaultName = (name: string): string | null => {
    if (reservedInNone(scope, name, '-')) return null;
    const full = ctx.names.full(name);
    return full.length <= MAX_VAULT_NAME ? full : null;
  };
  /** The secret, or null when absent or not of this scope. Names are case-insensitive in Key Vault. */
  const fetch = async (op: string, name: string): Promise<KeyVaultSecret | null> => {
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
  /** The current version, 'disabled' (it exists but cannot be read), or 'absent'. */
  const probe = (op: string, name: string, full: string) =>
    call(op, name, async (c): Promise<KeyVaultSecret | 'disabled' | 'absent'> => {
      try {
        return await c.getSecret(full);
      } catch (e) {
        if (_status(e) === 404) return 'absent';
        if (_status(e) === 403 && _inner(e) === 'SecretDisabled') return 'disabled';
        throw e;
      }
    });
  const tagsFor = (name: string, schema: string, extra: Record<string, string> = {}) =>
    ({ ...secretMetadata(scope, name, schema), [schemaTag]: schema, ...extra });
  const write = async (op: string, name: string, secret: StoredSecret, tagName = name, extra: Record<string, string> = {}) => {
    const full = vaultName(name);
    // Callers fetch the secret first, and a name with no vault name fetches as absent.
    if (full === null) throw new Error(`azure ${op}: '${name}' has no vault name in this scope`);
    return call(op, name, (c) => c.setSecret(full, encodeContent(secret, P), { tags: tagsFor(tagName, secret.schema, extra) }));
  };

  const listAll = async () => {
    // Key Vault has no server-side tag filter: every secret of the vault is read and filtered here.
    // A page iterator that threw is finished, so a retry (throttling) lists again from the start
    // instead of calling next() on it again (that would end the list early, as if it were empty).
    return call('list', undefined, async (c) => {
      const out: { name: string; tags: Record<string, string>; managed: boolean; enabled: boolean }[] = [];
      for await (const page of c.listPropertiesOfSecrets().byPage({ maxPageSize: PAGE_SIZE })) {
        for (const p of page) out.push({ name: p.name, tags: p.tags ?? {}, managed: p.managed === true, enabled: p.enabled !== false });
      }
      return out;
    });
  };
  /** This scope's own secrets, and (in `none` scope) ZenML's per-key groups with their members. */
  const scan = async (verifyUnmarked = true) => {
    const own: string[] = [];
    const groups = new Map<string, { vaultName: string; key: string; schema: string }[]>();
    const unmarked: string[] = [];
    for (const p of await listAll()) {
      const g = none && !p.managed ? p.tags[GROUP_KEY] : undefined;
      if (g !== undefined) {
        const members = groups.get(g) ?? [];
        members.push({ vaultName: p.name, key: p.tags[GROUP_MEMBER_KEY] ?? '', schema: p.tags[GROUP_SCHEMA] ?? 'arbitrary' });
        groups.set(g, members);
        continue;
      }
      const name = p.managed ? null : taggedName(scope, ctx.names, p.name, p.tags, '-', _validName, (x) => x.toLowerCase());
      if (name === null) continue;
      if (none && !(schemaTag in p.tags) && !('zenml_scope' in p.tags)) {
        if (p.enabled) unmarked.push(name);
      } else if (!none || !('zenml_scope' in p.tags)) {
        own.push(name);
      }
    }
    if (verifyUnmarked) {
      own.push(...(await withPayloads(unmarked, DELETE_CONCURRENCY, async (n) => {
        const s = await fetch('list', n);
        try {
          return s !== null && (decodeContent(s.value ?? '', P), true);
        } catch {
          return false;
        }
      })));
    }
    return { own, groups };
  };
  const groupOf = async (name: string) => {
    if (!none) return undefined;
    const { groups } = await scan(false);
    return [...groups.entries()].find(([g]) => g.toLowerCase() === name.toLowerCase())?.[1];
  };

  const read = async (name: string): Promise<VersionedSecret | null> => {
    // Another merge holds a lease on this version and has not written yet: wait for its version.
    const s = await readPastLeases(LOCK_LEASE_MS, [100, 150], async () => {
      const value = await fetch('update', name);
      if (!value && (await groupOf(name))) throw groupIsReadOnly(GROUPS, 'update', name);
      return { value, held: value !== null && _leaseHeld(value.properties.tags?.[lockTag]) };
    });
    return s && { secret: decodeOrFail(FLAVOR_NAME, name, s.value ?? '', P, 'the vault secret'), version: s.properties.version ?? '' };
  };

  const replaceIf = async (name: string, secret: StoredSecret, version: string): Promise<ReplaceOutcome> => {
    const full = vaultName(name);
    if (full === null) return 'absent';
    // Check again right before taking the lease, so that the window the timing bound covers is one round trip.
    const before = await fetch('update', name);
    if (!before) return 'absent';
    if (before.properties.version !== version || _leaseHeld(before.properties.tags?.[lockTag])) return 'conflict';
    const nonce = randomBytes(8).toString('hex');
    try {
      await call('update', name, (c) => c.updateSecretProperties(full, version, { tags: { ...before.properties.tags, [lockTag]: stamp(nonce) } }));
    } catch (e) {
      if (_status(e) === 404) return 'absent';
      throw e;
    }
    await new Promise((r) => setTimeout(r, LOCK_SETTLE_MS));
    const after = await fetch('update', name);
    if (!after) return 'absent';
    if (after.properties.version !== version || !after.properties.tags?.[lockTag]?.startsWith(`${nonce}@`)) return 'conflict';
    await write('update', name, secret, after.properties.tags[`${P}_secret_name`] ?? name, { [baseTag]: version });
    return 'updated';
  };

  return {
    async create(name, secret) {
      if (reservedInNone(scope, name, '-')) throw reservedNameError(scope, name);
      const full = ctx.names.full(name);
      if (full.length > MAX_VAULT_NAME) {
        throw new InvalidNameError('secret name', name, `is too long here: the vault name '${full.slice(0, 40)}…' would exceed ${MAX_VAULT_NAME} characters`);
      }
      // setSecret upserts; a read first keeps "create" from overwriting (not atomic: Key Vault has no create-only write).
      if ((await probe('register', name, full)) !== 'absent') return false;
      if (await groupOf(name)) return false;
      try {
        await call('register', name, (c) => c.setSecret(full, encodeContent(secret, P), { tags: tagsFor(name, secret.schema) }), true);
      } catch (e) {
        throw _conflictOnRegister(name, full, e);
      }
      return true;
    },
    async get(name) {
      const s = await fetch('get', name);
      if (s) return decodeOwn(FLAVOR_NAME, name, s.value ?? '', P, 'the vault secret', () => (none ? s.properties.tags?.[GROUP_KEY] : undefined));
      const members = await groupOf(name);
      if (!members) return null;
      const bad = members.find((m) => m.key === '' || m.key === 'name');
      if (bad) throw backendFailure({ flavor: FLAVOR_NAME, operation: 'get', secretName: name }, new Error('bad member'), `per-key secret '${bad.vaultName}' of ZenML group '${name}' has no usable ${GROUP_MEMBER_KEY} tag`);
      return assembleGroup(members.map((m) => ({ id: m.vaultName, key: m.key })), members[0]?.schema, 1, async (id) => (await call('get', name, (c) => c.getSecret(id))).value ?? '');
    },
    async list() {
      const { own, groups } = await scan();
      return [...own, ...groups.keys()];
    },
    async update(name, secret) {
      const current = await fetch('update', name);
      if (!current) {
        if (await groupOf(name)) throw groupIsReadOnly(GROUPS, 'update', name);
        return false;
      }
      // Tags live on each version, so every write carries them (and a changed schema tag).
      await write('update', name, secret, current.properties.tags?.[`${P}_secret_name`] ?? name);
      return true;
    },
    read,
    replaceIf,
    async delete(name) {
      const full = vaultName(name);
      if (full === null) return false;
      // In `none` scope a name may be one key of ZenML's per-key layout, which keystack never deletes.
      const found = none ? await probe('delete', name, full) : 'unknown';
      if (found !== 'absent' && found !== 'unknown' && found !== 'disabled' && found.properties.tags?.[GROUP_KEY] !== undefined) {
        throw new UnsupportedOperationError(FLAVOR_NAME, `delete '${name}'`, `it is one key of ZenML's per-key secret '${found.properties.tags[GROUP_KEY] ?? ''}'`);
      }
      if (found === 'absent') {
        if (await groupOf(name)) throw groupIsReadOnly(GROUPS, 'delete', name);
        return false;
      }
      let deleted;
      try {
        const poller = await call('delete', name, (c) => c.beginDeleteSecret(full, { intervalInMs: 200 }));
        deleted = await call('delete', name, () => poller.pollUntilDone());
      } catch (e) {
        if (_status(e) !== 404) throw e;
        if (await groupOf(name)) throw groupIsReadOnly(GROUPS, 'delete', name);
        return false;
      }
      const level = deleted.properties.recoveryLevel ?? '';
      if (deleted.recoveryId && level.includes('Purgeable')) {
        // Right after deletion a purge can meet 409 ObjectIsBeingDeleted for a moment.
        await call('delete', name, (c) => c.purgeDeletedSecret(full), true);
      }
      return true;
    },
    async deleteAll() {
      // Only secrets keystack can read as its own; never a member of ZenML's per-key groups.
      return deleteEach((await scan()).own, DELETE_CONCURRENCY, (x) => this.delete(x));
    },
    close() {
      client = undefined;
    },
  };
}

function _leaseHeld(tag: string | undefined): boolean {
  return heldLease(tag, LOCK_LEASE_MS) !== null;
}

/** The inner error code of a Key Vault error body (`error.innererror.code`), e.g. ObjectIsBeingDeleted. */
function _inner(e: unknown): string | undefined {
  const code = (e as { details?: { error?: { innerError?: { code?: unknown } } } } | undefined)?.details?.error?.innerError?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Key Vault's rules for a vault name and URL, so that a bad one fails at register, not at first use. */
function _checkVault(o: Partial<AzureFlavorOptions>): void {
  if (o.vault_url !== undefined && !/^https:\/\//i.test(o.vault_url)) throw new ConfigError(`vault_url must be an https:// URL (Key Vault refuses bearer tokens over http)`);
  const name = o.key_vault_name;
  if (name !== undefined && (!/^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$/.test(name) || name.includes('--'))) {
    throw new ConfigError(`invalid key_vault_name '${name}': 3-24 letters, digits and -, starting with a letter, ending with a letter or digit, no consecutive -`);
  }
}

function _vaultUrl(o: AzureFlavorOptions): string {
  if (o.vault_url) return o.vault_url.replace(/\/+$/, '');
  if (!o.key_vault_name) {
    throw new ConfigError('the azure flavor needs key_vault_name or vault_url', { hint: 'Pass --key_vault_name=NAME (or --vault_url=https://…) when registering the manager.' });
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
function _inScope(scope: ScopeContext, tags: Record<string, string>, name: string): boolean {
  return tagsInScope(scope, tags) && (scope.scope === 'none' || tags[`${scope.prefix}_secret_name`]?.toLowerCase() === name.toLowerCase());
}

function _validName(n: string): boolean {
  return n.length <= NAME_RULE.maxLength && fullMatch(NAME_RULE.pattern, n);
}


/** A 409 on register, explained by its inner error code. */
function _conflictOnRegister(name: string, full: string, e: unknown): unknown {
  if (_status(e) !== 409) return e;
  const ctx = { flavor: FLAVOR_NAME, operation: 'register', secretName: name };
  switch (_inner(e)) {
    case 'ObjectIsDeletedButRecoverable':
      return backendFailure(ctx, e, `the vault still holds a deleted (not purged) secret named '${full}'`,
        `Recover it (az keyvault secret recover --name ${full}) or purge it (az keyvault secret purge --name ${full}), then register again. keystack purges on delete when the vault allows it.`);
    case 'ObjectIsBeingDeleted':
      return backendFailure(ctx, e, `a secret named '${full}' is still being deleted or purged`, 'Wait a minute and register again.');
    default:
      return backendFailure(ctx, e, `the vault refused the write with a conflict (${_inner(e) ?? 'no inner error code'})`,
        'Another operation on this name may be in progress; retry, and check the vault\'s activity log if it persists.');
  }
}

const UNREACHABLE = 'Check key_vault_name / vault_url and the network; for an emulator, check that it is running and its certificate is trusted.';

/** Throttling is retried; auth, throttling and connectivity failures get a next step. */
const CLASSIFY: FailureClassifier = {
  throttled: (e) => (_status(e) === 429 ? (retryAfterMs(errorHeader(e, 'retry-after')) ?? true) : false),
  // keystack aborts nothing else, so an abort is the per-request timeout set in _connect.
  timedOut: (e) => (e as { name?: unknown } | null)?.name === 'AbortError',
  explain(e) {
    const status = _status(e);
    if (status === 403 && _inner(e) === 'SecretDisabled') {
      return { reason: 'the secret is disabled in the vault (HTTP 403 SecretDisabled)', hint: 'Enable it: az keyvault secret set-attributes --vault-name VAULT --name NAME --enabled true.' };
    }
    if (status === 401 || status === 403) {
      return { reason: `access denied (HTTP ${status})`,
        hint: 'Check the credential (az login, AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, a managed identity, or access_token) and that it may get, list, set, delete and purge secrets (RBAC role "Key Vault Secrets Officer" or an access policy).' };
    }
    if (status === 429) return { reason: 'throttled (HTTP 429)', hint: 'Key Vault limits requests per vault; wait and retry.' };
    const code = (e as { code?: unknown }).code;
    if (status === undefined && (code === 'REQUEST_SEND_ERROR' || (typeof code === 'string' && /^E[A-Z]+$/.test(code)))) {
      return { reason: `cannot reach the vault (${code})`, hint: UNREACHABLE };
    }
    return undefined;
  },
  unreachableHint: UNREACHABLE,
};
