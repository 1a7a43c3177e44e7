/**
 * Provenance in the config store: records land with their step's status or not at all, and the
 * questions asked after a leak (used-by a name, key, version or time; used-by a value; audit)
 * find the right runs without any value or encoding of one reaching the answer or the store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CollectingSink, fingerprint, type AccessRecord } from '../../src/core/provenance.js';
import { parseDeclaration, SecretGuard } from '../../src/pipeline/access.js';
import { RunStore, type RunRecord } from '../../src/pipeline/run-store.js';
import { Keystack } from '../../src/stack/client.js';
import { loadProvenanceKey } from '../../src/stack/provenance-key.js';
import { sinceTime } from '../../src/stack/provenance-store.js';
import { SCHEMA_VERSION } from '../../src/stack/config-store.js';

const open: Keystack[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((k) => k.close()));
});

function client(): Keystack {
  const ks = new Keystack({ configDir: join(mkdtempSync(join(tmpdir(), 'ks-prov-')), 'cfg'), env: {} });
  open.push(ks);
  return ks;
}

function newRun(runs: RunStore, pipeline = 'train', startedAt = new Date().toISOString(), steps = ['load', 'fit']) {
  const run: RunRecord = {
    id: randomUUID(),
    pipeline,
    stack: 'default',
    orchestrator: 'default',
    module: null,
    exportName: null,
    status: 'running',
    startedAt,
    endedAt: null,
    error: null,
  };
  runs.createRun(
    run,
    steps.map((stepId, position) => ({
      stepId,
      name: stepId,
      position,
      params: {},
      cacheEnabled: false,
      secrets: position === 0 ? ['db.password'] : '*',
    })),
  );
  return run;
}

/** A guard for one step of a run, reading the default manager, collecting its records. */
async function guard(ks: Keystack, run: RunRecord, step: string, declared: unknown, version = '1') {
  const m = await ks.secretsManager();
  const key = loadProvenanceKey(ks.configDir, ks.env);
  const sink = new CollectingSink();
  const g = new SecretGuard({
    reader: {
      runId: run.id,
      pipeline: run.pipeline,
      step,
      component: undefined,
      attempt: 1,
      worker: undefined,
      host: 'h1',
    },
    declaration: parseDeclaration(step, declared),
    manager: { uuid: m.uuid, name: m.name, flavor: m.flavor.name },
    read: async (name) => ((await m.has(name)) ? { secret: await m.get(name), version } : null),
    fingerprint: (v) => fingerprint(key, v),
    sink,
    where: m.where,
  });
  return { g, sink };
}

function record(run: RunRecord, over: Partial<AccessRecord> = {}): AccessRecord {
  return {
    runId: run.id,
    pipeline: run.pipeline,
    step: 'load',
    component: undefined,
    attempt: 1,
    worker: undefined,
    host: 'h1',
    at: new Date().toISOString(),
    manager: { uuid: 'u', name: 'default', flavor: 'local' },
    secret: 'db',
    keys: ['password'],
    version: '1',
    pinned: null,
    fingerprints: {},
    outcome: 'read',
    errorCode: null,
    ...over,
  };
}

describe('access records in the run history', () => {
  it('are written in the same transaction as the step status: a bad record rolls the status back', async () => {
    const ks = client();
    const runs = new RunStore(ks.store);
    const run = newRun(runs);
    runs.startStep(run.id, 'load', { inputs: {}, cacheKey: 'k', artifactStore: 'a' });
    const bad = { ...record(run), outcome: 'stolen' } as unknown as AccessRecord;
    expect(() =>
      runs.finishStep(run.id, 'load', { status: 'completed', durationMs: 1, records: [record(run), bad] }),
    ).toThrow(/outcome 'stolen'/);
    expect(runs.step(run.id, 'load').status).toBe('running');
    expect(await ks.provenance.run(run.id)).toEqual([]);

    runs.finishStep(run.id, 'load', { status: 'completed', durationMs: 1, records: [record(run)] });
    expect(runs.step(run.id, 'load').status).toBe('completed');
    expect((await ks.provenance.run(run.id)).map((a) => [a.step, a.secret, a.keys])).toEqual([
      ['load', 'db', ['password']],
    ]);
  });

  it('keeps each step declaration with the step, and reads outside a step with recordAccess', async () => {
    const ks = client();
    const runs = new RunStore(ks.store);
    const run = newRun(runs);
    expect(runs.steps(run.id).map((s) => s.secrets)).toEqual([['db.password'], '*']);
    runs.recordAccess(run.id, [record(run, { step: undefined, component: 'orchestrator:default' })]);
    expect((await ks.provenance.run(run.id)).map((a) => [a.step, a.component])).toEqual([
      [null, 'orchestrator:default'],
    ]);
    const other = newRun(runs);
    expect(() => runs.recordAccess(run.id, [record(other)])).toThrow(/run/);
  });
});

describe('ks.provenance queries', () => {
  it('usedBy: by name, key, version, time and manager, newest first, denials included', async () => {
    const ks = client();
    const m = await ks.secretsManager();
    await m.register('db', { user: 'svc', password: 'pw-first-0001' });
    await m.register('api', { token: 'tok-0002' });
    const runs = new RunStore(ks.store);

    const r1 = newRun(runs, 'train');
    const a = await guard(ks, r1, 'load', ['db.password'], '1');
    expect(Object.keys((await a.g.get('db')).values)).toEqual(['password']);
    await expect(a.g.get('api')).rejects.toMatchObject({ code: 'denied' });
    runs.finishStep(r1.id, 'load', { status: 'failed', durationMs: 1, records: a.sink.drain() });

    await new Promise((r) => setTimeout(r, 5));
    const cut = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    await m.update('db', { user: 'svc', password: 'pw-second-0003' });
    const r2 = newRun(runs, 'eval');
    const b = await guard(ks, r2, 'load', ['db'], '2');
    await b.g.get('db');
    runs.finishStep(r2.id, 'load', { status: 'completed', durationMs: 1, records: b.sink.drain() });

    const all = await ks.provenance.usedBy({ secret: 'db' });
    expect(all.map((x) => [x.pipeline, x.version, x.keys, x.outcome])).toEqual([
      ['eval', '2', ['user', 'password'], 'read'],
      ['train', '1', ['password'], 'read'],
    ]);
    expect((await ks.provenance.usedBy({ secret: 'db', key: 'user' })).map((x) => x.pipeline)).toEqual(['eval']);
    expect((await ks.provenance.usedBy({ secret: 'db', version: '1' })).map((x) => x.runId)).toEqual([r1.id]);
    expect((await ks.provenance.usedBy({ secret: 'db', since: cut })).map((x) => x.runId)).toEqual([r2.id]);
    expect(await ks.provenance.usedBy({ secret: 'db', manager: 'someone-else' })).toEqual([]);
    expect((await ks.provenance.usedBy({ secret: 'db', manager: m.uuid })).length).toBe(2);
    const denied = await ks.provenance.usedBy({ secret: 'api' });
    expect(denied.map((x) => [x.runId, x.step, x.outcome])).toEqual([[r1.id, 'load', 'denied']]);
    // A denial of the whole secret answers a question about any of its keys.
    expect((await ks.provenance.usedBy({ secret: 'api', key: 'token' })).length).toBe(1);
    expect(JSON.stringify(all)).not.toMatch(/pw-first|pw-second|fingerprint/);
  });

  it('usedByValue: the secrets that hold a leaked value now and every run that read it, and never the value', async () => {
    const ks = client();
    const leaked = 'leaked-Value-ZZ-9913';
    const m = await ks.secretsManager();
    await m.register('db', { user: 'svc', password: leaked });
    await m.register('copy', { backup: leaked, other: 'x-0004' });
    await m.register('unrelated', { token: 'tok-0005' });
    const runs = new RunStore(ks.store);
    const r1 = newRun(runs);
    const a = await guard(ks, r1, 'load', ['db', 'unrelated']);
    await a.g.get('db');
    await a.g.get('unrelated');
    runs.finishStep(r1.id, 'load', { status: 'completed', durationMs: 1, records: a.sink.drain() });
    // Rotated afterwards: the run still read the leaked value, though db no longer holds it.
    await m.update('db', { user: 'svc', password: 'rotated-0006' });

    const found = await ks.provenance.usedByValue(leaked);
    expect(found.current).toEqual([{ secret: 'copy', key: 'backup' }]);
    expect(found.reads.map((r) => [r.runId, r.step, r.secret, r.key])).toEqual([[r1.id, 'load', 'db', 'password']]);
    expect(found.manager.name).toBe('default');
    const none = await ks.provenance.usedByValue('never-stored-0007');
    expect([none.current, none.reads]).toEqual([[], []]);

    const key = loadProvenanceKey(ks.configDir, ks.env);
    const encodings = [
      leaked,
      Buffer.from(leaked).toString('base64'),
      Buffer.from(leaked).toString('hex'),
      Buffer.from(leaked).toString('base64url'),
    ];
    const answer = JSON.stringify(found);
    for (const enc of [...encodings, fingerprint(key, leaked)]) expect(answer).not.toContain(enc);
    ks.store.db.pragma('wal_checkpoint(TRUNCATE)');
    const dir = ks.configDir;
    for (const f of readdirSync(dir).filter((n) => n.startsWith('config.db'))) {
      const bytes = readFileSync(join(dir, f));
      for (const enc of encodings) expect(bytes.includes(Buffer.from(enc)), `${enc} in ${f}`).toBe(false);
    }
  });

  it('audit: denials, misses and errors across runs, or only denials', async () => {
    const ks = client();
    const runs = new RunStore(ks.store);
    const run = newRun(runs);
    runs.finishStep(run.id, 'load', {
      status: 'failed',
      durationMs: 1,
      records: [
        record(run, { outcome: 'read' }),
        record(run, { secret: 'x', outcome: 'denied', keys: [] }),
        record(run, { secret: 'y', outcome: 'not_found', keys: [] }),
        record(run, { secret: 'z', outcome: 'error', errorCode: 'backend', keys: [] }),
      ],
    });
    expect((await ks.provenance.audit()).map((a) => a.secret).sort()).toEqual(['x', 'y', 'z']);
    expect((await ks.provenance.audit({ denied: true })).map((a) => a.secret)).toEqual(['x']);
    expect(await ks.provenance.audit({ since: '2999-01-01' })).toEqual([]);
    expect((await ks.provenance.audit({ limit: 1 })).length).toBe(1);
  });

  it('since takes an ISO date or an age, and refuses anything else', () => {
    const now = Date.parse('2026-05-10T00:00:00Z');
    expect(sinceTime('7d', now)).toBe('2026-05-03T00:00:00.000Z');
    expect(sinceTime('2026-05-01', now)).toBe('2026-05-01T00:00:00.000Z');
    expect(() => sinceTime('last week', now)).toThrow(/not a date or an age/);
  });
});

describe('run retention', () => {
  const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString();

  function finished(runs: RunStore, startedAt: string) {
    const run = newRun(runs, 'p', startedAt, ['load']);
    runs.finishStep(run.id, 'load', { status: 'completed', durationMs: 1, records: [record(run, { at: startedAt })] });
    runs.finishRun(run.id, 'completed', null);
    return run;
  }

  it('prune deletes runs by count and by age, with their steps and records; dry run deletes nothing', async () => {
    const ks = client();
    const runs = new RunStore(ks.store);
    expect(runs.retention()).toEqual({ keep: 1000, maxAge: '90d' });
    const old = finished(runs, daysAgo(40));
    const mid = finished(runs, daysAgo(20));
    const recent = [finished(runs, daysAgo(3)), finished(runs, daysAgo(2)), finished(runs, daysAgo(1))];
    const live = newRun(runs, 'p', daysAgo(50), ['load']);

    const dry = runs.prune({ maxAge: '30d', dryRun: true });
    expect(dry.runs.map((r) => r.id)).toEqual([old.id]);
    expect(dry.records).toBe(1);
    expect(runs.listRuns(100).length).toBe(6);

    const byAge = runs.prune({ maxAge: '30d' });
    expect(byAge.runs.map((r) => r.id)).toEqual([old.id]);
    expect(() => runs.getRun(old.id)).toThrow(/no pipeline run/);
    expect(await ks.provenance.run(old.id)).toEqual([]);
    expect(ks.store.db.prepare('SELECT COUNT(*) AS n FROM pipeline_steps WHERE run_id = ?').get(old.id)).toEqual({
      n: 0,
    });

    const byCount = runs.prune({ keep: 3 });
    expect(byCount.runs.map((r) => r.id)).toEqual([mid.id]);
    expect((await ks.provenance.usedBy({ secret: 'db' })).map((a) => a.runId).sort()).toEqual(
      recent.map((r) => r.id).sort(),
    );
    // A run still marked running is kept, whatever its age.
    expect(runs.getRun(live.id).id).toBe(live.id);
    expect(() => runs.prune({ maxAge: 'soon' })).toThrow(/not an age/);
  });

  it('is applied at run start, with the retention saved in the store', async () => {
    const ks = client();
    const runs = new RunStore(ks.store);
    const first = finished(runs, daysAgo(10));
    finished(runs, daysAgo(9));
    expect(runs.listRuns(100).length).toBe(2);
    expect(runs.setRetention({ maxAge: '7d' })).toEqual({ keep: 1000, maxAge: '7d' });
    // Another client of the same store sees the setting.
    expect(new RunStore(ks.store).retention().maxAge).toBe('7d');
    const fresh = finished(runs, new Date().toISOString());
    expect(runs.listRuns(100).map((r) => r.id)).toEqual([fresh.id]);
    expect(await ks.provenance.run(first.id)).toEqual([]);
    runs.setRetention({ keep: 2, maxAge: '90d' });
    finished(runs, new Date().toISOString());
    finished(runs, new Date().toISOString());
    expect(runs.listRuns(100).length).toBe(2);
  });
});

describe('fingerprint storage', () => {
  const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString();
  // What the questions see: the access log is moved into the indexed rows first, as they do.
  const count = (ks: Keystack, table: string) => {
    ks.provenance.index();
    return (ks.store.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  };

  it('keeps one set per distinct values read, however many records and runs read them', async () => {
    const ks = client();
    const m = await ks.secretsManager();
    await m.register('db', { user: 'svc', password: 'pw-0001-aaaa' });
    const runs = new RunStore(ks.store);
    const r1 = newRun(runs);
    const a = await guard(ks, r1, 'load', ['db']);
    for (let i = 0; i < 5; i++) await a.g.get('db');
    runs.finishStep(r1.id, 'load', { status: 'completed', durationMs: 1, records: a.sink.drain() });
    const r2 = newRun(runs);
    const b = await guard(ks, r2, 'load', ['db']);
    await b.g.get('db');
    await b.g.get('nope').catch(() => undefined);
    runs.finishStep(r2.id, 'load', { status: 'completed', durationMs: 1, records: b.sink.drain() });
    expect(count(ks, 'provenance')).toBe(7);
    expect([count(ks, 'provenance_values'), count(ks, 'provenance_fingerprints')]).toEqual([1, 2]);
    const found = await ks.provenance.usedByValue('pw-0001-aaaa');
    expect(found.reads.map((r) => [r.runId, r.key])).toEqual([
      [r2.id, 'password'],
      ...Array.from({ length: 5 }, () => [r1.id, 'password']),
    ]);

    // A changed value is a new set; the old one stays for the runs that read it.
    await m.update('db', { user: 'svc', password: 'pw-0002-bbbb' });
    const c = await guard(ks, r2, 'fit', ['db']);
    await c.g.get('db');
    runs.finishStep(r2.id, 'fit', { status: 'completed', durationMs: 1, records: c.sink.drain() });
    expect([count(ks, 'provenance_values'), count(ks, 'provenance_fingerprints')]).toEqual([2, 4]);
    expect((await ks.provenance.usedByValue('pw-0002-bbbb')).reads.map((r) => [r.step, r.key])).toEqual([
      ['fit', 'password'],
    ]);
    expect((await ks.provenance.usedByValue('pw-0001-aaaa')).reads).toHaveLength(6);
  });

  it('writes a step of many records whole, in order, in chunks', async () => {
    const ks = client();
    const runs = new RunStore(ks.store);
    const run = newRun(runs);
    const key = loadProvenanceKey(ks.configDir, ks.env);
    const many = Array.from({ length: 70 }, (_, i) =>
      record(run, {
        secret: `s${String(i).padStart(2, '0')}`,
        fingerprints: { password: fingerprint(key, `v-${i % 3}`) },
      }),
    );
    runs.finishStep(run.id, 'load', { status: 'completed', durationMs: 1, records: many });
    expect((await ks.provenance.run(run.id)).map((a) => a.secret)).toEqual(many.map((r) => r.secret));
    expect(count(ks, 'provenance_values')).toBe(3);
    expect((await ks.provenance.usedByValue('v-1')).reads).toHaveLength(23);
  });

  it('prune deletes the sets no remaining record read, and keeps the others', async () => {
    const ks = client();
    const m = await ks.secretsManager();
    await m.register('db', { password: 'pw-old-0003' });
    const runs = new RunStore(ks.store);
    const step = async (startedAt: string) => {
      const run = newRun(runs, 'p', startedAt, ['load']);
      const a = await guard(ks, run, 'load', ['db']);
      await a.g.get('db');
      runs.finishStep(run.id, 'load', { status: 'completed', durationMs: 1, records: a.sink.drain() });
      runs.finishRun(run.id, 'completed', null);
      return run;
    };
    await step(daysAgo(40));
    await step(daysAgo(35));
    await m.update('db', { password: 'pw-new-0004' });
    const recent = await step(daysAgo(1));
    expect(count(ks, 'provenance_values')).toBe(2);
    runs.prune({ maxAge: '30d' });
    expect([count(ks, 'provenance_values'), count(ks, 'provenance_fingerprints')]).toEqual([1, 1]);
    expect((await ks.provenance.usedByValue('pw-old-0003')).reads).toEqual([]);
    expect((await ks.provenance.usedByValue('pw-new-0004')).reads.map((r) => r.runId)).toEqual([recent.id]);
  });

  it('migrates records written with a JSON copy of their fingerprints (schema 7) to sets, losing no read', async () => {
    const ks = client();
    const key = loadProvenanceKey(ks.configDir, ks.env);
    const runs = new RunStore(ks.store);
    const run = newRun(runs);
    const db = ks.store.db;
    // Back to what keystack wrote at schema version 7: fingerprints in a JSON column and one row per key and record.
    db.exec(`DROP TABLE provenance; DROP TABLE provenance_fingerprints; DROP TABLE provenance_values;
      CREATE TABLE provenance (
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, pipeline TEXT NOT NULL, step TEXT, component TEXT,
        attempt INTEGER NOT NULL, worker TEXT, host TEXT NOT NULL, at TEXT NOT NULL,
        manager_uuid TEXT NOT NULL, manager_name TEXT NOT NULL, manager_flavor TEXT NOT NULL,
        secret TEXT NOT NULL, keys TEXT NOT NULL, version TEXT, pinned TEXT, fingerprints TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('read', 'denied', 'not_found', 'error')), error_code TEXT);
      CREATE INDEX provenance_secret ON provenance (secret, at);
      CREATE INDEX provenance_run ON provenance (run_id);
      CREATE INDEX provenance_unread ON provenance (at) WHERE outcome <> 'read';
      CREATE TABLE provenance_fingerprints (
        fingerprint TEXT NOT NULL, record INTEGER NOT NULL, key TEXT NOT NULL,
        PRIMARY KEY (fingerprint, record, key)) WITHOUT ROWID;`);
    const ins =
      db.prepare(`INSERT INTO provenance (run_id, pipeline, step, attempt, host, at, manager_uuid, manager_name,
      manager_flavor, secret, keys, version, fingerprints, outcome) VALUES (?, 'train', ?, 1, 'h1', ?, 'u', 'default', 'local', ?, ?, '1', ?, ?)`);
    const fp = db.prepare('INSERT INTO provenance_fingerprints (fingerprint, record, key) VALUES (?, ?, ?)');
    const old = (step: string, at: string, secret: string, values: Record<string, string>, outcome = 'read') => {
      const fps = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, fingerprint(key, v)]));
      const id = ins.run(
        run.id,
        step,
        at,
        secret,
        JSON.stringify(Object.keys(values)),
        JSON.stringify(fps),
        outcome,
      ).lastInsertRowid;
      for (const [k, f] of Object.entries(fps)) fp.run(f, id, k);
    };
    old('load', '2026-11-01T00:00:01.000Z', 'db', { user: 'svc', password: 'pw-mig-0005' });
    old('load', '2026-11-01T00:00:02.000Z', 'db', { user: 'svc', password: 'pw-mig-0005' });
    old('fit', '2026-11-01T00:00:03.000Z', 'api', { token: 'pw-mig-0005' });
    old('fit', '2026-11-01T00:00:04.000Z', 'db', {}, 'denied');
    db.pragma('user_version = 7');
    await ks.close();
    open.splice(open.indexOf(ks), 1);

    const again = new Keystack({ configDir: ks.configDir, env: {} });
    open.push(again);
    const store = again.store;
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    const cols = (store.db.pragma('table_info(provenance)') as { name: string }[]).map((c) => c.name);
    expect(cols).toContain('value_set');
    expect(cols).not.toContain('fingerprints');
    expect([
      count(again, 'provenance'),
      count(again, 'provenance_values'),
      count(again, 'provenance_fingerprints'),
    ]).toEqual([4, 2, 3]);
    const found = await again.provenance.usedByValue('pw-mig-0005');
    expect(found.reads.map((r) => [r.step, r.secret, r.key, r.at])).toEqual([
      ['fit', 'api', 'token', '2026-11-01T00:00:03.000Z'],
      ['load', 'db', 'password', '2026-11-01T00:00:02.000Z'],
      ['load', 'db', 'password', '2026-11-01T00:00:01.000Z'],
    ]);
    expect((await again.provenance.usedByValue('svc')).reads.map((r) => r.key)).toEqual(['user', 'user']);
    expect((await again.provenance.usedBy({ secret: 'db' })).map((a) => a.outcome)).toEqual(['denied', 'read', 'read']);
    // New records land beside the migrated ones and share their set.
    const b = await guard(again, run, 'eval', '*');
    await again.secretsManager().then((m) => m.register('db', { user: 'svc', password: 'pw-mig-0005' }));
    await b.g.get('db');
    new RunStore(again.store).finishStep(run.id, 'eval', {
      status: 'completed',
      durationMs: 1,
      records: b.sink.drain(),
    });
    expect(count(again, 'provenance_values')).toBe(2);
    expect((await again.provenance.usedByValue('pw-mig-0005')).reads).toHaveLength(4);
  });
});

describe('the access log (a step pays a line; the first question indexes it)', () => {
  const rows = (ks: Keystack, table: string) =>
    (ks.store.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  const lines = (ks: Keystack) =>
    (ks.store.db.prepare('SELECT line FROM provenance_log ORDER BY id').all() as { line: string }[]).map((l) => l.line);

  it('keeps a step’s records as one line until a question moves them, whole and in order, once', async () => {
    const ks = client();
    const m = await ks.secretsManager();
    await m.register('db', { user: 'svc', password: 'pw-log-0006-zz' });
    const runs = new RunStore(ks.store);
    const run = newRun(runs);
    const a = await guard(ks, run, 'load', ['db']);
    for (let i = 0; i < 5; i++) await a.g.get('db');
    await a.g.get('api').catch(() => undefined);
    const given = a.sink.drain();
    runs.finishStep(run.id, 'load', { status: 'completed', durationMs: 1, records: given });
    expect([rows(ks, 'provenance'), rows(ks, 'provenance_log')]).toEqual([0, 1]);
    // Five identical reads are one entry and four times; the values are in it only as fingerprints.
    const line = JSON.parse(lines(ks)[0] as string) as { r: unknown[][] };
    expect(line.r.map((e) => [e[2], (e[9] as number[]).length])).toEqual([
      ['db', 4],
      ['api', 0],
    ]);
    expect(lines(ks)[0]).not.toContain('pw-log-0006-zz');

    const got = await ks.provenance.run(run.id);
    expect([rows(ks, 'provenance'), rows(ks, 'provenance_log')]).toEqual([6, 0]);
    expect(got.map((e) => [e.step, e.secret, e.keys, e.at, e.outcome, e.version, e.host, e.attempt])).toEqual(
      given.map((r) => [r.step, r.secret, r.keys, r.at, r.outcome, r.version, r.host, r.attempt]),
    );
    // Asking again moves nothing and writes nothing.
    expect(ks.provenance.index()).toBe(0);
    expect((await ks.provenance.usedByValue('pw-log-0006-zz')).reads).toHaveLength(5);
  });

  it('names each set of values by its id, writing a new set once, so that no fingerprint is in a line', async () => {
    const ks = client();
    const key = loadProvenanceKey(ks.configDir, ks.env);
    const runs = new RunStore(ks.store);
    const run = newRun(runs);
    const seen = { password: fingerprint(key, 'pw-seen-0007') };
    const fresh = { password: fingerprint(key, 'pw-new-0008') };
    runs.finishStep(run.id, 'load', {
      status: 'completed',
      durationMs: 1,
      records: [record(run, { fingerprints: seen })],
    });
    expect(rows(ks, 'provenance_values')).toBe(1);
    runs.finishStep(run.id, 'fit', {
      status: 'completed',
      durationMs: 1,
      records: [record(run, { step: 'fit', fingerprints: seen }), record(run, { step: 'fit', fingerprints: fresh })],
    });
    expect([rows(ks, 'provenance'), rows(ks, 'provenance_values'), rows(ks, 'provenance_log')]).toEqual([0, 2, 2]);
    for (const line of lines(ks)) {
      expect(line).not.toContain(seen.password);
      expect(line).not.toContain(fresh.password);
    }
    expect((await ks.provenance.usedByValue('pw-seen-0007')).reads.map((r) => r.step)).toEqual(['fit', 'load']);
    expect((await ks.provenance.usedByValue('pw-new-0008')).reads.map((r) => r.step)).toEqual(['fit']);
  });

  it('refuses a damaged line with a one-line error, and moves nothing', async () => {
    const ks = client();
    const runs = new RunStore(ks.store);
    const run = newRun(runs);
    runs.finishStep(run.id, 'load', { status: 'completed', durationMs: 1, records: [record(run)] });
    ks.store.db
      .prepare('INSERT INTO provenance_log (run_id, step_id, line) VALUES (?, ?, ?)')
      .run(run.id, 'fit', '{"w":[],"f":[],"r":[[0]]}');
    await expect(ks.provenance.run(run.id)).rejects.toThrow(
      new RegExp(`^the access log of step 'fit' of run ${run.id} in the config store is damaged$`),
    );
    expect([rows(ks, 'provenance'), rows(ks, 'provenance_log')]).toEqual([0, 2]);
  });
});
