import { confirmOrAbort } from '../../confirm.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { selectManager } from '../../select.js';
import { views } from '../../shapes.js';
import { choice, managerOptions } from './manager-options.js';

interface RenameFlags {
  yes?: boolean;
  dryRun?: boolean;
  manager?: string;
  stack?: string;
}

export default defineCommand({
  path: 'secret rename',
  description: 'rename a secret: copy it with its schema, read the copy back and verify it, then delete the old name',
  summary: 'rename a secret (copy, verify, then delete the old name)',
  arguments: [
    { spec: '<old>', description: 'the secret to rename', complete: 'secret' },
    { spec: '<new>', description: 'its new name (must not exist yet)' },
  ],
  options: [
    { flags: '-y, --yes', description: 'do not ask for confirmation' },
    { flags: '--dry-run', description: 'print the plan (names and keys only) and change nothing' },
    ...managerOptions,
  ],
  help: [
    'Works on every flavor, as a copy: NEW is written with the schema, keys and typed values of OLD,',
    'read back and compared, and only then is OLD deleted. The plan prints first. If NEW exists the',
    'command refuses and changes nothing. If deleting OLD fails after the copy, both names exist with',
    'the same content, the error says so, and the exit status is 1.',
    'Only the current version moves: NEW starts a history of its own, and the versions of OLD are',
    'deleted with it.',
  ].join('\n'),
  examples: ['keystack secret rename db db_main --dry-run', 'keystack secret rename db db_main -y -m team'],
  shape: (z) => views(z).secretShapes.rename,
  run: async (ctx, { args, opts }: CommandInput<RenameFlags>) => {
    const from = args['old'] ?? '';
    const to = args['new'] ?? '';
    const { planText } = await import('../transfer.js');
    const { renameSecret } = await import('../../../transfer/transfer.js');
    const manager = await selectManager(ctx, choice(opts));
    const title = `Rename '${from}' to '${to}' in ${manager.where}`;
    const steps = `then '${to}' is read back and verified, and '${from}' is deleted`;
    const report = await renameSecret(manager, from, to, {
      dryRun: opts.dryRun,
      beforeWrite: async (plan) => {
        ctx.out.note(`${planText(plan, title)}\n${steps}.`);
        await confirmOrAbort(
          ctx,
          `Rename secret '${from}' to '${to}' (deleting '${from}' once the copy is verified)?`,
          opts.yes,
        );
      },
    });
    const data = {
      from,
      to,
      manager: manager.name,
      scope: manager.scope.scope,
      dryRun: report.dryRun,
      plan: report.plan,
      renamed: !report.dryRun,
    };
    if (report.dryRun)
      return { data, text: `${planText(report.plan, title)}\n${steps}.\nDry run: nothing was written or deleted.` };
    return {
      data,
      text: `Renamed secret '${from}' to '${to}' in ${manager.where} (copy verified, '${from}' deleted).`,
    };
  },
});
