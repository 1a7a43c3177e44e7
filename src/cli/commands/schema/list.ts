import { table } from '../../output.js';
import { defineCommand } from '../../define.js';

export default defineCommand({
  path: 'schema list',
  description: 'list schemas',
  examples: ['keystack schema list'],
  shape: (z) =>
    z.strictObject({
      schemas: z.array(z.strictObject({ name: z.string(), description: z.string(), keys: z.array(z.string()) })),
    }),
  run: async (ctx) => {
    const { schemaFields } = await import('../../../secrets/schema.js');
    const schemas = await ctx.keystack().schemas.list();
    // A module that was refused (or no longer loads) takes its schemas with it: say so here too.
    for (const b of await ctx.keystack().pluginFailures()) {
      const reason = (b.error instanceof Error ? b.error.message : String(b.error)).split('\n', 1)[0] ?? '';
      ctx.out.warn(`registered module ${b.module} failed to load, so its schemas are missing: ${reason}.`);
    }
    const items = schemas.map((s) => ({
      name: s.name,
      description: s.description,
      keys: schemaFields(s).map((f) => f.key),
    }));
    return {
      data: { schemas: items },
      text: table(
        ['SCHEMA', 'KEYS', 'DESCRIPTION'],
        items.map((i) => [i.name, i.keys.join(', ') || '(any)', i.description]),
      ),
    };
  },
});
