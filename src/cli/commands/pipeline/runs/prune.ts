import { UsageError } from '../../../../errors.js';
import { confirmOrAbort } from '../../../confirm.js';
import { table } from '../../../output.js';
import { defineCommand, type CommandInput } from '../../../define.js';

interface PruneFlags {
  keep?: string;
  olderThan?: string;
  dryRun?: boolean;
  yes?: boolean;
  save?: boolean;
}

export default defineCommand({
  path: 'pipeline runs prune',
  description: 'delete old runs from the history, with their steps and secret access records',
  summary: 'delete old runs and their access records',
  options: [
    { flags: '--keep <n>', description: 'keep the newest N runs (default: the retention in force, 1000)' },
    { flags: '--older-than <age>', description: 'delete runs older than this: 12h, 30d, 2w (default: 90d)' },
    { flags: '--dry-run', description: 'list what would be deleted, delete nothing' },
    { flags: '-y, --yes', description: 'do not ask for confirmation' },
    { flags: '--save', description: 'keep --keep and --older-than as the retention applied at every run start' },
  ],
  help: [
    'The run history keeps the newest 1000 runs, none older than 90 days, unless changed with --save.',
    'The retention is applied at the start of every run; this command applies it now, or stricter',
    'bounds given here. Runs still marked running are kept. Artifacts stay in the artifact store.',
  ].join('\n'),
  examples: [
    'keystack pipeline runs prune --dry-run',
    'keystack pipeline runs prune --older-than 30d -y',
    'keystack pipeline runs prune --keep 200 --older-than 30d --save -y',
  ],
  shape: (z) =>
    z.strictObject({
      runs: z.array(
        z.strictObject({
          id: z.string(),
          pipeline: z.string(),
          status: z.enum(['running', 'completed', 'failed', 'interrupted']),
          startedAt: z.string(),
        }),
      ),
      records: z.number().int(),
      dryRun: z.boolean(),
      retention: z.strictObject({ keep: z.number().int(), maxAge: z.string() }),
      saved: z.boolean(),
    }),
  run: async (ctx, { opts }: CommandInput<PruneFlags>) => {
    const keep = opts.keep === undefined ? undefined : Number(opts.keep);
    if (keep !== undefined && (!/^[0-9]+$/u.test(opts.keep ?? '') || !Number.isInteger(keep)))
      throw new UsageError(
        `--keep must be a whole number, not '${opts.keep}'`,
        'E.g. `keystack pipeline runs prune --keep 200`.',
      );
    const { RunStore } = await import('../../../../pipeline/run-store.js');
    const store = new RunStore(ctx.keystack().store);
    const bounds = {
      ...(keep === undefined ? {} : { keep }),
      ...(opts.olderThan === undefined ? {} : { maxAge: opts.olderThan }),
    };
    const plan = store.prune({ ...bounds, dryRun: true });
    const dryRun = opts.dryRun === true;
    if (!dryRun && plan.runs.length > 0 && !opts.yes)
      await confirmOrAbort(
        ctx,
        `Delete ${plan.runs.length} run${plan.runs.length === 1 ? '' : 's'} and ${plan.records} secret access record${plan.records === 1 ? '' : 's'}?`,
        opts.yes,
      );
    const result = dryRun ? plan : store.prune(bounds);
    const saved = opts.save === true && !dryRun;
    if (saved) store.setRetention(result.retention);
    const n = result.runs.length;
    const rows = result.runs.map((r) => [r.id, r.pipeline, r.status, r.startedAt]);
    const bound = `the newest ${result.retention.keep}, none older than ${result.retention.maxAge}`;
    const head =
      n === 0
        ? `Nothing to prune: the history is within its bounds (${bound}).`
        : `${dryRun ? 'Would delete' : 'Deleted'} ${n} run${n === 1 ? '' : 's'} and ${result.records} access record${result.records === 1 ? '' : 's'} (keeping ${bound}).`;
    return {
      data: { ...result, saved },
      text: [
        head,
        ...(dryRun && n > 0 ? [table(['RUN', 'PIPELINE', 'STATUS', 'STARTED'], rows)] : []),
        ...(saved ? [`Saved as the retention applied at every run start.`] : []),
      ].join('\n'),
    };
  },
});
