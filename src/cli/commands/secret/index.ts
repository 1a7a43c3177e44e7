/**
 * `keystack secret …` (also `keystack secrets-manager secret …`): secrets on the active stack's
 * manager, or the one `--manager` / `--stack` picks (select.ts).
 */
import { defineGroup } from '../../define.js';
import copy from './copy.js';
import deleteAll from './delete-all.js';
import del from './delete.js';
import describe from './describe.js';
import diff from './diff.js';
import get from './get.js';
import history from './history.js';
import list from './list.js';
import register from './register.js';
import rename from './rename.js';
import rollback from './rollback.js';
import rotate from './rotate.js';
import set from './set.js';
import update from './update.js';
import usedBy from './used-by.js';

export default defineGroup({
  path: 'secret',
  description: 'manage secrets (short for `secrets-manager secret`)',
  examples: [
    'keystack secret list',
    'keystack secret set db --password=@-',
    'keystack secret get db -m team',
    'keystack secret rename db db_main',
    'keystack secret used-by db',
    'keystack secret history db',
    'keystack secret rotate db --password=@-',
  ],
  commands: [
    register,
    set,
    get,
    describe,
    list,
    update,
    del,
    deleteAll,
    copy,
    rename,
    history,
    diff,
    rollback,
    rotate,
    usedBy,
  ],
});
