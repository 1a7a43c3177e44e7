import type { CommandContext } from '../../context.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';

export default defineCommand({
  path: 'secrets-manager register',
  description: 'register a secrets manager (extra flavor config as --KEY=VALUE, e.g. --path=FILE for local)',
  arguments: [{ spec: '<name>' }],
  options: [
    {
      flags: '-f, --flavor <flavor>',
      description: 'flavor (see `secrets-manager flavor list`)',
      required: true,
      complete: 'manager-flavor',
    },
    {
      flags: '--scope <scope>',
      description: 'none | global | component | namespace (default: component where supported)',
    },
    { flags: '--namespace <namespace>', description: 'namespace, for --scope=namespace' },
    {
      flags: '--uuid <uuid>',
      description: "register under this id, e.g. an existing ZenML manager's, to share its component-scoped secrets",
    },
  ],
  usage: '[options] <name> --flavor=FLAVOR [--KEY=VALUE ...]',
  keyValues: true,
  examples: [
    'keystack secrets-manager register team --flavor=local --scope=namespace --namespace=ml',
    'keystack secrets-manager register aws_sm --flavor=aws --region_name=eu-west-1',
  ],
  shape: (z) => views(z).managerView,
  run: async (
    ctx,
    { opts, words }: CommandInput<{ flavor: string; scope?: string; namespace?: string; uuid?: string }>,
  ) => {
    const { nameAndConfig, scopeText, sensitiveWarnings, view } = await import('./manager-config.js');
    const { name, config } = nameAndConfig(words);
    if (opts.scope !== undefined) config['scope'] = opts.scope;
    if (opts.namespace !== undefined) config['namespace'] = opts.namespace;
    const ks = ctx.keystack();
    const warnings = await sensitiveWarnings(ctx, opts.flavor, config);
    const rec = await ks.registerSecretsManager({ name, flavor: opts.flavor, config, uuid: opts.uuid });
    // Warned only once the registration stands: a refused one stored nothing to warn about.
    for (const w of warnings) ctx.out.warn(w);
    return {
      data: await view(ctx, rec),
      text: `Registered secrets manager '${name}' (flavor ${rec.flavor}, ${scopeText(rec)}, id ${rec.uuid}).\n${await useHint(ctx, name)}`,
    };
  },
});

/**
 * A command that works on a new manager: `stack update -x` where the active stack may change,
 * else a new stack (the default stack cannot be changed).
 */
async function useHint(ctx: CommandContext, name: string): Promise<string> {
  const { DEFAULT_STACK } = await import('../../../stack/config-store.js');
  const active = ctx.keystack().store.activeStackName();
  if (active !== DEFAULT_STACK)
    return `Use it with: keystack stack update ${active} -x ${name}   (or a new stack: keystack stack register STACK -x ${name} --set)`;
  return `Use it with: keystack stack register STACK -x ${name} --set   (a new stack with this manager, made active), or pick it per command: keystack secret list -m ${name}`;
}
