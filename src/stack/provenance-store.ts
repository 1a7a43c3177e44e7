/**
 * Provenance in the config store: the access records of runs (the `provenance` table, created by
 * the store's migrations) and the questions asked of them after a leak. Writes are bare statements
 * for the run history to call inside its own transaction, so that a step's status and its reads
 * land together or not at all. Queries never return a value or a fingerprint: only who read what.
 */
import type Database from 'better-sqlite3';
import type { SecretsManager } from '../core/manager.js';
import { fingerprint, type AccessOutcome, type AccessRecord } from '../core/provenance.js';
import { ConfigError, UsageError } from '../errors.js';
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
 * to (a step's status), so that a failure of either leaves neither. This runs once per step of
 * every run, so it is built for it: one multi-row INSERT per step (up to CHUNK records), and the
 * fingerprints of a read stored once per distinct set of values (`provenance_values`), found by
 * their JSON text; a set seen before, in this step or any earlier run, costs a lookup, not a write.
 */
export function insertAccessRecords(db: Database.Database, records: readonly AccessRecord[]): void {
  if (records.length === 0) return;
  const s = statements(db);
  const sets = new Map<string, number>();
  // Records decoded from one log line share their fingerprints object: found by it, not its text.
  const byObject = new Map<Record<string, string>, number | null>();
  for (let from = 0; from < records.length; from += CHUNK) {
    const chunk = records.slice(from, from + CHUNK);
    const params: unknown[] = [];
    for (const r of chunk) {
      params.push(
        r.runId,
        ...whoOf(r),
        r.at,
        r.secret,
        JSON.stringify(r.keys),
        r.version,
        r.pinned,
        byObject.get(r.fingerprints) ?? remember(byObject, r.fingerprints, valueSet(s, sets, r.fingerprints)),
        r.outcome,
        r.errorCode,
      );
    }
    insertStatement(db, s, chunk.length).run(params);
  }
}

/**
 * A step attempt's records, as one line at the end of the access log (`provenance_log`): a bare
 * write, in the transaction that writes the step's status, so that neither lands without the
 * other. A line costs a step about one page of WAL, where a row per read with its three index
 * entries cost several (docs/benchmarks.md); `indexAccessLog` moves the lines into `provenance`
 * before any question is asked of them.
 */
export function logAccessRecords(
  db: Database.Database,
  runId: string,
  stepId: string,
  records: readonly AccessRecord[],
): void {
  if (records.length === 0) return;
  const s = statements(db);
  s.appendLog.run(runId, stepId, encodeAccessLog(s, runId, records));
}

/** Where the fields of records that a step attempt shares are written once (the "who" of a read). */
type Who = [
  pipeline: string,
  step: string | null,
  component: string | null,
  attempt: number,
  worker: string | null,
  host: string,
  managerUuid: string,
  managerName: string,
  managerFlavor: string,
];
/**
 * One access, or a run of identical ones: the index of its `Who`, what it read, the index of its
 * fingerprints (-1: none), and the times of the repeats in ms after `at`.
 */
type LoggedAccess = [
  who: number,
  at: string,
  secret: string,
  keys: string[],
  version: string | null,
  pinned: string | null,
  fingerprints: number,
  outcome: AccessOutcome,
  errorCode: string | null,
  repeats: number[],
];
/**
 * `f`: the sets of fingerprints read, by their id in `provenance_values`. A set is written there the
 * first time any step reads those values (after a rotation, once), so that the fingerprints are
 * never in a line: 200 bytes a set, which the step would pay on every run. Pruning moves the log
 * into indexed rows before it deletes sets, so a line never names a set that is gone.
 */
interface LogLine {
  w: Who[];
  f: number[];
  r: LoggedAccess[];
}

const OUTCOMES: ReadonlySet<string> = new Set<AccessOutcome>(['read', 'denied', 'not_found', 'error']);

/**
 * One line of the log, a JSON document kept small because its bytes are what a step pays: what a
 * step's records share is written once, a set of values read is its id, and a read
 * repeated (a step reading the same secret in a loop) is a time. Records are checked here, where the write can still fail with the status, not when they
 * are moved, where a bad one would stop every later question.
 */
function encodeAccessLog(s: Statements, runId: string, records: readonly AccessRecord[]): string {
  const line: LogLine = { w: [], f: [], r: [] };
  const sets: Record<string, string>[] = [];
  let last: LoggedAccess | undefined;
  let lastAt = 0;
  for (const r of records) {
    if (r.runId !== runId) throw new UsageError(`an access record of run ${r.runId} was given for run ${runId}`);
    if (!OUTCOMES.has(r.outcome)) throw new UsageError(`an access record has the outcome '${r.outcome as string}'`);
    const at = Date.parse(r.at);
    if (Number.isNaN(at)) throw new UsageError(`an access record has the time '${r.at}'`);
    const who = whoIndex(line.w, r);
    let f = -1;
    if (!isEmpty(r.fingerprints)) {
      f = sets.findIndex((known) => sameRecord(known, r.fingerprints));
      if (f === -1) {
        f = sets.push(r.fingerprints) - 1;
        line.f.push(valueSet(s, new Map(), r.fingerprints) as number);
      }
    }
    if (
      last !== undefined &&
      last[0] === who &&
      last[2] === r.secret &&
      sameList(last[3], r.keys) &&
      last[4] === r.version &&
      last[5] === r.pinned &&
      last[6] === f &&
      last[7] === r.outcome &&
      last[8] === r.errorCode &&
      at >= lastAt
    ) {
      last[9].push(at - lastAt);
      continue;
    }
    last = [who, r.at, r.secret, r.keys, r.version, r.pinned, f, r.outcome, r.errorCode, []];
    lastAt = at;
    line.r.push(last);
  }
  return JSON.stringify(line);
}

function whoIndex(list: Who[], r: AccessRecord): number {
  const who = whoOf(r);
  const i = list.findLastIndex((w) => w.every((v, k) => v === who[k]));
  return i >= 0 ? i : list.push(who) - 1;
}

/** Who made an access, in the order of a log line's `w` and of the `provenance` columns after run_id. */
function whoOf(r: AccessRecord): Who {
  return [
    r.pipeline,
    r.step ?? null,
    r.component ?? null,
    r.attempt,
    r.worker ?? null,
    r.host,
    r.manager.uuid,
    r.manager.name,
    r.manager.flavor,
  ];
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  let n = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}

function isEmpty(o: Record<string, string>): boolean {
  for (const _ in o) return false;
  return true;
}

/** The records of one line of the log, checked: the log is read back from a file, so it is not trusted blindly. */
function decodeAccessLog(s: Statements, text: string, runId: string, stepId: string): AccessRecord[] {
  const damaged = () =>
    new ConfigError(`the access log of step '${stepId}' of run ${runId} in the config store is damaged`, {
      hint: 'Restore config.db from a backup, or delete the run with `keystack pipeline runs prune`.',
    });
  let line: unknown;
  try {
    line = JSON.parse(text);
  } catch {
    throw damaged();
  }
  const { w, f, r } = (typeof line === 'object' && line !== null ? line : {}) as Record<string, unknown>;
  if (!Array.isArray(w) || !Array.isArray(f) || !Array.isArray(r)) throw damaged();
  const whos = w.map((who: unknown) => {
    if (!isWho(who)) throw damaged();
    return who;
  });
  const sets = f.map((set: unknown) => {
    const json = typeof set === 'number' ? (s.setText.get(set) as string | undefined) : undefined;
    const parsed = json === undefined ? undefined : (JSON.parse(json) as unknown);
    if (!isStringRecord(parsed)) throw damaged();
    return parsed;
  });
  const out: AccessRecord[] = [];
  for (const a of r as unknown[]) {
    if (!Array.isArray(a) || a.length !== 10) throw damaged();
    const [w0, at, secret, keys, version, pinned, f0, outcome, errorCode, repeats] = a as unknown[];
    const who = typeof w0 === 'number' ? whos[w0] : undefined;
    const fingerprints = f0 === -1 ? {} : typeof f0 === 'number' ? sets[f0] : undefined;
    const time = typeof at === 'string' ? Date.parse(at) : Number.NaN;
    if (
      who === undefined ||
      fingerprints === undefined ||
      Number.isNaN(time) ||
      typeof secret !== 'string' ||
      !isStringList(keys) ||
      !isTextOrNull(version) ||
      !isTextOrNull(pinned) ||
      typeof outcome !== 'string' ||
      !OUTCOMES.has(outcome) ||
      !isTextOrNull(errorCode) ||
      !Array.isArray(repeats) ||
      !repeats.every((n) => typeof n === 'number' && Number.isFinite(n))
    )
      throw damaged();
    const record: AccessRecord = {
      runId,
      pipeline: who[0],
      step: who[1] ?? undefined,
      component: who[2] ?? undefined,
      attempt: who[3],
      worker: who[4] ?? undefined,
      host: who[5],
      at: at as string,
      manager: { uuid: who[6], name: who[7], flavor: who[8] },
      secret,
      keys,
      version,
      pinned,
      fingerprints,
      outcome: outcome as AccessOutcome,
      errorCode,
    };
    out.push(record);
    for (const after of repeats as number[]) out.push({ ...record, at: new Date(time + after).toISOString() });
  }
  return out;
}

function isTextOrNull(x: unknown): x is string | null {
  return x === null || typeof x === 'string';
}

function isStringList(x: unknown): x is string[] {
  return Array.isArray(x) && x.every((k) => typeof k === 'string');
}

function isStringRecord(x: unknown): x is Record<string, string> {
  return (
    typeof x === 'object' && x !== null && !Array.isArray(x) && Object.values(x).every((v) => typeof v === 'string')
  );
}

function isWho(x: unknown): x is Who {
  if (!Array.isArray(x) || x.length !== 9) return false;
  const [pipeline, step, component, attempt, worker, host, uuid, name, flavor] = x as unknown[];
  return (
    typeof pipeline === 'string' &&
    isTextOrNull(step) &&
    isTextOrNull(component) &&
    Number.isInteger(attempt) &&
    isTextOrNull(worker) &&
    typeof host === 'string' &&
    typeof uuid === 'string' &&
    typeof name === 'string' &&
    typeof flavor === 'string'
  );
}

/**
 * Moves every line of the access log into indexed `provenance` rows, in the caller's
 * transaction; returns how many records it moved. Batches cost less than a step at a time: the
 * index pages the records touch are written once per batch, not once per step.
 */
export function indexAccessLog(db: Database.Database): number {
  const s = statements(db);
  const lines = s.logLines.all() as { id: number; run_id: string; step_id: string; line: string }[];
  if (lines.length === 0) return 0;
  const records: AccessRecord[] = [];
  for (const l of lines) for (const r of decodeAccessLog(s, l.line, l.run_id, l.step_id)) records.push(r);
  insertAccessRecords(db, records);
  s.clearLog.run((lines[lines.length - 1] as { id: number }).id);
  return records.length;
}

/** Whether the log holds lines to move (a read, so that a question on an indexed store writes nothing). */
export function hasAccessLog(db: Database.Database): boolean {
  return statements(db).anyLogged.get() !== undefined;
}

/** Records per INSERT: 18 parameters each, well under SQLite's 32766, and few statements to cache. */
const CHUNK = 32;

/** The id of the set `fingerprints` (created with its index rows if new), or null for a read of nothing. */
function remember<K, V>(map: Map<K, V>, key: K, value: V): V {
  map.set(key, value);
  return value;
}

function valueSet(s: Statements, seen: Map<string, number>, fingerprints: Record<string, string>): number | null {
  let empty = true;
  for (const _ in fingerprints) {
    empty = false;
    break;
  }
  if (empty) return null;
  const text = JSON.stringify(fingerprints);
  let id = seen.get(text) ?? (s.findSet.get(text) as number | undefined);
  if (id === undefined) {
    id = Number(s.insertSet.run(text).lastInsertRowid);
    for (const [key, f] of Object.entries(fingerprints)) s.insertFingerprint.run(f, id, key);
  }
  seen.set(text, id);
  return id;
}

interface Statements {
  /** INSERT of n records, by n (prepared on first use). */
  insert: Map<number, Database.Statement>;
  findSet: Database.Statement;
  setText: Database.Statement;
  insertSet: Database.Statement;
  insertFingerprint: Database.Statement;
  appendLog: Database.Statement;
  logLines: Database.Statement;
  clearLog: Database.Statement;
  anyLogged: Database.Statement;
}

/** Prepared once per connection: preparing costs more than the insert of a record. */
const STATEMENTS = new WeakMap<Database.Database, Statements>();

function statements(db: Database.Database): Statements {
  let s = STATEMENTS.get(db);
  if (!s) {
    s = {
      insert: new Map(),
      findSet: db.prepare('SELECT id FROM provenance_values WHERE fingerprints = ?').pluck(),
      setText: db.prepare('SELECT fingerprints FROM provenance_values WHERE id = ?').pluck(),
      insertSet: db.prepare('INSERT INTO provenance_values (fingerprints) VALUES (?)'),
      insertFingerprint: db.prepare(
        'INSERT INTO provenance_fingerprints (fingerprint, value_set, key) VALUES (?, ?, ?)',
      ),
      appendLog: db.prepare('INSERT INTO provenance_log (run_id, step_id, line) VALUES (?, ?, ?)'),
      logLines: db.prepare('SELECT id, run_id, step_id, line FROM provenance_log ORDER BY id'),
      clearLog: db.prepare('DELETE FROM provenance_log WHERE id <= ?'),
      anyLogged: db.prepare('SELECT 1 FROM provenance_log LIMIT 1'),
    };
    STATEMENTS.set(db, s);
  }
  return s;
}

function insertStatement(db: Database.Database, s: Statements, n: number): Database.Statement {
  let ins = s.insert.get(n);
  if (!ins) {
    const row = `(${Array.from({ length: 18 }, () => '?').join(', ')})`;
    ins = db.prepare(`INSERT INTO provenance (run_id, pipeline, step, component, attempt, worker, host,
      manager_uuid, manager_name, manager_flavor, at, secret, keys, version, pinned, value_set, outcome, error_code)
      VALUES ${Array.from({ length: n }, () => row).join(', ')}`);
    s.insert.set(n, ins);
  }
  return ins;
}

/**
 * Deletes the records of runs that are being deleted; a bare write, inside their transaction.
 * A set of fingerprints goes with the last record that names it, so that pruning runs leaves no
 * fingerprint of a value that no remaining record read.
 */
export function deleteAccessRecords(db: Database.Database, runIds: readonly string[]): void {
  const setsOf = db
    .prepare('SELECT DISTINCT value_set FROM provenance WHERE run_id = ? AND value_set IS NOT NULL')
    .pluck();
  const del = db.prepare('DELETE FROM provenance WHERE run_id = ?');
  const candidates = new Set<number>();
  for (const runId of runIds) {
    for (const id of setsOf.all(runId) as number[]) candidates.add(id);
    del.run(runId);
  }
  if (candidates.size === 0) return;
  const used = db.prepare('SELECT 1 FROM provenance WHERE value_set = ? LIMIT 1').pluck();
  const text = db.prepare('SELECT fingerprints FROM provenance_values WHERE id = ?').pluck();
  const fp = db.prepare('DELETE FROM provenance_fingerprints WHERE fingerprint = ? AND value_set = ? AND key = ?');
  const set = db.prepare('DELETE FROM provenance_values WHERE id = ?');
  for (const id of candidates) {
    if (used.get(id) !== undefined) continue;
    const json = text.get(id) as string | undefined;
    if (json !== undefined)
      for (const [key, f] of Object.entries(JSON.parse(json) as Record<string, string>)) fp.run(f, id, key);
    set.run(id);
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

  /**
   * The database, with the access log moved into the indexed rows first, so that no
   * question misses a read. Moving writes: on a read-only config store with lines still to move,
   * this fails with the store's path rather than answer from part of the records.
   */
  get #db(): Database.Database {
    this.index();
    return this.#store().db;
  }

  /** Moves the access log into the indexed records now; returns how many records it moved. */
  index(): number {
    const store = this.#store();
    if (!hasAccessLog(store.db)) return 0;
    return store.tx(() => indexAccessLog(store.db));
  }

  /** Who accessed a secret (reads, denials, misses and errors), newest first. */
  async usedBy(q: UsedByQuery): Promise<AccessEntry[]> {
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
    return rows.map(toEntry);
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
        `SELECT ${COLUMNS}, f.key AS matched FROM provenance_fingerprints f JOIN provenance p ON p.value_set = f.value_set
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
  async audit(q: AuditQuery = {}): Promise<AccessEntry[]> {
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
    return rows.map(toEntry);
  }

  /** Every access of one run, in the order they happened. */
  async run(runId: string): Promise<AccessEntry[]> {
    const rows = this.#db
      .prepare(`SELECT ${COLUMNS} FROM provenance p WHERE p.run_id = ? ORDER BY p.at, p.id`)
      .all(runId) as ProvenanceRow[];
    return rows.map(toEntry);
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
