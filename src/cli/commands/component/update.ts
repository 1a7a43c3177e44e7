import type { StackComponentType } from '../../../stack/components.js';
import { COMPONENT_LABEL } from '../../../stack/config-store.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';
import { COMPONENT_GROUPS, exampleName } from './groups.js';

export default (type: StackComponentType) => {
  const label = COMPONENT_LABEL[type];
  return defineCommand({
    path: `${label} update`,
    description: `change a ${label}'s config: --KEY=VALUE, or --KEY= to remove a field`,
    arguments: [{ spec: '<name>', complete: `component:${type}` }],
    usage: '[options] <name> --KEY=VALUE|--KEY= ...',
    keyValues: true,
    examples: [`keystack ${label} update ${exampleName(type)} ${COMPONENT_GROUPS[type].field}`],
    shape: (z) => views(z).componentShapes.update,
    run: async (ctx, { words }: CommandInput) => {
      const { nameAndConfig, rememberSensitive, view } = await import('./records.js');
      const { updateComponent } = await import('../../../stack/component-ops.js');
      const { name, config } = nameAndConfig(type, words, true);
      rememberSensitive(ctx, type, ctx.keystack().store.getComponent(type, name).flavor, config);
      const { record, warnings } = updateComponent(ctx.keystack(), type, name, config);
      for (const w of warnings) ctx.out.warn(w);
      return { data: view(type, record), text: `Updated ${label} '${record.name}'.` };
    },
  });
};
