import type { StackComponentType } from '../../../../stack/components.js';
import { COMPONENT_LABEL } from '../../../../stack/config-store.js';
import { table } from '../../../output.js';
import { defineCommand, type CommandInput } from '../../../define.js';
import { views } from '../../../shapes.js';
import { COMPONENT_GROUPS } from '../groups.js';

export default (type: StackComponentType) => {
  const label = COMPONENT_LABEL[type];
  return defineCommand({
    path: `${label} flavor describe`,
    description: "show a flavor's config fields",
    arguments: [{ spec: '<flavor>', complete: `flavor:${type}` }],
    examples: [`keystack ${label} flavor describe ${COMPONENT_GROUPS[type].flavor}`],
    shape: (z) => views(z).componentShapes['flavor describe'],
    run: async (_ctx, { args }: CommandInput) => {
      const { componentFlavor } = await import('../../../../stack/components.js');
      const { fieldsView } = await import('../records.js');
      const f = componentFlavor(type, args['flavor'] ?? '');
      const rows = Object.entries(f.config).map(([k, c]) => [
        k,
        c.type,
        c.required ? 'yes' : 'no',
        c.default === undefined ? '' : String(c.default),
        [c.sensitive ? 'sensitive' : '', c.allowReference === false ? 'no references' : ''].filter(Boolean).join(', '),
        c.description,
      ]);
      const where = f.remote
        ? 'remote: steps run on other machines'
        : f.isLocal
          ? 'exists only on this machine'
          : 'reachable from other machines';
      return {
        data: {
          name: f.name,
          type,
          description: f.description,
          remote: f.remote ?? false,
          local: f.isLocal ?? false,
          config: fieldsView(f.config),
        },
        text: `${label} flavor '${f.name}': ${f.description} (${where})\n${rows.length ? table(['FIELD', 'TYPE', 'REQUIRED', 'DEFAULT', 'NOTES', 'DESCRIPTION'], rows) : 'No config fields.'}`,
      };
    },
  });
};
