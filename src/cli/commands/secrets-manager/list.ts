import { defineCommand } from '../../define.js';
import { table } from '../../output.js';
import { views } from '../../shapes.js';

export default defineCommand({
  path: 'secrets-manager list',
  description: 'list secrets managers (* = in the active stack)',
  examples: ['keystack secrets-manager list'],
  shape: (z) => z.strictObject({ managers: z.array(views(z).managerView.extend({ active: z.boolean() })) }),
  run: async (ctx) => {
    const { view } = await import('./manager-config.js');
    const ks = ctx.keystack();
    const active = ks.stackComponent(ks.activeStack(), 'secrets_manager')?.uuid;
    const recs = ks.store.listComponents('secrets_manager');
    const rows = recs.map((r) => [
      r.uuid === active ? '*' : '',
      r.name,
      r.flavor,
      String(r.config['scope']),
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- config values are JSON scalars (the flavor's schema checked them); String() is their display
      String(r.config['namespace'] ?? ''),
      r.uuid,
    ]);
    return {
      data: {
        managers: await Promise.all(recs.map(async (r) => ({ ...(await view(ctx, r)), active: r.uuid === active }))),
      },
      text: table(['ACTIVE', 'NAME', 'FLAVOR', 'SCOPE', 'NAMESPACE', 'ID'], rows),
    };
  },
});
