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
 * Merges (`read` / `replaceIf`) are a timed lease, in azure-cas.ts.
 */
import type { KeyVaultSecret, SecretClient } from '@azure/keyvault-secrets';
import { decodeContent, encodeContent, type StoredSecret } from '../secrets/content.js';
import { InvalidNameError, UnsupportedOperationError } from '../errors.js';
import type { NameRule } from '../secrets/names.js';
import { secretMetadata, type ScopeContext } from '../secrets/scope.js';
import { azureCas } from './azure-cas.js';
import {
  _checkVault,
  _conflictOnRegister,
  _connect,
  _inner,
  _vaultUrl,
  CLASSIFY,
  PATIENT,
  type AzureFlavorOptions,
} from './azure-client.js';
import { backendFailure } from '../support/scrub.js';
import { createCaller } from '../support/caller.js';
import { deleteEach } from '../core/kit.js';
import { httpStatus as _status } from '../support/http.js';
import { reservedInNone, reservedNameError, taggedName, tagsInScope, validUnder } from './shared/tags.js';
import { defineFlavor, type FlavorContext, type SecretsBackend } from '../core/types.js';
import {
  assembleGroup,
  decodeOwn,
  GROUP_KEY,
  GROUP_MEMBER_KEY,
  GROUP_SCHEMA,
  withPayloads,
  withZenmlGroups,
  type GroupWording,
} from './shared/zenml-groups.js';

export const FLAVOR_NAME = 'azure';

export type { AzureFlavorOptions } from './azure-client.js';

/** Key Vault secret names: 1–127 of [0-9a-zA-Z-]; the limit applies to the full scoped name. */
const MAX_VAULT_NAME = 127;
const NAME_RULE: NameRule = {
  pattern: /[0-9A-Za-z-]+/,
  maxLength: MAX_VAULT_NAME,
  maxScopedLength: MAX_VAULT_NAME,
  description: 'must contain only letters, digits and - (Key Vault rule)',
};
const validName = validUnder(NAME_RULE);
const PAGE_SIZE = 25; // Key Vault's largest maxresults
const DELETE_CONCURRENCY = 4;
const GROUPS: GroupWording = {
  flavor: FLAVOR_NAME,
  object: 'vault secret',
  cleanup: 'delete its per-key secrets with az keyvault',
};

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
    key_vault_name: {
      type: 'string',
      description: 'vault name (https://<name>.vault.azure.net)',
      env: 'AZURE_KEY_VAULT_NAME',
    },
    vault_url: { type: 'string', description: 'vault URL (other clouds, private endpoints, emulators)' },
    access_token: {
      type: 'string',
      description: 'static bearer token instead of DefaultAzureCredential',
      sensitive: true,
      env: 'AZURE_KEYVAULT_ACCESS_TOKEN',
    },
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
  const schemaTag = `${P}_secret_schema`;
  let client: Promise<SecretClient> | undefined;
  const caller = createCaller({ flavor: FLAVOR_NAME, env: ctx.env, classify: CLASSIFY });
  const patient = createCaller({ flavor: FLAVOR_NAME, env: ctx.env, classify: PATIENT });
  const kv = () => (client ??= _connect(url, ctx.config, caller.limits.requestTimeoutMs));
  const call = async <T>(
    op: string,
    name: string | undefined,
    fn: (c: SecretClient) => Promise<T>,
    retryBeingDeleted = false,
  ): Promise<T> => {
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
  const tagsFor = (name: string, schema: string, extra: Record<string, string> = {}) => ({
    ...secretMetadata(scope, name, schema),
    [schemaTag]: schema,
    ...extra,
  });
  const write = async (
    op: string,
    name: string,
    secret: StoredSecret,
    tagName = name,
    extra: Record<string, string> = {},
  ) => {
    const full = vaultName(name);
    // Callers fetch the secret first, and a name with no vault name fetches as absent.
    if (full === null) throw new Error(`azure ${op}: '${name}' has no vault name in this scope`);
    return call(op, name, (c) =>
      c.setSecret(full, encodeContent(secret, P), { tags: tagsFor(tagName, secret.schema, extra) }),
    );
  };

  const listAll = async () => {
    // Key Vault has no server-side tag filter: every secret of the vault is read and filtered here.
    // A page iterator that threw is finished, so a retry (throttling) lists again from the start
    // instead of calling next() on it again (that would end the list early, as if it were empty).
    return call('list', undefined, async (c) => {
      const out: { name: string; tags: Record<string, string>; managed: boolean; enabled: boolean }[] = [];
      for await (const page of c.listPropertiesOfSecrets().byPage({ maxPageSize: PAGE_SIZE })) {
        for (const p of page)
          out.push({ name: p.name, tags: p.tags ?? {}, managed: p.managed === true, enabled: p.enabled !== false });
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
        members.push({
          vaultName: p.name,
          key: p.tags[GROUP_MEMBER_KEY] ?? '',
          schema: p.tags[GROUP_SCHEMA] ?? 'arbitrary',
        });
        groups.set(g, members);
        continue;
      }
      const name = p.managed
        ? null
        : taggedName(scope, ctx.names, p.name, p.tags, '-', validName, (x) => x.toLowerCase());
      if (name === null) continue;
      if (none && !(schemaTag in p.tags) && !('zenml_scope' in p.tags)) {
        if (p.enabled) unmarked.push(name);
      } else if (!none || !('zenml_scope' in p.tags)) {
        own.push(name);
      }
    }
    if (verifyUnmarked) {
      own.push(
        ...(await withPayloads(unmarked, DELETE_CONCURRENCY, async (n) => {
          const s = await fetch('list', n);
          try {
            return s !== null && (decodeContent(s.value ?? '', P), true);
          } catch {
            return false;
          }
        })),
      );
    }
    return { own, groups };
  };
  const groupOf = async (name: string) => {
    const { groups } = await scan(false);
    return [...groups.entries()].find(([g]) => g.toLowerCase() === name.toLowerCase())?.[1];
  };

  const readGroup = async (name: string): Promise<StoredSecret | null> => {
    const members = await groupOf(name);
    if (!members) return null;
    const bad = members.find((m) => m.key === '' || m.key === 'name');
    if (bad)
      throw backendFailure(
        { flavor: FLAVOR_NAME, operation: 'get', secretName: name },
        new Error('bad member'),
        `per-key secret '${bad.vaultName}' of ZenML group '${name}' has no usable ${GROUP_MEMBER_KEY} tag`,
      );
    return assembleGroup(
      members.map((m) => ({ id: m.vaultName, key: m.key })),
      members[0]?.schema,
      1,
      async (id) => (await call('get', name, (c) => c.getSecret(id))).value ?? '',
    );
  };
  const cas = azureCas({
    prefix: P,
    fetch,
    vaultName,
    write,
    tag: (name, full, version, tags) => call('update', name, (c) => c.updateSecretProperties(full, version, { tags })),
  });

  const backend: SecretsBackend = {
    async create(name, secret) {
      if (reservedInNone(scope, name, '-')) throw reservedNameError(scope, name);
      const full = ctx.names.full(name);
      if (full.length > MAX_VAULT_NAME) {
        throw new InvalidNameError(
          'secret name',
          name,
          `is too long here: the vault name '${full.slice(0, 40)}…' would exceed ${MAX_VAULT_NAME} characters`,
        );
      }
      // setSecret upserts; a read first keeps "create" from overwriting (not atomic: Key Vault has no create-only write).
      if ((await probe('register', name, full)) !== 'absent') return false;
      try {
        await call(
          'register',
          name,
          (c) => c.setSecret(full, encodeContent(secret, P), { tags: tagsFor(name, secret.schema) }),
          true,
        );
      } catch (e) {
        throw _conflictOnRegister(name, full, e);
      }
      return true;
    },
    async get(name) {
      const s = await fetch('get', name);
      return (
        s &&
        decodeOwn(FLAVOR_NAME, name, s.value ?? '', P, 'the vault secret', () =>
          none ? s.properties.tags?.[GROUP_KEY] : undefined,
        )
      );
    },
    async list() {
      const { own, groups } = await scan();
      return [...own, ...groups.keys()];
    },
    async update(name, secret) {
      const current = await fetch('update', name);
      if (!current) return false;
      // Tags live on each version, so every write carries them (and a changed schema tag).
      await write('update', name, secret, current.properties.tags?.[`${P}_secret_name`] ?? name);
      return true;
    },
    read: cas.read,
    replaceIf: cas.replaceIf,
    async delete(name) {
      const full = vaultName(name);
      if (full === null) return false;
      // In `none` scope a name may be one key of ZenML's per-key layout, which keystack never deletes.
      const found = none ? await probe('delete', name, full) : 'unknown';
      if (
        found !== 'absent' &&
        found !== 'unknown' &&
        found !== 'disabled' &&
        found.properties.tags?.[GROUP_KEY] !== undefined
      ) {
        throw new UnsupportedOperationError(
          FLAVOR_NAME,
          `delete '${name}'`,
          `it is one key of ZenML's per-key secret '${found.properties.tags[GROUP_KEY] ?? ''}'`,
        );
      }
      if (found === 'absent') return false;
      let deleted;
      try {
        const poller = await call('delete', name, (c) => c.beginDeleteSecret(full, { intervalInMs: 200 }));
        deleted = await call('delete', name, () => poller.pollUntilDone());
      } catch (e) {
        if (_status(e) !== 404) throw e;
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
  return none
    ? withZenmlGroups(backend, {
        wording: GROUPS,
        exists: async (n) => (await groupOf(n)) !== undefined,
        read: readGroup,
      })
    : backend;
}

/** Whether a secret's tags put it in this scope (and, given a name, make it that secret). */
function _inScope(scope: ScopeContext, tags: Record<string, string>, name: string): boolean {
  return (
    tagsInScope(scope, tags) &&
    (scope.scope === 'none' || tags[`${scope.prefix}_secret_name`]?.toLowerCase() === name.toLowerCase())
  );
}
