import { defineCommand } from '../../../define.js';
import { table } from '../../../output.js';

export default defineCommand({
  path: 'secrets-manager flavor list',
  description: 'list flavors, built-in and custom',
  examples: ['keystack secrets-manager flavor list'],
  shape: (z) =>
    z.strictObject({
      flavors: z.array(
        z.strictObject({ name: z.string(), scoping: z.boolean(), source: z.string(), description: z.string() }),
      ),
    }),
  run: async (ctx) => {
    const flavors = await ctx.keystack().flavors.list();
    const items = flavors.map(({ flavor, source }) => ({
      name: flavor.name,
      scoping: flavor.supportsScoping,
      source,
      description: flavor.description + (flavor.capabilities.note ? ` (${flavor.capabilities.note})` : ''),
    }));
    const rows = items.map((i) => [i.name, i.scoping ? 'yes' : 'no', i.source, i.description]);
    // A registered module that no longer loads is shown, not fatal: this is where users look for it.
    for (const b of await ctx.keystack().pluginFailures()) {
      const reason = (b.error instanceof Error ? b.error.message : String(b.error)).split('\n', 1)[0] ?? '';
      ctx.out.warn(
        `registered module ${b.module} failed to load: ${reason}. Fix it, or remove it with \`keystack secrets-manager flavor unregister ${b.module}\`.`,
      );
    }
    return { data: { flavors: items }, text: table(['FLAVOR', 'SCOPING', 'SOURCE', 'DESCRIPTION'], rows) };
  },
});
