import { defineCommand, type CommandInput } from '../../define.js';
import { listText } from '../../output.js';
import { selectManager } from '../../select.js';
import { views } from '../../shapes.js';

export default defineCommand({
  path: 'secret copy',
  description: 'copy secrets with their schemas from one secrets manager to another; the plan prints first',
  arguments: [{ spec: '[names...]', complete: 'secret' }],
  options: [
    { flags: '--from <manager>', description: 'source secrets manager (name or UUID)', required: true },
    { flags: '--to <manager>', description: 'target secrets manager (name or UUID)', required: true },
    { flags: '--all', description: "every secret of the source manager's scope" },
    {
      flags: '--on-conflict <policy>',
      description: 'when a secret exists with other content: fail (write nothing) | skip | update',
      default: 'fail',
    },
    { flags: '--delete-source', description: 'delete each source secret once its copy was read back and verified' },
    { flags: '--dry-run', description: 'print the plan (names and keys only) and write nothing' },
  ],
  help: '\nOnly the current version of each secret is copied; its older versions stay in the source manager.\n',
  examples: [
    'keystack secret copy --from aws_prod --to vault_prod --all --dry-run',
    'keystack secret copy --from default --to team db api --on-conflict update --delete-source',
  ],
  shape: (z) => views(z).secretShapes.copy,
  run: async (
    ctx,
    {
      opts,
      words,
    }: CommandInput<{
      from: string;
      to: string;
      all?: boolean;
      onConflict?: string;
      deleteSource?: boolean;
      dryRun?: boolean;
    }>,
  ) => {
    // The plan rendering and --on-conflict are import's too: they stay with it (commands/transfer.ts).
    const { planText, policy, tail } = await import('../transfer.js');
    const { copySecrets } = await import('../../../transfer/transfer.js');
    const onConflict = policy(opts.onConflict);
    const from = await selectManager(ctx, { manager: opts.from });
    const to = await selectManager(ctx, { manager: opts.to });
    const title = `Copy from ${from.where} to ${to.where}`;
    const report = await copySecrets(from, to, {
      // The operands left after the options are the names.
      names: words,
      all: opts.all,
      onConflict,
      deleteSource: opts.deleteSource,
      dryRun: opts.dryRun,
      onPlan: (plan) => ctx.out.note(planText(plan, title)),
    });
    const data = {
      from: from.name,
      fromScope: from.scope.scope,
      to: to.name,
      toScope: to.scope.scope,
      dryRun: report.dryRun,
      plan: report.plan,
      written: report.written,
      deleted: report.deleted,
    };
    if (report.dryRun)
      return {
        data,
        text: `${planText(report.plan, title)}\nDry run: nothing was written${opts.deleteSource ? ' or deleted' : ''}.`,
      };
    const deleted = opts.deleteSource
      ? ` Deleted ${report.deleted.length} source secret${report.deleted.length === 1 ? '' : 's'} after verifying ${report.deleted.length === 1 ? 'its copy' : 'their copies'}.`
      : '';
    return {
      data,
      text: `Copied ${report.written.length} secret${report.written.length === 1 ? '' : 's'} to ${to.where}${report.written.length ? `: ${listText(report.written)}` : ''}${tail(report.plan)}.${deleted}`,
    };
  },
});
