/**
 * vault's versions (KV v2): the list is one metadata read (`GET <mount>/metadata/<path>` answers
 * every version with its time and state), one version is one data read with `?version=N`, and
 * retiring a version destroys it (`POST <mount>/destroy/<path>`), which Vault keeps listed as
 * destroyed. Vault keeps `max_versions` versions per path (10 by default on the mount).
 */
import { fromPayload, type StoredSecret } from '../secrets/content.js';
import type { BackendVersion, SecretsBackend, StoredVersion } from '../core/types.js';
import { notVault, type Reply } from './vault-client.js';

export interface VaultVersionNeeds {
  call: (method: string, path: string, body?: unknown, ok?: number[]) => Promise<Reply>;
  absent: (r: Reply) => Promise<null>;
  kv: (kind: 'data' | 'metadata' | 'destroy', name: string) => string;
  prefix: string;
  /** The version the last write of a name created (Vault's answer to the write says). */
  written: (name: string) => number | undefined;
}

type VersionOps = Required<Pick<SecretsBackend, 'versions' | 'getVersion' | 'retireVersion' | 'writtenVersion'>>;

export function vaultVersions({ call, absent, kv, prefix, written }: VaultVersionNeeds): VersionOps {
  const list = async (name: string): Promise<BackendVersion[] | null> => {
    const r = await call('GET', kv('metadata', name), undefined, [200, 404]);
    if (r.status === 404) return absent(r);
    const meta = r.body?.data as
      | {
          current_version?: unknown;
          versions?: Record<string, { created_time?: string; deletion_time?: string; destroyed?: boolean }>;
        }
      | undefined;
    const current = meta?.current_version;
    if (typeof current !== 'number' || !meta?.versions || typeof meta.versions !== 'object')
      throw notVault(r, `GET ${kv('metadata', name)}`);
    const all = Object.entries(meta.versions)
      .map(([id, v]) => ({
        id,
        createdAt: v.created_time ? new Date(v.created_time) : null,
        labels: [] as string[],
        readable: !v.deletion_time && !v.destroyed,
      }))
      .sort((a, b) => Number(b.id) - Number(a.id));
    const top = all.find((v) => v.id === String(current));
    // A path whose latest version is deleted reads as absent everywhere else, so here too.
    if (!top?.readable) return null;
    top.labels.push('current');
    all.find((v) => Number(v.id) < current && v.readable)?.labels.push('previous');
    return all;
  };
  return {
    versions: list,
    async getVersion(name, version): Promise<StoredVersion | null> {
      if (!/^\d+$/.test(version) || Number(version) < 1) return null;
      const path = `${kv('data', name)}?version=${version}`;
      const r = await call('GET', path, undefined, [200, 404]);
      if (r.status === 404) return absent(r);
      const payload = r.body?.data?.['data'];
      const metadata = r.body?.data?.['metadata'] as { created_time?: string } | undefined;
      if (!metadata || typeof metadata !== 'object') throw notVault(r, `GET ${path}`);
      // A deleted or destroyed version answers with null data (and 404 on some servers).
      if (!payload || typeof payload !== 'object') return null;
      const secret: StoredSecret = fromPayload(payload as Record<string, unknown>, prefix);
      return {
        id: version,
        createdAt: metadata.created_time ? new Date(metadata.created_time) : null,
        // The labels need the metadata; the core asks the list when it needs them.
        labels: [],
        readable: true,
        secret,
      };
    },
    async retireVersion(name, version) {
      const found = (await list(name))?.find((v) => v.id === version);
      if (!found?.readable) return false;
      await call('POST', kv('destroy', name), { versions: [Number(version)] }, [200, 204]);
      return true;
    },
    writtenVersion: (name) => {
      const v = written(name);
      return v === undefined ? undefined : String(v);
    },
  };
}
