/**
 * Remote provenance without a server: the records a worker signs into its step result, as the
 * client checks, collects and stores them, and how a record lost in Redis is reported.
 * test/remote/provenance.test.ts runs the whole path on real Redis.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprint, type AccessRecord } from '../../src/core/provenance.js';
import { collectStepRecords } from '../../src/pipeline/remote/collect.js';
import { openResult, signResult, type StepResult } from '../../src/pipeline/remote/envelope.js';
import { addTrusted, TrustedKeys } from '../../src/pipeline/remote/keys.js';
import { syncRemoteRun } from '../../src/pipeline/remote/orchestrator.js';
import type { RemoteRunState } from '../../src/pipeline/remote/protocol.js';
import { RunStore } from '../../src/pipeline/run-store.js';
import { Keystack } from '../../src/stack/client.js';
import { keyring, loadOrCreateSigningKey, parsePublicKey, type SignedMessage } from '../../src/support/signing.js';

const dir = () => mkdtempSync(join(tmpdir(), 'ks-rprov-'));
const RUN = '0b6f1b2e-6a43-4c0e-9a55-0d6c1f3e2a10';
const OTHER_RUN = '7d1e2f3a-1111-4c0e-9a55-0d6c1f3e2a10';
const VALUE = 'hunter2-the-token-value';
const KEY = Buffer.alloc(32, 7);

const record = (over: Partial<AccessRecord> = {}): AccessRecord => ({
  runId: RUN,
  pipeline: 'p',
  step: 'train',
  component: undefined,
  attempt: 1,
  worker: 'w1',
  host: 'gpu-1',
  at: new Date().toISOString(),
  manager: { uuid: 'u', name: 'vault', flavor: 'vault' },
  secret: 'db',
  keys: ['password'],
  version: null,
  pinned: null,
  fingerprints: { password: fingerprint(KEY, VALUE) },
  outcome: 'read',
  errorCode: null,
  ...over,
});

const worker = loadOrCreateSigningKey(join(dir(), 'w.ed25519'));
const ring = keyring([parsePublicKey(worker.text, 'test')]);

const result = (over: Partial<StepResult> = {}): StepResult => {
  const records = over.records ?? [record()];
  return {
    runId: RUN,
    stepId: 'train',
    status: 'completed',
    worker: 'w1',
    attempts: 1,
    output: { uri: `${RUN}/train.json`, hash: 'h' },
    records,
    recordCount: records.length,
    ...over,
  };
};

describe('records in a signed step result', () => {
  it('are taken when the signed count matches and each record is of this run, step, attempt and worker', () => {
    const opened = openResult(signResult(worker, result()), RUN, 'train', ring);
    expect(opened).toMatchObject({ ok: true, result: { recordCount: 1 } });
    const written = [{ manager: 'u', secret: 'db', version: '2' }];
    expect(openResult(signResult(worker, result({ written })), RUN, 'train', ring)).toMatchObject({
      ok: true,
      result: { written },
    });
    const denied = record({ outcome: 'denied', fingerprints: {}, keys: [] });
    expect(openResult(signResult(worker, result({ records: [denied] })), RUN, 'train', ring).ok).toBe(true);
  });

  it('refuse the whole result as tampered otherwise', () => {
    const cases: [string, StepResult][] = [
      ['counts 2 provenance records but carries 1', result({ recordCount: 2 })],
      ['carries no record count', { ...result(), recordCount: undefined }],
      ['another run, step, attempt or worker', result({ records: [record({ runId: OTHER_RUN })] })],
      ['another run, step, attempt or worker', result({ records: [record({ step: 'evaluate' })] })],
      ['another run, step, attempt or worker', result({ records: [record({ attempt: 2 })] })],
      ['another run, step, attempt or worker', result({ records: [record({ worker: 'w2' })] })],
      // A value smuggled into a record never reaches the run history.
      ['a field records do not have', result({ records: [{ ...record(), value: VALUE } as AccessRecord] })],
      ['not of the record shape', result({ records: [record({ fingerprints: { password: VALUE } })] })],
      ['not of the record shape', result({ records: [record({ outcome: 'stolen' as 'read' })] })],
      ['read nothing carries fingerprints', result({ records: [record({ outcome: 'denied' })] })],
      ['names no attempt', result({ attempts: undefined })],
      // The versions a step wrote (for `secret history`): three strings each, nothing more.
      [
        'written versions is malformed',
        result({ written: [{ manager: 'u', secret: 'db', version: '2', value: VALUE }] as never }),
      ],
      ['written versions is malformed', result({ written: [{ manager: 'u', secret: 'db' }] as never })],
      ['written versions is malformed', result({ written: 'db' as never })],
    ];
    for (const [reason, r] of cases) {
      const opened = openResult(signResult(worker, r), RUN, 'train', ring);
      expect(opened, reason).toMatchObject({ ok: false, reason: expect.stringContaining('refused as tampered') });
      expect(opened, reason).toMatchObject({ ok: false, reason: expect.stringContaining(reason) });
      // The reason quotes nothing of the records.
      expect(JSON.stringify(opened)).not.toContain(VALUE);
    }
  });

  it('a record holds a keyed fingerprint and never the value', () => {
    const text = JSON.stringify(signResult(worker, result()));
    expect(text).toContain(fingerprint(KEY, VALUE));
    for (const form of [VALUE, Buffer.from(VALUE).toString('base64'), Buffer.from(VALUE).toString('hex')])
      expect(text).not.toContain(form);
  });
});

const state = (steps: Record<string, SignedMessage>, attempts: Record<string, SignedMessage> = {}): RemoteRunState => ({
  meta: { pipeline: 'p', steps: Object.keys(steps), startedAt: new Date().toISOString() },
  steps: new Map(Object.entries(steps)),
  jobs: new Map(),
  attempts: new Map(Object.entries(attempts)),
});

describe('collecting the records of every attempt', () => {
  const clientDir = dir();
  addTrusted(clientDir, 'worker', worker, 'w1');
  const trusted = new TrustedKeys('worker', { configDir: clientDir, env: {} });
  const first = result({ status: 'running', attempts: 1, error: 'boom', output: undefined });
  const last = result({ attempts: 2, records: [record({ attempt: 2, secret: 'api' })] });

  it('takes the earlier attempts from their own signed results, oldest first', () => {
    const got = collectStepRecords(
      state({ train: signResult(worker, last) }, { 'train:1': signResult(worker, first) }),
      RUN,
      'train',
      last,
      trusted,
    );
    expect(got.refused).toBeNull();
    expect(got.lostAttempts).toEqual([]);
    expect(got.records.map((r) => [r.attempt, r.secret])).toEqual([
      [1, 'db'],
      [2, 'api'],
    ]);
  });

  it('reports an attempt whose result is gone as lost', () => {
    const got = collectStepRecords(state({ train: signResult(worker, last) }), RUN, 'train', last, trusted);
    expect(got).toMatchObject({ refused: null, lostAttempts: [1] });
    expect(got.records.map((r) => r.attempt)).toEqual([2]);
  });

  it('refuses an earlier attempt signed by an untrusted key, or filed under another attempt', () => {
    const stranger = loadOrCreateSigningKey(join(dir(), 's.ed25519'));
    const forged = collectStepRecords(
      state({ train: signResult(worker, last) }, { 'train:1': signResult(stranger, first) }),
      RUN,
      'train',
      last,
      trusted,
    );
    expect(forged.refused).toContain('not trusted');
    const moved = collectStepRecords(
      state({ train: signResult(worker, last) }, { 'train:1': signResult(worker, last) }),
      RUN,
      'train',
      last,
      trusted,
    );
    expect(moved.refused).toContain('result of another attempt');
  });
});

describe('the client stores the records with the step status, once', () => {
  const opened: Keystack[] = [];
  afterAll(async () => {
    for (const k of opened) await k.close();
  });
  const setup = () => {
    const ks = new Keystack({ configDir: dir(), env: {}, onWarning: () => undefined });
    opened.push(ks);
    addTrusted(ks.configDir, 'worker', worker, 'w1');
    const runs = new RunStore(ks.store);
    runs.createRun(
      {
        id: RUN,
        pipeline: 'p',
        stack: 'remote',
        orchestrator: 'bq',
        module: null,
        exportName: null,
        startedAt: new Date().toISOString(),
      },
      [{ stepId: 'train', name: 'train', position: 0, params: {}, cacheEnabled: false }],
      { remote: 'bullmq' },
    );
    return { runs, trusted: new TrustedKeys('worker', { configDir: ks.configDir, env: {} }) };
  };

  it('finishStep gets every attempt’s records with the final status, and a later sync adds none', () => {
    const { runs, trusted } = setup();
    const spy = vi.spyOn(runs, 'finishStep');
    const first = result({ status: 'running', attempts: 1, error: 'boom', output: undefined });
    const last = result({ attempts: 2, records: [record({ attempt: 2 })] });
    const s = state({ train: signResult(worker, last) }, { 'train:1': signResult(worker, first) });
    expect(syncRemoteRun(runs, RUN, s, trusted)).toBe('completed');
    expect(spy).toHaveBeenCalledTimes(1);
    const stored = spy.mock.calls[0]?.[2];
    expect(stored?.status).toBe('completed');
    expect(stored?.records?.map((r) => r.attempt)).toEqual([1, 2]);
    // `runs describe` in another process (no cache): the step is already ended here.
    syncRemoteRun(runs, RUN, s, trusted);
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('a lost attempt is noted on the step and told to the caller', () => {
    const { runs, trusted } = setup();
    const last = result({ attempts: 2, records: [record({ attempt: 2 })] });
    const lost: string[] = [];
    syncRemoteRun(runs, RUN, state({ train: signResult(worker, last) }), trusted, new Map(), {
      onLost: (step, note) => lost.push(`${step}: ${note}`),
    });
    expect(lost).toEqual([expect.stringContaining('train: provenance records of attempt 1 lost')]);
    expect(runs.steps(RUN)[0]?.error).toContain('provenance records of attempt 1 lost');
    expect(runs.steps(RUN)[0]?.status).toBe('completed');
  });

  it('a result with tampered records fails the step and the run, and stores no record', () => {
    const { runs, trusted } = setup();
    const spy = vi.spyOn(runs, 'finishStep');
    const bad = result({ recordCount: 5 });
    expect(syncRemoteRun(runs, RUN, state({ train: signResult(worker, bad) }), trusted)).toBe('failed');
    expect(spy.mock.calls[0]?.[2].records).toEqual([]);
    expect(runs.steps(RUN)[0]?.error).toContain('refused as tampered');
    expect(runs.getRun(RUN).status).toBe('failed');
  });

  it('a run whose state is gone from Redis is failed with its records reported lost', () => {
    const { runs, trusted } = setup();
    const gone: RemoteRunState = { meta: null, steps: new Map(), jobs: new Map(), attempts: new Map() };
    expect(syncRemoteRun(runs, RUN, gone, trusted)).toBe('failed');
    expect(runs.getRun(RUN).error).toContain('provenance records of steps not recorded here are lost');
  });
});
