/** `keystack secrets-manager flavor …`: the backends a secrets manager can be, built in and registered. */
import { defineGroup } from '../../../define.js';
import describe from './describe.js';
import list from './list.js';
import register from './register.js';
import unregister from './unregister.js';

export default defineGroup({
  path: 'secrets-manager flavor',
  description: 'secrets-manager flavors',
  examples: ['keystack secrets-manager flavor list'],
  commands: [list, describe, register, unregister],
});
