/**
 * `keystack orchestrator|artifact-store|container-registry|step-operator …`: the stack components
 * other than secrets managers. The four groups are one set of definitions, built per type.
 */
import type { StackComponentType } from '../../../stack/components.js';
import { COMPONENT_LABEL } from '../../../stack/config-store.js';
import { defineGroup, type GroupDefinition } from '../../define.js';
import del from './delete.js';
import describe from './describe.js';
import flavor from './flavor/index.js';
import { COMPONENT_GROUPS } from './groups.js';
import list from './list.js';
import register from './register.js';
import update from './update.js';

export function componentGroup(type: StackComponentType): GroupDefinition {
  const label = COMPONENT_LABEL[type];
  return defineGroup({
    path: label,
    description: COMPONENT_GROUPS[type].description,
    examples: [`keystack ${label} list`],
    commands: [register(type), list(type), describe(type), update(type), del(type), flavor(type)],
  });
}
