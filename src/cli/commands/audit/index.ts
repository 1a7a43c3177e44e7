/** `keystack audit`: recent denied, missing and failed secret accesses across pipeline runs. */
import { UsageError } from '../../../errors.js';
import { table } from '../../output.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';

export default defineCommand({
  path: 'audit',
  description: 'recent denied, missing and failed secret accesses across pipeline runs, newest first',
  summary: 'recent denied and failed secret accesses',
  options: [
    { flags: '--denied', description: 'only denials (a step read a secret it did not declare)' },
    { flags: '--since <date>', description: 'only since an ISO date or time, or an age (12h, 7d)' },
    { flags: '-n, --limit <n>', description: 'how many', default: '50' },
  ],
  help: [
    'Reads the access records of the run history (see `keystack secret used-by` for the reads of',
    'one secret). An error is shown with its code, never its message.',
  ].join('\n'),
  examples: ['keystack audit', 'keystack audit --denied --since 7d', 'keystack audit --json -n 200'],
  shape: (z) => z.strictObject({ accesses: z.array(views(z).access) }),
  run: async (ctx, { opts }: CommandInput<{ denied?: boolean; since?: string; limit: string }>) => {
    const limit = Number(opts.limit);
    if (!Number.isInteger(limit) || limit < 1)
      throw new UsageError(
        `--limit must be a positive integer, not '${opts.limit}'`,
        'Pass how many to list, e.g. `keystack audit -n 50`.',
      );
    const { accessRows } = await import('../pipeline/format.js');
    const accesses = await ctx.keystack().provenance.audit({ denied: opts.denied, since: opts.since, limit });
    const rows = accesses.map((a) => [
      a.at,
      a.runId.slice(0, 8),
      a.pipeline,
      a.step ?? a.component ?? '',
      ...(accessRows([a])[0] ?? []),
    ]);
    const what = opts.denied ? 'denied' : 'denied, missing or failed';
    return {
      data: { accesses },
      text:
        rows.length === 0
          ? `No ${what} secret accesses${opts.since === undefined ? '' : ` since ${opts.since}`}.`
          : table(['AT', 'RUN', 'PIPELINE', 'STEP', 'SECRET', 'KEYS', 'VERSION', 'OUTCOME', 'WORKER'], rows),
    };
  },
});
