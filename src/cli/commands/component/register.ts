import type { StackComponentType } from '../../../stack/components.js';
import { COMPONENT_LABEL, DEFAULT_STACK } from '../../../stack/config-store.js';
import type { CommandContext } from '../../context.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';
import { COMPONENT_GROUPS, exampleName } from './groups.js';

export default (type: StackComponentType) => {
  const label = COMPONENT_LABEL[type];
  const { flavor, field } = COMPONENT_GROUPS[type];
  return defineCommand({
    path: `${label} register`,
    description: `register a ${label} (config as --KEY=VALUE; string fields may be secret references '{{name.key}}')`,
    arguments: [{ spec: '<name>' }],
    options: [
      {
        flags: '-f, --flavor <flavor>',
        description: `flavor (see \`keystack ${label} flavor list\`)`,
        required: true,
        complete: `flavor:${type}`,
      },
    ],
    usage: '[options] <name> --flavor=FLAVOR [--KEY=VALUE ...]',
    keyValues: true,
    examples: [`keystack ${label} register ${exampleName(type)} --flavor=${flavor} ${field}`],
    shape: (z) => views(z).componentShapes.register,
    run: async (ctx, { opts, words }: CommandInput<{ flavor: string }>) => {
      const { nameAndConfig, rememberSensitive, view } = await import('./records.js');
      const { registerComponent } = await import('../../../stack/component-ops.js');
      const { name, config } = nameAndConfig(type, words, false);
      rememberSensitive(ctx, type, opts.flavor, config);
      const { record, warnings } = registerComponent(ctx.keystack(), { type, name, flavor: opts.flavor, config });
      for (const w of warnings) ctx.out.warn(w);
      return {
        data: view(type, record),
        text: `Registered ${label} '${name}' (flavor ${record.flavor}, id ${record.uuid}).\n${useHint(ctx, type, name)}`,
      };
    },
  });
};

/**
 * A command that works: `stack update` on the active stack, unless that is the default stack
 * (which cannot be changed); then a new stack that keeps the active stack's secrets manager.
 */
function useHint(ctx: CommandContext, type: StackComponentType, name: string): string {
  const ks = ctx.keystack();
  const active = ks.activeStack();
  if (active.name !== DEFAULT_STACK)
    return `Use it with: keystack stack update ${active.name} ${stackFlag(type)} ${name}`;
  const sm = ks.stackComponent(active, 'secrets_manager');
  return `Use it with: keystack stack register STACK ${stackFlag(type)} ${name}${sm ? ` -x ${sm.name}` : ''} --set   (a new stack; the default stack cannot be changed)`;
}

function stackFlag(type: StackComponentType): string {
  return { orchestrator: '-o', artifact_store: '-a', container_registry: '-c', step_operator: '--step-operator' }[type];
}
