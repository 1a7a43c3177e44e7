/** `keystack stack …`: stacks group components; one stack is active. */
import { defineGroup } from '../../define.js';
import del from './delete.js';
import describe from './describe.js';
import list from './list.js';
import register from './register.js';
import registerSecrets from './register-secrets.js';
import removeComponent from './remove-component.js';
import set from './set.js';
import update from './update.js';
import validate from './validate.js';

export default defineGroup({
  path: 'stack',
  description: 'stacks of components; one is active',
  examples: ['keystack stack list', 'keystack stack describe'],
  commands: [register, set, list, describe, update, removeComponent, del, validate, registerSecrets],
});
