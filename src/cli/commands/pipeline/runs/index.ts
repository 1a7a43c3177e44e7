/** `keystack pipeline runs …`: past pipeline runs. */
import { defineGroup } from '../../../define.js';
import describe from './describe.js';
import list from './list.js';
import prune from './prune.js';

export default defineGroup({
  path: 'pipeline runs',
  description: 'past pipeline runs',
  examples: ['keystack pipeline runs list', 'keystack pipeline runs prune --dry-run'],
  commands: [list, describe, prune],
});
