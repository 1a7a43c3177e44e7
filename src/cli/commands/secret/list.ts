import { defineCommand, type CommandInput } from '../../define.js';
import { selectManager } from '../../select.js';
import { views } from '../../shapes.js';
import { choice, managerOptions } from './manager-options.js';

export default defineCommand({
  path: 'secret list',
  description: "list the secrets of the manager's scope",
  options: managerOptions,
  examples: ['keystack secret list', 'keystack secret list --manager team'],
  shape: (z) => views(z).secretShapes.list,
  run: async (ctx, { opts }: CommandInput<{ manager?: string; stack?: string }>) => {
    const manager = await selectManager(ctx, choice(opts));
    const names = await manager.list();
    if (names.length === 0) ctx.out.note(`No secrets in ${manager.where}.`);
    return { data: { manager: manager.name, scope: manager.scope.scope, secrets: names }, text: names.join('\n') };
  },
});
