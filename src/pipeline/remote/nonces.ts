/**
 * A worker's own record of the step attempts it has run, kept in its config directory (never in
 * Redis, which whoever forges jobs can also edit). A signed job replayed to the same worker is
 * refused; entries are dropped once their run's deadline has passed, since the deadline alone
 * refuses the job after that.
 */
import type Database from 'better-sqlite3';
import { join } from 'node:path';
import { openShared, retryBusy } from '../../support/sqlite.js';

export interface NonceRecord {
  /** True the first time (run, step, attempt) is seen; false for a replay. */
  claim(runId: string, stepId: string, attempt: number, deadline: number): boolean;
  close(): void;
}

export function nonceFile(configDir: string): string {
  return join(configDir, 'worker', 'nonces.db');
}

export function openNonceRecord(file: string, now: () => number = Date.now): NonceRecord {
  const db: Database.Database = openShared(file, ['journal_mode = WAL']);
  retryBusy(() =>
    db.exec(
      'CREATE TABLE IF NOT EXISTS seen (run_id TEXT NOT NULL, step_id TEXT NOT NULL, attempt INTEGER NOT NULL, deadline INTEGER NOT NULL, seen_at INTEGER NOT NULL, PRIMARY KEY (run_id, step_id, attempt)) WITHOUT ROWID',
    ),
  );
  retryBusy(() => db.prepare('DELETE FROM seen WHERE deadline < ?').run(now()));
  const insert = db.prepare(
    'INSERT OR IGNORE INTO seen (run_id, step_id, attempt, deadline, seen_at) VALUES (?, ?, ?, ?, ?)',
  );
  return {
    claim: (runId, stepId, attempt, deadline) =>
      retryBusy(() => insert.run(runId, stepId, attempt, deadline, now()).changes === 1),
    close: () => db.close(),
  };
}
