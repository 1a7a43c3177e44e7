/**
 * The orchestrators that run steps on this machine: `local` runs each step in this process,
 * `local_process` starts one Node process per step, which rebuilds the stack from the config store
 * on its own (runStepWorker), as a remote worker would. Both share one loop over the steps; they
 * differ only in how one step is launched.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ConfigError } from '../errors.js';
import { CollectingSink } from '../core/provenance.js';
import { processMasker } from '../support/masking.js';
import type { Keystack } from '../stack/client.js';
import { StackRuntime } from '../stack/runtime.js';
import type { ComponentFlavor } from '../stack/components.js';
import { loadProvenanceKey } from '../stack/provenance-key.js';
import { openArtifactStore, type ArtifactStore, type CacheEntry, type StoredArtifact } from './artifacts.js';
import { loadPipelineModule } from './module.js';
import {
  computeCacheKey,
  plannedSteps,
  StepFailedError,
  stepErrorText,
  warnOpenDeclarations,
  type RunOptions,
  type RunSummary,
  type WorkerLauncher,
} from './run-common.js';
import { RunStore, type RunRecord, type StepStatus } from './run-store.js';
import { cacheEnabled, checkJson, type Pipeline, type StepContext, type StepNode } from './step.js';
import { componentRecorder, createStepContext } from './step-context.js';

/**
 * Runs one step on this machine and records its result; `started` is when the runner took the
 * step up (before its cache lookup).
 */
type StepLauncher = (ks: Keystack, step: ExecuteArgs, options: RunOptions, started: number) => Promise<void>;

/** `local`: the step runs here; what it prints goes through the masker too, as in a step process. */
export const inThisProcess: StepLauncher = async (_ks, step) => {
  const unmask = maskWrites([process.stdout, process.stderr]);
  try {
    await executeStep(step);
  } finally {
    unmask();
  }
};

/** `local_process`: the step runs in a process of its own, which records the step itself. */
export const inStepProcesses: StepLauncher = async (ks, step, options, started) => {
  const { stack, runs, run, node } = step;
  await runInProcess(ks, stack, run, node, options.worker ?? defaultWorker(options.module?.path));
  // What the user waited for includes starting the process.
  runs.setDuration(run.id, node.id, performance.now() - started);
};

/** Runs the steps in order on this machine, each through `launch`, on a stack already validated. */
export async function runOnThisMachine(
  ks: Keystack,
  stack: StackRuntime,
  p: Pipeline,
  options: RunOptions,
  launch: StepLauncher,
): Promise<RunSummary> {
  const nodes = p.graph();
  const runs = new RunStore(ks.store);
  const runId = randomUUID();
  const provenanceKey = () => loadProvenanceKey(ks.configDir, ks.env);
  // What the orchestrator and the artifact store read for the run is on record too, as theirs.
  const componentReads = new CollectingSink();
  stack.resolver.onRead(
    componentRecorder({
      runId,
      pipeline: p.name,
      attempt: 1,
      manager: stack.rawSecretsManager,
      sink: componentReads,
      provenanceKey,
    }),
  );
  try {
    return await runSteps(ks, stack, p, nodes, runs, { runId, componentReads, provenanceKey }, options, launch);
  } finally {
    stack.resolver.onRead(undefined);
    const left = componentReads.drain();
    if (left.length > 0) runs.recordAccess(runId, left);
  }
}

async function runSteps(
  ks: Keystack,
  stack: StackRuntime,
  p: Pipeline,
  nodes: StepNode[],
  runs: RunStore,
  {
    runId,
    componentReads,
    provenanceKey,
  }: { runId: string; componentReads: CollectingSink; provenanceKey: () => Buffer },
  options: RunOptions,
  launch: StepLauncher,
): Promise<RunSummary> {
  const orch = stack.orchestrator;
  const artifacts = await openArtifactStore(stack.artifactStore, { configDir: ks.configDir, env: ks.env });
  const run: RunRecord = {
    id: runId,
    pipeline: p.name,
    stack: stack.name,
    orchestrator: orch.name,
    module: options.module?.path ?? null,
    exportName: options.module?.exportName ?? null,
    status: 'running',
    startedAt: new Date().toISOString(),
    endedAt: null,
    error: null,
  };
  runs.createRun(run, plannedSteps(p, nodes));
  runs.recordAccess(run.id, componentReads.drain());
  options.onRunStart?.(run, stack);
  warnOpenDeclarations(nodes, options);

  const outputs = new Map<string, StoredArtifact>();
  for (const node of nodes) {
    const inputs: Record<string, StoredArtifact> = {};
    for (const [k, from] of Object.entries(node.upstream)) inputs[k] = outputs.get(from) as StoredArtifact;
    const cacheKey = computeCacheKey(node, inputs);
    runs.startStep(run.id, node.id, { inputs, cacheKey, artifactStore: stack.artifactStore.record.uuid });
    const started = performance.now();
    if (cacheEnabled(node.step, p) && !options.noCache) {
      // The cache index lives in the artifact store, so that any machine sharing it finds the hit.
      const hit = await firstReadable(
        artifacts,
        (await artifacts.findCacheEntries(cacheKey)).filter((c) => c.runId !== run.id),
      );
      if (hit) {
        const durationMs = performance.now() - started;
        const output: StoredArtifact = { uri: hit.uri, hash: hit.hash };
        runs.finishStep(run.id, node.id, { status: 'cached', output, durationMs, cachedFrom: hit.runId });
        outputs.set(node.id, output);
        options.onStep?.({ runId: run.id, stepId: node.id, status: 'cached', durationMs });
        continue;
      }
    }
    options.onStep?.({ runId: run.id, stepId: node.id, status: 'running' });
    await launch(ks, { stack, artifacts, runs, run, node, provenanceKey }, options, started);
    runs.recordAccess(run.id, componentReads.drain());
    const rec = runs.step(run.id, node.id);
    const durationMs = rec.durationMs ?? performance.now() - started;
    if (rec.status !== 'completed' || !rec.output) {
      const error = stack.resolver.mask(rec.error ?? 'the step process ended without a result');
      runs.finishRun(run.id, 'failed', error);
      options.onStep?.({ runId: run.id, stepId: node.id, status: 'failed', durationMs, error });
      throw new StepFailedError(run.id, node.id, error);
    }
    outputs.set(node.id, rec.output);
    options.onStep?.({ runId: run.id, stepId: node.id, status: 'completed', durationMs });
  }
  const values: Record<string, unknown> = {};
  try {
    for (const [id, a] of outputs) values[id] = await artifacts.read(a.uri);
  } catch (e) {
    // A run whose outputs cannot be read back did not complete.
    runs.finishRun(run.id, 'failed', stack.resolver.mask(e instanceof Error ? e.message : String(e)));
    throw e;
  }
  runs.finishRun(run.id, 'completed', null);
  return { run: runs.getRun(run.id), steps: runs.steps(run.id), outputs: values };
}

/** The newest cached output that can still be read (its key may have been rotated since). */
async function firstReadable(
  artifacts: ArtifactStore,
  candidates: readonly CacheEntry[],
): Promise<CacheEntry | undefined> {
  for (const c of candidates) if (await artifacts.readable(c.uri)) return c;
  return undefined;
}

/**
 * Runs `fn` with whatever in-process code writes to stdout (console.log, process.stdout.write)
 * sent to `to` instead: the one point where a command that owns stdout (`--json`) keeps it
 * for its result. Step processes of `local_process` get the same through their stdio.
 */
export async function withStdoutTo<T>(to: NodeJS.WritableStream, fn: () => Promise<T>): Promise<T> {
  const stdout = process.stdout;
  const own = Object.getOwnPropertyDescriptor(stdout, 'write');
  const redirected = ((chunk: unknown, ...rest: unknown[]) =>
    (to.write as (...a: unknown[]) => boolean)(chunk, ...rest)) as typeof stdout.write;
  stdout.write = redirected;
  try {
    return await fn();
  } finally {
    if (own) Object.defineProperty(stdout, 'write', own);
    else delete (stdout as { write?: unknown }).write;
  }
}

interface ExecuteArgs {
  stack: StackRuntime;
  artifacts: ArtifactStore;
  runs: RunStore;
  run: RunRecord;
  node: StepNode;
  provenanceKey: () => Buffer;
}

/**
 * Runs one step here and records its result, with the step's access records in the same write;
 * never throws for a failure of the step itself.
 */
async function executeStep({ stack, artifacts, runs, run, node, provenanceKey }: ExecuteArgs): Promise<void> {
  const started = performance.now();
  const rec = runs.step(run.id, node.id);
  const sink = new CollectingSink();
  try {
    const inputs: Record<string, unknown> = { ...node.params };
    for (const [k, a] of Object.entries(rec.inputs)) inputs[k] = await artifacts.read(a.uri);
    const context = createStepContext({
      stack,
      runId: run.id,
      pipeline: run.pipeline,
      node,
      attempt: 1,
      sink,
      provenanceKey,
    });
    const value = await (node.step.run as (i: unknown, c: StepContext) => unknown)(inputs, context);
    checkJson(value, `the output of step '${node.id}'`);
    const output = await artifacts.write(`${run.id}/${node.id}.json`, value);
    // Written by whoever ran the step, once its output is complete: a hit is always readable.
    if (rec.cacheKey !== null) await artifacts.putCacheEntry(rec.cacheKey, { ...output, runId: run.id });
    runs.finishStep(run.id, node.id, {
      status: 'completed',
      output,
      durationMs: performance.now() - started,
      records: sink.drain(),
    });
  } catch (e) {
    runs.finishStep(run.id, node.id, {
      status: 'failed',
      durationMs: performance.now() - started,
      error: stack.resolver.mask(stepErrorText(e)),
      records: sink.drain(),
    });
  }
}

/**
 * Starts a step process and waits for it; the process records the step's result itself. Over a
 * private IPC channel (never argv or env) the parent first gives it every value to mask that this
 * run knows, so that the step's error is masked before it is stored, and the child answers with
 * the values it read, so that later steps and this process mask those too.
 */
async function runInProcess(
  ks: Keystack,
  stack: StackRuntime,
  run: RunRecord,
  node: StepNode,
  worker: WorkerLauncher,
): Promise<void> {
  const timeout = Number(stack.orchestrator.config['timeout_seconds'] ?? 0);
  const nodeOptions = stack.orchestrator.config['node_options'];
  const flags = typeof nodeOptions === 'string' && nodeOptions.trim() ? nodeOptions.trim().split(/\s+/) : [];
  // The flag (not a value) tells the step process that fd 3 is our masking channel.
  const env = { ...process.env, ...ks.env, KEYSTACK_CONFIG_DIR: ks.configDir, [CHANNEL_FLAG]: 'ipc' };
  const args =
    worker.command === process.execPath
      ? [...flags, ...worker.args, run.id, node.id]
      : [...worker.args, run.id, node.id];
  // Loaded here, not at start-up: child_process costs every other CLI call a few ms.
  const { spawn } = await import('node:child_process');
  await new Promise<void>((resolve) => {
    // The step's own output goes to our stderr, so that stdout stays the command's result.
    const child = spawn(worker.command, args, { env, stdio: ['ignore', 2, 2, 'ipc'] });
    child.on('message', (m: unknown) => {
      if (isMaskMessage(m)) processMasker.add(m.values);
    });
    // A failed send means the process is gone; its exit is what gets reported.
    child.send(maskMessage(), () => undefined);
    const timer = timeout > 0 ? setTimeout(() => child.kill('SIGKILL'), timeout * 1000) : undefined;
    child.on('error', (e) => {
      clearTimeout(timer);
      new RunStore(ks.store).finishStep(run.id, node.id, {
        status: 'failed',
        durationMs: 0,
        error: `cannot start the step process: ${e.message}`,
      });
      resolve();
    });
    // 'close', not 'exit': it comes after the IPC channel closed, so every message has arrived.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const rec = new RunStore(ks.store).step(run.id, node.id);
      if (rec.status === 'running') {
        const why =
          signal === 'SIGKILL' && timeout > 0
            ? `timed out after ${timeout} s`
            : `the step process exited with ${signal ?? `code ${code}`}`;
        new RunStore(ks.store).finishStep(run.id, node.id, { status: 'failed', durationMs: 0, error: why });
      }
      resolve();
    });
  });
}

/**
 * Inside a step process: rebuild the stack from the config store, load the pipeline module,
 * run the one step and record the result. Returns the step's final status.
 */
export async function runStepWorker(
  ks: Keystack,
  runId: string,
  stepId: string,
  componentFlavors?: readonly ComponentFlavor[],
): Promise<StepStatus> {
  const runs = new RunStore(ks.store);
  const channel = process.env[CHANNEL_FLAG] === 'ipc' && process.send !== undefined;
  if (channel) await receiveMaskValues();
  const run = runs.getRun(runId);
  const unmask = maskWrites([process.stdout, process.stderr]);
  try {
    return await runStep(ks, runs, run, stepId, componentFlavors);
  } finally {
    unmask();
    if (channel) await reportMaskValues();
  }
}

async function runStep(
  ks: Keystack,
  runs: RunStore,
  run: RunRecord,
  stepId: string,
  componentFlavors: readonly ComponentFlavor[] | undefined,
): Promise<StepStatus> {
  if (!run.module) throw new ConfigError(`run ${run.id} has no pipeline module recorded`);
  const { pipeline } = await loadPipelineModule(run.module, run.exportName ?? undefined);
  const node = pipeline.graph().find((n) => n.id === stepId);
  if (!node) throw new ConfigError(`pipeline '${pipeline.name}' in ${run.module} has no step '${stepId}' any more`);
  const stack = await StackRuntime.load(ks, { stack: run.stack, componentFlavors });
  const provenanceKey = () => loadProvenanceKey(ks.configDir, ks.env);
  const componentReads = new CollectingSink();
  stack.resolver.onRead(
    componentRecorder({
      runId: run.id,
      pipeline: run.pipeline,
      attempt: 1,
      manager: stack.rawSecretsManager,
      sink: componentReads,
      provenanceKey,
    }),
  );
  try {
    const artifacts = await openArtifactStore(stack.artifactStore, { configDir: ks.configDir, env: ks.env });
    await executeStep({ stack, artifacts, runs, run, node, provenanceKey });
  } finally {
    const reads = componentReads.drain();
    if (reads.length > 0) runs.recordAccess(run.id, reads);
  }
  return runs.step(run.id, stepId).status;
}

const MASK_MESSAGE = 'keystack.mask-values';
/**
 * Set by runInProcess: the IPC channel is ours. Without it (a launcher of one's own, or a process
 * that has an IPC channel for something else) the step process masks only what it reads itself.
 */
const CHANNEL_FLAG = 'KEYSTACK_STEP_CHANNEL';

interface MaskMessage {
  kind: typeof MASK_MESSAGE;
  values: string[];
}

function maskMessage(): MaskMessage {
  return { kind: MASK_MESSAGE, values: [...processMasker.values()] };
}

function isMaskMessage(m: unknown): m is MaskMessage {
  const x = m as Partial<MaskMessage> | null;
  return (
    typeof x === 'object' &&
    x !== null &&
    x.kind === MASK_MESSAGE &&
    Array.isArray(x.values) &&
    x.values.every((v) => typeof v === 'string')
  );
}

/** In a step process: waits for the run's values to mask, before the step can read or throw anything. */
async function receiveMaskValues(): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onMessage = (m: unknown) => {
      if (!isMaskMessage(m)) return;
      processMasker.add(m.values);
      done();
      resolve();
    };
    const timer = setTimeout(() => {
      done();
      reject(
        new ConfigError('the step process got no values to mask from the process that started it', {
          hint: 'Start step processes through runPipeline, which sends them.',
        }),
      );
    }, 30_000);
    const done = () => {
      clearTimeout(timer);
      process.off('message', onMessage);
    };
    process.on('message', onMessage);
  });
}

/**
 * While a step runs, what it prints (console.log of something derived from a secret) is masked
 * too; the streams are restored afterwards. Text only; binary writes pass as they are.
 */
function maskWrites(streams: NodeJS.WriteStream[]): () => void {
  const restore = streams.map((stream) => {
    const own = Object.getOwnPropertyDescriptor(stream, 'write');
    const original = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    const write = (chunk: unknown, ...rest: unknown[]): boolean =>
      original(typeof chunk === 'string' ? processMasker.mask(chunk) : chunk, ...rest);
    Object.defineProperty(stream, 'write', { value: write, writable: true, configurable: true });
    return () => {
      if (own) Object.defineProperty(stream, 'write', own);
      else Reflect.deleteProperty(stream, 'write');
    };
  });
  return () => {
    for (const r of restore) r();
  };
}

/** In a step process: tells the parent what it read, then closes the channel so the process can exit. */
async function reportMaskValues(): Promise<void> {
  const send = process.send?.bind(process);
  if (!send) return;
  await new Promise<void>((resolve) => {
    send(maskMessage(), undefined, {}, () => {
      resolve();
    });
  });
  process.disconnect();
}

/** The CLI bundle of the keystack package that the pipeline module itself uses. */
export function defaultWorker(modulePath: string | undefined): WorkerLauncher {
  const candidates: string[] = [];
  try {
    const req = createRequire(modulePath ?? join(process.cwd(), 'noop.js'));
    candidates.push(join(dirname(req.resolve('keystack/package.json')), 'dist', 'cli.cjs'));
  } catch {
    // not resolvable from there; fall through to the error
  }
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    throw new ConfigError('cannot find the keystack CLI to start step processes with', {
      hint: 'Install keystack where the pipeline module can import it, or pass `worker: { command, args }` to runPipeline.',
    });
  }
  return { command: process.execPath, args: [found, 'pipeline', '__step'] };
}
