/** What every `secret` command but copy shares: `-m/--manager` and `--stack` (select.ts says what they mean). */
import type { OptionSpec } from '../../define.js';
import { MANAGER_OPTION, STACK_OPTION, type ManagerChoice } from '../../select.js';

export const managerOptions: readonly OptionSpec[] = [
  { flags: MANAGER_OPTION[0], description: MANAGER_OPTION[1], complete: 'manager' },
  { flags: STACK_OPTION[0], description: STACK_OPTION[1], complete: 'stack' },
];

/** The manager choice of a command's options, without the command's other options. */
export const choice = (o: ManagerChoice): ManagerChoice => ({ manager: o.manager, stack: o.stack });
