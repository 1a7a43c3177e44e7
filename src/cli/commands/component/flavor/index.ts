/** `keystack <component> flavor …`: the flavors of one component type. */
import type { StackComponentType } from '../../../../stack/components.js';
import { COMPONENT_LABEL } from '../../../../stack/config-store.js';
import { defineGroup, type GroupDefinition } from '../../../define.js';
import describe from './describe.js';
import list from './list.js';

export default (type: StackComponentType): GroupDefinition => {
  const label = COMPONENT_LABEL[type];
  return defineGroup({
    path: `${label} flavor`,
    description: `${label} flavors`,
    examples: [`keystack ${label} flavor list`],
    commands: [list(type), describe(type)],
  });
};
