/**
 * What a client following a remote run writes, without a server: a step's state is written once
 * per change, and a read of only the steps an event named costs the same however long the run is
 * (issue 22, target 4). Counts, never timings.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signResult, type StepResult } from '../../src/pipeline/remote/envelope.js';
import { addTrusted, TrustedKeys } from '../../src/pipeline/remote/keys.js';
import { syncRemoteRun, type StepTally, type SyncCache } from '../../src/pipeline/remote/orchestrator.js';
import type { RemoteRunState } from '../../src/pipeline/remote/protocol.js';
import { RunStore } from '../../src/pipeline/run-store.js';
import { Keystack } from '../../src/stack/client.js';
import { loadOrCreateSigningKey, type SignedMessage } from '../../src/support/signing.js';

const dir = () => mkdtempSync(join(tmpdir(), 'ks-rsync-'));
const RUN = '0b6f1b2e-6a43-4c0e-9a55-0d6c1f3e2a10';
const STEPS = ['a', 'b', 'c'];
const worker = loadOrCreateSigningKey(join(dir(), 'w.ed25519'));

const signed = (stepId: string, over: Partial<StepResult> = {}): SignedMessage =>
  signResult(worker, {
    runId: RUN,
    stepId,
    status: 'completed',
    worker: 'w1',
    attempts: 1,
    output: { uri: `${RUN}/${stepId}.json`, hash: 'h' },
    records: [],
    recordCount: 0,
    ...over,
  });

const state = (steps: Record<string, SignedMessage>): RemoteRunState => ({
  meta: { pipeline: 'p', steps: STEPS, startedAt: new Date().toISOString() },
  steps: new Map(Object.entries(steps)),
  jobs: new Map(),
  attempts: new Map(),
});

/** What readStepStates returns: the named steps only, no meta. */
const partial = (steps: Record<string, SignedMessage>): RemoteRunState => ({ ...state(steps), meta: null });

const opened: Keystack[] = [];
afterAll(async () => {
  for (const k of opened) await k.close();
});

function setup() {
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
    STEPS.map((stepId, position) => ({ stepId, name: stepId, position, params: {}, cacheEnabled: false })),
    { remote: 'bullmq' },
  );
  return { ks, runs, trusted: new TrustedKeys('worker', { configDir: ks.configDir, env: {} }) };
}

describe('a client following its run', () => {
  it('writes a step once per change of its signed state, not once per read', () => {
    const { runs, trusted } = setup();
    const writes = vi.spyOn(runs, 'recordRemoteStep');
    const cache: SyncCache = new Map();
    const a = signed('a');
    const running = signed('b', { status: 'running', output: undefined });
    for (let i = 0; i < 5; i++)
      expect(syncRemoteRun(runs, RUN, state({ a, b: running }), trusted, cache, { skipRunning: true })).toBe('running');
    expect(writes.mock.calls.map((c) => c[1])).toEqual(['a']);
    const b = signed('b');
    for (let i = 0; i < 3; i++) syncRemoteRun(runs, RUN, state({ a, b }), trusted, cache, { skipRunning: true });
    expect(writes.mock.calls.map((c) => c[1])).toEqual(['a', 'b']);
  });

  it('reading only the steps an event named, reads no other step and decides the run from what it saw', () => {
    const { runs, trusted } = setup();
    const cache: SyncCache = new Map();
    const tally: StepTally = new Map();
    const o = { skipRunning: true, tally, total: STEPS.length };
    expect(syncRemoteRun(runs, RUN, state({ a: signed('a') }), trusted, cache, o)).toBe('running');
    const all = vi.spyOn(runs, 'steps');
    const writes = vi.spyOn(runs, 'recordRemoteStep');
    expect(syncRemoteRun(runs, RUN, partial({ b: signed('b') }), trusted, cache, { ...o, only: new Set(['b']) })).toBe(
      'running',
    );
    expect(syncRemoteRun(runs, RUN, partial({ c: signed('c') }), trusted, cache, { ...o, only: new Set(['c']) })).toBe(
      'completed',
    );
    expect(all).not.toHaveBeenCalled();
    expect(writes.mock.calls.map((c) => c[1])).toEqual(['b', 'c']);
    expect(runs.getRun(RUN).status).toBe('completed');
  });

  it('a failed step named by an event fails the run', () => {
    const { runs, trusted } = setup();
    const tally: StepTally = new Map();
    const o = { skipRunning: true, tally, total: STEPS.length, only: new Set(['b']) };
    const failed = signed('b', { status: 'failed', error: 'boom', output: undefined });
    expect(syncRemoteRun(runs, RUN, partial({ b: failed }), trusted, new Map(), o)).toBe('failed');
    expect(runs.getRun(RUN).error).toContain("step 'b' failed: boom");
  });

  it('an event naming a job that is no step of the run is ignored', () => {
    const { runs, trusted } = setup();
    const o = { tally: new Map(), total: STEPS.length, only: new Set(['not_a_step']) };
    expect(syncRemoteRun(runs, RUN, partial({ not_a_step: signed('a') }), trusted, new Map(), o)).toBe('running');
  });

  it('a partial read with nothing of the run in it is not taken for a run whose state is gone', () => {
    const { runs, trusted } = setup();
    const o = { tally: new Map(), total: STEPS.length, only: new Set(['a']) };
    expect(syncRemoteRun(runs, RUN, partial({}), trusted, new Map(), o)).toBe('running');
    expect(runs.getRun(RUN).status).toBe('running');
  });
});
