import { defineCommand, type CommandInput } from '../../define.js';
import { redactConfig, table } from '../../output.js';
import { views } from '../../shapes.js';

export default defineCommand({
  path: 'secrets-manager describe',
  description: "show a secrets manager's settings (default: the active stack's)",
  arguments: [{ spec: '[name]', complete: 'manager' }],
  examples: ['keystack secrets-manager describe', 'keystack secrets-manager describe team'],
  shape: (z) => views(z).managerView.extend({ stacks: views(z).names }),
  run: async (ctx, { args }: CommandInput) => {
    const { view } = await import('./manager-config.js');
    const ks = ctx.keystack();
    const manager = await ks.secretsManager(args['name']);
    const rec = ks.store.getComponent('secrets_manager', manager.uuid);
    const stacks = ks.store.stacksUsing(rec.uuid);
    const config = redactConfig(manager.flavor.config, rec.config);
    const rows = [
      ['name', rec.name],
      ['id', rec.uuid],
      ['flavor', rec.flavor],
      ['scope', String(rec.config['scope'])],
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- config values are JSON scalars (the flavor's schema checked them); String() is their display
      ...(rec.config['namespace'] !== undefined ? [['namespace', String(rec.config['namespace'])]] : []),
      ['scope_prefix', String(rec.config['scope_prefix'])],
      ...Object.entries(config)
        .filter(([k]) => !['scope', 'namespace', 'scope_prefix'].includes(k))
        .map(([k, v]) => [k, String(v)]),
      ['stacks', stacks.join(', ') || '(none)'],
    ];
    return { data: { ...(await view(ctx, rec)), stacks }, text: table(['PROPERTY', 'VALUE'], rows) };
  },
});
