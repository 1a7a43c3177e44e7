/** How the pipeline commands show steps and durations. */
import type { RunRecord, StepRecord } from '../../../pipeline/run-store.js';
import type { AccessEntry } from '../../../stack/provenance-store.js';

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
    declared: s.secrets === null ? null : s.secrets === '*' ? ('*' as const) : [...s.secrets],
    allowSecretOutputs: [...s.allowSecretOutputs],
  };
}

/** The steps whose outputs `s` took as inputs (known once it started): the edges of the run's DAG. */
export function upstream(s: StepRecord, steps: readonly StepRecord[]): string[] {
  const uris = new Set(Object.values(s.inputs).map((a) => a.uri));
  return steps.filter((o) => o.output !== null && uris.has(o.output.uri)).map((o) => o.stepId);
}

export function duration(r: RunRecord): string {
  return r.endedAt ? formatDuration(Date.parse(r.endedAt) - Date.parse(r.startedAt)) : '';
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** The columns one access is shown with, after whatever names the reader. */
export const ACCESS_HEADERS = ['SECRET', 'KEYS', 'VERSION', 'OUTCOME', 'WORKER'];

export function accessRows(accesses: readonly AccessEntry[]): string[][] {
  return accesses.map((a) => [
    a.pinned === null ? a.secret : `${a.secret}@${a.pinned}`,
    a.keys.length === 0 ? (a.outcome === 'read' ? '' : '(all)') : a.keys.join(', '),
    a.version ?? '-',
    a.outcome === 'error' && a.errorCode !== null ? `error (${a.errorCode})` : a.outcome,
    a.worker ?? '',
  ]);
}
