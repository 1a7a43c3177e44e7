/**
 * Who wrote each version of a secret: `user@host` for CLI and library writes, a run and step for
 * pipeline writes. keystack keeps this in the config store, keyed by (manager UUID, secret,
 * version id), and never in the backend object, where ZenML would read it as one more key.
 * Versions written by other tools have no row, so `history` shows no writer for them.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { hostname, userInfo } from 'node:os';
import type { ConfigStore } from './config-store.js';

/** A version a write created, as `history` keys its writer. */
export interface WrittenVersion {
  /** The manager's UUID. */
  manager: string;
  secret: string;
  version: string;
}

interface Writing {
  writer: string | undefined;
  /** Where the versions written in this scope are listed (a remote worker sends them back). */
  written: WrittenVersion[] | undefined;
}

const writing = new AsyncLocalStorage<Writing>();

/**
 * A function that runs its argument with `writer` as the writer of every version it writes: a
 * pipeline step's writes go through the same manager as the user's, so the writer cannot be fixed
 * per Keystack. The list `collectingWrites` set where this is called keeps collecting: a step
 * child's writes arrive later, through its parent's broker, outside that call.
 */
export function writerFor(writer: string): <T>(fn: () => T) => T {
  const written = writing.getStore()?.written;
  return (fn) => writing.run({ writer, written }, fn);
}

/** Runs `fn`, listing in `written` every version written in it (and by writers bound in it). */
export function collectingWrites<T>(written: WrittenVersion[], fn: () => T): T {
  return writing.run({ writer: writing.getStore()?.writer, written }, fn);
}

/** The writer `writerFor` set for the current call, if any. */
export function currentWriter(): string | undefined {
  return writing.getStore()?.writer;
}

/** Lists a version just written where `collectingWrites` asked for it. */
export function noteWritten(v: WrittenVersion): void {
  writing.getStore()?.written?.push(v);
}

/** How history names a pipeline step that wrote a version. */
export function stepWriter(runId: string, stepId: string): string {
  return `run ${runId.slice(0, 8)} step ${stepId}`;
}

/** `user@host` of this process; `unknown@host` where the user has no name (some containers). */
export function defaultWriter(): string {
  let user = 'unknown';
  try {
    user = userInfo().username || user;
  } catch {
    // No passwd entry for this uid.
  }
  return `${user}@${hostname()}`;
}

export function recordWriter(
  store: ConfigStore,
  manager: string,
  secret: string,
  version: string,
  writer: string,
): void {
  store.tx(() =>
    store.db
      .prepare(
        'INSERT OR REPLACE INTO secret_writers (manager_uuid, secret, version, writer, written_at) VALUES (?, ?, ?, ?, ?)',
      )
      .run(manager, secret, version, writer, new Date().toISOString()),
  );
}

export function writersOf(
  store: ConfigStore,
  manager: string,
  secret: string,
  versions: readonly string[],
): Record<string, string> {
  if (versions.length === 0) return {};
  const rows = store.db
    .prepare(
      `SELECT version, writer FROM secret_writers WHERE manager_uuid = ? AND secret = ? AND version IN (${versions.map(() => '?').join(', ')})`,
    )
    .all(manager, secret, ...versions) as { version: string; writer: string }[];
  return Object.fromEntries(rows.map((r) => [r.version, r.writer]));
}
