/**
 * Past runs and their steps, in two tables of the config store (which owns and migrates them),
 * so that a step process and the CLI see the same history, and cached outputs can be found again.
 */
import type { AccessRecord } from '../core/provenance.js';
import type Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { NotFoundError, UsageError } from '../errors.js';
import type { ConfigStore } from '../stack/config-store.js';
import {
  deleteAccessRecords,
  indexAccessLog,
  insertAccessRecords,
  logAccessRecords,
  parseAge,
} from '../stack/provenance-store.js';
import type { SecretsOption } from './access.js';
import type { StoredArtifact } from './artifacts.js';

/** `interrupted`: the process running it ended (killed, crashed) before the run finished. */
export type RunStatus = 'running' | 'completed' | 'failed' | 'interrupted';
export type StepStatus = 'pending' | 'running' | 'completed' | 'cached' | 'failed' | 'skipped' | 'interrupted';

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
  /** Remote steps: the worker that ran it (`host:pid` or its --name); null for local runs. */
  worker: string | null;
  /** Remote steps: how many attempts it took; null for local runs. */
  attempts: number | null;
  /** What the step declared it reads (`secrets:`); null: nothing (or a run from before keystack recorded it). */
  secrets: SecretsOption | null;
  /** What the leak guard lets its output contain (`allowSecretOutputs`); empty: nothing. */
  allowSecretOutputs: string[];
}

interface RunRow {
  id: string;
  pipeline: string;
  stack: string;
  orchestrator: string;
  module: string | null;
  export_name: string | null;
  status: RunStatus;
  started_at: string;
  ended_at: string | null;
  error: string | null;
  runner_host: string | null;
  runner_pid: number | null;
  runner_start: string | null;
}
interface StepRow {
  run_id: string;
  step_id: string;
  name: string;
  position: number;
  status: StepStatus;
  cache_key: string | null;
  cache_enabled: number;
  inputs: string;
  params: string;
  artifact_store: string | null;
  output_uri: string | null;
  output_hash: string | null;
  cached_from: string | null;
  started_at: string | null;
  duration_ms: number | null;
  error: string | null;
  worker: string | null;
  attempts: number | null;
  secrets: string | null;
  allow_secret_outputs: string | null;
}

/**
 * Recorded as the runner host of a run that workers run (bullmq): no process on this machine
 * owns it, so it is never taken for interrupted when the client that started it exits.
 */
export const REMOTE_RUNNER = 'remote:';

/** How much run history is kept: the newest `keep` runs, none older than `maxAge` (`90d`, `12h`, …). */
export interface Retention {
  keep: number;
  maxAge: string;
}

/** Kept unless the store says otherwise (`keystack pipeline runs prune --save`). */
export const DEFAULT_RETENTION: Retention = { keep: 1000, maxAge: '90d' };

/** The config store settings that hold the retention. */
const RETENTION_SETTINGS = { keep: 'runs.keep', maxAge: 'runs.max_age' } as const;

export interface PruneResult {
  /** The runs deleted (or, with dryRun, that would be), oldest first. */
  runs: { id: string; pipeline: string; status: RunStatus; startedAt: string }[];
  /** Their access records, deleted with them. */
  records: number;
  dryRun: boolean;
  retention: Retention;
}

export class RunStore {
  readonly #store: ConfigStore;

  constructor(store: ConfigStore) {
    this.#store = store;
  }

  get #db(): Database.Database {
    return this.#store.db;
  }

  #finish: Database.Statement | undefined;

  /** Prepared once: every step of every run ends with it, and preparing costs about what it does. */
  get #finishStatement(): Database.Statement {
    this.#finish ??= this.#db.prepare(
      'UPDATE pipeline_steps SET status = ?, output_uri = ?, output_hash = ?, duration_ms = ?, error = ?, cached_from = ? WHERE run_id = ? AND step_id = ?',
    );
    return this.#finish;
  }

  createRun(
    run: Omit<RunRecord, 'endedAt' | 'error' | 'status'>,
    steps: (Omit<
      StepRecord,
      | 'runId'
      | 'status'
      | 'output'
      | 'cachedFrom'
      | 'startedAt'
      | 'durationMs'
      | 'error'
      | 'inputs'
      | 'cacheKey'
      | 'artifactStore'
      | 'worker'
      | 'attempts'
      | 'secrets'
      | 'allowSecretOutputs'
    > & { secrets?: SecretsOption | null | undefined; allowSecretOutputs?: readonly string[] | undefined })[],
    options: {
      remote?: string | undefined;
      /** Apply the retention to older runs (cheap: at most one indexed delete). @default true */
      prune?: boolean | undefined;
    } = {},
  ): void {
    this.#store.tx(() => {
      this.#db
        .prepare(
          'INSERT INTO pipeline_runs (id, pipeline, stack, orchestrator, module, export_name, status, started_at, runner_host, runner_pid, runner_start) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          run.id,
          run.pipeline,
          run.stack,
          run.orchestrator,
          run.module,
          run.exportName,
          'running',
          run.startedAt,
          options.remote === undefined ? hostname() : `${REMOTE_RUNNER}${options.remote}`,
          process.pid,
          processStart(process.pid),
        );
      const ins = this.#db.prepare(
        "INSERT INTO pipeline_steps (run_id, step_id, name, position, status, cache_enabled, inputs, params, secrets, allow_secret_outputs) VALUES (?, ?, ?, ?, 'pending', ?, '{}', ?, ?, ?)",
      );
      for (const s of steps)
        ins.run(
          run.id,
          s.stepId,
          s.name,
          s.position,
          s.cacheEnabled ? 1 : 0,
          JSON.stringify(s.params),
          s.secrets === undefined || s.secrets === null ? null : JSON.stringify(s.secrets),
          s.allowSecretOutputs && s.allowSecretOutputs.length > 0 ? JSON.stringify(s.allowSecretOutputs) : null,
        );
    });
    if (options.prune !== false) this.#autoPrune();
  }

  finishRun(id: string, status: RunStatus, error: string | null): void {
    this.#store.tx(() => {
      this.#db
        .prepare('UPDATE pipeline_runs SET status = ?, ended_at = ?, error = ? WHERE id = ?')
        .run(status, new Date().toISOString(), error, id);
      if (status === 'failed')
        this.#db
          .prepare("UPDATE pipeline_steps SET status = 'skipped' WHERE run_id = ? AND status = 'pending'")
          .run(id);
    });
  }

  /** The retention in force: the store's settings, else DEFAULT_RETENTION. */
  retention(): Retention {
    const keep = this.#store.setting(RETENTION_SETTINGS.keep);
    const maxAge = this.#store.setting(RETENTION_SETTINGS.maxAge);
    return {
      keep: keep === undefined ? DEFAULT_RETENTION.keep : Number(keep),
      maxAge: maxAge ?? DEFAULT_RETENTION.maxAge,
    };
  }

  /** Keeps `r` as the retention applied at every run start. */
  setRetention(r: Partial<Retention>): Retention {
    const next = checkRetention({ ...this.retention(), ...r });
    this.#store.tx(() => {
      this.#store.setSetting(RETENTION_SETTINGS.keep, String(next.keep));
      this.#store.setSetting(RETENTION_SETTINGS.maxAge, next.maxAge);
    });
    return next;
  }

  /**
   * Deletes the runs beyond the newest `keep` or older than `maxAge` (default: the retention in
   * force), with their steps and access records. Runs still marked running are left alone: a
   * remote one may still be going.
   */
  prune(options: Partial<Retention> & { dryRun?: boolean; now?: number } = {}): PruneResult {
    const retention = checkRetention({
      ...this.retention(),
      ...(options.keep === undefined ? {} : { keep: options.keep }),
      ...(options.maxAge === undefined ? {} : { maxAge: options.maxAge }),
    });
    const cutoff = new Date((options.now ?? Date.now()) - (parseAge(retention.maxAge) as number)).toISOString();
    const dryRun = options.dryRun === true;
    return this.#store.tx(() => {
      // Records still in the access log are counted and deleted like the others.
      indexAccessLog(this.#db);
      const runs = (
        this.#db
          .prepare(
            `SELECT id, pipeline, status, started_at FROM pipeline_runs WHERE status <> 'running'
             AND (started_at < ? OR id IN (SELECT id FROM pipeline_runs ORDER BY started_at DESC LIMIT -1 OFFSET ?))
             ORDER BY started_at`,
          )
          .all(cutoff, retention.keep) as { id: string; pipeline: string; status: RunStatus; started_at: string }[]
      ).map((r) => ({ id: r.id, pipeline: r.pipeline, status: r.status, startedAt: r.started_at }));
      const count = this.#db.prepare('SELECT COUNT(*) AS n FROM provenance WHERE run_id = ?');
      let records = 0;
      for (const r of runs) records += (count.get(r.id) as { n: number }).n;
      if (!dryRun) {
        const ids = runs.map((r) => r.id);
        deleteAccessRecords(this.#db, ids);
        const steps = this.#db.prepare('DELETE FROM pipeline_steps WHERE run_id = ?');
        const run = this.#db.prepare('DELETE FROM pipeline_runs WHERE id = ?');
        for (const id of ids) {
          steps.run(id);
          run.run(id);
        }
      }
      return { runs, records, dryRun, retention };
    });
  }

  /**
   * The retention applied at run start. Two index probes decide whether anything is due, so a
   * history within bounds costs no write; a failure here must not fail the run that is starting
   * (the next start, or `prune`, does it).
   */
  #autoPrune(): void {
    try {
      const r = this.retention();
      const age = parseAge(r.maxAge);
      if (age === undefined || !Number.isInteger(r.keep) || r.keep < 1) return;
      const cutoff = new Date(Date.now() - age).toISOString();
      const old = this.#db.prepare('SELECT 1 FROM pipeline_runs WHERE started_at < ? LIMIT 1').get(cutoff);
      const many = this.#db
        .prepare('SELECT 1 FROM pipeline_runs ORDER BY started_at DESC LIMIT 1 OFFSET ?')
        .get(r.keep);
      if (old !== undefined || many !== undefined) this.prune();
    } catch {
      // Left for the next run start or an explicit prune.
    }
  }

  /** Marks a step as about to run, with its inputs and cache key. */
  startStep(
    runId: string,
    stepId: string,
    s: { inputs: Record<string, StoredArtifact>; cacheKey: string; artifactStore: string },
  ): void {
    this.#store.tx(() =>
      this.#db
        .prepare(
          "UPDATE pipeline_steps SET status = 'running', inputs = ?, cache_key = ?, artifact_store = ?, started_at = ? WHERE run_id = ? AND step_id = ?",
        )
        .run(JSON.stringify(s.inputs), s.cacheKey, s.artifactStore, new Date().toISOString(), runId, stepId),
    );
  }

  finishStep(
    runId: string,
    stepId: string,
    r: {
      status: 'completed' | 'cached' | 'failed';
      output?: StoredArtifact | undefined;
      durationMs: number;
      error?: string | undefined;
      cachedFrom?: string | undefined;
      /** The step attempt's secret accesses, stored in the same transaction as its status. */
      records?: readonly AccessRecord[] | undefined;
      /** The leak guard found a value in the step's parameters: they are dropped from the history. */
      dropParams?: boolean | undefined;
    },
  ): void {
    this.#store.tx(() => {
      if (r.dropParams === true)
        this.#db.prepare("UPDATE pipeline_steps SET params = '{}' WHERE run_id = ? AND step_id = ?").run(runId, stepId);
      this.#finishStatement.run(
        r.status,
        r.output?.uri ?? null,
        r.output?.hash ?? null,
        Math.round(r.durationMs),
        r.error ?? null,
        r.cachedFrom ?? null,
        runId,
        stepId,
      );
      logAccessRecords(this.#db, runId, stepId, r.records ?? []);
    });
  }

  /** Accesses made for a run outside a step (component references, the orchestrator). */
  recordAccess(runId: string, records: readonly AccessRecord[]): void {
    const stray = records.find((r) => r.runId !== runId);
    if (stray) throw new UsageError(`an access record of run ${stray.runId} was given for run ${runId}`);
    if (records.length === 0) return;
    this.#store.tx(() => insertAccessRecords(this.#db, records));
  }

  /** What a remote worker reported for a step (the state kept in Redis), copied into the history. */
  recordRemoteStep(
    runId: string,
    stepId: string,
    r: {
      status: StepStatus;
      worker: string | null;
      attempts: number | null;
      durationMs: number | null;
      error: string | null;
      output: StoredArtifact | null;
      cachedFrom: string | null;
      cacheKey: string | null;
      inputs: Record<string, StoredArtifact>;
      startedAt: string | null;
      /** As in finishStep. */
      dropParams?: boolean | undefined;
    },
  ): void {
    this.#store.tx(() => {
      if (r.dropParams === true)
        this.#db.prepare("UPDATE pipeline_steps SET params = '{}' WHERE run_id = ? AND step_id = ?").run(runId, stepId);
      this.#db
        .prepare(`UPDATE pipeline_steps SET status = ?, worker = ?, attempts = ?, duration_ms = ?, error = ?, output_uri = ?, output_hash = ?,
          cached_from = ?, cache_key = COALESCE(?, cache_key), inputs = ?, started_at = COALESCE(?, started_at) WHERE run_id = ? AND step_id = ?`)
        .run(
          r.status,
          r.worker,
          r.attempts,
          r.durationMs === null ? null : Math.round(r.durationMs),
          r.error,
          r.output?.uri ?? null,
          r.output?.hash ?? null,
          r.cachedFrom,
          r.cacheKey,
          JSON.stringify(r.inputs),
          r.startedAt,
          runId,
          stepId,
        );
    });
  }

  setDuration(runId: string, stepId: string, durationMs: number): void {
    this.#store.tx(() =>
      this.#db
        .prepare('UPDATE pipeline_steps SET duration_ms = ? WHERE run_id = ? AND step_id = ?')
        .run(Math.round(durationMs), runId, stepId),
    );
  }

  /** The newest completed output with this cache key in this artifact store. */
  findCached(cacheKey: string, artifactStore: string): { runId: string; output: StoredArtifact }[] {
    const rows = this.#db
      .prepare(
        "SELECT run_id, output_uri, output_hash FROM pipeline_steps WHERE cache_key = ? AND artifact_store = ? AND status IN ('completed', 'cached') AND output_uri IS NOT NULL ORDER BY started_at DESC LIMIT 5",
      )
      .all(cacheKey, artifactStore) as { run_id: string; output_uri: string; output_hash: string }[];
    return rows.map((r) => ({ runId: r.run_id, output: { uri: r.output_uri, hash: r.output_hash } }));
  }

  getRun(idOrPrefix: string): RunRecord {
    const rows = this.#db
      .prepare('SELECT * FROM pipeline_runs WHERE id = ? OR id LIKE ? LIMIT 2')
      .all(idOrPrefix, `${idOrPrefix.replace(/[%_]/g, '')}%`) as RunRow[];
    const exact = rows.find((r) => r.id === idOrPrefix);
    if (exact) return this.#live(exact);
    if (rows.length === 0)
      throw new NotFoundError(`no pipeline run '${idOrPrefix}'`, 'Run `keystack pipeline runs list` to see the runs.');
    if (rows.length > 1)
      throw new UsageError(`'${idOrPrefix}' matches more than one run`, 'Give more characters of the run id.');
    return this.#live(rows[0] as RunRow);
  }

  listRuns(limit = 20): RunRecord[] {
    return (
      this.#db.prepare('SELECT * FROM pipeline_runs ORDER BY started_at DESC LIMIT ?').all(limit) as RunRow[]
    ).map((r) => this.#live(r));
  }

  /**
   * A `running` run whose process is gone (killed, crashed, the machine rebooted) will never
   * finish: it is marked `interrupted`, with its unfinished steps, instead of being shown as
   * still going. Runs started on another host cannot be checked from here and are left alone.
   */
  #live(row: RunRow): RunRecord {
    if (row.status !== 'running' || !runnerGone(row)) return toRun(row);
    const endedAt = new Date().toISOString();
    const error =
      row.runner_pid === null
        ? 'it was left running by an older keystack, which did not record its process'
        : `the process that ran it (pid ${row.runner_pid}) ended before the run finished`;
    try {
      this.#store.tx(() => {
        const changed = this.#db
          .prepare(
            "UPDATE pipeline_runs SET status = 'interrupted', ended_at = ?, error = ? WHERE id = ? AND status = 'running'",
          )
          .run(endedAt, error, row.id).changes;
        if (changed === 1) {
          this.#db
            .prepare("UPDATE pipeline_steps SET status = 'interrupted' WHERE run_id = ? AND status = 'running'")
            .run(row.id);
          this.#db
            .prepare("UPDATE pipeline_steps SET status = 'skipped' WHERE run_id = ? AND status = 'pending'")
            .run(row.id);
        }
      });
    } catch (e) {
      // A store that cannot be written (read-only) still shows the truth; it is not recorded.
      if (!isReadOnly(e)) throw e;
    }
    return { ...toRun(row), status: 'interrupted', endedAt, error };
  }

  /** For a run that workers run: what it was started with (`createRun`'s `remote`); else null. */
  remoteOf(runId: string): string | null {
    const row = this.#db.prepare('SELECT runner_host FROM pipeline_runs WHERE id = ?').get(runId) as
      | { runner_host: string | null }
      | undefined;
    return row?.runner_host?.startsWith(REMOTE_RUNNER) ? row.runner_host.slice(REMOTE_RUNNER.length) : null;
  }

  steps(runId: string): StepRecord[] {
    const steps = (
      this.#db.prepare('SELECT * FROM pipeline_steps WHERE run_id = ? ORDER BY position').all(runId) as StepRow[]
    ).map(toStep);
    // Consistent with #live when the store could not record it.
    const run = this.#db.prepare('SELECT * FROM pipeline_runs WHERE id = ?').get(runId) as RunRow | undefined;
    if (run?.status !== 'running' || !runnerGone(run)) return steps;
    return steps.map((st) =>
      st.status === 'running'
        ? { ...st, status: 'interrupted' }
        : st.status === 'pending'
          ? { ...st, status: 'skipped' }
          : st,
    );
  }

  step(runId: string, stepId: string): StepRecord {
    const row = this.#db.prepare('SELECT * FROM pipeline_steps WHERE run_id = ? AND step_id = ?').get(runId, stepId) as
      | StepRow
      | undefined;
    if (!row) throw new NotFoundError(`run ${runId} has no step '${stepId}'`);
    return toStep(row);
  }
}

/**
 * When a process started, as the kernel counts it (clock ticks since boot, with the boot id), so
 * that a pid reused by another process is not mistaken for the runner. Null where /proc is not.
 */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return `${boot}:${fields[19] ?? ''}`;
  } catch {
    return null;
  }
}

/** Whether the process recorded as running this run is certainly gone. */
function runnerGone(r: RunRow): boolean {
  // Workers run it; its live state is in Redis (see pipeline/remote), not in a process here.
  if (r.runner_host?.startsWith(REMOTE_RUNNER)) return false;
  // Recorded by keystack 0.1, which did not keep the pid: that process is an older keystack's,
  // from before this store was migrated, and a run it left `running` is not going any more.
  if (r.runner_pid === null) return true;
  if (r.runner_host !== hostname()) return false;
  if (r.runner_pid === process.pid && r.runner_start === processStart(process.pid)) return false;
  try {
    process.kill(r.runner_pid, 0);
  } catch (e) {
    // EPERM: it exists, as another user's process.
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return true;
  }
  return r.runner_start !== null && processStart(r.runner_pid) !== r.runner_start;
}

function checkRetention(r: Retention): Retention {
  if (!Number.isInteger(r.keep) || r.keep < 0)
    throw new UsageError(
      `the number of runs to keep must be a whole number, not '${String(r.keep)}'`,
      'Give it as e.g. --keep 1000.',
    );
  if (parseAge(r.maxAge) === undefined)
    throw new UsageError(
      `'${r.maxAge}' is not an age`,
      'Give it as a number and a unit: 30m, 12h, 90d or 2w (e.g. --older-than 90d).',
    );
  return r;
}

function isReadOnly(e: unknown): boolean {
  const cause = e instanceof Error && e.cause !== undefined ? e.cause : e;
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_READONLY');
}

function toRun(r: RunRow): RunRecord {
  return {
    id: r.id,
    pipeline: r.pipeline,
    stack: r.stack,
    orchestrator: r.orchestrator,
    module: r.module,
    exportName: r.export_name,
    status: r.status,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    error: r.error,
  };
}

function toStep(r: StepRow): StepRecord {
  return {
    runId: r.run_id,
    stepId: r.step_id,
    name: r.name,
    position: r.position,
    status: r.status,
    cacheKey: r.cache_key,
    cacheEnabled: r.cache_enabled === 1,
    inputs: JSON.parse(r.inputs) as Record<string, StoredArtifact>,
    params: JSON.parse(r.params) as Record<string, unknown>,
    artifactStore: r.artifact_store,
    output: r.output_uri && r.output_hash ? { uri: r.output_uri, hash: r.output_hash } : null,
    cachedFrom: r.cached_from,
    startedAt: r.started_at,
    durationMs: r.duration_ms,
    error: r.error,
    worker: r.worker,
    attempts: r.attempts,
    secrets: r.secrets === null ? null : (JSON.parse(r.secrets) as SecretsOption),
    allowSecretOutputs: r.allow_secret_outputs === null ? [] : (JSON.parse(r.allow_secret_outputs) as string[]),
  };
}
