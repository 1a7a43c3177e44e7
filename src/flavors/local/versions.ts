/**
 * The local store's rows and their versions (store version 2): the current version of a secret is
 * its row in `secrets` with its number in the `version` column; up to `max_versions - 1` older
 * ones wait in `secret_versions`. Every write moves the current row there and writes the next
 * number in one immediate transaction, so two processes never both write version N + 1.
 */
import type Database from 'better-sqlite3';
import type { BackendVersion, ReplaceOutcome, StoredVersion, VersionedSecret } from '../../core/types.js';
import type { StoredSecret } from '../../secrets/content.js';

export interface LocalRows {
  db(): Database.Database;
  scope: string;
  /** How many versions of a secret are kept, the current one included. */
  keep: number;
  /** The run of a statement, with busy retries and the store's errors in the user's terms. */
  retry<T>(fn: () => T): T;
  seal(name: string, version: number, secret: StoredSecret): Buffer;
  /** The content; throws the integrity error when the row does not open. */
  unseal(name: string, version: number, data: Buffer): StoredSecret;
}

interface CurrentRow {
  data: Buffer;
  version: number;
  created_at: number;
  updated_at: number;
}

/** The row operations of a local backend, versions included. */
export function localRows(o: LocalRows) {
  const { scope } = o;
  const retry = <T>(fn: () => T): T => o.retry(fn);
  // The version each write of this backend created, for `writtenVersion` (who wrote it).
  const written = new Map<string, string>();
  const current = (db: Database.Database, name: string) =>
    db
      .prepare('SELECT data, version, created_at, updated_at FROM secrets WHERE scope = ? AND name = ?')
      .get(scope, name) as CurrentRow | undefined;
  /** In a transaction: keeps the current version as an older one and writes the next. */
  const advance = (db: Database.Database, name: string, row: CurrentRow, secret: StoredSecret) => {
    const next = row.version + 1;
    const now = Date.now();
    db.prepare(
      'INSERT OR REPLACE INTO secret_versions (scope, name, version, data, created_at) VALUES (?, ?, ?, ?, ?)',
    ).run(scope, name, row.version, row.data, row.updated_at);
    db.prepare('UPDATE secrets SET data = ?, version = ?, updated_at = ? WHERE scope = ? AND name = ?').run(
      o.seal(name, next, secret),
      next,
      now,
      scope,
      name,
    );
    db.prepare('DELETE FROM secret_versions WHERE scope = ? AND name = ? AND version <= ?').run(
      scope,
      name,
      next - o.keep,
    );
    written.set(name, String(next));
  };
  const write = (name: string, secret: StoredSecret, expected?: string): ReplaceOutcome => {
    const db = o.db();
    const tx = db.transaction((): ReplaceOutcome => {
      const row = current(db, name);
      if (!row) return 'absent';
      if (expected !== undefined && String(row.version) !== expected) return 'conflict';
      advance(db, name, row, secret);
      return 'updated';
    });
    return retry(() => tx.immediate());
  };

  return {
    retry,
    create(name: string, secret: StoredSecret): boolean {
      const db = o.db();
      const now = Date.now();
      const tx = db.transaction(() => {
        const r = db
          .prepare(
            'INSERT INTO secrets (scope, name, data, version, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT DO NOTHING',
          )
          .run(scope, name, o.seal(name, 1, secret), now, now);
        // Versions of a secret deleted before are not this secret's history.
        if (r.changes === 1) db.prepare('DELETE FROM secret_versions WHERE scope = ? AND name = ?').run(scope, name);
        return r.changes === 1;
      });
      const created = retry(() => tx.immediate());
      if (created) written.set(name, '1');
      return created;
    },
    read(name: string): (VersionedSecret & { createdAt: Date; updatedAt: Date }) | null {
      const row = retry(() => current(o.db(), name));
      if (!row) return null;
      return {
        secret: o.unseal(name, row.version, row.data),
        version: String(row.version),
        createdAt: new Date(row.created_at),
        updatedAt: new Date(row.updated_at),
      };
    },
    update: (name: string, secret: StoredSecret): boolean => write(name, secret) === 'updated',
    replaceIf: (name: string, secret: StoredSecret, version: string): ReplaceOutcome => write(name, secret, version),
    delete(name: string): boolean {
      const db = o.db();
      const tx = db.transaction(() => {
        db.prepare('DELETE FROM secret_versions WHERE scope = ? AND name = ?').run(scope, name);
        return db.prepare('DELETE FROM secrets WHERE scope = ? AND name = ?').run(scope, name).changes === 1;
      });
      return retry(() => tx.immediate());
    },
    deleteAll(): number {
      const db = o.db();
      const tx = db.transaction(() => {
        db.prepare('DELETE FROM secret_versions WHERE scope = ?').run(scope);
        return db.prepare('DELETE FROM secrets WHERE scope = ?').run(scope).changes;
      });
      return retry(() => tx.immediate());
    },
    versions(name: string): BackendVersion[] | null {
      const db = o.db();
      const tx = db.transaction(() => {
        const row = current(db, name);
        if (!row) return null;
        const older = db
          .prepare(
            'SELECT version, created_at FROM secret_versions WHERE scope = ? AND name = ? AND version < ? ORDER BY version DESC',
          )
          .all(scope, name, row.version) as { version: number; created_at: number }[];
        return [
          { id: String(row.version), createdAt: new Date(row.updated_at), labels: ['current'], readable: true },
          ...older.map((v, i) => ({
            id: String(v.version),
            createdAt: new Date(v.created_at),
            labels: i === 0 ? ['previous'] : [],
            readable: true,
          })),
        ];
      });
      return retry(() => tx.deferred());
    },
    getVersion(name: string, version: string): StoredVersion | null {
      if (!/^\d+$/.test(version)) return null;
      const n = Number(version);
      const db = o.db();
      const tx = db.transaction(() => {
        const row = current(db, name);
        if (!row) return null;
        if (row.version === n) return { data: row.data, at: row.updated_at, labels: ['current'] };
        const old = db
          .prepare('SELECT data, created_at FROM secret_versions WHERE scope = ? AND name = ? AND version = ?')
          .get(scope, name, n) as { data: Buffer; created_at: number } | undefined;
        if (!old) return null;
        const newer = db
          .prepare(
            'SELECT count(*) AS c FROM secret_versions WHERE scope = ? AND name = ? AND version > ? AND version < ?',
          )
          .get(scope, name, n, row.version) as { c: number };
        return { data: old.data, at: old.created_at, labels: newer.c === 0 ? ['previous'] : [] };
      });
      const found = retry(() => tx.deferred());
      if (!found) return null;
      return {
        id: version,
        createdAt: new Date(found.at),
        labels: found.labels,
        readable: true,
        secret: o.unseal(name, n, found.data),
      };
    },
    retireVersion(name: string, version: string): boolean {
      if (!/^\d+$/.test(version)) return false;
      const db = o.db();
      return (
        retry(() =>
          db
            .prepare('DELETE FROM secret_versions WHERE scope = ? AND name = ? AND version = ?')
            .run(scope, name, Number(version)),
        ).changes === 1
      );
    },
    writtenVersion: (name: string): string | undefined => written.get(name),
  };
}
