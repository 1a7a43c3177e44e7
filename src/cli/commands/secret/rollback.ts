import { confirmOrAbort } from '../../confirm.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { selectManager } from '../../select.js';
import { choice, managerOptions } from './manager-options.js';

export default defineCommand({
  path: 'secret rollback',
  description: "write an older version's content and schema as a new current version",
  arguments: [{ spec: '<name>', complete: 'secret' }],
  options: [
    { flags: '--to <version>', description: 'the version to restore: a number or id, or previous', required: true },
    { flags: '-y, --yes', description: 'do not ask for confirmation' },
    ...managerOptions,
  ],
  help: `
History is never rewritten: the restored content becomes a new version. The rollback is a
compare-and-set against the version that was current when it started; if another writer wrote in
between, it refuses (exit 1) and writes nothing.
`,
  examples: ['keystack secret rollback db --to previous', 'keystack secret rollback db --to 3 -y --json'],
  shape: (z) =>
    z.strictObject({
      name: z.string(),
      manager: z.string(),
      restored: z.string(),
      replaced: z.string(),
      version: z.string().nullable(),
    }),
  run: async (ctx, { args, opts }: CommandInput<{ to: string; yes?: boolean; manager?: string; stack?: string }>) => {
    const name = args['name'] ?? '';
    const manager = await selectManager(ctx, choice(opts));
    if (!opts.yes) {
      // What would refuse anyway (no such secret or version, no versions at all) is said before asking.
      const target = await manager.getVersion(name, opts.to);
      await confirmOrAbort(
        ctx,
        `Write version ${target.version} of secret '${name}' as its new current version in ${manager.where}?`,
        opts.yes,
        { action: 'roll back', nothing: 'nothing was written' },
      );
    }
    const r = await manager.rollback(name, opts.to);
    return {
      data: { name, manager: manager.name, restored: r.restored, replaced: r.replaced, version: r.version },
      text: `Rolled back secret '${name}' to version ${r.restored}${r.version ? `, written as version ${r.version}` : ''} (was ${r.replaced}).`,
    };
  },
});
