/**
 * Which vault secrets are this scope's: one looked up by name (Key Vault names are
 * case-insensitive, so its tags must name it), and the whole scope listed. Key Vault has no
 * server-side tag filter, so a listing reads every secret of the vault and sorts out this scope's
 * own (in `none` scope also untagged ones that hold a keystack payload) and ZenML's legacy per-key
 * groups, which are read as one secret each.
 */
import type { KeyVaultSecret, SecretClient } from '@azure/keyvault-secrets';
import { decodeContent, type StoredSecret } from '../secrets/content.js';
import { backendFailure } from '../support/scrub.js';
import { UnsupportedOperationError } from '../errors.js';
import type { Connection, FlavorContext } from '../core/types.js';
import { httpStatus as _status } from '../support/http.js';
import { _inner } from './azure-client.js';
import type { ScopeContext } from '../secrets/scope.js';
import { reservedInNone, taggedName, tagsInScope } from './shared/tags.js';
import { assembleGroup, GROUP_KEY, GROUP_MEMBER_KEY, GROUP_SCHEMA, withPayloads } from './shared/zenml-groups.js';

const FLAVOR_NAME = 'azure';
/** Key Vault secret names: 1–127 of [0-9a-zA-Z-]; the limit applies to the full scoped name. */
export const MAX_VAULT_NAME = 127;
/** Key Vault's largest maxresults, for secrets and for versions alike. */
export const LIST_PAGE_SIZE = 25;
const READ_CONCURRENCY = 4;

export interface AzureLookupNeeds {
  conn: Connection<SecretClient>;
  ctx: FlavorContext<unknown>;
  /** Whether a name follows the flavor's name rule. */
  validName: (name: string) => boolean;
}

export function azureLookup({ conn, ctx, validName }: AzureLookupNeeds) {
  const { scope } = ctx;
  const { call } = conn;
  const P = scope.prefix;
  const none = scope.scope === 'none';
  const schemaTag = `${P}_secret_schema`;

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
      return inScope(scope, s.properties.tags ?? {}, name) ? s : null;
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
  const listAll = async () => {
    // Key Vault has no server-side tag filter: every secret of the vault is read and filtered here.
    // A page iterator that threw is finished, so a retry (throttling) lists again from the start
    // instead of calling next() on it again (that would end the list early, as if it were empty).
    return call('list', undefined, async (c) => {
      const out: { name: string; tags: Record<string, string>; managed: boolean; enabled: boolean }[] = [];
      for await (const page of c.listPropertiesOfSecrets().byPage({ maxPageSize: LIST_PAGE_SIZE })) {
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
        ...(await withPayloads(unmarked, READ_CONCURRENCY, async (n) => {
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
  /**
   * Whether a delete has a secret to delete. In `none` scope a name may be one key of ZenML's
   * per-key layout, which keystack never deletes: that fails.
   */
  const deletable = async (name: string, full: string): Promise<boolean> => {
    if (!none) return true;
    const found = await probe('delete', name, full);
    if (found === 'absent') return false;
    const group = found === 'disabled' ? undefined : found.properties.tags?.[GROUP_KEY];
    if (group !== undefined)
      throw new UnsupportedOperationError(
        FLAVOR_NAME,
        `delete '${name}'`,
        `it is one key of ZenML's per-key secret '${group}'`,
      );
    return true;
  };
  return { vaultName, fetch, probe, deletable, scan, groupOf, readGroup };
}

/** Whether a secret's tags put it in this scope (and, given a name, make it that secret). */
export function inScope(scope: ScopeContext, tags: Record<string, string>, name: string): boolean {
  return (
    tagsInScope(scope, tags) &&
    (scope.scope === 'none' || tags[`${scope.prefix}_secret_name`]?.toLowerCase() === name.toLowerCase())
  );
}
