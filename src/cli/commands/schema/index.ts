/** `keystack schema …`: the built-in and user-registered secret schemas. */
import { defineGroup } from '../../define.js';
import describe from './describe.js';
import list from './list.js';
import register from './register.js';

export default defineGroup({
  path: 'schema',
  description: 'secret schemas',
  examples: ['keystack schema list'],
  commands: [list, describe, register],
});
