import { confirmOrAbort } from '../../confirm.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { selectManager } from '../../select.js';
import { views } from '../../shapes.js';
import { choice, managerOptions } from './manager-options.js';

export default defineCommand({
  path: 'secret delete-all',
  description: "delete every secret in the manager's scope (other scopes are untouched)",
  options: [{ flags: '-y, --yes', description: 'do not ask for confirmation' }, ...managerOptions],
  examples: ['keystack secret delete-all', 'keystack secret delete-all -y --stack scratch'],
  shape: (z) => views(z).secretShapes['delete-all'],
  run: async (ctx, { opts }: CommandInput<{ yes?: boolean; manager?: string; stack?: string }>) => {
    const manager = await selectManager(ctx, choice(opts));
    if (!opts.yes) {
      const count = (await manager.list()).length;
      await confirmOrAbort(
        ctx,
        `Delete all ${count} secret${count === 1 ? '' : 's'} of ${manager.where}? Secrets of other scopes are not touched.`,
        opts.yes,
      );
    }
    const deleted = await manager.deleteAll();
    return {
      data: { manager: manager.name, scope: manager.scope.scope, deleted },
      text: `Deleted ${deleted} secret${deleted === 1 ? '' : 's'} from ${manager.where}.`,
    };
  },
});
