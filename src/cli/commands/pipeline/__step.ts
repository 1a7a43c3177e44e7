import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';

/** The step process of the local_process orchestrator: not for people, so hidden and not in the docs. */
export default defineCommand({
  path: 'pipeline __step',
  description: '',
  arguments: [{ spec: '<run>' }, { spec: '<step>' }],
  hidden: true,
  shape: (z) =>
    z.strictObject({
      runId: z.string(),
      stepId: z.string(),
      status: views(z).step.shape.status,
    }),
  run: async (ctx, { args }: CommandInput) => {
    const { runStepWorker } = await import('../../../pipeline/runner.js');
    const runId = args['run'] ?? '';
    const stepId = args['step'] ?? '';
    const status = await runStepWorker(ctx.keystack(), runId, stepId);
    return { data: { runId, stepId, status }, text: '' };
  },
});
