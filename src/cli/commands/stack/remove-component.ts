import { UsageError } from '../../../errors.js';
import { COMPONENT_LABEL, type SingleComponentType } from '../../../stack/config-store.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';
import { refuseDefault } from './changes.js';
import { view } from './view.js';

export default defineCommand({
  path: 'stack remove-component',
  description: 'remove optional components from a stack (default: the active stack)',
  arguments: [{ spec: '[name]', complete: 'stack' }],
  options: [
    { flags: '-x, --secrets-manager', description: 'remove the secrets manager' },
    { flags: '-c, --container-registry', description: 'remove the container registry' },
  ],
  examples: ['keystack stack remove-component prod -x'],
  shape: (z) => views(z).stackView,
  run: async (ctx, { args, opts }: CommandInput<{ secretsManager?: boolean; containerRegistry?: boolean }>) => {
    const types: SingleComponentType[] = [];
    if (opts.secretsManager) types.push('secrets_manager');
    if (opts.containerRegistry) types.push('container_registry');
    if (types.length === 0)
      throw new UsageError(
        'no component type given',
        'Pass -x to remove the secrets manager (or -c for the container registry).',
      );
    const ks = ctx.keystack();
    const name = args['name'] ?? ks.store.activeStackName();
    refuseDefault(name);
    const stack = ks.updateStack(name, Object.fromEntries(types.map((t) => [t, null])));
    return {
      data: view(ctx, stack),
      text: `Removed ${types.map((t) => COMPONENT_LABEL[t]).join(', ')} from stack '${stack.name}'.`,
    };
  },
});
