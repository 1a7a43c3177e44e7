import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';
import { COMPONENT_OPTIONS, componentFlags, type ComponentFlags, type ComponentOpts } from './changes.js';
import { view } from './view.js';

export default defineCommand({
  path: 'stack register',
  description: 'register a stack',
  arguments: [{ spec: '<name>' }],
  options: [...COMPONENT_OPTIONS, { flags: '--set', description: 'make it the active stack' }],
  examples: ['keystack stack register prod -x aws_sm --set', 'keystack stack register dev -x team -o proc -a default'],
  shape: (z) => views(z).stackView,
  run: async (ctx, { args, opts }: CommandInput<ComponentOpts & { set?: boolean }>) => {
    const name = args['name'] ?? '';
    const ks = ctx.keystack();
    const components: ComponentFlags = { orchestrator: 'default', artifact_store: 'default', ...componentFlags(opts) };
    const stack = ks.registerStack(name, components, opts.stepOperator);
    if (opts.set) ks.store.setActiveStack(stack.name);
    return {
      data: view(ctx, stack),
      text: `Registered stack '${name}'${opts.set ? ' and made it active' : ''}.${opts.set ? '' : ` Activate it with: keystack stack set ${name}`}`,
    };
  },
});
