/**
 * The orchestrators that run steps on this machine: `local` runs each step in this process,
 * `local_process` runs each in a step child without credentials (step-host/), which reads its
 * declared secrets through this process. Both share one loop over the steps; they differ only in
 * how one step is launched.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ConfigError, KeystackError, SecretLeakError } from '../errors.js';
import { CollectingSink, type AccessRecord } from '../core/provenance.js';
import type { Keystack } from '../stack/client.js';
import type { StackRuntime } from '../stack/runtime.js';
import { loadProvenanceKey } from '../stack/provenance-key.js';
import { tryEncodeArtifact, type EncodedArtifact } from './artifact-store.js';
import { openArtifactStore, type ArtifactStore, type CacheEntry, type StoredArtifact } from './artifacts.js';
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
import { RunStore, type RunRecord } from './run-store.js';
import { checkStep, leakGuardFor, leakInParams } from './leak-guard.js';
import { scrubbedEnv } from './step-host/env.js';
import { hostCapability, stackCredentialVariables, stackView } from './step-host/host-guard.js';
import { maskWrites } from './step-host/mask-writes.js';
import { stepChildLauncher } from './step-host/launcher.js';
import { runInChild, spawnStepChild, type StepOutcome } from './step-host/parent.js';
import { cacheEnabled, checkJson, type Pipeline, type StepContext, type StepNode } from './step.js';
import { componentRecorder, createStepContext } from './step-context.js';

/**
 * Runs one step on this machine and records its result; `started` is when the runner took the
 * step up (before its cache lookup).
 */
type StepLauncher = (ks: Keystack, step: ExecuteArgs, options: RunOptions, started: number) => Promise<void>;

/** `local`: the step runs here; what it prints goes through the masker too, as in a step process. */
export const inThisProcess: StepLauncher = async (_ks, step, options) => {
  const unmask = maskWrites([process.stdout, process.stderr]);
  try {
    await executeStep(step, options);
  } finally {
    unmask();
  }
};

/**
 * `local_process`: the step runs in a child of its own that holds no credentials (step-host/);
 * this process reads its inputs, answers its declared secret reads, and records its result.
 */
export const inStepProcesses: StepLauncher = async (ks, step, options, started) => {
  const { stack, artifacts, runs, run, node } = step;
  const rec = runs.step(run.id, node.id);
  const { spawn } = await import('node:child_process');
  const timeout = Number(stack.orchestrator.config['timeout_seconds'] ?? 0);
  const nodeOptions = stack.orchestrator.config['node_options'];
  const flags = typeof nodeOptions === 'string' && nodeOptions.trim() ? nodeOptions.trim().split(/\s+/) : [];
  let outcome: StepOutcome;
  let records: AccessRecord[] = [];
  let dropParams = false;
  let encoded: EncodedArtifact | undefined;
  try {
    if (!options.module) throw new ConfigError(`run ${run.id} has no pipeline module recorded`);
    const inputs: Record<string, unknown> = { ...node.params };
    for (const [k, a] of Object.entries(rec.inputs)) inputs[k] = await artifacts.read(a.uri);
    const child = spawnStepChild(spawn, {
      launcher: options.worker ?? defaultWorker(options.module.path),
      env: scrubbedEnv({ ...process.env, ...ks.env }, stackCredentialVariables(ks, stack)),
      nodeFlags: flags,
      args: [run.id, node.id],
    });
    const { broker, sink } = hostCapability(
      stack,
      {
        runId: run.id,
        pipeline: run.pipeline,
        node,
        attempt: 1,
        worker: undefined,
      },
      ks,
    );
    const start = {
      runId: run.id,
      pipeline: run.pipeline,
      stepId: node.id,
      attempt: 1,
      module: options.module,
      inputs,
      stack: stackView(stack),
    };
    outcome = await runInChild(child, start, broker, timeout);
    records = sink.drain();
    // Before anything of the step is stored; what the child sent is checked here, in the parent.
    encoded = outcome.ok ? tryEncodeArtifact(outcome.value) : undefined;
    const leak = checkStep(leakGuardFor(stack.resolver, options.leakMinLength), node, {
      output: outcome.ok ? outcome.value : outcome.rejectedOutput,
      stored: encoded?.json,
      error: outcome.ok ? undefined : (outcome.rawError ?? outcome.error),
    });
    if (leak) {
      dropParams = leakInParams(leak);
      outcome = { ok: false, error: stepErrorText(leak) };
    }
    if (outcome.ok) checkJson(outcome.value, `the output of step '${node.id}'`);
  } catch (e) {
    outcome = {
      ok: false,
      error: e instanceof Error ? `${e instanceof KeystackError ? '' : `${e.name}: `}${e.message}` : String(e),
    };
  }
  // What the user waited for includes starting the process.
  const durationMs = performance.now() - started;
  if (!outcome.ok) {
    runs.finishStep(run.id, node.id, {
      status: 'failed',
      durationMs,
      error: stack.resolver.mask(outcome.error),
      records,
      dropParams,
    });
    return;
  }
  try {
    const output = await artifacts.write(`${run.id}/${node.id}.json`, outcome.value, encoded);
    if (rec.cacheKey !== null) await artifacts.putCacheEntry(rec.cacheKey, { ...output, runId: run.id });
    runs.finishStep(run.id, node.id, { status: 'completed', output, durationMs, records });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    runs.finishStep(run.id, node.id, { status: 'failed', durationMs, error: stack.resolver.mask(message), records });
  }
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
async function executeStep(
  { stack, artifacts, runs, run, node, provenanceKey }: ExecuteArgs,
  options: Pick<RunOptions, 'leakMinLength'>,
): Promise<void> {
  const started = performance.now();
  const guard = leakGuardFor(stack.resolver, options.leakMinLength);
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
    // Encoded once: the guard scans the bytes the store then writes. Before the JSON check, so
    // that a value inside a Buffer is reported as the leak it is.
    const encoded = tryEncodeArtifact(value);
    const leak = checkStep(guard, node, { output: value, stored: encoded?.json });
    if (leak) throw leak;
    checkJson(value, `the output of step '${node.id}'`);
    const output = await artifacts.write(`${run.id}/${node.id}.json`, value, encoded);
    // Written by whoever ran the step, once its output is complete: a hit is always readable.
    if (rec.cacheKey !== null) await artifacts.putCacheEntry(rec.cacheKey, { ...output, runId: run.id });
    runs.finishStep(run.id, node.id, {
      status: 'completed',
      output,
      durationMs: performance.now() - started,
      records: sink.drain(),
    });
  } catch (e) {
    // A value in the step's own error fails it as a leak: the masked text would still say which.
    const leak = e instanceof SecretLeakError ? e : checkStep(guard, node, { error: stepErrorText(e) });
    runs.finishStep(run.id, node.id, {
      status: 'failed',
      durationMs: performance.now() - started,
      error: stack.resolver.mask(stepErrorText(leak ?? e)),
      records: sink.drain(),
      dropParams: leakInParams(leak),
    });
  }
}

/** The CLI bundle of the keystack package that the pipeline module itself uses. */
export function defaultWorker(modulePath: string | undefined): WorkerLauncher {
  let found: WorkerLauncher | undefined;
  try {
    const req = createRequire(modulePath ?? join(process.cwd(), 'noop.js'));
    found = stepChildLauncher(join(dirname(req.resolve('keystack/package.json')), 'dist'));
  } catch {
    // not resolvable from there; fall through to the error
  }
  if (!found) {
    throw new ConfigError('cannot find the keystack CLI to start step processes with', {
      hint: 'Install keystack where the pipeline module can import it, or pass `worker: { command, args }` to runPipeline.',
    });
  }
  return found;
}
