/** `keystack pipeline runs …`: past pipeline runs. */
import { defineGroup } from '../../../define.js';
import describe from './describe.js';
import list from './list.js';

export default defineGroup({
  path: 'pipeline runs',
  description: 'past pipeline runs',
  examples: ['keystack pipeline runs list'],
  commands: [list, describe],
});
