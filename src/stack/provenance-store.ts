/**
 * Provenance in the config store: the access records of runs (the `provenance` table, created by
 * the store's migrations) and the questions asked of them after a leak. Writes are bare statements
 * for the run history to call inside its own transaction, so that a step's status and its reads
 * land together or not at all. Queries never return a value or a fingerprint: only who read what.
 */
import type Database from 'better-sqlite3';
import type { SecretsManager } from '../core/manager.js';
import { fingerprint, type AccessOutcome, type AccessRecord } from '../core/provenance.js';
import { UsageError } from '../errors.js';
import type { ConfigStore } from './config-store.js';

/** One access, as the queries return it: the record without its fingerprints. */
export interface AccessEntry {
  runId: string;
  pipeline: string;
  step: string | null;
  component: string | null;
  attempt: number;
  worker: string | null;
  host: string;
  at: string;
  manager: { uuid: string; name: string; flavor: string };
  secret: string;
  keys: string[];
  version: string | null;
  pinned: string | null;
  outcome: AccessOutcome;
  errorCode: string | null;
}

export interface UsedByQuery {
  secret: string;
  /** Only accesses of this key (an access of the whole secret, such as a denial, counts too). */
  key?: string | undefined;
  /** Only reads of this backend version id. */
  version?: string | undefined;
  /** Only accesses at or after this time (a Date, an ISO date, or an age such as `7d`). */
  since?: Date | string | undefined;
  /** Only accesses through this secrets manager (name or UUID). */
  manager?: string | undefined;
  /** @default 1000 */
  limit?: number | undefined;
}

export interface AuditQuery {
  /** Only denials; otherwise denials, missing secrets and errors. */
  denied?: boolean | undefined;
  since?: Date | string | undefined;
  /** @default 50 */
  limit?: number | undefined;
}

/** What `usedByValue` found for one value: where it is now, and which runs read it. */
export interface ValueMatches {
  manager: { uuid: string; name: string; flavor: string };
  /** The secrets and keys of the manager whose current value it is. */
  current: { secret: string; key: string }[];
  /** Secrets the scan could not read (named, with the error code), so that a miss is not taken for "nowhere". */
  unreadable: { secret: string; errorCode: string }[];
  /** Every recorded read of that value, newest first, with the key it was read under. */
  reads: (AccessEntry & { key: string })[];
}

interface ProvenanceRow {
  id: number;
  run_id: string;
  pipeline: string;
  step: string | null;
  component: string | null;
  attempt: number;
  worker: string | null;
  host: string;
  at: string;
  manager_uuid: string;
  manager_name: string;
  manager_flavor: string;
  secret: string;
  keys: string;
  version: string | null;
  pinned: string | null;
  outcome: AccessOutcome;
  error_code: string | null;
}

/**
 * Writes records: a bare write, to be called inside the transaction that writes what they belong
 * to (a step's status), so that a failure of either leaves neither.
 */
export function insertAccessRecords(db: Database.Database, records: readonly AccessRecord[]): void {
  if (records.length === 0) return;
  const { ins, fp } = statements(db);
  for (const r of records) {
    const id = ins.run(
      r.runId,
      r.pipeline,
      r.step ?? null,
      r.component ?? null,
      r.attempt,
      r.worker ?? null,
      r.host,
      r.at,
      r.manager.uuid,
      r.manager.name,
      r.manager.flavor,
      r.secret,
      JSON.stringify(r.keys),
      r.version,
      r.pinned,
      JSON.stringify(r.fingerprints),
      r.outcome,
      r.errorCode,
    ).lastInsertRowid;
    for (const [key, f] of Object.entries(r.fingerprints)) fp.run(f, id, key);
  }
}

/** Prepared once per connection: preparing costs more than the insert of a record. */
const STATEMENTS = new WeakMap<Database.Database, { ins: Database.Statement; fp: Database.Statement }>();

function statements(db: Database.Database): { ins: Database.Statement; fp: Database.Statement } {
  let s = STATEMENTS.get(db);
  if (!s) {
    s = {
      ins: db.prepare(`INSERT INTO provenance (run_id, pipeline, step, component, attempt, worker, host, at,
        manager_uuid, manager_name, manager_flavor, secret, keys, version, pinned, fingerprints, outcome, error_code)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      fp: db.prepare('INSERT INTO provenance_fingerprints (fingerprint, record, key) VALUES (?, ?, ?)'),
    };
    STATEMENTS.set(db, s);
  }
  return s;
}

/**
 * Deletes the records of runs that are being deleted; a bare write, inside their transaction.
 * A record's fingerprint rows are found from its own JSON copy of them (their table is keyed by
 * fingerprint, for the value question), so this stays index lookups.
 */
export function deleteAccessRecords(db: Database.Database, runIds: readonly string[]): void {
  const recs = db.prepare('SELECT id, fingerprints FROM provenance WHERE run_id = ?');
  const fp = db.prepare('DELETE FROM provenance_fingerprints WHERE fingerprint = ? AND record = ? AND key = ?');
  const del = db.prepare('DELETE FROM provenance WHERE run_id = ?');
  for (const runId of runIds) {
    for (const r of recs.all(runId) as { id: number; fingerprints: string }[])
      for (const [key, f] of Object.entries(JSON.parse(r.fingerprints) as Record<string, string>)) fp.run(f, r.id, key);
    del.run(runId);
  }
}

const COLUMNS = `p.id, p.run_id, p.pipeline, p.step, p.component, p.attempt, p.worker, p.host, p.at, p.manager_uuid,
  p.manager_name, p.manager_flavor, p.secret, p.keys, p.version, p.pinned, p.outcome, p.error_code`;

/** The questions asked of the records; the CLI's `--json` prints what these return. */
export class Provenance {
  readonly #store: () => ConfigStore;
  readonly #key: () => Buffer;
  readonly #manager: (name: string | undefined) => Promise<SecretsManager>;

  constructor(deps: {
    store: () => ConfigStore;
    /** The provenance key, loaded only by the value question. */
    key: () => Buffer;
    manager: (name: string | undefined) => Promise<SecretsManager>;
  }) {
    this.#store = deps.store;
    this.#key = deps.key;
    this.#manager = deps.manager;
  }

  get #db(): Database.Database {
    return this.#store().db;
  }

  /** Who accessed a secret (reads, denials, misses and errors), newest first. */
  usedBy(q: UsedByQuery): Promise<AccessEntry[]> {
    const where = ['p.secret = ?'];
    const params: unknown[] = [q.secret];
    if (q.key !== undefined) {
      where.push(
        "(EXISTS (SELECT 1 FROM json_each(p.keys) WHERE value = ?) OR (json_array_length(p.keys) = 0 AND p.outcome <> 'read'))",
      );
      params.push(q.key);
    }
    if (q.version !== undefined) {
      where.push('p.version = ?');
      params.push(q.version);
    }
    if (q.since !== undefined) {
      where.push('p.at >= ?');
      params.push(sinceTime(q.since));
    }
    if (q.manager !== undefined) {
      where.push('(p.manager_uuid = ? OR p.manager_name = ?)');
      params.push(q.manager, q.manager);
    }
    params.push(limitOf(q.limit, 1000));
    const rows = this.#db
      .prepare(`SELECT ${COLUMNS} FROM provenance p WHERE ${where.join(' AND ')} ORDER BY p.at DESC, p.id DESC LIMIT ?`)
      .all(...params) as ProvenanceRow[];
    return Promise.resolve(rows.map(toEntry));
  }

  /**
   * The leaked-value question: fingerprints `value` under the provenance key, then finds the
   * manager's secrets whose current value it is (read here, compared, dropped) and every recorded
   * read of a value with that fingerprint. Neither the value nor its fingerprint is returned.
   */
  async usedByValue(value: string, options: { manager?: string | undefined } = {}): Promise<ValueMatches> {
    const key = this.#key();
    const wanted = fingerprint(key, value);
    const m = await this.#manager(options.manager);
    const current: ValueMatches['current'] = [];
    const unreadable: ValueMatches['unreadable'] = [];
    for (const name of await m.list()) {
      let values: Record<string, string>;
      try {
        values = (await m.get(name)).values;
      } catch (e) {
        const code = (e as { code?: unknown } | null)?.code;
        unreadable.push({ secret: name, errorCode: typeof code === 'string' ? code : 'error' });
        continue;
      }
      for (const [k, v] of Object.entries(values))
        if (fingerprint(key, v) === wanted) current.push({ secret: name, key: k });
    }
    const rows = this.#db
      .prepare(
        `SELECT ${COLUMNS}, f.key AS matched FROM provenance_fingerprints f JOIN provenance p ON p.id = f.record
         WHERE f.fingerprint = ? ORDER BY p.at DESC, p.id DESC`,
      )
      .all(wanted) as (ProvenanceRow & { matched: string })[];
    return {
      manager: { uuid: m.uuid, name: m.name, flavor: m.flavor.name },
      current,
      unreadable,
      reads: rows.map((r) => ({ ...toEntry(r), key: r.matched })),
    };
  }

  /** Recent denials (and, unless `denied`, missing secrets and errors) across runs, newest first. */
  audit(q: AuditQuery = {}): Promise<AccessEntry[]> {
    const outcomes = q.denied ? ['denied'] : ['denied', 'not_found', 'error'];
    const where = [`p.outcome IN (${outcomes.map(() => '?').join(', ')})`];
    const params: unknown[] = [...outcomes];
    if (q.since !== undefined) {
      where.push('p.at >= ?');
      params.push(sinceTime(q.since));
    }
    params.push(limitOf(q.limit, 50));
    const rows = this.#db
      .prepare(`SELECT ${COLUMNS} FROM provenance p WHERE ${where.join(' AND ')} ORDER BY p.at DESC, p.id DESC LIMIT ?`)
      .all(...params) as ProvenanceRow[];
    return Promise.resolve(rows.map(toEntry));
  }

  /** Every access of one run, in the order they happened. */
  run(runId: string): Promise<AccessEntry[]> {
    const rows = this.#db
      .prepare(`SELECT ${COLUMNS} FROM provenance p WHERE p.run_id = ? ORDER BY p.at, p.id`)
      .all(runId) as ProvenanceRow[];
    return Promise.resolve(rows.map(toEntry));
  }
}

const AGE = /^([0-9]+)\s*(s|m|h|d|w)$/u;
const AGE_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** `30d`, `12h`, `2w`, … in milliseconds, or undefined when `text` is not an age. */
export function parseAge(text: string): number | undefined {
  const m = AGE.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * AGE_MS[m[2] as keyof typeof AGE_MS];
}

/** A `since` as the ISO time records are compared with: a Date, an ISO date or time, or an age (`7d`). */
export function sinceTime(since: Date | string, now = Date.now()): string {
  if (since instanceof Date) {
    if (Number.isNaN(since.getTime())) throw badSince(String(since));
    return since.toISOString();
  }
  const age = parseAge(since);
  if (age !== undefined) return new Date(now - age).toISOString();
  const t = /^[0-9]{4}-[0-9]{2}-[0-9]{2}/u.test(since) ? Date.parse(since) : Number.NaN;
  if (Number.isNaN(t)) throw badSince(since);
  return new Date(t).toISOString();
}

function badSince(text: string): UsageError {
  return new UsageError(
    `'${text}' is not a date or an age`,
    'Give an ISO date or time (2026-05-01, 2026-05-01T12:00:00Z) or an age (30m, 12h, 7d, 2w).',
  );
}

function limitOf(limit: number | undefined, fallback: number): number {
  if (limit === undefined) return fallback;
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(`the limit must be a positive integer, not ${String(limit)}`);
  return limit;
}

function toEntry(r: ProvenanceRow): AccessEntry {
  return {
    runId: r.run_id,
    pipeline: r.pipeline,
    step: r.step,
    component: r.component,
    attempt: r.attempt,
    worker: r.worker,
    host: r.host,
    at: r.at,
    manager: { uuid: r.manager_uuid, name: r.manager_name, flavor: r.manager_flavor },
    secret: r.secret,
    keys: JSON.parse(r.keys) as string[],
    version: r.version,
    pinned: r.pinned,
    outcome: r.outcome,
    errorCode: r.error_code,
  };
}
