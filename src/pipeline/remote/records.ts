/**
 * The provenance records a worker puts into its signed step result, as the client checks them.
 * The signature says which worker sent them; this says they are records of this run, step and
 * attempt, as many as the worker counted, and nothing else: a field that is not part of a record
 * (a value, say) makes the whole result refused, so nothing a worker sends beyond the record shape
 * reaches the run history.
 */
import type { AccessOutcome, AccessRecord } from '../../core/provenance.js';

const OUTCOMES: readonly AccessOutcome[] = ['read', 'denied', 'not_found', 'error'];
const RECORD_FIELDS = new Set([
  'runId',
  'pipeline',
  'step',
  'component',
  'attempt',
  'worker',
  'host',
  'at',
  'manager',
  'secret',
  'keys',
  'version',
  'pinned',
  'fingerprints',
  'outcome',
  'errorCode',
]);
/** HMAC-SHA256 in hex: a fingerprint is this and only this, never a value. */
const FINGERPRINT = /^[0-9a-f]{64}$/;

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isStr = (x: unknown): x is string => typeof x === 'string';
const strOrNull = (x: unknown): boolean => x === null || isStr(x);

/** What a result must say about its records for the client to take them. */
export interface RecordClaim {
  runId: string;
  stepId: string;
  /** The attempt the result is of. */
  attempt: number;
  worker: string;
}

/** Why a record (or the list) is not one the claim allows, or null when it is. */
function recordProblem(x: unknown, c: RecordClaim): string | null {
  if (!isObj(x)) return 'a record is not an object';
  for (const k of Object.keys(x)) if (!RECORD_FIELDS.has(k)) return 'a record has a field records do not have';
  const m = x['manager'];
  const shape =
    isStr(x['pipeline']) &&
    (x['component'] === undefined || isStr(x['component'])) &&
    isStr(x['host']) &&
    isStr(x['at']) &&
    !Number.isNaN(Date.parse(x['at'])) &&
    isObj(m) &&
    isStr(m['uuid']) &&
    isStr(m['name']) &&
    isStr(m['flavor']) &&
    Object.keys(m).length === 3 &&
    isStr(x['secret']) &&
    Array.isArray(x['keys']) &&
    x['keys'].every(isStr) &&
    strOrNull(x['version']) &&
    strOrNull(x['pinned']) &&
    strOrNull(x['errorCode']) &&
    OUTCOMES.includes(x['outcome'] as AccessOutcome) &&
    isObj(x['fingerprints']) &&
    Object.values(x['fingerprints']).every((f) => isStr(f) && FINGERPRINT.test(f));
  if (!shape) return 'a record is not of the record shape';
  if (x['outcome'] !== 'read' && Object.keys(x['fingerprints'] as object).length > 0)
    return 'a record that read nothing carries fingerprints';
  if (x['runId'] !== c.runId || x['step'] !== c.stepId || x['attempt'] !== c.attempt || x['worker'] !== c.worker)
    return 'a record names another run, step, attempt or worker than its result';
  return null;
}

/**
 * Checks the records of a result whose signature was checked: the count the worker signed, the
 * list, and each record against the result's run, step, attempt and worker.
 */
export function checkRecords(
  records: unknown,
  count: unknown,
  c: RecordClaim,
): { ok: true; records: AccessRecord[] } | { ok: false; reason: string } {
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0)
    return { ok: false, reason: 'it carries no record count' };
  const list = records === undefined ? [] : records;
  if (!Array.isArray(list)) return { ok: false, reason: 'its records are not a list' };
  if (list.length !== count)
    return { ok: false, reason: `it counts ${count} provenance records but carries ${list.length}` };
  for (const r of list) {
    const p = recordProblem(r, c);
    if (p !== null) return { ok: false, reason: p };
  }
  return { ok: true, records: list as AccessRecord[] };
}
