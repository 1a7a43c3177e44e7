import type { StackComponentType } from '../../../stack/components.js';
import { COMPONENT_LABEL } from '../../../stack/config-store.js';
import { confirmOrAbort } from '../../confirm.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';
import { exampleName } from './groups.js';

export default (type: StackComponentType) => {
  const label = COMPONENT_LABEL[type];
  return defineCommand({
    path: `${label} delete`,
    description: `delete a ${label} (refused while a stack uses it)`,
    arguments: [{ spec: '<name>', complete: `component:${type}` }],
    options: [{ flags: '-y, --yes', description: 'do not ask for confirmation' }],
    examples: [`keystack ${label} delete ${exampleName(type)} -y`],
    shape: (z) => views(z).componentShapes.delete,
    run: async (ctx, { args, opts }: CommandInput<{ yes?: boolean }>) => {
      const { view } = await import('./records.js');
      const { deleteComponent } = await import('../../../stack/component-ops.js');
      const name = args['name'] ?? '';
      const ks = ctx.keystack();
      const found = ks.store.getComponent(type, name);
      // A component in use is refused (by the store) before anyone is asked.
      if (ks.store.stacksUsing(found.uuid).length === 0)
        await confirmOrAbort(ctx, `Delete ${label} '${found.name}'?`, opts.yes);
      const rec = deleteComponent(ks, type, name);
      return { data: { ...view(type, rec), deleted: true as const }, text: `Deleted ${label} '${rec.name}'.` };
    },
  });
};
