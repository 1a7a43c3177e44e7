import { UsageError } from '../../../errors.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';
import { COMPONENT_OPTIONS, componentFlags, refuseDefault, type ComponentOpts } from './changes.js';
import { view } from './view.js';

export default defineCommand({
  path: 'stack update',
  description: "change a stack's components (default: the active stack); --step-operator adds one",
  arguments: [{ spec: '[name]', complete: 'stack' }],
  options: [
    ...COMPONENT_OPTIONS,
    {
      flags: '--remove-step-operator <name>',
      description: 'remove a step operator from the stack (repeatable)',
      repeatable: true,
    },
  ],
  examples: ['keystack stack update prod -x aws_sm'],
  shape: (z) => views(z).stackView,
  run: async (ctx, { args, opts }: CommandInput<ComponentOpts & { removeStepOperator: string[] }>) => {
    const components = componentFlags(opts);
    const add = opts.stepOperator;
    const remove = opts.removeStepOperator;
    if (Object.keys(components).length === 0 && add.length === 0 && remove.length === 0) {
      throw new UsageError(
        'nothing to change',
        'Pass -x SECRETS_MANAGER, -o ORCHESTRATOR, -a ARTIFACT_STORE, --step-operator NAME or --remove-step-operator NAME.',
      );
    }
    const ks = ctx.keystack();
    const name = args['name'] ?? ks.store.activeStackName();
    refuseDefault(name);
    const stack = ks.updateStack(name, components, { add, remove });
    return { data: view(ctx, stack), text: `Updated stack '${stack.name}'.` };
  },
});
