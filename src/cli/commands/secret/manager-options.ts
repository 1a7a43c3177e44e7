/**
 * What every `secret` command but copy shares: `-m/--manager` and `--stack` (select.ts says what
 * they mean); and the `@generate` help of register and update.
 */
import type { OptionSpec } from '../../define.js';
import { GENERATE_ALPHABETS, GENERATE_DEFAULT_LENGTH, GENERATE_MAX_LENGTH } from '../../input.js';
import { MANAGER_OPTION, STACK_OPTION, type ManagerChoice } from '../../select.js';

export const managerOptions: readonly OptionSpec[] = [
  { flags: MANAGER_OPTION[0], description: MANAGER_OPTION[1], complete: 'manager' },
  { flags: STACK_OPTION[0], description: STACK_OPTION[1], complete: 'stack' },
];

/** The manager choice of a command's options, without the command's other options. */
export const choice = (o: ManagerChoice): ManagerChoice => ({ manager: o.manager, stack: o.stack });

/** The help `secret register` and `secret update` print after their options: what `@generate` makes. */
export const GENERATE_HELP = `
--KEY=@generate:N[:ALPHABET] stores N random characters (1 to ${GENERATE_MAX_LENGTH}; @generate alone is @generate:${GENERATE_DEFAULT_LENGTH}:alnum) from crypto.randomBytes, never printed.
ALPHABET: ${Object.keys(GENERATE_ALPHABETS).join(', ')} (A-Za-z0-9; 0-9a-f; A-Za-z0-9-_; printable ASCII without space). Read it back with \`keystack secret get NAME --key KEY\`.`;
