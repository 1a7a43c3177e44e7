import { confirmOrAbort } from '../../confirm.js';
import { defineCommand, type CommandInput } from '../../define.js';

export default defineCommand({
  path: 'stack delete',
  description: 'delete a stack (not its components)',
  arguments: [{ spec: '<name>', complete: 'stack' }],
  options: [{ flags: '-y, --yes', description: 'do not ask for confirmation' }],
  examples: ['keystack stack delete dev', 'keystack stack delete dev -y'],
  shape: (z) => z.strictObject({ name: z.string(), deleted: z.literal(true) }),
  run: async (ctx, { args, opts }: CommandInput<{ yes?: boolean }>) => {
    const name = args['name'] ?? '';
    const store = ctx.keystack().store;
    const stack = store.getStack(name);
    // What would refuse the deletion is said before the question (the store checks it again).
    if (store.activeStackName() !== stack.name)
      await confirmOrAbort(ctx, `Delete stack '${stack.name}'? Its components stay registered.`, opts.yes);
    store.deleteStack(name);
    return {
      data: { name, deleted: true as const },
      text: `Deleted stack '${name}'. Its components are still registered.`,
    };
  },
});
