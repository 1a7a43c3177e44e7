/**
 * `local`: the embedded default. One SQLite file per backend domain, shared by every local manager
 * that does not name another path; every secret sealed with AES-256-GCM, the scoped name as
 * additional authenticated data (DESIGN §5). This file is the flavor's declaration and its
 * operations; the file itself (store.ts), its key (key.ts), the sealed rows (rows.ts) and
 * backups (backup.ts) are companions, so each can be read and changed on its own.
 */
import { dirname, join, resolve } from 'node:path';
import { decodeContent, encodeContent } from '../../secrets/content.js';
import { BackendError } from '../../errors.js';
import { scopePath } from '../../secrets/scope.js';
import { retryBusy } from '../../support/sqlite.js';
import { defaultTrustWarn } from '../../support/trust.js';
import { ConfigError } from '../../errors.js';
import { defineFlavor, type FlavorContext, type SecretsBackend } from '../../core/types.js';
import { openRow, sealRow } from './rows.js';
import { openStore, storeError, type Store } from './store.js';
import { localRows } from './versions.js';

export const FLAVOR_NAME = 'local';

export interface LocalFlavorOptions {
  /** The store file. @default `<config dir>/local_stores/secrets.db` */
  path?: string;
  /** Versions kept per secret, the current one included (older ones are deleted). @default 10 */
  max_versions?: number;
}

const DEFAULT_MAX_VERSIONS = 10;

export default defineFlavor<LocalFlavorOptions>({
  name: FLAVOR_NAME,
  description: 'Encrypted SQLite store on this machine (the default)',
  supportsScoping: true,
  isLocal: true,
  separator: '/',
  locationFields: ['path'],
  nameRule: { pattern: /[^/]+/, maxLength: 128, description: "must not contain '/'" },
  maxContentBytes: 512 * 1024,
  config: {
    path: { type: 'string', description: 'store file (default: <config dir>/local_stores/secrets.db)' },
    max_versions: {
      type: 'integer',
      description: 'versions kept per secret, the current one included',
      default: DEFAULT_MAX_VERSIONS,
    },
  },
  check(config) {
    const n = config.max_versions;
    if (n !== undefined && (!Number.isInteger(n) || n < 1 || n > 1000))
      throw new ConfigError(`max_versions must be a whole number from 1 to 1000, not ${n}`, {
        hint: 'Pass --max_versions=N (1 keeps only the current version).',
      });
  },
  create: (ctx) => createLocalBackend(ctx),
});

export function defaultStorePath(configDir: string): string {
  return join(configDir, 'local_stores', 'secrets.db');
}

/** The store file of a local manager with this config. */
export function localStorePath(configDir: string, config: LocalFlavorOptions): string {
  return resolve(config.path ?? defaultStorePath(configDir));
}

function createLocalBackend(ctx: FlavorContext<LocalFlavorOptions>): SecretsBackend {
  const file = localStorePath(ctx.configDir, ctx.config);
  const scope = scopePath(ctx.scope).join('/');
  let store: Store | undefined;
  // The default store directory holds only keystack's files, so it may be tightened; a
  // directory the user named is checked but left as it is.
  const tighten =
    dirname(file) === dirname(resolve(defaultStorePath(ctx.configDir))) ? (ctx.warn ?? defaultTrustWarn) : undefined;
  const open = () => (store ??= openStore(file, ctx.env, { tighten, warn: ctx.warn ?? defaultTrustWarn }));
  const rows = localRows({
    db: () => open().db,
    scope,
    keep: ctx.config.max_versions ?? DEFAULT_MAX_VERSIONS,
    // A read-only or full store file is the machine's state, not a backend failure: say which file.
    retry: (fn) => {
      try {
        return retryBusy(fn);
      } catch (e) {
        throw storeError(file, e);
      }
    },
    seal: (name, version, secret) =>
      sealRow(open().key, ctx.names.full(name), version, Buffer.from(encodeContent(secret, ctx.scope.prefix), 'utf8')),
    unseal: (name, version, data) => {
      const plain = openRow(open().key, ctx.names.full(name), version, data);
      if (!plain) {
        throw new BackendError({
          flavor: FLAVOR_NAME,
          operation: 'get',
          secretName: name,
          reason: `the stored data failed its integrity check in ${file}`,
          hint: 'The row was altered or copied from another name or version. Restore the store from a backup, or delete and register the secret again.',
        });
      }
      return decodeContent(plain.toString('utf8'), ctx.scope.prefix);
    },
  });

  return {
    create: async (name, secret) => rows.create(name, secret),
    get: async (name) => rows.read(name)?.secret ?? null,
    read: async (name) => {
      const r = rows.read(name);
      return r && { secret: r.secret, version: r.version };
    },
    describe: async (name) => rows.read(name),
    replaceIf: async (name, secret, version) => rows.replaceIf(name, secret, version),
    async list() {
      const { db } = open();
      const names = rows.retry(() => db.prepare('SELECT name FROM secrets WHERE scope = ? ORDER BY name').all(scope));
      return (names as { name: string }[]).map((r) => r.name);
    },
    update: async (name, secret) => rows.update(name, secret),
    delete: async (name) => rows.delete(name),
    deleteAll: async () => rows.deleteAll(),
    versions: async (name) => rows.versions(name),
    getVersion: async (name, version) => rows.getVersion(name, version),
    retireVersion: async (name, version) => rows.retireVersion(name, version),
    writtenVersion: (name) => rows.writtenVersion(name),
    close() {
      store?.db.close();
      store = undefined;
    },
  };
}
