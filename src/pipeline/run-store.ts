/**
 * Past runs and their steps, in two tables of the config store (created on first use), so that a
 * step process and the CLI see the same history, and cached outputs can be found again.
 */
import type Database from 'better-sqlite3';
import { NotFoundError, UsageError } from '../secrets/errors.js';
import type { ConfigStore } from '../stack/config-store.js';
import type { StoredArtifact } from './artifacts.js';

export type RunStatus = 'running' | 'completed' | 'failed';
export type StepStatus = 'pending' | 'running' | 'completed' | 'cached' | 'failed' | 'skipped';

export interface RunRecord {
  id: string;
  pipeline: string;
  stack: string;
  orchestrator: string;
  /** The pipeline module (absolute path) and export, so that a step process can load it. */
  module: string | null;
  exportName: string | null;
  status: RunStatus;
  startedAt: string;
  endedAt: string | null;
  error: string | null;
}

export interface StepRecord {
  runId: string;
  stepId: string;
  name: string;
  position: number;
  status: StepStatus;
  cacheKey: string | null;
  cacheEnabled: boolean;
  /** Input name → the artifact it reads. */
  inputs: Record<string, StoredArtifact>;
  params: Record<string, unknown>;
  artifactStore: string | null;
  output: StoredArtifact | null;
  /** For a cached step: the run whose output it reuses. */
  cachedFrom: string | null;
  startedAt: string | null;
  durationMs: number | null;
  error: string | null;
}

interface RunRow {
  id: string; pipeline: string; stack: string; orchestrator: string; module: string | null; export_name: string | null;
  status: RunStatus; started_at: string; ended_at: string | null; error: string | null;
}
interface StepRow {
  run_id: string; step_id: string; name: string; position: number; status: StepStatus; cache_key: string | null;
  cache_enabled: number; inputs: string; params: string; artifact_store: string | null; output_uri: string | null;
  output_hash: string | null; cached_from: string | null; started_at: string | null; duration_ms: number | null; error: string | null;
}

const migrated = new WeakSet<Database.Database>();

export class RunStore {
  readonly #store: ConfigStore;

  constructor(store: ConfigStore) {
    this.#store = store;
    if (!migrated.has(store.db)) {
      store.tx(() =>
        store.db.exec(`
          CREATE TABLE IF NOT EXISTS pipeline_runs (
            id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, stack TEXT NOT NULL, orchestrator TEXT NOT NULL,
            module TEXT, export_name TEXT, status TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, error TEXT);
          CREATE TABLE IF NOT EXISTS pipeline_steps (
            run_id TEXT NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE, step_id TEXT NOT NULL, name TEXT NOT NULL,
            position INTEGER NOT NULL, status TEXT NOT NULL, cache_key TEXT, cache_enabled INTEGER NOT NULL,
            inputs TEXT NOT NULL, params TEXT NOT NULL, artifact_store TEXT, output_uri TEXT, output_hash TEXT,
            cached_from TEXT, started_at TEXT, duration_ms INTEGER, error TEXT, PRIMARY KEY (run_id, step_id));
          CREATE INDEX IF NOT EXISTS pipeline_steps_cache ON pipeline_steps (cache_key, status);
          CREATE INDEX IF NOT EXISTS pipeline_runs_started ON pipeline_runs (started_at);`),
      );
      migrated.add(store.db);
    }
  }

  get #db(): Database.Database {
    return this.#store.db;
  }

  createRun(run: Omit<RunRecord, 'endedAt' | 'error' | 'status'>, steps: Omit<StepRecord, 'runId' | 'status' | 'output' | 'cachedFrom' | 'startedAt' | 'durationMs' | 'error' | 'inputs' | 'cacheKey' | 'artifactStore'>[]): void {
    this.#store.tx(() => {
      this.#db
        .prepare('INSERT INTO pipeline_runs (id, pipeline, stack, orchestrator, module, export_name, status, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(run.id, run.pipeline, run.stack, run.orchestrator, run.module, run.exportName, 'running', run.startedAt);
      const ins = this.#db.prepare(
        "INSERT INTO pipeline_steps (run_id, step_id, name, position, status, cache_enabled, inputs, params) VALUES (?, ?, ?, ?, 'pending', ?, '{}', ?)",
      );
      for (const s of steps) ins.run(run.id, s.stepId, s.name, s.position, s.cacheEnabled ? 1 : 0, JSON.stringify(s.params));
    });
  }

  finishRun(id: string, status: RunStatus, error: string | null): void {
    this.#db.prepare('UPDATE pipeline_runs SET status = ?, ended_at = ?, error = ? WHERE id = ?').run(status, new Date().toISOString(), error, id);
    if (status === 'failed') this.#db.prepare("UPDATE pipeline_steps SET status = 'skipped' WHERE run_id = ? AND status = 'pending'").run(id);
  }

  /** Marks a step as about to run, with its inputs and cache key. */
  startStep(runId: string, stepId: string, s: { inputs: Record<string, StoredArtifact>; cacheKey: string; artifactStore: string }): void {
    this.#db
      .prepare("UPDATE pipeline_steps SET status = 'running', inputs = ?, cache_key = ?, artifact_store = ?, started_at = ? WHERE run_id = ? AND step_id = ?")
      .run(JSON.stringify(s.inputs), s.cacheKey, s.artifactStore, new Date().toISOString(), runId, stepId);
  }

  finishStep(runId: string, stepId: string, r: { status: 'completed' | 'cached' | 'failed'; output?: StoredArtifact | undefined; durationMs: number; error?: string | undefined; cachedFrom?: string | undefined }): void {
    this.#db
      .prepare('UPDATE pipeline_steps SET status = ?, output_uri = ?, output_hash = ?, duration_ms = ?, error = ?, cached_from = ? WHERE run_id = ? AND step_id = ?')
      .run(r.status, r.output?.uri ?? null, r.output?.hash ?? null, Math.round(r.durationMs), r.error ?? null, r.cachedFrom ?? null, runId, stepId);
  }

  setDuration(runId: string, stepId: string, durationMs: number): void {
    this.#db.prepare('UPDATE pipeline_steps SET duration_ms = ? WHERE run_id = ? AND step_id = ?').run(Math.round(durationMs), runId, stepId);
  }

  /** The newest completed output with this cache key in this artifact store. */
  findCached(cacheKey: string, artifactStore: string): { runId: string; output: StoredArtifact }[] {
    const rows = this.#db
      .prepare("SELECT run_id, output_uri, output_hash FROM pipeline_steps WHERE cache_key = ? AND artifact_store = ? AND status IN ('completed', 'cached') AND output_uri IS NOT NULL ORDER BY started_at DESC LIMIT 5")
      .all(cacheKey, artifactStore) as { run_id: string; output_uri: string; output_hash: string }[];
    return rows.map((r) => ({ runId: r.run_id, output: { uri: r.output_uri, hash: r.output_hash } }));
  }

  getRun(idOrPrefix: string): RunRecord {
    const rows = this.#db.prepare('SELECT * FROM pipeline_runs WHERE id = ? OR id LIKE ? LIMIT 2').all(idOrPrefix, `${idOrPrefix.replace(/[%_]/g, '')}%`) as RunRow[];
    const exact = rows.find((r) => r.id === idOrPrefix);
    if (exact) return toRun(exact);
    if (rows.length === 0) throw new NotFoundError(`no pipeline run '${idOrPrefix}'`, 'Run `keystack pipeline runs list` to see the runs.');
    if (rows.length > 1) throw new UsageError(`'${idOrPrefix}' matches more than one run`, 'Give more characters of the run id.');
    return toRun(rows[0] as RunRow);
  }

  listRuns(limit = 20): RunRecord[] {
    return (this.#db.prepare('SELECT * FROM pipeline_runs ORDER BY started_at DESC LIMIT ?').all(limit) as RunRow[]).map(toRun);
  }

  steps(runId: string): StepRecord[] {
    return (this.#db.prepare('SELECT * FROM pipeline_steps WHERE run_id = ? ORDER BY position').all(runId) as StepRow[]).map(toStep);
  }

  step(runId: string, stepId: string): StepRecord {
    const row = this.#db.prepare('SELECT * FROM pipeline_steps WHERE run_id = ? AND step_id = ?').get(runId, stepId) as StepRow | undefined;
    if (!row) throw new NotFoundError(`run ${runId} has no step '${stepId}'`);
    return toStep(row);
  }
}

function toRun(r: RunRow): RunRecord {
  return {
    id: r.id, pipeline: r.pipeline, stack: r.stack, orchestrator: r.orchestrator, module: r.module, exportName: r.export_name,
    status: r.status, startedAt: r.started_at, endedAt: r.ended_at, error: r.error,
  };
}

function toStep(r: StepRow): StepRecord {
  return {
    runId: r.run_id, stepId: r.step_id, name: r.name, position: r.position, status: r.status, cacheKey: r.cache_key,
    cacheEnabled: r.cache_enabled === 1, inputs: JSON.parse(r.inputs) as Record<string, StoredArtifact>,
    params: JSON.parse(r.params) as Record<string, unknown>, artifactStore: r.artifact_store,
    output: r.output_uri && r.output_hash ? { uri: r.output_uri, hash: r.output_hash } : null, cachedFrom: r.cached_from,
    startedAt: r.started_at, durationMs: r.duration_ms, error: r.error,
  };
}
