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
 * Merges (`read` / `replaceIf`) are a timed lease, in azure-cas.ts; versions are in azure-versions.ts.
 */
import type { SecretClient } from '@azure/keyvault-secrets';
import { encodeContent, type StoredSecret } from '../secrets/content.js';
import type { NameRule } from '../secrets/names.js';
import { secretMetadata } from '../secrets/scope.js';
import { azureCas } from './azure-cas.js';
import { azureLookup, MAX_VAULT_NAME } from './azure-lookup.js';
import { azureVersionOps } from './azure-versions.js';
import {
  _checkVault,
  _conflictOnRegister,
  _connect,
  _tooLong,
  _vaultUrl,
  CLASSIFY,
  PATIENT,
  type AzureFlavorOptions,
} from './azure-client.js';
import { deleteEach } from '../core/kit.js';
import { httpStatus as _status } from '../support/http.js';
import { reservedInNone, reservedNameError, validUnder } from './shared/tags.js';
import { defineFlavor, type Connection, type FlavorContext, type SecretsBackend } from '../core/types.js';
import { decodeOwn, GROUP_KEY, withZenmlGroups, type GroupWording } from './shared/zenml-groups.js';

export const FLAVOR_NAME = 'azure';

export type { AzureFlavorOptions } from './azure-client.js';

const NAME_RULE: NameRule = {
  pattern: /[0-9A-Za-z-]+/,
  maxLength: MAX_VAULT_NAME,
  maxScopedLength: MAX_VAULT_NAME,
  description: 'must contain only letters, digits and - (Key Vault rule)',
};
const validName = validUnder(NAME_RULE);
const DELETE_CONCURRENCY = 4;
const GROUPS: GroupWording = {
  flavor: FLAVOR_NAME,
  object: 'vault secret',
  cleanup: 'delete its per-key secrets with az keyvault',
};

export default defineFlavor<AzureFlavorOptions, SecretClient>({
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
  connect: (ctx, limits) => _connect(_vaultUrl(ctx.config), ctx.config, limits.requestTimeoutMs),
  classify: CLASSIFY,
  operations: azureOperations,
});

function azureOperations(conn: Connection<SecretClient>, ctx: FlavorContext<AzureFlavorOptions>): SecretsBackend {
  const { scope } = ctx;
  // A missing vault is a ConfigError when the backend is created, before any use.
  _vaultUrl(ctx.config);
  const P = scope.prefix;
  const none = scope.scope === 'none';
  const schemaTag = `${P}_secret_schema`;
  const { call } = conn;
  const { vaultName, fetch, probe, deletable, scan, groupOf, readGroup } = azureLookup({ conn, ctx, validName });
  // Retries a write or purge while Key Vault still finishes deleting the name.
  const patient = conn.classifiedBy(PATIENT);
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
      if (full.length > MAX_VAULT_NAME) throw _tooLong(name, full, MAX_VAULT_NAME);
      // setSecret upserts; a read first keeps "create" from overwriting (not atomic: Key Vault has no create-only write).
      if ((await probe('register', name, full)) !== 'absent') return false;
      try {
        await patient.call('register', name, (c) =>
          c.setSecret(full, encodeContent(secret, P), { tags: tagsFor(name, secret.schema) }),
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
      // Tags live on each version, so every write carries them (and a changed schema tag), and its base orders versions.
      const base = current.properties.version ? { [`${P}_base`]: current.properties.version } : {};
      await write('update', name, secret, current.properties.tags?.[`${P}_secret_name`] ?? name, base);
      return true;
    },
    read: cas.read,
    replaceIf: cas.replaceIf,
    ...azureVersionOps({ conn, scope, vaultName }),
    async delete(name) {
      const full = vaultName(name);
      if (full === null) return false;
      if (!(await deletable(name, full))) return false;
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
        await patient.call('delete', name, (c) => c.purgeDeletedSecret(full));
      }
      return true;
    },
    async deleteAll() {
      // Only secrets keystack can read as its own; never a member of ZenML's per-key groups.
      return deleteEach((await scan()).own, DELETE_CONCURRENCY, (x) => this.delete(x));
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
