/**
 * azure's versions (DESIGN §16): Key Vault gives each write of a secret a new version id (32 hex
 * digits) and keeps every version until the secret is purged; the newest one is the current one.
 * keystack lists them with GET /secrets/{name}/versions (one call per 25, Key Vault's largest
 * page), reads one with that listing (for its time, state and labels) and GET
 * /secrets/{name}/{version} side by side, and retires one by disabling it (one PATCH of
 * attributes.enabled), so that `az keyvault secret set-attributes --enabled true` brings it back.
 *
 * Key Vault documents no order for the listing and keeps creation times in whole seconds, so
 * versions are ordered by time and, within one second, by the `<prefix>_base` tag each keystack
 * write puts on its version (the version it replaced). Versions written by other tools within
 * the same second as another may be listed in either order.
 */
import type { SecretClient, SecretProperties } from '@azure/keyvault-secrets';
import { decodeOrFail } from '../core/kit.js';
import { NotFoundError } from '../errors.js';
import { httpStatus as _status } from '../support/http.js';
import type { BackendVersion, Connection, SecretsBackend, StoredVersion } from '../core/types.js';
import type { ScopeContext } from '../secrets/scope.js';
import { _inner } from './azure-client.js';
import { inScope, LIST_PAGE_SIZE } from './azure-lookup.js';

const FLAVOR_NAME = 'azure';
const VERSION_ID = /^[0-9a-f]{32}$/i;

type VersionOps = Required<Pick<SecretsBackend, 'versions' | 'getVersion' | 'retireVersion'>>;

/** What the version operations need from the flavor's backend. */
export interface AzureVersionsNeeds {
  conn: Connection<SecretClient>;
  scope: ScopeContext;
  /** The vault name, or null when no secret of this scope can have that name. */
  vaultName: (name: string) => string | null;
}

export function azureVersionOps({ conn, scope, vaultName }: AzureVersionsNeeds): VersionOps {
  const P = scope.prefix;
  const baseTag = `${P}_base`;

  /** Newest first, with keystack's labels; null when the secret is absent or not of this scope. */
  const listed = async (op: string, name: string, full: string): Promise<BackendVersion[] | null> => {
    let all: SecretProperties[];
    try {
      all = await conn.call(op, name, async (c) => {
        const out: SecretProperties[] = [];
        for await (const page of c.listPropertiesOfSecretVersions(full).byPage({ maxPageSize: LIST_PAGE_SIZE }))
          out.push(...page);
        return out;
      });
    } catch (e) {
      if (_status(e) === 404) return null;
      throw e;
    }
    const sorted = ordered(all, baseTag);
    const newest = sorted[0];
    if (!newest || !inScope(scope, newest.tags ?? {}, name)) return null;
    return sorted.map((p, i) => ({
      id: p.version ?? '',
      createdAt: p.createdOn ?? null,
      labels: i === 0 ? ['current'] : i === 1 ? ['previous'] : [],
      readable: p.enabled !== false,
    }));
  };

  const getVersion = async (name: string, version: string): Promise<StoredVersion | null> => {
    const full = vaultName(name);
    if (full === null) return null;
    if (!VERSION_ID.test(version) && version !== 'current' && version !== 'previous') return null;
    // The listing gives the time, state and labels, and tells whether the secret is of this scope.
    const listing = listed('get', name, full);
    const target = version === 'previous' ? (await listing)?.[1]?.id : version === 'current' ? '' : version;
    if (target === undefined) {
      await listing;
      return null;
    }
    let got;
    try {
      // Inside the call, so that a disabled version is told apart before the caller words the failure.
      got = await conn.call('get', name, async (c) => {
        try {
          return await c.getSecret(full, target ? { version: target } : {});
        } catch (e) {
          if (_status(e) === 403 && _inner(e) === 'SecretDisabled') throw retired(name, full, target || 'current');
          throw e;
        }
      });
    } catch (e) {
      await listing.catch(() => undefined);
      if (_status(e) === 404) return null;
      throw e;
    }
    const id = got.properties.version ?? target;
    const meta = (await listing)?.find((v) => v.id === id);
    if (!meta) return null;
    return { ...meta, secret: decodeOrFail(FLAVOR_NAME, name, got.value ?? '', P, `version ${id}`) };
  };

  const retireVersion = async (name: string, version: string): Promise<boolean> => {
    const full = vaultName(name);
    if (full === null || !VERSION_ID.test(version)) return false;
    try {
      await conn.call('retire', name, (c) => c.updateSecretProperties(full, version, { enabled: false }));
      return true;
    } catch (e) {
      if (_status(e) === 404) return false;
      throw e;
    }
  };

  return {
    versions: async (name) => {
      const full = vaultName(name);
      return full === null ? null : listed('versions', name, full);
    },
    getVersion,
    retireVersion,
  };
}

/** Newest first: by creation time, then, within one second, by how many keystack writes lead to it. */
function ordered(all: SecretProperties[], baseTag: string): SecretProperties[] {
  const byId = new Map(all.map((p) => [p.version ?? '', p]));
  const depth = new Map<string, number>();
  const depthOf = (p: SecretProperties, seen = new Set<string>()): number => {
    const id = p.version ?? '';
    const known = depth.get(id);
    if (known !== undefined) return known;
    const base = byId.get(p.tags?.[baseTag] ?? '');
    seen.add(id);
    const d = base && !seen.has(base.version ?? '') ? depthOf(base, seen) + 1 : 0;
    depth.set(id, d);
    return d;
  };
  const time = (p: SecretProperties) => Math.floor((p.createdOn?.getTime() ?? 0) / 1000);
  return [...all].sort((a, b) => time(b) - time(a) || depthOf(b) - depthOf(a));
}

/** Retired is absent to readers (DESIGN §16: `not_found`), with the way back that azure keeps. */
function retired(name: string, full: string, version: string): Error {
  return new NotFoundError(
    `version ${version} of secret '${name}' was retired: the vault secret version is disabled (Key Vault answers 403 SecretDisabled)`,
    `Enable it again with: az keyvault secret set-attributes --vault-name <vault> --name ${full} --version ${version} --enabled true`,
  );
}
