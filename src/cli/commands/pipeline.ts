/** `keystack pipeline …`: run a pipeline module, and inspect past runs. */
import { resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import { loadPipelineModule } from '../../pipeline/module.js';
import { RunStore, type RunRecord, type StepRecord } from '../../pipeline/run-store.js';
import { runPipeline, runStepWorker, withStdoutTo, type WorkerLauncher } from '../../pipeline/runner.js';
import { table } from '../output.js';
import type { CommandContext, CommandResult } from '../context.js';

interface RunCommandOptions {
  file: string;
  exportName?: string | undefined;
  noCache?: boolean | undefined;
  detach?: boolean | undefined;
  codeRoot?: string | undefined;
  trustWorkerKeys?: string[] | undefined;
}

export async function pipelineRun(ctx: CommandContext, o: RunCommandOptions): Promise<CommandResult> {
  // With --json, stdout carries one JSON document: what the module and in-process steps print
  // (console.log or process.stdout.write) goes to stderr.
  return ctx.out.json ? withStdoutTo(process.stderr, () => run(ctx, o)) : run(ctx, o);
}

async function run(ctx: CommandContext, o: RunCommandOptions): Promise<CommandResult> {
  const ks = ctx.keystack();
  const loaded = await loadPipelineModule(o.file, o.exportName, ctx.cwd);
  const summary = await runPipeline(ks, loaded.pipeline, {
    module: { path: loaded.module, exportName: loaded.exportName },
    noCache: o.noCache,
    detach: o.detach,
    codeRoot: o.codeRoot === undefined ? undefined : resolve(ctx.cwd, o.codeRoot),
    trustWorkerKeys: o.trustWorkerKeys?.map((f) => resolve(ctx.cwd, f)),
    worker: selfWorker(),
    onRunStart: (run, stack) =>
      ctx.out.note(
        `Running pipeline '${run.pipeline}' on stack '${stack.name}' (orchestrator '${stack.orchestrator.name}', flavor ${stack.orchestrator.flavor.name}); run ${run.id}`,
      ),
    onStep: (e) => {
      if (e.status === 'running') return;
      if (e.status === 'pending') return;
      ctx.out.note(
        `  ${e.status === 'failed' ? '✗' : '✓'} ${e.stepId}: ${e.status}${e.durationMs === undefined ? '' : ` in ${formatDuration(e.durationMs)}`}${e.worker === undefined ? '' : ` on ${e.worker}`}${e.error === undefined || e.status !== 'failed' ? '' : `: ${e.error}`}`,
      );
    },
  });
  if (o.detach && summary.run.status === 'running') {
    return {
      data: { run: summary.run, steps: summary.steps.map(stepView) },
      text: `Pipeline '${summary.run.pipeline}' enqueued (run ${summary.run.id}); follow it with \`keystack pipeline runs describe ${summary.run.id.slice(0, 8)}\`.`,
    };
  }
  return {
    data: { run: summary.run, steps: summary.steps.map(stepView) },
    text: `Pipeline '${summary.run.pipeline}' completed (run ${summary.run.id}).`,
  };
}

export async function runsList(ctx: CommandContext, o: { limit: string }): Promise<CommandResult> {
  const limit = Number(o.limit);
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(
      `--limit must be a positive integer, not '${o.limit}'`,
      'Pass how many runs to list, e.g. `keystack pipeline runs list -n 20`.',
    );
  const store = new RunStore(ctx.keystack().store);
  for (const r of store.listRuns(limit)) await refresh(ctx, r.id);
  const runs = store.listRuns(limit);
  const rows = runs.map((r) => [r.id, r.pipeline, r.status, r.stack, r.orchestrator, r.startedAt, duration(r)]);
  return {
    data: { runs },
    text: runs.length
      ? table(['RUN', 'PIPELINE', 'STATUS', 'STACK', 'ORCHESTRATOR', 'STARTED', 'DURATION'], rows)
      : 'No pipeline runs yet.',
  };
}

export async function runsDescribe(ctx: CommandContext, o: { id: string }): Promise<CommandResult> {
  const store = new RunStore(ctx.keystack().store);
  await refresh(ctx, store.getRun(o.id).id);
  const run = store.getRun(o.id);
  const steps = store.steps(run.id);
  const remote = steps.some((s) => s.worker !== null);
  const rows = steps.map((s) => [
    s.stepId,
    s.status,
    s.durationMs === null ? '' : formatDuration(s.durationMs),
    s.cachedFrom ? `cached from ${s.cachedFrom.slice(0, 8)}` : s.cacheEnabled ? 'cache on' : 'cache off',
    ...(remote ? [s.worker ?? ''] : []),
    s.error ?? '',
  ]);
  const head = `Run ${run.id}: pipeline '${run.pipeline}', ${run.status}, stack '${run.stack}', orchestrator '${run.orchestrator}', started ${run.startedAt}${run.endedAt ? `, took ${duration(run)}` : ''}${run.module ? `\nModule: ${run.module}` : ''}`;
  return {
    data: { run, steps: steps.map(stepView) },
    text: `${head}\n${table(['STEP', 'STATUS', 'DURATION', 'CACHE', ...(remote ? ['WORKER'] : []), 'ERROR'], rows)}`,
  };
}

/** The body of a `local_process` step process. */
export async function pipelineStepWorker(
  ctx: CommandContext,
  o: { runId: string; stepId: string },
): Promise<CommandResult> {
  const status = await runStepWorker(ctx.keystack(), o.runId, o.stepId);
  return { data: { runId: o.runId, stepId: o.stepId, status }, text: '' };
}

// --- Internal helpers ---

/** A remote run still going: its live state is in Redis. Not reachable: the stored state, with a warning. */
async function refresh(ctx: CommandContext, runId: string): Promise<void> {
  const ks = ctx.keystack();
  const runs = new RunStore(ks.store);
  if (runs.remoteOf(runId) === null || runs.getRun(runId).status !== 'running') return;
  const { refreshRemoteRun } = await import('../../pipeline/remote/orchestrator.js');
  const { StackRuntime } = await import('../../stack/runtime.js');
  try {
    await refreshRemoteRun(ks, runId, (stack) => StackRuntime.load(ks, { stack }));
  } catch (e) {
    ctx.out.warn(
      `cannot read the live state of run ${runId.slice(0, 8)}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

declare const __filename: string | undefined;

/** When running from the CLI bundle, step processes run the same bundle. */
function selfWorker(): WorkerLauncher | undefined {
  const self = typeof __filename === 'string' ? __filename : undefined;
  return self && self.endsWith('.cjs') ? { command: process.execPath, args: [self, 'pipeline', '__step'] } : undefined;
}

function stepView(s: StepRecord) {
  return {
    step: s.stepId,
    name: s.name,
    status: s.status,
    durationMs: s.durationMs,
    cacheEnabled: s.cacheEnabled,
    cachedFrom: s.cachedFrom,
    output: s.output?.uri ?? null,
    error: s.error,
    worker: s.worker,
    attempts: s.attempts,
  };
}

function duration(r: RunRecord): string {
  return r.endedAt ? formatDuration(Date.parse(r.endedAt) - Date.parse(r.startedAt)) : '';
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
