import { table } from '../../../output.js';
import { defineCommand, type CommandInput } from '../../../define.js';
import { views } from '../../../shapes.js';
import { duration, formatDuration, stepView } from '../format.js';

export default defineCommand({
  path: 'pipeline runs describe',
  description: "show a run's steps (an id or a unique prefix of one)",
  arguments: [{ spec: '<run>' }],
  examples: ['keystack pipeline runs describe 3f2a'],
  shape: (z) => views(z).runWithSteps,
  run: async (ctx, { args }: CommandInput) => {
    const { RunStore } = await import('../../../../pipeline/run-store.js');
    const { refresh } = await import('./refresh.js');
    const id = args['run'] ?? '';
    const store = new RunStore(ctx.keystack().store);
    await refresh(ctx, store.getRun(id).id);
    const run = store.getRun(id);
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
  },
});
