import { SecretNotFoundError } from '../../../errors.js';
import { confirmOrAbort } from '../../confirm.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { selectManager } from '../../select.js';
import { views } from '../../shapes.js';
import { choice, managerOptions } from './manager-options.js';

export default defineCommand({
  path: 'secret delete',
  description: 'delete a secret',
  arguments: [{ spec: '<name>', complete: 'secret' }],
  options: [{ flags: '-y, --yes', description: 'do not ask for confirmation' }, ...managerOptions],
  examples: ['keystack secret delete db', 'keystack secret delete db -y -m team'],
  shape: (z) => views(z).secretShapes.delete,
  run: async (ctx, { args, opts }: CommandInput<{ yes?: boolean; manager?: string; stack?: string }>) => {
    const name = args['name'] ?? '';
    const manager = await selectManager(ctx, choice(opts));
    if (!opts.yes) {
      // A name that is not there is reported as such, not asked about.
      if (!(await manager.has(name))) throw new SecretNotFoundError(name, manager.where);
      await confirmOrAbort(ctx, `Delete secret '${name}' and all its keys from ${manager.where}?`, opts.yes);
    }
    await manager.delete(name);
    return {
      data: { name, deleted: true as const, manager: manager.name, scope: manager.scope.scope },
      text: `Deleted secret '${name}' from ${manager.where}.`,
    };
  },
});
