import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';

/**
 * A step child of local_process and of workers: not for people, so hidden and not in the docs.
 * It gets its step over IPC; the arguments only name it in `ps`.
 */
export default defineCommand({
  path: 'pipeline __step',
  description: '',
  arguments: [{ spec: '[run]' }, { spec: '[step]' }],
  hidden: true,
  shape: (z) =>
    z.strictObject({
      runId: z.string(),
      stepId: z.string(),
      status: views(z).step.shape.status,
    }),
  run: async (_ctx, { args }: CommandInput) => {
    const { runStepChild } = await import('../../../pipeline/runner.js');
    const status = await runStepChild();
    return { data: { runId: args['run'] ?? '', stepId: args['step'] ?? '', status }, text: '' };
  },
});
