import { UsageError } from '../../../errors.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';

export default defineCommand({
  path: 'secrets-manager update',
  description: "change a secrets manager's config (--KEY=VALUE)",
  arguments: [{ spec: '<name>', complete: 'manager' }],
  options: [
    { flags: '--scope <scope>', description: 'new scope' },
    { flags: '--namespace <namespace>', description: 'new namespace' },
    { flags: '--force', description: 'change scope or location even though existing secrets become invisible' },
  ],
  usage: '[options] <name> [--KEY=VALUE ...]',
  keyValues: true,
  examples: ['keystack secrets-manager update aws_sm --region_name=us-east-1 --force'],
  shape: (z) => views(z).managerView,
  run: async (ctx, { opts, words }: CommandInput<{ scope?: string; namespace?: string; force?: boolean }>) => {
    const { nameAndConfig, scopeText, sensitiveWarnings, view } = await import('./manager-config.js');
    // `--KEY=` removes the field, as for other components: storing "" would hide its env variable.
    const { name, config } = nameAndConfig(words, { emptyRemoves: true });
    if (opts.scope !== undefined) config['scope'] = opts.scope;
    if (opts.namespace !== undefined) config['namespace'] = opts.namespace;
    if (Object.keys(config).length === 0)
      throw new UsageError('nothing to change', 'Pass --KEY=VALUE, --scope or --namespace.');
    const warnings = await sensitiveWarnings(
      ctx,
      ctx.keystack().store.getComponent('secrets_manager', name).flavor,
      config,
    );
    const rec = await ctx.keystack().updateSecretsManager(name, config, { force: opts.force ?? false });
    for (const w of warnings) ctx.out.warn(w);
    return { data: await view(ctx, rec), text: `Updated secrets manager '${name}' (${scopeText(rec)}).` };
  },
});
