import { defineCommand, type CommandInput } from '../../../define.js';
import { pluginShape } from '../../schema/register.js';

export default defineCommand({
  path: 'secrets-manager flavor register',
  description: 'register a module (.js/.mjs/.ts) that exports a custom flavor and, optionally, schemas',
  arguments: [{ spec: '<module>' }],
  examples: ['keystack secrets-manager flavor register ./my-flavor.ts'],
  shape: pluginShape,
  run: async (ctx, { args }: CommandInput) => {
    const exported = await ctx.keystack().registerPlugin(args['module'] ?? '', ctx.cwd);
    if (exported.flavors.length === 0) {
      ctx.out.warn(`module ${exported.module} exports no flavor, only schemas; they were registered.`);
    }
    const flavors = exported.flavors.map((f) => f.name);
    const schemas = exported.schemas.map((s) => s.name);
    return {
      data: { module: exported.module, flavors, schemas },
      text: `Registered ${exported.module}: flavors ${flavors.join(', ') || '(none)'}; schemas ${schemas.join(', ') || '(none)'}.`,
    };
  },
});
