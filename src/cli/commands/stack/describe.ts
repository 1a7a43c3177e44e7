import { COMPONENT_LABEL, SINGLE_COMPONENT_TYPES } from '../../../stack/config-store.js';
import { table } from '../../output.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';
import { COMPONENT_KEY, view } from './view.js';

export default defineCommand({
  path: 'stack describe',
  description: 'show a stack (default: the active one)',
  arguments: [{ spec: '[name]', complete: 'stack' }],
  examples: ['keystack stack describe', 'keystack stack describe prod'],
  shape: (z) => views(z).stackView.extend({ active: z.boolean() }),
  run: async (ctx, { args }: CommandInput) => {
    const ks = ctx.keystack();
    const name = args['name'];
    const stack = name === undefined ? ks.activeStack() : ks.store.getStack(name);
    const v = view(ctx, stack);
    const active = ks.store.activeStackName() === stack.name;
    const rows = SINGLE_COMPONENT_TYPES.filter((t) => v.components[COMPONENT_KEY[t]]).map((t) => {
      const c = ks.stackComponent(stack, t);
      return [COMPONENT_LABEL[t], c?.name ?? '?', c?.flavor ?? '?'];
    });
    for (const c of ks.stackStepOperators(stack)) rows.push([COMPONENT_LABEL.step_operator, c.name, c.flavor]);
    return {
      data: { ...v, active },
      text: `Stack '${stack.name}'${active ? ' (active)' : ''}:\n${table(['COMPONENT', 'NAME', 'FLAVOR'], rows)}`,
    };
  },
});
