/**
 * `keystack worker`: takes step jobs from BullMQ queues and runs them. For each run it builds the
 * stack from the job's snapshot in a private temporary config store (never the client's), reads
 * secrets through the snapshot's secrets manager with this process's own credentials (each secret
 * once per run), loads the pipeline module from its own code root (refusing other content than
 * the client ran), runs the step, writes the output to the artifact store, and records the result
 * in Redis, masked, before BullMQ sees anything.
 */
import type { Job, Worker } from 'bullmq';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, relative, resolve, isAbsolute } from 'node:path';
import { ConfigError, KeystackError } from '../../secrets/errors.js';
import { processMasker } from '../../support/masking.js';
import { Keystack } from '../../stack/client.js';
import type { SingleComponentType } from '../../stack/config-store.js';
import type { ComponentFlavor } from '../../stack/components.js';
import { StackRuntime } from '../../stack/runtime.js';
import { loadPipelineModule } from '../module.js';
import { computeCacheKey } from '../runner.js';
import { cacheEnabled, checkJson, type Pipeline, type StepContext, type StepNode } from '../step.js';
import type { StoredArtifact } from '../artifacts.js';
import { addStepJob, finishStepState, QUEUE_PREFIX, queueFor, queueSource, readRunState, retryPolicy, runFailed, setStepState, type RemoteStepState } from './protocol.js';
import { loadBullmq, openRedis, redisError } from './redis.js';
import { moduleHash, parseStepJob, type StackSnapshot, type StepJobData } from './snapshot.js';
import { openRunArtifactStore, type RunArtifactStore } from './store.js';

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
}

export interface RemoteWorker {
  readonly id: string;
  /** Stops taking jobs, lets the current ones finish, and closes connections. */
  close(): Promise<void>;
}

/** A worker keeps the stacks of this many recent runs (each with its secrets read once). */
const RUNS_KEPT = 8;

interface RunContext {
  ks: Keystack;
  dir: string;
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
  if (o.queues.length === 0) throw new ConfigError('a worker needs at least one queue', { hint: 'Pass --queue NAME (the orchestrator\'s queue is `keystack` unless configured).' });
  const bullmq = await loadBullmq();
  // One connection for state and adding jobs (fails fast), one per BullMQ worker (blocking).
  const redis = await openRedis(o.redisUrl, { who, source, blocking: false });
  const queues = queueSource(bullmq, redis);
  const runs = new Map<string, Promise<RunContext>>();

  const runContext = (data: StepJobData): Promise<RunContext> => {
    let ctx = runs.get(data.runId);
    if (!ctx) {
      ctx = buildRunContext(data, { env, codeRoot, componentFlavors: o.componentFlavors });
      // A failed build is not kept: the next attempt tries again (credentials may have been fixed).
      ctx.catch(() => runs.delete(data.runId));
      runs.set(data.runId, ctx);
      while (runs.size > RUNS_KEPT) {
        const [oldest, old] = runs.entries().next().value as [string, Promise<RunContext>];
        runs.delete(oldest);
        void old.then(closeRunContext, () => undefined);
      }
    }
    return ctx;
  };

  const processor = async (job: Job): Promise<unknown> => {
    const data = parseStepJob(job.data);
    const attempt = job.attemptsMade + 1;
    const policy = retryPolicy(data.stack);
    const started = performance.now();
    const startedAt = new Date().toISOString();
    const state = await readRunState(redis, data.runId);
    if (runFailed(state)) {
      // Another step of the run failed for good: this one is not run.
      await setStepState(redis, data.runId, data.step.id, { status: 'skipped', worker: id });
      log(`${data.runId.slice(0, 8)} ${data.step.id}: skipped (the run failed)`);
      return { status: 'skipped' };
    }
    await setStepState(redis, data.runId, data.step.id, { status: 'running', worker: id, attempts: attempt, startedAt, inputs: data.inputs });
    log(`${data.runId.slice(0, 8)} ${data.step.id}: running (attempt ${attempt} of ${policy.attempts})`);
    let ctx: RunContext | undefined;
    try {
      ctx = await runContext(data);
      const result = await runOne(ctx, data, policy.timeoutSeconds);
      const final: RemoteStepState = { ...result, worker: id, attempts: attempt, startedAt, inputs: data.inputs, durationMs: performance.now() - started };
      const after = await finishStepState(redis, data.runId, data.step.id, final);
      log(`${data.runId.slice(0, 8)} ${data.step.id}: ${final.status} in ${Math.round(final.durationMs ?? 0)} ms`);
      await scheduleDependents(ctx, data, after.steps, queues);
      return { status: final.status, worker: id, durationMs: final.durationMs };
    } catch (e) {
      const message = maskedMessage(e, ctx);
      const last = attempt >= policy.attempts || isUnrecoverable(e);
      await setStepState(redis, data.runId, data.step.id, {
        status: last ? 'failed' : 'running', worker: id, attempts: attempt, startedAt, inputs: data.inputs, durationMs: performance.now() - started, error: message,
      });
      log(`${data.runId.slice(0, 8)} ${data.step.id}: attempt ${attempt} failed: ${message}`);
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
    await queues.close().catch(() => undefined);
    redis.disconnect();
    throw e instanceof KeystackError ? e : redisError(e, o.redisUrl, { who, source });
  }
  log(`worker ${id} serving ${o.queues.map((q) => `'${q}'`).join(', ')} (code root ${codeRoot})`);
  return {
    id,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await queues.close().catch(() => undefined);
      for (const ctx of runs.values()) await ctx.then(closeRunContext, () => undefined);
      runs.clear();
      redis.disconnect();
    },
  };
}

/** Either way, the message is masked against every value this process has read. */
function maskedMessage(e: unknown, ctx: RunContext | undefined): string {
  const raw = e instanceof Error ? `${e instanceof KeystackError ? '' : `${e.name}: `}${e.message}` : String(e);
  return ctx ? ctx.stack.resolver.mask(raw) : processMasker.mask(raw);
}

/** Retrying cannot help: the worker's code or setup is wrong, not the step's luck. */
function isUnrecoverable(e: unknown): boolean {
  return e instanceof CodeMismatchError || e instanceof ConfigError;
}

export class CodeMismatchError extends ConfigError {}

const PLACEHOLDER = '__keystack_worker';

async function buildRunContext(data: StepJobData, o: { env: Readonly<Record<string, string | undefined>>; codeRoot: string; componentFlavors: readonly ComponentFlavor[] | undefined }): Promise<RunContext> {
  const file = resolve(o.codeRoot, data.module.path);
  const rel = relative(o.codeRoot, file);
  if (rel.startsWith('..') || isAbsolute(rel)) throw new ConfigError(`the job names module ${data.module.path}, outside this worker's code root`);
  if (!existsSync(file)) {
    throw new CodeMismatchError(`pipeline module ${data.module.path} is not in this worker's code root ${o.codeRoot}`, {
      hint: 'Deploy the same code on the worker (same path relative to --code-root) as the client ran.',
    });
  }
  const hash = moduleHash(file);
  if (hash !== data.module.sha256) {
    throw new CodeMismatchError(`pipeline module ${data.module.path} in this worker's code root differs from the one the client ran (sha256 ${hash.slice(0, 12)}, expected ${data.module.sha256.slice(0, 12)})`, {
      hint: 'Deploy the same commit on the worker and the client; code is not sent through Redis.',
    });
  }
  const { pipeline } = await loadPipelineModule(file, data.module.exportName);
  const dir = mkdtempSync(join(tmpdir(), 'keystack-worker-'));
  const ks = new Keystack({ configDir: dir, env: o.env, onWarning: () => undefined });
  try {
    const stackName = installSnapshot(ks, data.stack);
    const stack = await StackRuntime.load(ks, { stack: stackName, componentFlavors: o.componentFlavors });
    const artifacts = await openRunArtifactStore(stack.artifactStore, dir, o.env);
    return { ks, dir, stack, artifacts, pipeline, nodes: pipeline.graph() };
  } catch (e) {
    await ks.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

async function closeRunContext(ctx: RunContext): Promise<void> {
  await ctx.ks.close().catch(() => undefined);
  rmSync(ctx.dir, { recursive: true, force: true });
}

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

async function runOne(ctx: RunContext, data: StepJobData, timeoutSeconds: number): Promise<RemoteStepState> {
  const node = ctx.nodes.find((n) => n.id === data.step.id);
  if (!node) throw new CodeMismatchError(`pipeline '${ctx.pipeline.name}' in ${data.module.path} has no step '${data.step.id}'`);
  const cacheKey = computeCacheKey(node, data.inputs);
  if (cacheEnabled(node.step, ctx.pipeline) && !data.noCache) {
    for (const entry of await ctx.artifacts.findCacheEntries(cacheKey)) {
      if (entry.runId !== data.runId && (await ctx.artifacts.readable(entry.uri))) {
        return { status: 'cached', output: { uri: entry.uri, hash: entry.hash }, cachedFrom: entry.runId, cacheKey };
      }
    }
  }
  const inputs: Record<string, unknown> = { ...node.params };
  for (const [k, a] of Object.entries(data.inputs)) inputs[k] = await ctx.artifacts.read(a.uri);
  const context: StepContext = { stack: ctx.stack, stepName: node.step.name, stepId: node.id, runId: data.runId, pipelineName: data.pipeline };
  const running = Promise.resolve((node.step.run as (i: unknown, c: StepContext) => unknown)(inputs, context));
  const value = timeoutSeconds > 0 ? await withTimeout(running, timeoutSeconds) : await running;
  checkJson(value, `the output of step '${node.id}'`);
  // One name per step and run: a step run again after its worker died overwrites, never adds.
  const output: StoredArtifact = await ctx.artifacts.write(`${data.runId}/${node.id}.json`, value);
  if (cacheEnabled(node.step, ctx.pipeline)) await ctx.artifacts.putCacheEntry(cacheKey, { ...output, runId: data.runId });
  return { status: 'completed', output, cacheKey };
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

/** Adds each step that reads this one's output and whose inputs are now all complete. */
async function scheduleDependents(ctx: RunContext, data: StepJobData, steps: Map<string, RemoteStepState>, queues: Parameters<typeof addStepJob>[0]): Promise<void> {
  const done = (id: string) => {
    const s = steps.get(id);
    return (s?.status === 'completed' || s?.status === 'cached') && s.output ? s.output : undefined;
  };
  for (const node of ctx.nodes) {
    const ups = Object.entries(node.upstream);
    if (!ups.some(([, from]) => from === data.step.id)) continue;
    const inputs: Record<string, StoredArtifact> = {};
    let ready = true;
    for (const [k, from] of ups) {
      const out = done(from);
      if (!out) ready = false;
      else inputs[k] = out;
    }
    if (!ready) continue;
    await addStepJob(queues, queueFor(data.stack, node.stepOperator), { ...data, step: { id: node.id, name: node.step.name, params: node.params }, inputs });
  }
}
