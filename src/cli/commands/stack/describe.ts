import { COMPONENT_LABEL, SINGLE_COMPONENT_TYPES } from '../../../stack/config-store.js';
import { table } from '../../output.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';
import { contextFromText, contextStack, stackContext } from '../../select.js';
import { COMPONENT_KEY, view } from './view.js';

export default defineCommand({
  path: 'stack describe',
  description: 'show a stack (default: the current one: $KEYSTACK_STACK, keystack.toml, else the active stack)',
  arguments: [{ spec: '[name]', complete: 'stack' }],
  examples: ['keystack stack describe', 'keystack stack describe prod'],
  shape: (z) => views(z).stackView.extend({ active: z.boolean() }),
  run: async (ctx, { args }: CommandInput) => {
    const ks = ctx.keystack();
    const pick = await stackContext(ctx, args['name']);
    const stack = await contextStack(ctx, pick);
    const v = view(ctx, stack);
    const active = ks.store.activeStackName() === stack.name;
    const rows = SINGLE_COMPONENT_TYPES.filter((t) => v.components[COMPONENT_KEY[t]]).map((t) => {
      const c = ks.stackComponent(stack, t);
      return [COMPONENT_LABEL[t], c?.name ?? '?', c?.flavor ?? '?'];
    });
    for (const c of ks.stackStepOperators(stack)) rows.push([COMPONENT_LABEL.step_operator, c.name, c.flavor]);
    return {
      data: { ...v, active },
      text: `Stack '${stack.name}'${active ? ' (active)' : ''}${pick.from === 'flag' || pick.from === 'active-stack' ? '' : ` (from ${contextFromText(pick)})`}:\n${table(['COMPONENT', 'NAME', 'FLAVOR'], rows)}`,
    };
  },
});
