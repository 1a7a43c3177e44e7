/**
 * `keystack worker`: takes step jobs from BullMQ queues and runs them. Redis is a queue, not an
 * authority: a job runs only if its envelope carries the signature of a client key this worker
 * trusts, within the run's deadline, and only once per attempt on this worker (its own nonce
 * record). Before it builds anything from the job's stack, the worker refuses local-only
 * components and any secrets manager or artifact store whose location its own configuration does
 * not allow (pinning.ts), so its credentials never go where a job says. Then, for each run, it
 * builds the stack in a private temporary config store (never the client's), reads secrets with
 * its own credentials (each secret once per run), loads the pipeline module from its own code
 * root (refusing other content than the client ran), runs the step, writes the output under the
 * run's prefix in the artifact store, and records the result in Redis, masked and signed with its
 * own key, before BullMQ sees anything.
 */
import type { Job, Worker } from 'bullmq';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { ConfigError, KeystackError, SecretAccessDeniedError, SecretLeakError } from '../../errors.js';
import { processMasker } from '../../support/masking.js';
import type { SigningKey } from '../../support/signing.js';
import { Keystack } from '../../stack/client.js';
import type { SingleComponentType } from '../../stack/config-store.js';
import type { ComponentFlavor } from '../../stack/components.js';
import { loadProvenanceKey, PROVENANCE_KEY_VARIABLE, provenanceKeyFile } from '../../stack/provenance-key.js';
import { StackRuntime } from '../../stack/runtime.js';
import { collectingWrites, type WrittenVersion } from '../../stack/writers.js';
import { loadPipelineModule } from '../module.js';
import { checkStep, leakGuardFor } from '../leak-guard.js';
import { computeCacheKey, stepErrorText } from '../run-common.js';
import type { WorkerLauncher } from '../run-common.js';
import { defaultWorker } from '../local-runner.js';
import { scrubbedEnv } from '../step-host/env.js';
import type { StepUser } from '../step-host/parent.js';
import { StepChildError, stepHost, workerCredentialVariables, type StepHost } from './step-host.js';
import { cacheEnabled, checkJson, type Pipeline, type StepContext, type StepNode } from '../step.js';
import { createStepContext } from '../step-context.js';
import { CollectingSink, type AccessSink } from '../../core/provenance.js';
import { encodeArtifact, tryEncodeArtifact, type EncodedArtifact } from '../artifact-store.js';
import type { StoredArtifact } from '../artifacts.js';
import {
  checkSnapshot,
  JobRefusedError,
  openJob,
  parseStepJob,
  signResult,
  stepOutputUri,
  type JobEnvelope,
  type StepResult,
} from './envelope.js';
import { announceTtlMs, startAnnouncing, type Announcer } from './announce.js';
import { ownKey, trustedKeys } from './keys.js';
import { nonceFile, openNonceRecord, type NonceRecord } from './nonces.js';
import { checkJobStack, parseAllowSpec } from './pinning.js';
import {
  addStepJob,
  claimedState,
  finishStepState,
  inlineOutputMaxBytes,
  QUEUE_PREFIX,
  queueSource,
  retryPolicy,
  runTtlSeconds,
  setStepState,
  startStepState,
  type RemoteRunState,
} from './protocol.js';
import { loadBullmq, openRedis, redisError } from './redis.js';
import { moduleHash, PAYLOAD_VERSION, type StackSnapshot, type StepJobData } from './snapshot.js';
import { readOutput, sealedCopyOf, sealedInputsWithin } from './sealed-outputs.js';
import { openRunArtifactStore, type RunArtifactStore } from './store.js';
import {
  buildSnapshotStore,
  closeSnapshotStore,
  KeptByKey,
  moduleKey,
  keepingWrittenOutputs,
  preloadArtifactSdks,
  WrittenOutputs,
  type LoadedPipeline,
  type SnapshotStore,
} from './worker-cache.js';

export interface WorkerOptions {
  redisUrl: string;
  /** Where the URL came from, for messages (`--redis-url`, `KEYSTACK_REDIS_URL`). */
  redisSource?: string | undefined;
  queues: readonly string[];
  concurrency?: number | undefined;
  /** Where pipeline modules are loaded from. @default the current directory */
  codeRoot?: string | undefined;
  /** @default `hostname:pid` */
  name?: string | undefined;
  /** The worker's own environment: the credentials secrets managers use. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  componentFlavors?: readonly ComponentFlavor[] | undefined;
  /** What the worker did, one line each (already masked). */
  onLog?: ((line: string) => void) | undefined;
  /**
   * BullMQ's stalled-job detection: a job whose worker stops renewing its lock for lockDuration
   * is taken back by another worker at the next check. @default 30000 / 30000 / 1
   */
  lockDurationMs?: number | undefined;
  stalledIntervalMs?: number | undefined;
  maxStalledCount?: number | undefined;
  /**
   * The worker's own config directory: its signing key, its record of the step attempts it ran,
   * its trust list of client keys and its registered components live there.
   * @default KEYSTACK_CONFIG_DIR, else $XDG_CONFIG_HOME/keystack, else ~/.config/keystack
   */
  configDir?: string | undefined;
  /** Files of client public keys whose jobs this worker runs, besides its trust list and KEYSTACK_WORKER_TRUSTED_KEYS. */
  trustKeys?: readonly string[] | undefined;
  /**
   * Where the worker's credentials may go, as `FLAVOR:FIELD=VALUE,...`. With none of a kind, a job's
   * secrets manager (artifact store) must be one registered in the worker's config directory,
   * with the same UUID and location.
   */
  allowManagers?: readonly string[] | undefined;
  allowArtifactStores?: readonly string[] | undefined;
  /**
   * `process`: each step runs in a fresh step child without credentials, which reads its declared
   * secrets through this worker (the next child is started while a step runs). `none`: steps run
   * in the worker process, for trusted code only. @default 'process'
   */
  isolation?: 'process' | 'none' | undefined;
  /** How to start step children. @default the keystack CLI the pipeline module resolves */
  stepLauncher?: WorkerLauncher | undefined;
  /** A worker running as root starts step children as this user (checked by the caller). */
  stepUser?: StepUser | undefined;
}

export interface RemoteWorker {
  readonly id: string;
  /** Stops taking jobs, lets the current ones finish, and closes connections. */
  close(): Promise<void>;
}

/** A worker keeps the stacks of this many recent runs (each with its secrets read once). */
const RUNS_KEPT = 8;

interface RunCaches {
  stores: KeptByKey<SnapshotStore>;
  modules: KeptByKey<LoadedPipeline>;
  /** The outputs this worker wrote, which the next step on it reads without a GET. */
  outputs: WrittenOutputs;
}

interface RunContext {
  /** The worker's config dir and environment, for the provenance key. */
  own: { configDir: string; env: Readonly<Record<string, string | undefined>> };
  /** The module file in the code root, for step children. */
  module: { path: string; exportName: string };
  stack: StackRuntime;
  artifacts: RunArtifactStore;
  pipeline: Pipeline;
  nodes: StepNode[];
}

export async function startWorker(o: WorkerOptions): Promise<RemoteWorker> {
  const id = o.name ?? `${hostname()}:${process.pid}`;
  const env = o.env ?? process.env;
  const codeRoot = resolve(o.codeRoot ?? process.cwd());
  const log = o.onLog ?? (() => undefined);
  const source = o.redisSource ?? '--redis-url';
  const who = `worker ${id}`;
  if (o.queues.length === 0)
    throw new ConfigError('a worker needs at least one queue', {
      hint: "Pass --queue NAME (the orchestrator's queue is `keystack` unless configured).",
    });
  const own = new Keystack({
    ...(o.configDir === undefined ? {} : { configDir: o.configDir }),
    env,
    onWarning: () => undefined,
  });
  const trustedClients = trustedKeys('client', { configDir: own.configDir, files: o.trustKeys, env });
  const allowed = [
    ...(o.allowManagers ?? []).map((s) => parseAllowSpec('secrets_manager', s)),
    ...(o.allowArtifactStores ?? []).map((s) => parseAllowSpec('artifact_store', s)),
  ];
  if (trustedClients.size === 0) {
    await own.close();
    throw new ConfigError('this worker trusts no client key, so it would refuse every job', {
      hint: 'On the client run `keystack keys show-public > client.pub`, copy the file here, and start the worker with --trust-key client.pub (or set KEYSTACK_WORKER_TRUSTED_KEYS).',
    });
  }
  const key: SigningKey = ownKey(own.configDir, 'worker');
  const provenance = workerProvenanceKey(own.configDir, env, log);
  const announceTtl = announceTtlMs(env);
  const pins = { allowed, registered: (uuid: string) => own.store.componentById(uuid), env };
  const nonces: NonceRecord = openNonceRecord(nonceFile(own.configDir));
  void preloadArtifactSdks([
    ...allowed.filter((a) => a.type === 'artifact_store').map((a) => a.flavor),
    ...own.store.listComponents('artifact_store').map((c) => c.flavor),
  ]);
  // Set up once per process, not per run (worker-cache.ts): the store a snapshot is installed in, the module.
  const cache: RunCaches = {
    stores: new KeptByKey<SnapshotStore>(RUNS_KEPT, closeSnapshotStore),
    modules: new KeptByKey<LoadedPipeline>(RUNS_KEPT),
    outputs: new WrittenOutputs(),
  };
  const isolation = o.isolation ?? 'process';
  const host: StepHost | undefined =
    isolation === 'process'
      ? await stepHost({
          launcher: o.stepLauncher ?? stepLauncherFor(codeRoot),
          env: scrubbedEnv({ ...process.env, ...env }, workerCredentialVariables(own, allowed)),
          user: o.stepUser,
        })
      : undefined;
  const bullmq = await loadBullmq();
  // One connection for state and adding jobs (fails fast), one per BullMQ worker (blocking).
  const redis = await openRedis(o.redisUrl, { who, source, blocking: false });
  const queues = queueSource(bullmq, redis);
  // Keyed by run and snapshot: a run's stack is built once, from the snapshot its client signed.
  const runs = new Map<string, Promise<RunContext>>();

  const runContext = (envelope: JobEnvelope, snapshot: StackSnapshot): Promise<RunContext> => {
    const k = `${envelope.runId}:${envelope.snapshotHash}`;
    let ctx = runs.get(k);
    if (!ctx) {
      ctx = buildRunContext(envelope, snapshot, { env, codeRoot, componentFlavors: o.componentFlavors, cache, own });
      // A failed build is not kept: the next attempt tries again (credentials may have been fixed).
      ctx.catch(() => runs.delete(k));
      runs.set(k, ctx);
      while (runs.size > RUNS_KEPT) {
        const [oldest, old] = runs.entries().next().value as [string, Promise<RunContext>];
        runs.delete(oldest);
        // A run this worker no longer keeps is one it is done with: its outputs go too.
        cache.outputs.forgetRun(oldest.slice(0, oldest.indexOf(':')));
        void old.then(closeRunContext, () => undefined);
      }
    }
    return ctx;
  };

  const sign = (envelope: JobEnvelope, r: Omit<StepResult, 'runId' | 'stepId' | 'worker'>) =>
    signResult(key, { runId: envelope.runId, stepId: envelope.step.id, worker: id, isolation, ...r });

  // Snapshots already checked against a signed hash: a later step of the run is not hashed again,
  // and its job's own copy of the snapshot is not even read.
  const snapshots = new Map<string, StackSnapshot>();
  const snapshotOf = (envelope: JobEnvelope, carried: unknown): StackSnapshot => {
    let snap = snapshots.get(envelope.snapshotHash);
    if (!snap) {
      snap = checkSnapshot(envelope, carried);
      snapshots.set(envelope.snapshotHash, snap);
      if (snapshots.size > RUNS_KEPT) snapshots.delete(snapshots.keys().next().value as string);
    }
    return snap;
  };

  /** Checks everything that decides whether the job may run here; throws JobRefusedError. */
  const admit = async (job: Job): Promise<{ data: StepJobData; envelope: JobEnvelope; attempt: number }> => {
    const carried = parseStepJob(job.data);
    const { envelope } = openJob(carried.job, trustedClients);
    const data: StepJobData = { ...carried, stack: snapshotOf(envelope, carried.stack) };
    if (envelope.runId !== data.runId || envelope.step.id !== data.stepId) {
      throw new JobRefusedError('refused a step job: its routing fields do not match its signed envelope', {
        hint: 'Something rewrote the job in Redis; check who can write to it.',
      });
    }
    // The queue decides which workers (with which credentials) run a step: a job moved to another
    // queue would run with credentials the client never meant it to.
    if (envelope.queue !== job.queueName) {
      throw new JobRefusedError(
        'refused a step job: it was taken from another queue than the one the client signed it for',
        { hint: 'Something moved the job in Redis; check who can write to it.' },
      );
    }
    const attempt = job.attemptsMade + 1;
    if (attempt > envelope.attempts)
      throw new JobRefusedError('refused a step job: it claims more attempts than the client allowed', {
        hint: 'Something rewrote the job in Redis; check who can write to it.',
      });
    if (!nonces.claim(envelope.runId, envelope.step.id, attempt, envelope.deadline)) throw new ReplayedJobError();
    return { data, envelope, attempt };
  };

  const processor = async (job: Job): Promise<unknown> => {
    let admitted: Awaited<ReturnType<typeof admit>>;
    try {
      admitted = await admit(job);
    } catch (e) {
      // Nothing of the job is trusted: no state is written, and the reason quotes none of it.
      const message = e instanceof KeystackError ? e.message : 'refused a step job: it could not be read';
      log(`queue '${job.queueName}': ${message}`);
      const err = e instanceof ReplayedJobError ? new Error(message) : new bullmq.UnrecoverableError(message);
      err.stack = `${err.name}: ${message}`;
      throw err;
    }
    const { data, envelope, attempt } = admitted;
    const runId = envelope.runId;
    const stepId = envelope.step.id;
    const policy = retryPolicy(data.stack);
    const ttlSeconds = runTtlSeconds(data.stack);
    const sink = new CollectingSink();
    const started = performance.now();
    const startedAt = new Date().toISOString();
    const start = await startStepState(
      redis,
      runId,
      stepId,
      {
        running: sign(envelope, { status: 'running', attempts: attempt, startedAt }),
        skipped: sign(envelope, { status: 'skipped', attempts: attempt }),
      },
      ttlSeconds,
    );
    if (start === 'skipped') {
      // Another step of the run failed for good: this one is not run, nor any other of the run here.
      cache.outputs.forgetRun(runId);
      log(`${runId.slice(0, 8)} ${stepId}: skipped (the run failed)`);
      return { status: 'skipped' };
    }
    log(`${runId.slice(0, 8)} ${stepId}: running (attempt ${attempt} of ${envelope.attempts})`);
    let ctx: RunContext | undefined;
    // The versions the step writes: sent back so that the client's `secret history` names the step.
    const written: WrittenVersion[] = [];
    try {
      // Before anything is built from the stack, and so before any request goes anywhere.
      await checkJobStack(data.stack, pins, o.componentFlavors);
      ctx = await runContext(envelope, data.stack);
      const run = ctx;
      const result = await collectingWrites(written, () =>
        runOne(run, envelope, policy.timeoutSeconds, {
          host,
          attempt,
          worker: id,
          sink,
          provenanceKey: () => provenance,
          sealedInputs: data.sealedInputs ?? {},
          copyMaxBytes: inlineOutputMaxBytes(data.stack),
          onCopyRefused: (reason) => log(`${runId.slice(0, 8)} ${stepId}: ${reason}; read from the store instead`),
        }),
      );
      const records = sink.drain();
      const final = {
        ...result,
        attempts: attempt,
        startedAt,
        durationMs: performance.now() - started,
        records,
        recordCount: records.length,
        ...(written.length > 0 ? { written } : {}),
      };
      const after = await finishStepState(
        redis,
        runId,
        stepId,
        sign(envelope, final),
        { attempt, ttlSeconds },
        dependentFields(ctx.nodes, stepId),
      );
      log(`${runId.slice(0, 8)} ${stepId}: ${final.status} in ${Math.round(final.durationMs)} ms`);
      await scheduleDependents(ctx, data, { stepId, sealedOutput: final.sealedOutput }, after, queues);
      return { status: final.status, worker: id, durationMs: final.durationMs };
    } catch (e) {
      // An output written by an attempt that did not complete is not what the next step reads:
      // another attempt, here or elsewhere, writes the one that counts.
      cache.outputs.forgetOutput(stepOutputUri(runId, stepId));
      const message = maskedMessage(e, ctx);
      const last = attempt >= policy.attempts || isUnrecoverable(e);
      // The attempt's reads are on record even when it failed (a denial is one of them).
      const records = sink.drain();
      await setStepState(
        redis,
        runId,
        stepId,
        sign(envelope, {
          status: last ? 'failed' : 'running',
          attempts: attempt,
          startedAt,
          durationMs: performance.now() - started,
          error: message,
          records,
          recordCount: records.length,
          ...(written.length > 0 ? { written } : {}),
        }),
        { attempt, ttlSeconds, failedForGood: last },
      );
      log(`${runId.slice(0, 8)} ${stepId}: attempt ${attempt} failed: ${message}`);
      // BullMQ keeps the message and the stack in Redis: both are the masked message only.
      const err = last && isUnrecoverable(e) ? new bullmq.UnrecoverableError(message) : new Error(message);
      err.stack = `${err.name}: ${message}`;
      throw err;
    }
  };

  const workers: Worker[] = [];
  try {
    for (const name of o.queues) {
      const connection = await openRedis(o.redisUrl, { who, source, blocking: true });
      const w = new bullmq.Worker(name, processor, {
        connection,
        prefix: QUEUE_PREFIX,
        concurrency: o.concurrency ?? 1,
        name: id,
        ...(o.lockDurationMs === undefined ? {} : { lockDuration: o.lockDurationMs }),
        ...(o.stalledIntervalMs === undefined ? {} : { stalledInterval: o.stalledIntervalMs }),
        ...(o.maxStalledCount === undefined ? {} : { maxStalledCount: o.maxStalledCount }),
      });
      w.on('error', (e) => log(`queue ${name}: ${redisError(e, o.redisUrl, { who, source }).message}`));
      workers.push(w);
    }
    await Promise.all(workers.map((w) => w.waitUntilReady()));
  } catch (e) {
    await Promise.all(workers.map((w) => w.close(true).catch(() => undefined)));
    host?.close();
    await queues.close().catch(() => undefined);
    redis.disconnect();
    nonces.close();
    await own.close();
    throw e instanceof KeystackError ? e : redisError(e, o.redisUrl, { who, source });
  }
  const announcer: Announcer = startAnnouncing(redis, key, {
    name: id,
    host: hostname(),
    isolation,
    startedAt: new Date().toISOString(),
    queues: [...o.queues],
    ttlMs: announceTtl,
    onError: (e) => log(`announcing this worker: ${redisError(e, o.redisUrl, { who, source }).message}`),
  });
  const pinning =
    pins.allowed.length > 0
      ? `${pins.allowed.length} allowed location${pins.allowed.length === 1 ? '' : 's'}`
      : 'its own registered components only';
  log(
    isolation === 'none'
      ? `worker ${id}: --isolation none: steps run inside this worker process, with its credentials within reach; for trusted code only`
      : `worker ${id}: steps run in step children without credentials${o.stepUser ? ` as user ${o.stepUser.name}` : ' as this user (same-user isolation: a step can still read files this user can)'}`,
  );
  log(
    `worker ${id} serving ${o.queues.map((q) => `'${q}'`).join(', ')} (code root ${codeRoot}; key ${key.id}; trusts ${trustedClients.size} client key${trustedClients.size === 1 ? '' : 's'}; credentials go to ${pinning})`,
  );
  return {
    id,
    async close() {
      await announcer.stop();
      await Promise.all(workers.map((w) => w.close()));
      host?.close();
      await queues.close().catch(() => undefined);
      for (const ctx of runs.values()) await ctx.then(closeRunContext, () => undefined);
      runs.clear();
      await cache.stores.clear();
      cache.outputs.clear();
      redis.disconnect();
      nonces.close();
      await own.close();
    },
  };
}

/** The keystack CLI the code root's modules import, else the one this process runs from. */
function stepLauncherFor(codeRoot: string): WorkerLauncher {
  try {
    return defaultWorker(join(codeRoot, 'noop.js'));
  } catch {
    return defaultWorker(undefined);
  }
}

/**
 * A signed job this worker has already run this attempt of. Not final: BullMQ may try the next
 * attempt, which is a new nonce, within the number of attempts the client signed.
 */
class ReplayedJobError extends JobRefusedError {
  constructor() {
    super('refused a step job: this worker has already run this attempt of the step (a replay)', {
      hint: 'Each attempt of a signed step runs at most once per worker.',
    });
  }
}

/** Either way, the message is masked against every value this process has read. */
function maskedMessage(e: unknown, ctx: RunContext | undefined): string {
  const raw = e instanceof StepChildError ? e.message : stepErrorText(e);
  return ctx ? ctx.stack.resolver.mask(raw) : processMasker.mask(raw);
}

/** Retrying cannot help: the worker's code or setup is wrong, or the step reads what it did not declare. */
function isUnrecoverable(e: unknown): boolean {
  // In a step child, a ConfigError (missing credentials, say) or a denial arrives as its code.
  return (
    e instanceof CodeMismatchError ||
    e instanceof ConfigError ||
    e instanceof SecretAccessDeniedError ||
    e instanceof SecretLeakError ||
    (e instanceof StepChildError && (e.code === 'config' || e.code === 'denied'))
  );
}

export class CodeMismatchError extends ConfigError {}

const PLACEHOLDER = '__keystack_worker';

async function buildRunContext(
  envelope: JobEnvelope,
  snapshot: StackSnapshot,
  o: {
    env: Readonly<Record<string, string | undefined>>;
    codeRoot: string;
    componentFlavors: readonly ComponentFlavor[] | undefined;
    cache: RunCaches;
    own: Keystack;
  },
): Promise<RunContext> {
  const mod = envelope.module;
  const file = resolve(o.codeRoot, mod.path);
  const rel = relative(o.codeRoot, file);
  if (rel.startsWith('..') || isAbsolute(rel))
    throw new ConfigError(`the job names module ${mod.path}, outside this worker's code root`);
  if (!existsSync(file)) {
    throw new CodeMismatchError(`pipeline module ${mod.path} is not in this worker's code root ${o.codeRoot}`, {
      hint: 'Deploy the same code on the worker (same path relative to --code-root) as the client ran.',
    });
  }
  const hash = moduleHash(file);
  if (hash !== mod.sha256) {
    throw new CodeMismatchError(
      `pipeline module ${mod.path} in this worker's code root differs from the one the client ran (sha256 ${hash.slice(0, 12)}, expected ${mod.sha256.slice(0, 12)})`,
      {
        hint: 'Deploy the same commit on the worker and the client; code is not sent through Redis.',
      },
    );
  }
  const { pipeline, nodes } = await o.cache.modules.get(moduleKey(mod), async () => {
    const { pipeline } = await loadPipelineModule(file, mod.exportName);
    return { pipeline, nodes: pipeline.graph() };
  });
  const store = await o.cache.stores.get(envelope.snapshotHash, () =>
    buildSnapshotStore(snapshot, o.env, installSnapshot),
  );
  // Per run: the stack's cache of secret values, so each secret is read once per run, not once per process.
  const stack = await StackRuntime.load(store.ks, { stack: store.stackName, componentFlavors: o.componentFlavors });
  // Both isolations read a step's inputs here, in the worker process, so both read through it.
  const artifacts = keepingWrittenOutputs(
    await openRunArtifactStore(stack.artifactStore, store.dir, o.env),
    o.cache.outputs,
  );
  return {
    own: { configDir: o.own.configDir, env: o.env },
    module: { path: file, exportName: mod.exportName },
    stack,
    artifacts,
    pipeline,
    nodes,
  };
}

/** A run's own context holds nothing to close: its store is the snapshot's, closed with the worker. */
async function closeRunContext(_ctx: RunContext): Promise<void> {}

/**
 * Puts the snapshot's components (with their ids: component-scoped secrets are keyed on them)
 * into the worker's private store, in place of the store's own default components.
 */
function installSnapshot(ks: Keystack, snap: StackSnapshot): string {
  const store = ks.store;
  return store.tx(() => {
    const defaults = store.getStack('default');
    // Another stack becomes active first, so that the default one can be replaced.
    store.addStack(PLACEHOLDER, {});
    store.setActiveStack(PLACEHOLDER);
    store.setStackComponents('default', {});
    for (const uuid of Object.values(defaults.components)) {
      const c = store.componentById(uuid);
      if (c) store.deleteComponent(c.type, c.uuid);
    }
    const components: Partial<Record<SingleComponentType, string>> = {};
    const stepOperators: string[] = [];
    for (const c of snap.components) {
      store.addComponent({ type: c.type, flavor: c.flavor, name: c.name, config: c.config, uuid: c.uuid });
      if (c.type === 'step_operator') stepOperators.push(c.uuid);
      else components[c.type] = c.uuid;
    }
    if (snap.name === 'default') store.deleteStack('default');
    store.addStack(snap.name, components, stepOperators);
    return snap.name;
  });
}

/** The hash a stored output gets (see ArtifactStore.write), computed from what was read. */
function contentHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify({ value })).digest('hex');
}

async function runOne(
  ctx: RunContext,
  envelope: JobEnvelope,
  timeoutSeconds: number,
  how: {
    host: StepHost | undefined;
    attempt: number;
    worker: string;
    sink: AccessSink;
    provenanceKey: () => Buffer;
    /** The sealed copies of its inputs that came with the job (unchecked), by URI. */
    sealedInputs: Readonly<Record<string, string>>;
    /** The largest output that travels sealed beside the store. */
    copyMaxBytes: number;
    onCopyRefused: (reason: string) => void;
  },
): Promise<Omit<StepResult, 'runId' | 'stepId' | 'worker'>> {
  const stepId = envelope.step.id;
  const node = ctx.nodes.find((n) => n.id === stepId);
  if (!node)
    throw new CodeMismatchError(`pipeline '${ctx.pipeline.name}' in ${envelope.module.path} has no step '${stepId}'`);
  // The inputs come from the URIs the client signed, and their hashes from what is read, never
  // from Redis: a forged hash could otherwise pick another run's cached output.
  const inputs: Record<string, unknown> = { ...node.params };
  const stored: Record<string, StoredArtifact> = {};
  for (const [k, uri] of Object.entries(envelope.inputs)) {
    const copy = Object.hasOwn(how.sealedInputs, uri) ? how.sealedInputs[uri] : undefined;
    const value = await readOutput(ctx.artifacts, uri, copy, { onRefused: how.onCopyRefused });
    inputs[k] = value;
    stored[k] = { uri, hash: contentHash(value) };
  }
  const cacheKey = computeCacheKey(node, stored);
  const outputUri = stepOutputUri(envelope.runId, stepId);
  const policy = { maxBytes: how.copyMaxBytes, allowSecretOutputs: node.step.allowSecretOutputs };
  // The output is written before its sealed copy is made: the store is the record.
  const store = async (value: unknown, encoded: EncodedArtifact) => {
    const output = await ctx.artifacts.write(outputUri, value, encoded);
    const sealedOutput = await sealedCopyOf(ctx.artifacts, outputUri, encoded, policy);
    return { output, ...(sealedOutput === undefined ? {} : { sealedOutput }) };
  };
  if (cacheEnabled(node.step, ctx.pipeline) && !envelope.noCache) {
    for (const entry of await ctx.artifacts.findCacheEntries(cacheKey)) {
      if (entry.runId !== envelope.runId && (await ctx.artifacts.readable(entry.uri))) {
        // Copied under this run's prefix: later steps read only outputs of their own run.
        const value = await ctx.artifacts.read(entry.uri);
        const copied = await store(value, encodeArtifact(value));
        return { status: 'cached', ...copied, cachedFrom: entry.runId, cacheKey, inputs: stored };
      }
    }
  }
  const guard = leakGuardFor(ctx.stack.resolver, envelope.leakMinLength);
  let value: unknown;
  if (how.host) {
    value = (await how.host.run(ctx, envelope, node, inputs, timeoutSeconds, how)).value;
  } else {
    const context = createStepContext({
      stack: ctx.stack,
      runId: envelope.runId,
      pipeline: envelope.pipeline,
      node,
      attempt: how.attempt,
      worker: how.worker,
      sink: how.sink,
      provenanceKey: how.provenanceKey,
    });
    const running = Promise.resolve((node.step.run as (i: unknown, c: StepContext) => unknown)(inputs, context));
    try {
      value = timeoutSeconds > 0 ? await withTimeout(running, timeoutSeconds) : await running;
    } catch (e) {
      // A value in the step's own error fails it as a leak: the masked text would still say which.
      throw checkStep(guard, node, { error: stepErrorText(e) }) ?? e;
    }
  }
  // Encoded once: the guard scans the bytes the store then writes. Before the JSON check, so
  // that a value inside a Buffer is reported as the leak it is. Here for both isolations: a step
  // child's output is checked in this process, as it arrived.
  const encoded = tryEncodeArtifact(value);
  const leak = checkStep(guard, node, { output: value, stored: encoded?.json });
  if (leak) throw leak;
  checkJson(value, `the output of step '${node.id}'`);
  // One name per step and run: a step run again after its worker died overwrites, never adds.
  // (checkJson passed, so the value encodes.)
  const written = await store(value, encoded ?? encodeArtifact(value));
  if (cacheEnabled(node.step, ctx.pipeline))
    await ctx.artifacts.putCacheEntry(cacheKey, { ...written.output, runId: envelope.runId });
  return { status: 'completed', ...written, cacheKey, inputs: stored };
}

/**
 * The provenance key comes to a worker out of band (its config dir or the variable), never
 * through Redis; a worker that makes its own says so, since its fingerprints match no one else's.
 */
function workerProvenanceKey(
  configDir: string,
  env: Readonly<Record<string, string | undefined>>,
  log: (line: string) => void,
): Buffer {
  const fromEnv = (env[PROVENANCE_KEY_VARIABLE] ?? '') !== '';
  const file = provenanceKeyFile(configDir);
  const had = fromEnv || existsSync(file);
  const key = loadProvenanceKey(configDir, env);
  if (!had)
    log(
      `created a provenance key in ${file}: fingerprints of this worker's reads match the client's only with the same key; copy the client's key here (or set ${PROVENANCE_KEY_VARIABLE}) and restart`,
    );
  return key;
}

async function withTimeout<T>(p: Promise<T>, seconds: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${seconds} s (step_timeout_seconds)`)), seconds * 1000);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** What scheduling the steps after `stepId` reads: the states of their inputs, and their jobs. */
function dependentFields(nodes: readonly StepNode[], stepId: string): { steps: string[]; jobs: string[] } {
  const steps = new Set<string>();
  const jobs: string[] = [];
  for (const node of nodes) {
    const ups = Object.values(node.upstream);
    if (!ups.includes(stepId)) continue;
    jobs.push(node.id);
    for (const u of ups) steps.add(u);
  }
  return { steps: [...steps], jobs };
}

/**
 * Adds each step that reads this one's output and whose inputs are now all complete, with the
 * envelope the client signed for it (forwarded unchanged; the worker that takes it checks it).
 */
async function scheduleDependents(
  ctx: RunContext,
  data: StepJobData,
  finished: { stepId: string; sealedOutput: string | undefined },
  state: RemoteRunState,
  queues: Parameters<typeof addStepJob>[0],
): Promise<void> {
  const { stepId } = finished;
  // Each input's claimed state parsed once: with a sealed copy in it, it may be large.
  const claimed = new Map<string, Record<string, unknown> | null>();
  const claimOf = (id: string) => {
    if (!claimed.has(id)) claimed.set(id, claimedState(state.steps.get(id)));
    return claimed.get(id);
  };
  const done = (id: string) => {
    const s = claimOf(id)?.['status'];
    return s === 'completed' || s === 'cached';
  };
  // The sealed copies of the outputs the dependent reads: this step's as it made it, the others'
  // as their results claim them. The worker that takes the job checks each as it opens it.
  const copyOf = (id: string): string | undefined => {
    const copy = id === stepId ? finished.sealedOutput : claimOf(id)?.['sealedOutput'];
    return typeof copy === 'string' ? copy : undefined;
  };
  for (const node of ctx.nodes) {
    const ups = Object.values(node.upstream);
    if (!ups.includes(stepId) || !ups.every(done)) continue;
    const job = state.jobs.get(node.id);
    const queue = (job as { p?: unknown } | undefined)?.p;
    if (job === undefined || typeof queue !== 'string') continue; // no envelope: nothing a worker could run
    // The queue is read from the envelope only to route it; the worker that takes the job checks it whole.
    let q: string;
    try {
      q = String((JSON.parse(queue) as { queue?: unknown }).queue);
    } catch {
      continue;
    }
    const sealedInputs = sealedInputsWithin([...new Set(ups)].map((u) => [stepOutputUri(data.runId, u), copyOf(u)]));
    await addStepJob(queues, q, {
      v: PAYLOAD_VERSION,
      runId: data.runId,
      stepId: node.id,
      job: job as StepJobData['job'],
      stack: data.stack,
      ...(Object.keys(sealedInputs).length > 0 ? { sealedInputs } : {}),
    });
  }
}
