import type { StackComponentType } from '../../../../stack/components.js';
import { COMPONENT_LABEL } from '../../../../stack/config-store.js';
import { table } from '../../../output.js';
import { defineCommand } from '../../../define.js';
import { views } from '../../../shapes.js';

export default (type: StackComponentType) => {
  const label = COMPONENT_LABEL[type];
  return defineCommand({
    path: `${label} flavor list`,
    description: 'list flavors and their config fields',
    examples: [`keystack ${label} flavor list`],
    shape: (z) => views(z).componentShapes['flavor list'],
    run: async () => {
      const { componentFlavors } = await import('../../../../stack/components.js');
      const { fieldsView } = await import('../records.js');
      const flavors = componentFlavors(type);
      const rows = flavors.map((f) => [
        f.name,
        f.description,
        Object.entries(f.config)
          .map(([k, c]) => `${k}${c.required ? '' : '?'}${c.sensitive ? ' (sensitive)' : ''}`)
          .join(', ') || '-',
      ]);
      return {
        data: {
          flavors: flavors.map((f) => ({
            name: f.name,
            description: f.description,
            remote: f.remote ?? false,
            local: f.isLocal ?? false,
            config: fieldsView(f.config),
          })),
        },
        text: table(['FLAVOR', 'DESCRIPTION', 'FIELDS'], rows),
      };
    },
  });
};
