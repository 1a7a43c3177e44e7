import { COMPONENT_LABEL, SINGLE_COMPONENT_TYPES } from '../../../stack/config-store.js';
import { table } from '../../output.js';
import { defineCommand } from '../../define.js';
import { views } from '../../shapes.js';
import { COMPONENT_KEY, view } from './view.js';

export default defineCommand({
  path: 'stack list',
  description: 'list stacks (* = active)',
  examples: ['keystack stack list'],
  shape: (z) => z.strictObject({ stacks: z.array(views(z).stackView.extend({ active: z.boolean() })) }),
  run: async (ctx) => {
    const ks = ctx.keystack();
    const active = ks.store.activeStackName();
    const stacks = ks.store.listStacks().map((s) => view(ctx, s));
    const rows = stacks.map((s) => [
      s.name === active ? '*' : '',
      s.name,
      ...SINGLE_COMPONENT_TYPES.map((t) => s.components[COMPONENT_KEY[t]] ?? ''),
      s.stepOperators.join(', '),
    ]);
    return {
      data: { stacks: stacks.map((s) => ({ ...s, active: s.name === active })) },
      text: table(
        ['ACTIVE', 'STACK', ...SINGLE_COMPONENT_TYPES.map((t) => COMPONENT_LABEL[t].toUpperCase()), 'STEP-OPERATORS'],
        rows,
      ),
    };
  },
});
