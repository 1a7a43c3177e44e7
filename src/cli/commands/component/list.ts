import type { StackComponentType } from '../../../stack/components.js';
import { COMPONENT_LABEL } from '../../../stack/config-store.js';
import { table } from '../../output.js';
import { defineCommand } from '../../define.js';
import { views } from '../../shapes.js';

export default (type: StackComponentType) => {
  const label = COMPONENT_LABEL[type];
  return defineCommand({
    path: `${label} list`,
    description: `list ${label}s (* = in the active stack)`,
    examples: [`keystack ${label} list`],
    shape: (z) => views(z).componentShapes.list,
    run: async (ctx) => {
      const { view } = await import('./records.js');
      const ks = ctx.keystack();
      const stack = ks.activeStack();
      const active = new Set(type === 'step_operator' ? stack.stepOperators : [ks.stackComponent(stack, type)?.uuid]);
      const recs = ks.store.listComponents(type);
      const rows = recs.map((r) => [
        active.has(r.uuid) ? '*' : '',
        r.name,
        r.flavor,
        ks.store.stacksUsing(r.uuid).join(', '),
        r.uuid,
      ]);
      return {
        data: { components: recs.map((r) => ({ ...view(type, r), active: active.has(r.uuid) })) },
        text: recs.length ? table(['ACTIVE', 'NAME', 'FLAVOR', 'STACKS', 'ID'], rows) : `No ${label} registered.`,
      };
    },
  });
};
