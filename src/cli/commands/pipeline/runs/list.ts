import { UsageError } from '../../../../errors.js';
import { table } from '../../../output.js';
import { defineCommand, type CommandInput } from '../../../define.js';
import { views } from '../../../shapes.js';
import { duration } from '../format.js';

export default defineCommand({
  path: 'pipeline runs list',
  description: 'list runs, newest first',
  options: [{ flags: '-n, --limit <n>', description: 'how many', default: '20' }],
  examples: ['keystack pipeline runs list -n 5'],
  shape: (z) => z.strictObject({ runs: z.array(views(z).run) }),
  run: async (ctx, { opts }: CommandInput<{ limit: string }>) => {
    const limit = Number(opts.limit);
    if (!Number.isInteger(limit) || limit < 1)
      throw new UsageError(
        `--limit must be a positive integer, not '${opts.limit}'`,
        'Pass how many runs to list, e.g. `keystack pipeline runs list -n 20`.',
      );
    const { RunStore } = await import('../../../../pipeline/run-store.js');
    const { refresh } = await import('./refresh.js');
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
  },
});
