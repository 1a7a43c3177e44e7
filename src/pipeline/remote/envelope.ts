/**
 * What a remote run's messages mean once their signature has been checked: the client's signed
 * envelope for each step (a worker runs a step only on one) and a worker's signed step result (the
 * client records a step only from one). Everything else in Redis is a hint at most.
 *
 * Signing happens once per step at submit, because workers schedule the later steps themselves:
 * an envelope fixes everything a worker acts on (the stack snapshot by hash, the step, its
 * input URIs, the module, the run and its deadline), and workers forward it unchanged.
 */
import type { AccessRecord } from '../../core/provenance.js';
import type { WrittenVersion } from '../../stack/writers.js';
import { ConfigError } from '../../errors.js';
import {
  canonicalHash,
  signMessage,
  verifyMessage,
  type SignedMessage,
  type SigningKey,
  type TrustedKey,
} from '../../support/signing.js';
import type { StoredArtifact } from '../artifacts.js';
import { isLeakMinLength } from '../leak-guard.js';
import { checkRecords } from './records.js';
import { PAYLOAD_VERSION, type ModuleRef, type StackSnapshot, type StepJobData } from './snapshot.js';

export const JOB_DOMAIN = 'step-job/v1';
export const RESULT_DOMAIN = 'step-result/v1';

export interface JobEnvelope {
  runId: string;
  pipeline: string;
  /** SHA-256 of the snapshot's canonical JSON: the snapshot travels beside the envelope. */
  snapshotHash: string;
  module: ModuleRef;
  step: { id: string; name: string; params: Record<string, unknown> };
  /** Input name → the URI of the producing step's output in this run. */
  inputs: Record<string, string>;
  /** The queue the step belongs on. */
  queue: string;
  /** How many attempts the client allows (each attempt is a nonce of its own). */
  attempts: number;
  /** Epoch milliseconds after which no worker runs the step. */
  deadline: number;
  noCache: boolean;
  /** The run's leak guard minimum (RunOptions.leakMinLength); absent: the default. */
  leakMinLength?: number | undefined;
}

export type RemoteStepStatus = 'queued' | 'running' | 'completed' | 'cached' | 'failed' | 'skipped';

/** A step's state as a worker signs it. */
export interface StepResult {
  runId: string;
  stepId: string;
  status: RemoteStepStatus;
  worker: string;
  attempts?: number | undefined;
  durationMs?: number | undefined;
  output?: StoredArtifact | undefined;
  cachedFrom?: string | undefined;
  cacheKey?: string | undefined;
  inputs?: Record<string, StoredArtifact> | undefined;
  startedAt?: string | undefined;
  /** Masked on the worker before it was signed. */
  error?: string | undefined;
  /** The provenance records of this attempt (no value in them: fingerprints under the provenance key). */
  records?: AccessRecord[] | undefined;
  /**
   * How many records this attempt made; every result of an attempt that ended carries it, so that
   * the client can tell a record lost in Redis from one never made.
   */
  recordCount?: number | undefined;
  /** The versions this attempt wrote (manager UUID, secret, version id), for `secret history`. */
  written?: WrittenVersion[] | undefined;
  /** How the worker ran the step: in a step child (`process`) or in its own process (`none`). */
  isolation?: 'process' | 'none' | undefined;
  /**
   * The output sealed as the store keeps it (base64), when it is small enough to travel beside the
   * store (sealed-outputs.ts): what the steps after it and the client read instead of the store.
   */
  sealedOutput?: string | undefined;
}

/** The longest sealed copy (base64) a result or a job may carry: the 1 MiB limit, sealed. */
export const MAX_SEALED_COPY_CHARS = 1_500_000;

function isSealedCopy(x: unknown): x is string {
  return typeof x === 'string' && x.length <= MAX_SEALED_COPY_CHARS;
}

/** An attempt that ended (or a step that ended): its result carries its records and their count. */
export function endsAttempt(r: Pick<StepResult, 'status' | 'recordCount'>): boolean {
  return r.status === 'completed' || r.status === 'cached' || r.status === 'failed' || r.recordCount !== undefined;
}

const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const STEP_ID = /^[A-Za-z_][A-Za-z0-9_-]{0,80}$/;

/** Where a step's output lives in the store: the only place a remote run writes. */
export function stepOutputUri(runId: string, stepId: string): string {
  return `${runId}/${stepId}.json`;
}

/**
 * True for a URI that names a step output of this run: `RUN/STEP.json`, nothing else. `..`,
 * absolute paths, other buckets and other runs all fail this.
 */
export function isRunUri(runId: string, uri: unknown): uri is string {
  if (typeof uri !== 'string' || !uri.startsWith(`${runId}/`) || !uri.endsWith('.json')) return false;
  return STEP_ID.test(uri.slice(runId.length + 1, -'.json'.length));
}

export function signJob(key: SigningKey, envelope: JobEnvelope): SignedMessage {
  return signMessage(key, JOB_DOMAIN, envelope);
}

export function signResult(key: SigningKey, result: StepResult): SignedMessage {
  return signMessage(key, RESULT_DOMAIN, result);
}

export function snapshotHash(snapshot: StackSnapshot): string {
  return canonicalHash(snapshot);
}

/** Why a job is refused. Its message quotes nothing from the job, which anyone could have written. */
export class JobRefusedError extends ConfigError {}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isStr = (x: unknown): x is string => typeof x === 'string';

/**
 * Checks a job's signed envelope against the client keys this worker trusts, then its shape and
 * its deadline. Throws JobRefusedError; returns the envelope and the signer. The snapshot that
 * travels beside it is checked separately (`checkSnapshot`), once per snapshot a worker sees.
 */
export function openJob(
  signed: unknown,
  trusted: ReadonlyMap<string, TrustedKey>,
  now = Date.now(),
): { envelope: JobEnvelope; signer: TrustedKey } {
  const v = verifyMessage(signed, JOB_DOMAIN, trusted);
  if (!v.ok)
    throw new JobRefusedError(`refused a step job: ${v.reason}`, {
      hint: 'Only jobs signed by a client key this worker trusts run (keystack worker --trust-key FILE).',
    });
  const e = v.payload as Partial<Record<keyof JobEnvelope, unknown>>;
  const m = e.module as Partial<Record<keyof ModuleRef, unknown>> | undefined;
  const s = e.step as Partial<Record<'id' | 'name' | 'params', unknown>> | undefined;
  const ok =
    isObj(e) &&
    isStr(e.runId) &&
    RUN_ID.test(e.runId) &&
    isStr(e.pipeline) &&
    isStr(e.snapshotHash) &&
    isObj(m) &&
    isStr(m.path) &&
    isStr(m.exportName) &&
    isStr(m.sha256) &&
    isObj(s) &&
    isStr(s.id) &&
    STEP_ID.test(s.id) &&
    isStr(s.name) &&
    isObj(s.params) &&
    isObj(e.inputs) &&
    isStr(e.queue) &&
    typeof e.attempts === 'number' &&
    Number.isInteger(e.attempts) &&
    e.attempts >= 1 &&
    typeof e.deadline === 'number' &&
    typeof e.noCache === 'boolean' &&
    (e.leakMinLength === undefined || isLeakMinLength(e.leakMinLength));
  if (!ok)
    throw new JobRefusedError('refused a step job: its signed envelope is not one this keystack version understands', {
      hint: 'Run the same keystack version on the client and the workers.',
    });
  const envelope = e as JobEnvelope;
  for (const uri of Object.values(envelope.inputs)) {
    if (!isRunUri(envelope.runId, uri))
      throw new JobRefusedError('refused a step job: an input URI lies outside the run', {
        hint: 'Inputs must be outputs of the same run.',
      });
  }
  if (now > envelope.deadline)
    throw new JobRefusedError('refused a step job: its run deadline has passed', {
      hint: "Run the pipeline again; a run may be given more time with the orchestrator's run_deadline_seconds.",
    });
  return { envelope, signer: v.key };
}

/** Throws JobRefusedError unless `snapshot` is the one the envelope was signed with. */
export function checkSnapshot(envelope: JobEnvelope, snapshot: unknown): StackSnapshot {
  if (snapshotHash(snapshot as StackSnapshot) !== envelope.snapshotHash) {
    throw new JobRefusedError('refused a step job: its stack snapshot is not the one the client signed', {
      hint: 'Something rewrote the job in Redis; check who can write to it.',
    });
  }
  return snapshot as StackSnapshot;
}

/**
 * Checks a step state taken from Redis against the worker keys this client trusts and against
 * the run and step it is filed under. A refusal gives the reason for the step's failure.
 */
export function openResult(
  signed: unknown,
  runId: string,
  stepId: string,
  trusted: ReadonlyMap<string, TrustedKey>,
): { ok: true; result: StepResult; signer: TrustedKey } | { ok: false; reason: string } {
  const v = verifyMessage(signed, RESULT_DOMAIN, trusted);
  if (!v.ok) return { ok: false, reason: `its result in Redis was refused: ${v.reason}` };
  const r = v.payload as Partial<Record<keyof StepResult, unknown>>;
  if (!isObj(r) || r.runId !== runId || r.stepId !== stepId || !isStr(r.status) || !isStr(r.worker)) {
    return { ok: false, reason: 'its result in Redis was refused: it was signed for another run or step' };
  }
  const output = r.output as Partial<StoredArtifact> | undefined;
  if (output !== undefined && (!isObj(output) || !isRunUri(runId, output.uri) || !isStr(output.hash))) {
    return { ok: false, reason: 'its result in Redis was refused: its output URI lies outside the run' };
  }
  if (endsAttempt(r as StepResult)) {
    const attempt = r.attempts;
    if (typeof attempt !== 'number' || !Number.isInteger(attempt) || attempt < 1)
      return { ok: false, reason: 'its result in Redis was refused as tampered: it names no attempt' };
    const checked = checkRecords(r.records, r.recordCount, { runId, stepId, attempt, worker: r.worker });
    if (!checked.ok) return { ok: false, reason: `its result in Redis was refused as tampered: ${checked.reason}` };
  }
  if (r.sealedOutput !== undefined && (output === undefined || !isSealedCopy(r.sealedOutput)))
    return { ok: false, reason: 'its result in Redis was refused as tampered: its sealed output is malformed' };
  if (r.written !== undefined && !isWrittenList(r.written))
    return {
      ok: false,
      reason: 'its result in Redis was refused as tampered: its list of written versions is malformed',
    };
  return { ok: true, result: r as StepResult, signer: v.key };
}

/**
 * Checks the shape of a payload taken from Redis. Nothing here is trusted yet: the signature of
 * `job` is checked next (envelope.ts), and the message quotes nothing of the payload.
 */
export function parseStepJob(data: unknown): StepJobData {
  const d = (typeof data === 'object' ? data : null) as Partial<Record<keyof StepJobData, unknown>> | null;
  const stack = d?.stack as Partial<StackSnapshot> | null | undefined;
  const ok =
    d !== null &&
    d.v === PAYLOAD_VERSION &&
    typeof d.runId === 'string' &&
    typeof d.stepId === 'string' &&
    typeof d.job === 'object' &&
    d.job !== null &&
    typeof stack === 'object' &&
    stack !== null &&
    typeof stack.name === 'string' &&
    Array.isArray(stack.components);
  if (!ok) {
    throw new JobRefusedError(
      `refused a step job: it is not a keystack step job of payload version ${PAYLOAD_VERSION}`,
      {
        hint: 'Run the same keystack version on the client and the workers; jobs from older versions are not signed and are refused.',
      },
    );
  }
  // The sealed copies of the inputs are not signed: each is checked when it is opened. A malformed
  // set is dropped whole, and the inputs are read from the store.
  const { sealedInputs, ...rest } = data as StepJobData;
  return isSealedInputs(sealedInputs, d.runId as string) ? { ...rest, sealedInputs } : rest;
}

/** At most this many sealed inputs per job: more than a step has inputs is not a worker's doing. */
const MAX_SEALED_INPUTS = 256;

function isSealedInputs(x: unknown, runId: string): x is Record<string, string> {
  if (!isObj(x)) return false;
  const entries = Object.entries(x);
  return (
    entries.length <= MAX_SEALED_INPUTS && entries.every(([uri, copy]) => isRunUri(runId, uri) && isSealedCopy(copy))
  );
}

/** At most this many versions per step result: more is not a step's doing. */
const MAX_WRITTEN = 1000;

/** A list of `{manager, secret, version}` strings and nothing else. */
function isWrittenList(x: unknown): x is WrittenVersion[] {
  if (!Array.isArray(x) || x.length > MAX_WRITTEN) return false;
  return x.every(
    (w) =>
      isObj(w) &&
      Object.keys(w).length === 3 &&
      isStr(w['manager']) &&
      isStr(w['secret']) &&
      isStr(w['version']) &&
      w['manager'].length <= 64 &&
      w['secret'].length <= 512 &&
      w['version'].length <= 256,
  );
}
