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
import {
  defineFlavor,
  type FlavorContext,
  type ReplaceOutcome,
  type SecretsBackend,
  type VersionedSecret,
} from '../../core/types.js';
import { blobVersion, openBlob, rowAad, sealBlob } from './rows.js';
import { openStore, storeError, type Store } from './store.js';

export const FLAVOR_NAME = 'local';

export interface LocalFlavorOptions {
  /** The store file. @default `<config dir>/local_stores/secrets.db` */
  path?: string;
}

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
  // A read-only or full store file is the machine's state, not a backend failure: say which file.
  const retry = <T>(fn: () => T): T => {
    try {
      return retryBusy(fn);
    } catch (e) {
      throw storeError(file, e);
    }
  };
  const seal = (name: string, secret: Parameters<typeof encodeContent>[0]) =>
    sealBlob(open().key, rowAad(ctx.names.full(name)), Buffer.from(encodeContent(secret, ctx.scope.prefix), 'utf8'));
  const unseal = (name: string, data: Buffer) => {
    const plain = openBlob(open().key, rowAad(ctx.names.full(name)), data);
    if (!plain) {
      throw new BackendError({
        flavor: FLAVOR_NAME,
        operation: 'get',
        secretName: name,
        reason: `the stored data failed its integrity check in ${file}`,
        hint: 'The row was altered or copied from another name. Restore the store from a backup, or delete and register the secret again.',
      });
    }
    return decodeContent(plain.toString('utf8'), ctx.scope.prefix);
  };
  const readRow = (name: string): VersionedSecret | null => {
    const { db } = open();
    const row = retry(() => db.prepare('SELECT data FROM secrets WHERE scope = ? AND name = ?').get(scope, name)) as
      | { data: Buffer }
      | undefined;
    return row ? { secret: unseal(name, row.data), version: blobVersion(row.data) } : null;
  };

  return {
    async create(name, secret) {
      const { db } = open();
      const now = Date.now();
      const data = seal(name, secret);
      const r = retry(() =>
        db
          .prepare(
            'INSERT INTO secrets (scope, name, data, created_at, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
          )
          .run(scope, name, data, now, now),
      );
      return r.changes === 1;
    },
    async get(name) {
      return readRow(name)?.secret ?? null;
    },
    async read(name) {
      return readRow(name);
    },
    async describe(name) {
      const { db } = open();
      const row = retry(() =>
        db.prepare('SELECT data, created_at, updated_at FROM secrets WHERE scope = ? AND name = ?').get(scope, name),
      ) as { data: Buffer; created_at: number; updated_at: number } | undefined;
      return row
        ? { secret: unseal(name, row.data), createdAt: new Date(row.created_at), updatedAt: new Date(row.updated_at) }
        : null;
    },
    async replaceIf(name, secret, version) {
      const { db } = open();
      const data = seal(name, secret);
      // Compare and write in one immediate transaction: no other process can write in between.
      const swap = db.transaction((): ReplaceOutcome => {
        const row = db.prepare('SELECT data FROM secrets WHERE scope = ? AND name = ?').get(scope, name) as
          | { data: Buffer }
          | undefined;
        if (!row) return 'absent';
        if (blobVersion(row.data) !== version) return 'conflict';
        db.prepare('UPDATE secrets SET data = ?, updated_at = ? WHERE scope = ? AND name = ?').run(
          data,
          Date.now(),
          scope,
          name,
        );
        return 'updated';
      });
      return retry(() => swap.immediate());
    },
    async list() {
      const { db } = open();
      const rows = retry(() => db.prepare('SELECT name FROM secrets WHERE scope = ? ORDER BY name').all(scope)) as {
        name: string;
      }[];
      return rows.map((r) => r.name);
    },
    async update(name, secret) {
      const { db } = open();
      const data = seal(name, secret);
      const r = retry(() =>
        db
          .prepare('UPDATE secrets SET data = ?, updated_at = ? WHERE scope = ? AND name = ?')
          .run(data, Date.now(), scope, name),
      );
      return r.changes === 1;
    },
    async delete(name) {
      const { db } = open();
      return retry(() => db.prepare('DELETE FROM secrets WHERE scope = ? AND name = ?').run(scope, name)).changes === 1;
    },
    async deleteAll() {
      const { db } = open();
      return retry(() => db.prepare('DELETE FROM secrets WHERE scope = ?').run(scope)).changes;
    },
    close() {
      store?.db.close();
      store = undefined;
    },
  };
}
