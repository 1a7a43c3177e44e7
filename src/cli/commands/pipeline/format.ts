/** How the pipeline commands show steps and durations. */
import type { RunRecord, StepRecord } from '../../../pipeline/run-store.js';

export function stepView(s: StepRecord) {
  return {
    step: s.stepId,
    name: s.name,
    status: s.status,
    durationMs: s.durationMs,
    cacheEnabled: s.cacheEnabled,
    cachedFrom: s.cachedFrom,
    output: s.output?.uri ?? null,
    error: s.error,
    worker: s.worker,
    attempts: s.attempts,
  };
}

export function duration(r: RunRecord): string {
  return r.endedAt ? formatDuration(Date.parse(r.endedAt) - Date.parse(r.startedAt)) : '';
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
