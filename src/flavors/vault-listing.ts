/**
 * vault's listing of a scope. LIST also returns paths whose latest version is soft-deleted (`vault
 * kv delete`), which get reads as absent. OpenBao's detailed-metadata LIST brings every path's
 * versions in one call; where it is missing (HashiCorp Vault) or a policy does not grant it, each
 * path's metadata is read (1 + N requests, 8 at a time), and the manager remembers to go that way.
 */
import type { BackendNames } from '../secrets/scope.js';
import { mapLimit } from '../support/concurrency.js';
import { isUnsupported, notVault, versionState, VaultHttpError, type Reply } from './vault-client.js';

export interface VaultListingNeeds {
  call: (method: string, path: string, body?: unknown, ok?: number[]) => Promise<Reply>;
  /** A 404's meaning "no such path" (null), or a failure. */
  absent: (r: Reply) => Promise<null>;
  /** A path's current version and whether it is readable; null when it does not exist. */
  state: (name: string) => Promise<{ version: number; live: boolean } | null>;
  /** The KV path of this scope (no name) or of one secret. */
  kv: (kind: 'data' | 'metadata' | 'detailed-metadata', name?: string) => string;
  names: BackendNames;
}

export function vaultListing({ call, absent, state, kv, names }: VaultListingNeeds): () => Promise<string[]> {
  const parse = (keys: unknown[]) =>
    keys
      .map((k) => (typeof k === 'string' ? names.parse(names.prefix + k) : null))
      .filter((n): n is string => n !== null);
  let detailed = true;
  const list = async (): Promise<string[]> => {
    if (detailed) {
      const r = await call('GET', `${kv('detailed-metadata')}/?list=true`, undefined, [200, 404, 405]).catch(
        (e: unknown) => {
          if (e instanceof VaultHttpError && e.status === 403) return null;
          throw e;
        },
      );
      const info = r?.body?.data?.['key_info'];
      if (r?.status === 200 && info && typeof info === 'object') {
        const all = info as Record<string, unknown>;
        return parse(Object.keys(all)).filter((n) => versionState(all[n])?.live);
      }
      if (r?.status === 200) throw notVault(r, `LIST ${kv('detailed-metadata')}`);
      if (r?.status === 404 && !isUnsupported(r)) return absent(r).then(() => []);
      detailed = false;
    }
    const r = await call('GET', `${kv('metadata')}/?list=true`, undefined, [200, 404]);
    if (r.status === 404) return absent(r).then(() => []);
    const keys = r.body?.data?.['keys'];
    if (!Array.isArray(keys)) throw notVault(r, `LIST ${kv('metadata')}`);
    const candidates = parse(keys);
    const states = await mapLimit(candidates, 8, state);
    return candidates.filter((_, i) => states[i]?.live);
  };

  return list;
}
