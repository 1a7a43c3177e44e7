import { confirmOrAbort } from '../../confirm.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';

export default defineCommand({
  path: 'secrets-manager delete',
  description: 'remove a secrets manager registration (its secrets stay in the backend)',
  arguments: [{ spec: '<name>', complete: 'manager' }],
  options: [{ flags: '-y, --yes', description: 'do not ask for confirmation' }],
  examples: ['keystack secrets-manager delete team', 'keystack secrets-manager delete team -y'],
  shape: (z) => views(z).managerView.extend({ deleted: z.literal(true) }),
  run: async (ctx, { args, opts }: CommandInput<{ yes?: boolean }>) => {
    const { view } = await import('./manager-config.js');
    const name = args['name'] ?? '';
    const ks = ctx.keystack();
    const found = ks.store.getComponent('secrets_manager', name);
    // A manager in use is refused (by the store) before anyone is asked.
    if (ks.store.stacksUsing(found.uuid).length === 0) {
      await confirmOrAbort(
        ctx,
        `Delete the registration of secrets manager '${found.name}'? Its secrets stay in the backend.`,
        opts.yes,
      );
    }
    const rec = await ks.deleteSecretsManager(name);
    return {
      data: { ...(await view(ctx, rec)), deleted: true as const },
      text: `Deleted secrets manager '${rec.name}'. Its secrets stay in the backend; a manager registered later with the same flavor and scope settings (and, for component scope, the same id) can see them again.`,
    };
  },
});
