/**
 * The client side of the bullmq orchestrator: snapshot the stack, resolve the orchestrator's own
 * redis_url through this machine's secrets manager, sign an envelope for every step of the run
 * with the client key, add the steps that have no inputs, then (unless detached) follow the run's
 * state in Redis, recording each step in the run history as it finishes, from results signed by a
 * worker key this client trusts and from nothing else. Workers schedule the rest (see
 * protocol.ts), so a detached run goes on without this process.
 */
import { randomUUID } from 'node:crypto';
import type { AccessRecord } from '../../core/provenance.js';
import { resolve } from 'node:path';
import { ConfigError, NotFoundError } from '../../errors.js';
import type { Keystack } from '../../stack/client.js';
import { COMPONENT_LABEL } from '../../stack/config-store.js';
import type { StackRuntime } from '../../stack/runtime.js';
import { recordWriter, stepWriter, type WrittenVersion } from '../../stack/writers.js';
import { RunStore, type RunRecord, type StepRecord, type StepStatus } from '../run-store.js';
import {
  plannedSteps,
  SECRET_LEAK_PREFIX,
  StepFailedError,
  warnerFor,
  warnOpenDeclarations,
  type RunOptions,
  type RunSummary,
} from '../run-common.js';
import { componentRecorder } from '../step-context.js';
import { CollectingSink } from '../../core/provenance.js';
import { loadProvenanceKey } from '../../stack/provenance-key.js';
import type { Pipeline, StepNode } from '../step.js';
import type { SignedMessage } from '../../support/signing.js';
import { collectStepRecords, lostRecordsNote } from './collect.js';
import { readOutput } from './sealed-outputs.js';
import { openResult, signJob, snapshotHash, stepOutputUri, type JobEnvelope } from './envelope.js';
import { ownKey, trustListFile, TrustedKeys, CLIENT_TRUSTED_WORKER_KEYS_ENV } from './keys.js';
import {
  addStepJobs,
  claimedStatus,
  queueFor,
  queueSource,
  readRunState,
  readStepStates,
  retryPolicy,
  runTtlSeconds,
  writeRun,
  type RemoteRunState,
  type RemoteStepState,
} from './protocol.js';
import { loadBullmq, openRedis, type RedisClient } from './redis.js';
import {
  componentFields,
  managerFields,
  moduleHash,
  modulePathIn,
  PAYLOAD_VERSION,
  snapshotComponent,
  type StackSnapshot,
  type StepJobData,
} from './snapshot.js';
import { openRunArtifactStore } from './store.js';
import { runEvents, type RunEvents } from './run-events.js';

/**
 * A client following its run reads the steps its queues' events name (run-events.ts); with no
 * event for this long it reads the whole run, for an event it missed and for the run's deadline.
 */
const FULL_READ_MS = 1000;

/** The stack as a job carries it: configs as stored, references as text. */
export function stackSnapshot(ks: Keystack, stack: StackRuntime): StackSnapshot {
  // components() includes the step operators.
  const components = stack
    .components()
    .map((c) => snapshotComponent(c.record, componentFields(c.flavor), COMPONENT_LABEL[c.type]));
  const sm = ks.stackComponent(stack.record, 'secrets_manager');
  const manager = stack.rawSecretsManager;
  if (sm && manager) components.push(snapshotComponent(sm, managerFields(manager.flavor), 'secrets-manager'));
  return { name: stack.name, components };
}

/** Connects to the orchestrator's Redis with the redis_url resolved through this machine's secrets manager. */
export async function connectOrchestrator(
  stack: StackRuntime,
): Promise<{ redis: RedisClient; url: string; source: string }> {
  const orch = stack.orchestrator;
  const source = `the redis_url of orchestrator '${orch.name}'`;
  const url = await orch.getString('redis_url');
  if (url === undefined)
    throw new ConfigError(`orchestrator '${orch.name}' has no redis_url`, {
      hint: `Set it: \`keystack orchestrator update ${orch.name} --redis_url={{redis.url}}\`.`,
    });
  return { redis: await openRedis(url, { who: 'the client', source, blocking: false }), url, source };
}

/** The worker keys whose results this client records; refuses to go on without any. */
export function clientTrustedWorkers(ks: Keystack, files: readonly string[] | undefined): TrustedKeys {
  const trusted = new TrustedKeys('worker', { configDir: ks.configDir, files, env: ks.env });
  if (trusted.keys.size === 0) {
    throw new ConfigError('this client trusts no worker key, so it would refuse every step result of a remote run', {
      hint: `On each worker machine run \`keystack keys show-public --role worker\` and trust the key here with \`keystack keys trust --role worker KEY\` (kept in ${trustListFile(ks.configDir, 'worker')}), or pass --trust-worker-key FILE or set ${CLIENT_TRUSTED_WORKER_KEYS_ENV}.`,
    });
  }
  return trusted;
}

export async function runOnWorkers(
  ks: Keystack,
  stack: StackRuntime,
  p: Pipeline,
  options: RunOptions,
): Promise<RunSummary> {
  if (!options.module) {
    throw new ConfigError('the bullmq orchestrator needs the module that defines the pipeline', {
      hint: 'Run it with `keystack pipeline run FILE`, or pass `module: { path, exportName }`: workers load the same module from their code root.',
    });
  }
  const nodes = p.graph();
  const codeRoot = resolve(options.codeRoot ?? ks.env['KEYSTACK_CODE_ROOT'] ?? process.cwd());
  const snapshot = stackSnapshot(ks, stack);
  const module = {
    path: modulePathIn(codeRoot, options.module.path),
    exportName: options.module.exportName,
    sha256: moduleHash(options.module.path),
  };
  const trusted = clientTrustedWorkers(ks, options.trustWorkerKeys);
  const key = ownKey(ks.configDir, 'client');
  const runId = randomUUID();
  // The orchestrator's own reads (its Redis URL) are on record as its, not a step's.
  const componentReads = new CollectingSink();
  stack.resolver.onRead(
    componentRecorder({
      runId,
      pipeline: p.name,
      attempt: 1,
      manager: stack.rawSecretsManager,
      sink: componentReads,
      provenanceKey: () => loadProvenanceKey(ks.configDir, ks.env),
    }),
  );
  let connected: Awaited<ReturnType<typeof connectOrchestrator>>;
  try {
    connected = await connectOrchestrator(stack);
  } finally {
    stack.resolver.onRead(undefined);
  }
  const { redis, url, source } = connected;
  let events: RunEvents | undefined;
  await checkStepOperatorRedis(stack, nodes, url);
  const bullmq = await loadBullmq();
  const queues = queueSource(bullmq, redis);
  const runs = new RunStore(ks.store);
  const run: RunRecord = {
    id: runId,
    pipeline: p.name,
    stack: stack.name,
    orchestrator: stack.orchestrator.name,
    module: options.module.path,
    exportName: options.module.exportName,
    status: 'running',
    startedAt: new Date().toISOString(),
    endedAt: null,
    error: null,
  };
  try {
    runs.createRun(run, plannedSteps(p, nodes), { remote: 'bullmq' });
    runs.recordAccess(run.id, componentReads.drain());
    warnOpenDeclarations(nodes, options);
    const policy = retryPolicy(snapshot);
    const deadline = Date.parse(run.startedAt) + policy.deadlineSeconds * 1000;
    const hash = snapshotHash(snapshot);
    // Every step is signed now: the workers that schedule later steps forward these unchanged.
    const jobs = new Map<string, SignedMessage>();
    for (const node of nodes) {
      const envelope: JobEnvelope = {
        runId: run.id,
        pipeline: p.name,
        snapshotHash: hash,
        module,
        step: { id: node.id, name: node.step.name, params: node.params },
        inputs: Object.fromEntries(Object.entries(node.upstream).map(([k, from]) => [k, stepOutputUri(run.id, from)])),
        queue: queueFor(snapshot, node.stepOperator),
        attempts: policy.attempts,
        deadline,
        noCache: options.noCache === true,
        ...(options.leakMinLength === undefined ? {} : { leakMinLength: options.leakMinLength }),
      };
      jobs.set(node.id, signJob(key, envelope));
    }
    await writeRun(
      redis,
      run.id,
      { pipeline: p.name, steps: nodes.map((n) => n.id), startedAt: run.startedAt },
      jobs,
      runTtlSeconds(snapshot),
    );
    // Listening before the first job is added, so that no step can end unheard.
    if (!options.detach)
      events = await runEvents(
        bullmq,
        url,
        source,
        nodes.map((n) => queueFor(snapshot, n.stepOperator)),
        run.id,
      );
    const first = new Map<string, StepJobData[]>();
    for (const node of nodes.filter((n) => Object.keys(n.upstream).length === 0)) {
      const queue = queueFor(snapshot, node.stepOperator);
      const data: StepJobData = {
        v: PAYLOAD_VERSION,
        runId: run.id,
        stepId: node.id,
        job: jobs.get(node.id) as SignedMessage,
        stack: snapshot,
      };
      first.set(queue, [...(first.get(queue) ?? []), data]);
    }
    for (const [queue, data] of first) await addStepJobs(queues, queue, data);
    options.onRunStart?.(runs.getRun(run.id), stack);
    if (!events) return { run: runs.getRun(run.id), steps: runs.steps(run.id), outputs: {} };
    return await follow(ks, stack, runs, run.id, redis, trusted, deadline, options, {
      events,
      attempts: policy.attempts,
      total: nodes.length,
    });
  } finally {
    await events?.close();
    await queues.close().catch(() => undefined);
    redis.disconnect();
  }
}

/** All queues of a run are on the orchestrator's Redis: workers record state and add jobs there. */
async function checkStepOperatorRedis(stack: StackRuntime, nodes: readonly StepNode[], url: string): Promise<void> {
  const used = new Set(nodes.map((n) => n.stepOperator).filter((x): x is string => x !== undefined));
  for (const op of stack.stepOperators()) {
    if (!used.has(op.name)) continue;
    const opUrl = await op.getString('redis_url');
    if (opUrl !== undefined && opUrl !== url) {
      throw new ConfigError(
        `step operator '${op.name}' uses another Redis than orchestrator '${stack.orchestrator.name}'`,
        {
          hint: 'Give the step operator the same redis_url as the orchestrator (e.g. the same reference); its own queue keeps its steps apart.',
        },
      );
    }
  }
}

async function follow(
  ks: Keystack,
  stack: StackRuntime,
  runs: RunStore,
  runId: string,
  redis: RedisClient,
  trusted: TrustedKeys,
  deadline: number,
  options: RunOptions,
  f: { events: RunEvents; attempts: number; total: number },
): Promise<RunSummary> {
  const seen = new Map<string, string>();
  const synced: SyncCache = new Map();
  const tally: StepTally = new Map();
  // The steps an event named since the last read; null: read the whole run.
  let changed: Set<string> | null = null;
  for (;;) {
    const state =
      changed === null
        ? await readRunState(redis, runId)
        : await readStepStates(redis, runId, [...changed], f.attempts);
    const sync: SyncOptions = {
      skipRunning: true,
      tally,
      onWritten: historyWriter(ks, stack, runId),
      ...(changed === null ? {} : { only: changed, total: f.total }),
    };
    // What changed is written in one transaction; a step whose signed state did not change is not written at all.
    const outcome = ks.store.tx(() =>
      syncRemoteRun(runs, runId, state, trusted, synced, sync, (stepId, s) => {
        const key = `${s.status}:${s.attempts ?? 0}`;
        if (seen.get(stepId) === key) return;
        seen.set(stepId, key);
        options.onStep?.({
          runId,
          stepId,
          status: toStepStatus(s.status),
          durationMs: s.durationMs,
          error: s.error,
          worker: s.worker,
        });
      }),
    );
    if (outcome === 'failed') {
      const failed = runs.steps(runId).find((s) => s.status === 'failed');
      throw new StepFailedError(runId, failed?.stepId ?? '?', failed?.error ?? 'the step failed on a worker');
    }
    if (outcome === 'completed') break;
    if (Date.now() > deadline) {
      runs.finishRun(
        runId,
        'failed',
        'the run did not finish before its deadline (run_deadline_seconds of the orchestrator)',
      );
      throw new ConfigError(`run ${runId} did not finish before its deadline`, {
        hint: 'Check that workers serve its queues; give runs more time with `keystack orchestrator update NAME --run_deadline_seconds=N`.',
      });
    }
    changed = await f.events.next(Math.max(1, Math.min(FULL_READ_MS, deadline - Date.now() + 1)));
  }
  const artifacts = await openRunArtifactStore(stack.artifactStore, ks.configDir, ks.env);
  const steps = runs.steps(runId);
  const values: Record<string, unknown> = {};
  const warn = warnerFor(options);
  // From the sealed copy a step's signed result carries, with the hash it signed, else from the store.
  const read = steps.flatMap((s) => (s.output ? [{ id: s.stepId, output: s.output }] : []));
  const got = await Promise.all(
    read.map((o) =>
      readOutput(artifacts, o.output.uri, synced.get(o.id)?.state.sealedOutput, {
        hash: o.output.hash,
        onRefused: (reason) => warn(`${reason}; read it from the artifact store instead`),
      }),
    ),
  );
  read.forEach((o, i) => (values[o.id] = got[i]));
  return { run: runs.getRun(runId), steps, outputs: values };
}

function toStepStatus(s: RemoteStepState['status']): StepStatus {
  return s === 'queued' ? 'pending' : s;
}

/**
 * Copies the state workers keep in Redis into the run history, taking only states signed by a
 * worker key this client trusts for this run and step: anything else fails the step with the
 * reason. Finishes the run when every step is done or one failed for good. Returns the run's state.
 */
/**
 * Step id → the signature of the state last recorded and what it said: a state seen before is
 * neither verified nor written again, so a poll costs nothing for steps that did not change.
 */
export type SyncCache = Map<string, { sig: unknown; state: RemoteStepState }>;

/** Step id → what its last checked state said: how a partial read knows the rest of the run. */
export type StepTally = Map<string, { status: RemoteStepState['status']; error?: string | undefined }>;

export interface SyncOptions {
  skipRunning?: boolean;
  /**
   * Only these steps were read (readStepStates): the others are as `tally` last saw them, and the
   * run's outcome is decided from `tally` against `total` steps.
   */
  only?: ReadonlySet<string> | undefined;
  total?: number | undefined;
  tally?: StepTally | undefined;
  /** Told when provenance records of a step were lost in Redis (also noted on the step). */
  onLost?: ((stepId: string, note: string) => void) | undefined;
  /** Told, once per step when it ends here, of the versions its last attempt wrote. */
  onWritten?: ((stepId: string, written: readonly WrittenVersion[]) => void) | undefined;
}

const FINAL: ReadonlySet<string> = new Set(['completed', 'cached', 'failed']);

export function syncRemoteRun(
  runs: RunStore,
  runId: string,
  state: RemoteRunState,
  trusted: TrustedKeys,
  cache: SyncCache = new Map(),
  o: SyncOptions = {},
  onChange?: (stepId: string, s: RemoteStepState) => void,
): 'running' | 'completed' | 'failed' {
  const only = o.only !== undefined && o.tally !== undefined && o.total !== undefined ? o.only : undefined;
  // An event may name a job that is not a step of the run (anyone who can write to Redis can add one): ignored.
  const steps = only ? [...only].flatMap((id) => knownStep(runs, runId, id)) : runs.steps(runId);
  if (!only && state.meta === null && state.steps.size === 0 && runs.getRun(runId).status === 'running') {
    // Nothing of the run is left in Redis: what this client had not collected is gone, and says so.
    runs.finishRun(
      runId,
      'failed',
      'its state in Redis is gone (expired after run_ttl_seconds, or deleted) before this client collected it: the results and provenance records of steps not recorded here are lost',
    );
    return 'failed';
  }
  let failed: { stepId: string; error: string } | undefined;
  let done = 0;
  for (const rec of steps) {
    const raw = state.steps.get(rec.stepId);
    if (raw === undefined) continue;
    // A client following its run only reports finished steps: a state that claims to be running
    // is left for `runs describe`, which saves checking a signature per step on the way.
    if (o.skipRunning && claimedStatus(raw) === 'running') continue;
    const sig = typeof raw === 'object' && raw !== null ? (raw as { s?: unknown }).s : raw;
    let s = cache.get(rec.stepId)?.sig === sig ? cache.get(rec.stepId)?.state : undefined;
    if (s === undefined) {
      trusted.refreshFor(typeof raw === 'object' && raw !== null ? (raw as { k?: unknown }).k : undefined);
      const opened = openResult(raw, runId, rec.stepId, trusted.keys);
      s = opened.ok ? opened.result : { status: 'failed', error: opened.reason };
      // Records are collected once, when the step first ends here: its status and its records are
      // stored together, and a step already ended here is not given its records twice.
      const collect = FINAL.has(s.status) && !FINAL.has(rec.status);
      let records: AccessRecord[] = [];
      if (collect && opened.ok) {
        const got = collectStepRecords(state, runId, rec.stepId, opened.result, trusted);
        if (got.refused !== null) s = { status: 'failed', error: got.refused, worker: s.worker };
        else {
          records = got.records;
          o.onWritten?.(rec.stepId, opened.result.written ?? []);
          if (got.lostAttempts.length > 0) {
            const note = lostRecordsNote(got.lostAttempts);
            s = { ...s, error: s.error === undefined ? note : `${s.error}; ${note}` };
            o.onLost?.(rec.stepId, note);
          }
        }
      }
      // Unsigned or unknown states are not cached: a refusal stays a refusal only while it is the state in Redis.
      if (typeof sig === 'string') cache.set(rec.stepId, { sig, state: s });
      if (collect)
        runs.finishStep(runId, rec.stepId, {
          status: s.status as 'completed' | 'cached' | 'failed',
          output: s.output,
          durationMs: s.durationMs ?? 0,
          error: s.error,
          cachedFrom: s.cachedFrom,
          records,
        });
      runs.recordRemoteStep(runId, rec.stepId, {
        status: toStepStatus(s.status),
        worker: s.worker ?? null,
        attempts: s.attempts ?? null,
        durationMs: s.durationMs ?? null,
        error: s.error ?? null,
        output: s.output ?? null,
        cachedFrom: s.cachedFrom ?? null,
        cacheKey: s.cacheKey ?? null,
        inputs: s.inputs ?? {},
        startedAt: s.startedAt ?? null,
        // The worker's leak guard found a value in the step's parameters: the history drops them.
        dropParams:
          s.status === 'failed' &&
          s.error?.startsWith(`${SECRET_LEAK_PREFIX}step '${rec.stepId}' would store`) === true &&
          s.error.includes(' in its parameter '),
      });
    }
    onChange?.(rec.stepId, s);
    o.tally?.set(rec.stepId, { status: s.status, error: s.error });
    if (s.status === 'completed' || s.status === 'cached') done++;
    if (s.status === 'failed' && !failed) failed = { stepId: rec.stepId, error: s.error ?? 'failed' };
  }
  let total = steps.length;
  if (only && o.tally) {
    done = 0;
    total = o.total ?? total;
    for (const [stepId, t] of o.tally) {
      if (t.status === 'completed' || t.status === 'cached') done++;
      if (t.status === 'failed' && !failed) failed = { stepId, error: t.error ?? 'failed' };
    }
  }
  const run = runs.getRun(runId);
  if (failed) {
    if (run.status === 'running') runs.finishRun(runId, 'failed', `step '${failed.stepId}' failed: ${failed.error}`);
    return 'failed';
  }
  if (done === total) {
    if (run.status === 'running') runs.finishRun(runId, 'completed', null);
    return 'completed';
  }
  return 'running';
}

function knownStep(runs: RunStore, runId: string, stepId: string): StepRecord[] {
  try {
    return [runs.step(runId, stepId)];
  } catch (e) {
    if (e instanceof NotFoundError) return [];
    throw e;
  }
}

/**
 * Records, in this machine's config store, the run and step as the writer of the versions a
 * worker says a step wrote: the writer text is made here, and only versions of the run's own
 * secrets manager are taken (the worker signed the list, but names nothing else it may write).
 */
function historyWriter(ks: Keystack, stack: StackRuntime, runId: string): SyncOptions['onWritten'] {
  const manager = stack.rawSecretsManager?.uuid;
  return (stepId, written) => {
    for (const w of written)
      if (w.manager === manager) recordWriter(ks.store, w.manager, w.secret, w.version, stepWriter(runId, stepId));
  };
}

/** For `runs describe` / `runs list`: brings a remote run that is still going up to date from Redis. */
export async function refreshRemoteRun(
  ks: Keystack,
  runId: string,
  load: (stack: string) => Promise<StackRuntime>,
  onLost?: SyncOptions['onLost'],
): Promise<void> {
  const runs = new RunStore(ks.store);
  const run = runs.getRun(runId);
  if (run.status !== 'running' || runs.remoteOf(run.id) === null) return;
  const trusted = clientTrustedWorkers(ks, undefined);
  const stack = await load(run.stack);
  const { redis } = await connectOrchestrator(stack);
  try {
    syncRemoteRun(runs, run.id, await readRunState(redis, run.id), trusted, new Map(), {
      onLost,
      onWritten: historyWriter(ks, stack, run.id),
    });
  } finally {
    redis.disconnect();
  }
}
