/**
 * Provenance: one record per secret access made on behalf of a run. A record names who read
 * (run, step or component, attempt, worker), what (manager, secret, keys, the backend's version
 * id) and the outcome, with a keyed fingerprint per value read so that a leaked value can be
 * traced without keeping it. Never a value, a prefix of one, or an unkeyed hash.
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

export type AccessOutcome = 'read' | 'denied' | 'not_found' | 'error';

export interface AccessRecord {
  runId: string;
  pipeline: string;
  /** The step id that read, or undefined for a component reference or the orchestrator. */
  step: string | undefined;
  /** `orchestrator`, `artifact-store`, … with the component name, for reads made by components. */
  component: string | undefined;
  attempt: number;
  /** The worker's name (remote), or undefined for a local run. */
  worker: string | undefined;
  host: string;
  /** ISO 8601. */
  at: string;
  manager: { uuid: string; name: string; flavor: string };
  secret: string;
  /** The keys read (for `denied`, the keys asked for; empty means the whole secret). */
  keys: string[];
  /** The backend's version id where it has one (aws VersionId, gcp/vault/local number, azure id). */
  version: string | null;
  /** The pin the reader asked for (`name@V`), if any. */
  pinned: string | null;
  /** Key → HMAC-SHA256 (hex) of the value under the provenance key; only for `read`. */
  fingerprints: Record<string, string>;
  outcome: AccessOutcome;
  /** For `error`: the error code (never its message, which could quote a backend's answer). */
  errorCode: string | null;
}

/** Where the guard puts records; the runner stores them with the step's status. */
export interface AccessSink {
  record(r: AccessRecord): void;
}

/** Keeps records in memory until the step's status is written with them. */
export class CollectingSink implements AccessSink {
  #records: AccessRecord[] = [];
  record(r: AccessRecord): void {
    this.#records.push(r);
  }
  /** The records so far, and forgets them. */
  drain(): AccessRecord[] {
    const out = this.#records;
    this.#records = [];
    return out;
  }
}

/** HMAC-SHA256 of one value under the deployment's provenance key, hex. */
export function fingerprint(key: Buffer, value: string): string {
  let k = KEY_OBJECTS.get(key);
  if (k === undefined) {
    k = createSecretKey(key);
    KEY_OBJECTS.set(key, k);
  }
  return createHmac('sha256', k).update(value, 'utf8').digest('hex');
}

/** An HMAC keyed by a KeyObject costs about a quarter less than one keyed by the Buffer itself. */
const KEY_OBJECTS = new WeakMap<Buffer, KeyObject>();

/**
 * `fp`, remembering what it gave for each value, for one reader's lifetime (a step attempt, a
 * run's component reads): a step that reads a secret in a loop would otherwise pay an HMAC per
 * key per read (about 3 µs each, more than the rest of the guard's work on a read). The map is
 * keyed by the exact value, so two values never share an answer and a changed value is
 * fingerprinted anew. The values are the ones this process already holds for the reader; the map
 * lives no longer than the reader, and at most `limit` values are kept (then it starts over), so
 * that a step reading many values grows nothing.
 */
export function memoFingerprint(fp: (value: string) => string, limit = 1024): (value: string) => string {
  let memo = new Map<string, string>();
  return (value) => {
    let f = memo.get(value);
    if (f === undefined) {
      f = fp(value);
      if (memo.size >= limit) memo = new Map();
      memo.set(value, f);
    }
    return f;
  };
}
