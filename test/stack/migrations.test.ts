/**
 * The config store owns every table of config.db and migrates older files on open. The version-1
 * schema below is exactly what keystack 0.1 created: ConfigStore's tables at user_version 1,
 * and the pipeline tables that RunStore added on its own on the first pipeline command.
 */
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigStore, SCHEMA_VERSION } from '../../src/stack/config-store.js';
import { RunStore } from '../../src/pipeline/run-store.js';

const V1_CONFIG = `
  CREATE TABLE IF NOT EXISTS components (
    uuid TEXT PRIMARY KEY, type TEXT NOT NULL, flavor TEXT NOT NULL, name TEXT NOT NULL,
    config TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (type, name));
  CREATE TABLE IF NOT EXISTS stacks (
    uuid TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, components TEXT NOT NULL, created_at TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS settings (k TEXT PRIMARY KEY, v TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS plugins (module TEXT PRIMARY KEY, registered_at TEXT NOT NULL);`;

const V1_RUNS = `
  CREATE TABLE IF NOT EXISTS pipeline_runs (
    id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, stack TEXT NOT NULL, orchestrator TEXT NOT NULL,
    module TEXT, export_name TEXT, status TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, error TEXT);
  CREATE TABLE IF NOT EXISTS pipeline_steps (
    run_id TEXT NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE, step_id TEXT NOT NULL, name TEXT NOT NULL,
    position INTEGER NOT NULL, status TEXT NOT NULL, cache_key TEXT, cache_enabled INTEGER NOT NULL,
    inputs TEXT NOT NULL, params TEXT NOT NULL, artifact_store TEXT, output_uri TEXT, output_hash TEXT,
    cached_from TEXT, started_at TEXT, duration_ms INTEGER, error TEXT, PRIMARY KEY (run_id, step_id));
  CREATE INDEX IF NOT EXISTS pipeline_steps_cache ON pipeline_steps (cache_key, status);
  CREATE INDEX IF NOT EXISTS pipeline_runs_started ON pipeline_runs (started_at);`;

/** A version-1 config.db with the default stack, one extra manager and (optionally) one past run. */
function v1Store(withRuns: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'keystack-mig-'));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const db = new Database(join(dir, 'config.db'));
  db.pragma('journal_mode = WAL');
  db.exec(V1_CONFIG);
  const now = '2026-11-30T10:00:00.000Z';
  const add = db.prepare(
    'INSERT INTO components (uuid, type, flavor, name, config, created_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  add.run('u-orch', 'orchestrator', 'local', 'default', '{}', now);
  add.run('u-art', 'artifact_store', 'local', 'default', '{}', now);
  add.run('u-sm', 'secrets_manager', 'local', 'default', '{"scope":"component","scope_prefix":"keystack"}', now);
  add.run(
    'u-sm2',
    'secrets_manager',
    'local',
    'team',
    '{"scope":"namespace","namespace":"ml","scope_prefix":"keystack"}',
    now,
  );
  db.prepare('INSERT INTO stacks (uuid, name, components, created_at) VALUES (?, ?, ?, ?)').run(
    'u-stack',
    'default',
    JSON.stringify({ orchestrator: 'u-orch', artifact_store: 'u-art', secrets_manager: 'u-sm' }),
    now,
  );
  const set = db.prepare('INSERT INTO settings (k, v) VALUES (?, ?)');
  set.run('active_stack', 'default');
  set.run('initialized', now);
  db.pragma('user_version = 1');
  if (withRuns) {
    db.exec(V1_RUNS);
    db.prepare(
      "INSERT INTO pipeline_runs (id, pipeline, stack, orchestrator, module, export_name, status, started_at, ended_at, error) VALUES ('run-old', 'training', 'default', 'default', '/p.ts', 'default', 'completed', ?, ?, NULL)",
    ).run(now, now);
    db.prepare(
      "INSERT INTO pipeline_runs (id, pipeline, stack, orchestrator, module, export_name, status, started_at) VALUES ('run-stale', 'training', 'default', 'default', '/p.ts', 'default', 'running', ?)",
    ).run(now);
    db.prepare(
      "INSERT INTO pipeline_steps (run_id, step_id, name, position, status, cache_key, cache_enabled, inputs, params, artifact_store, output_uri, output_hash) VALUES ('run-old', 'load', 'load', 0, 'completed', 'k1', 1, '{}', '{}', 'u-art', 'run-old/load.json', 'h1')",
    ).run();
  }
  db.close();
  return dir;
}

describe('config store migrations', () => {
  it.each([
    ['with run tables', true],
    ['without run tables (no pipeline ever ran)', false],
  ])('migrates a version-1 config.db %s, keeping its data', (_label, withRuns) => {
    const dir = v1Store(withRuns);
    const store = ConfigStore.open(dir);
    try {
      expect(SCHEMA_VERSION).toBeGreaterThan(1);
      expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(store.listComponents('secrets_manager').map((c) => [c.name, c.config['scope']])).toEqual([
        ['default', 'component'],
        ['team', 'namespace'],
      ]);
      expect(store.activeStackName()).toBe('default');
      expect(store.getStack('default').components.secrets_manager).toBe('u-sm');
      // Version 3: step operators, any number per stack.
      expect(store.getStack('default').stepOperators).toEqual([]);
      const op = store.addComponent({
        type: 'step_operator',
        flavor: 'bullmq',
        name: 'gpu',
        config: { redis_url: '{{redis.url}}', queue: 'gpu' },
      });
      store.addStack('remote', { orchestrator: 'u-orch', artifact_store: 'u-art' }, [op.uuid]);
      expect(store.getStack('remote').stepOperators).toEqual([op.uuid]);
      expect(store.stacksUsing(op.uuid)).toEqual(['remote']);
      const cols = (store.db.prepare('PRAGMA table_info(pipeline_runs)').all() as { name: string }[]).map(
        (c) => c.name,
      );
      expect(cols).toEqual(expect.arrayContaining(['runner_host', 'runner_pid', 'runner_start']));

      const runs = new RunStore(store);
      if (withRuns) {
        expect(runs.getRun('run-old')).toMatchObject({ status: 'completed', pipeline: 'training' });
        expect(runs.findCached('k1', 'u-art')).toEqual([
          { runId: 'run-old', output: { uri: 'run-old/load.json', hash: 'h1' } },
        ]);
        // Left `running` by keystack 0.1, which kept no pid: never shown as still going.
        expect(runs.getRun('run-stale')).toMatchObject({
          status: 'interrupted',
          error: expect.stringContaining('older keystack'),
        });
      }
      // New runs are recorded with their runner.
      runs.createRun(
        {
          id: 'run-new',
          pipeline: 'p',
          stack: 'default',
          orchestrator: 'default',
          module: null,
          exportName: null,
          startedAt: new Date().toISOString(),
        },
        [{ stepId: 's', name: 's', position: 0, params: {}, cacheEnabled: true }],
      );
      const row = store.db.prepare('SELECT runner_pid FROM pipeline_runs WHERE id = ?').get('run-new') as {
        runner_pid: number;
      };
      expect(row.runner_pid).toBe(process.pid);
      expect(runs.getRun('run-new').status).toBe('running');
    } finally {
      store.close();
    }
    // Opening it again changes nothing.
    const again = ConfigStore.open(dir);
    expect(again.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    again.close();
  });

  it('a fresh config.db gets every table, run tables included, from the store itself', () => {
    const store = ConfigStore.open(mkdtempSync(join(tmpdir(), 'keystack-mig-')));
    try {
      const tables = (
        store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
          name: string;
        }[]
      ).map((t) => t.name);
      expect(tables).toEqual([
        'components',
        'pipeline_runs',
        'pipeline_steps',
        'plugins',
        'provenance',
        'provenance_fingerprints',
        'provenance_log',
        'provenance_values',
        'secret_writers',
        'settings',
        'stack_step_operators',
        'stacks',
      ]);
    } finally {
      store.close();
    }
  });

  it('migrates a version-2 config.db (before step operators): its stacks get none, and can take some', () => {
    const dir = v1Store(true);
    const v2 = ConfigStore.open(dir);
    // Back to what keystack wrote at version 2: no step-operator table.
    v2.db.exec('DROP TABLE stack_step_operators');
    v2.db.pragma('user_version = 2');
    v2.close();
    const store = ConfigStore.open(dir);
    try {
      expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(store.listStacks().map((s) => [s.name, s.stepOperators])).toEqual([['default', []]]);
      const op = store.addComponent({ type: 'step_operator', flavor: 'bullmq', name: 'gpu', config: {} });
      store.tx(() => store.setStackStepOperators(store.getStack('default').uuid, [op.uuid]));
      expect(store.getStack('default').stepOperators).toEqual([op.uuid]);
    } finally {
      store.close();
    }
  });

  it('migrates a version-3 config.db (before remote steps): its step history gains worker and attempts', () => {
    const dir = v1Store(true);
    const v3 = ConfigStore.open(dir);
    // Back to what keystack wrote at version 3: pipeline_steps without the two columns.
    v3.db.exec('ALTER TABLE pipeline_steps DROP COLUMN worker; ALTER TABLE pipeline_steps DROP COLUMN attempts');
    v3.db.pragma('user_version = 3');
    v3.close();
    const store = ConfigStore.open(dir);
    try {
      expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      const cols = (store.db.pragma('table_info(pipeline_steps)') as { name: string }[]).map((c) => c.name);
      expect(cols).toEqual(expect.arrayContaining(['worker', 'attempts']));
    } finally {
      store.close();
    }
  });

  it('migrates a version-4 config.db (before provenance): its steps declared nothing, and records can be written', () => {
    const dir = v1Store(true);
    const v4 = ConfigStore.open(dir);
    // Back to what keystack wrote at version 4: no provenance tables, no declarations.
    v4.db.exec(
      'DROP TABLE provenance; DROP TABLE provenance_fingerprints; ALTER TABLE pipeline_steps DROP COLUMN secrets',
    );
    v4.db.pragma('user_version = 4');
    v4.close();
    const store = ConfigStore.open(dir);
    try {
      expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      const runs = new RunStore(store);
      expect(runs.steps('run-old').map((s) => s.secrets)).toEqual([null]);
      runs.recordAccess('run-old', [
        {
          runId: 'run-old',
          pipeline: 'p',
          step: 's',
          component: undefined,
          attempt: 1,
          worker: undefined,
          host: 'h',
          at: new Date().toISOString(),
          manager: { uuid: 'u', name: 'default', flavor: 'local' },
          secret: 'db',
          keys: ['password'],
          version: null,
          pinned: null,
          fingerprints: { password: 'f'.repeat(64) },
          outcome: 'read',
          errorCode: null,
        },
      ]);
      expect(store.db.prepare('SELECT COUNT(*) AS n FROM provenance_fingerprints').get()).toEqual({ n: 1 });
    } finally {
      store.close();
    }
  });

  it('refuses a config.db from a newer keystack instead of downgrading it', () => {
    const dir = v1Store(false);
    const db = new Database(join(dir, 'config.db'));
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => ConfigStore.open(dir)).toThrow(/newer than this keystack understands/);
  });
});
