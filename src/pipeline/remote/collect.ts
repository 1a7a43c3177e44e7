/**
 * Collecting a remote step's provenance records on the client: those of its last attempt come
 * inside its final signed result, those of earlier attempts from the signed result each attempt
 * left in the run hash (`attempt:STEP:N`). The final result names its attempt, so an earlier
 * attempt whose result is gone (expired after the run's time to live, or deleted) is reported as
 * lost, never silently missing; a result that fails its checks refuses the step as tampered.
 */
import type { AccessRecord } from '../../core/provenance.js';
import { openResult, type StepResult } from './envelope.js';
import type { TrustedKeys } from './keys.js';
import type { RemoteRunState } from './protocol.js';

export interface CollectedRecords {
  /** Every record of the step's attempts that could be collected, oldest attempt first. */
  records: AccessRecord[];
  /** The attempts whose records were lost in Redis. */
  lostAttempts: number[];
  /** Why the step is refused as tampered, or null. */
  refused: string | null;
}

export function collectStepRecords(
  state: RemoteRunState,
  runId: string,
  stepId: string,
  final: StepResult,
  trusted: TrustedKeys,
): CollectedRecords {
  const last = final.attempts ?? 1;
  const records: AccessRecord[] = [];
  const lostAttempts: number[] = [];
  for (let n = 1; n < last; n++) {
    const raw = state.attempts.get(`${stepId}:${n}`);
    if (raw === undefined) {
      lostAttempts.push(n);
      continue;
    }
    trusted.refreshFor(typeof raw === 'object' && raw !== null ? (raw as { k?: unknown }).k : undefined);
    const opened = openResult(raw, runId, stepId, trusted.keys);
    if (!opened.ok) return { records: [], lostAttempts, refused: `attempt ${n}: ${opened.reason}` };
    if (opened.result.attempts !== n)
      return {
        records: [],
        lostAttempts,
        refused: `attempt ${n}: its result in Redis was refused as tampered: it is the result of another attempt`,
      };
    records.push(...(opened.result.records ?? []));
  }
  records.push(...(final.records ?? []));
  return { records, lostAttempts, refused: null };
}

/** The note a step gets when records of some of its attempts were lost. */
export function lostRecordsNote(lostAttempts: readonly number[]): string {
  const which = lostAttempts.length === 1 ? `attempt ${lostAttempts[0]}` : `attempts ${lostAttempts.join(', ')}`;
  return `provenance records of ${which} lost: the signed result of ${lostAttempts.length === 1 ? 'that attempt' : 'those attempts'} expired (run_ttl_seconds) or was deleted from Redis before this client collected it`;
}
