import { defineCommand, type CommandInput, type Zod } from '../../define.js';

/** What registering a module reports (`secrets-manager flavor register` reports the same). */
export const pluginShape = (z: Zod) =>
  z.strictObject({ module: z.string(), flavors: z.array(z.string()), schemas: z.array(z.string()) });

export default defineCommand({
  path: 'schema register',
  description: 'register a module (.js/.mjs/.ts) that exports schemas made with defineSchema',
  arguments: [{ spec: '<module>' }],
  examples: ['keystack schema register ./schemas.ts'],
  shape: pluginShape,
  run: async (ctx, { args }: CommandInput) => {
    const exported = await ctx.keystack().registerPlugin(args['module'] ?? '', ctx.cwd);
    const schemas = exported.schemas.map((s) => s.name);
    return {
      data: { module: exported.module, schemas, flavors: exported.flavors.map((f) => f.name) },
      text: `Registered ${exported.module}: schemas ${schemas.join(', ') || '(none)'}.`,
    };
  },
});
