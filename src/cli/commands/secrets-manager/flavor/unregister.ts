import { defineCommand, type CommandInput } from '../../../define.js';

export default defineCommand({
  path: 'secrets-manager flavor unregister',
  description: 'remove a registered module (refused while a secrets manager uses its flavor)',
  arguments: [{ spec: '<module>' }],
  examples: ['keystack secrets-manager flavor unregister ./my-flavor.ts'],
  shape: (z) => z.strictObject({ module: z.string(), flavors: z.array(z.string()), unregistered: z.literal(true) }),
  run: async (ctx, { args }: CommandInput) => {
    const r = await ctx.keystack().unregisterPlugin(args['module'] ?? '', ctx.cwd);
    return {
      data: { ...r, unregistered: true as const },
      text: `Unregistered ${r.module}${r.flavors.length ? ` (flavors ${r.flavors.join(', ')})` : ''}.`,
    };
  },
});
