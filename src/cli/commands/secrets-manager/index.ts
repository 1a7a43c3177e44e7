/**
 * `keystack secrets-manager …`: registering and inspecting secrets managers and their flavors,
 * backing up a local one, and (as `secrets-manager secret …`) the `secret` commands.
 */
import { defineGroup, repeatGroup } from '../../define.js';
import secret from '../secret/index.js';
import backup from './backup.js';
import del from './delete.js';
import describe from './describe.js';
import flavor from './flavor/index.js';
import list from './list.js';
import register from './register.js';
import restore from './restore.js';
import update from './update.js';

export default defineGroup({
  path: 'secrets-manager',
  description: 'register and inspect secrets managers, and manage their secrets',
  examples: ['keystack secrets-manager list', 'keystack secrets-manager flavor describe aws'],
  commands: [
    register,
    list,
    describe,
    update,
    del,
    backup,
    restore,
    flavor,
    repeatGroup(
      secret,
      'secrets-manager secret',
      "manage secrets on the active stack's secrets manager (or --manager/--stack)",
    ),
  ],
});
