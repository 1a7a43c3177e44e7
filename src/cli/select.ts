/**
 * Which secrets manager a command works on: `--manager NAME|UUID`, `--stack NAME` (that stack's
 * manager), or by default the active stack's. Every command that reads or writes secrets goes
 * through here, so the options mean the same thing everywhere.
 */
import { UsageError } from '../errors.js';
import type { SecretsManager } from '../core/manager.js';
import type { CommandContext } from './context.js';
import type { OptionSpec } from './define.js';

export interface ManagerChoice {
  manager?: string | undefined;
  stack?: string | undefined;
}

export async function selectManager(ctx: CommandContext, choice: ManagerChoice = {}): Promise<SecretsManager> {
  if (choice.manager !== undefined && choice.stack !== undefined) {
    throw new UsageError(
      '--manager and --stack cannot be used together',
      'Give one: --manager NAME picks a secrets manager, --stack NAME picks the manager of that stack.',
    );
  }
  const ks = ctx.keystack();
  if (choice.manager !== undefined) return ks.secretsManager(choice.manager);
  if (choice.stack !== undefined) return ks.stackSecretsManager(choice.stack);
  return ks.secretsManager();
}

/** The commander flags for `selectManager`, so that every command spells them the same way. */
export const MANAGER_OPTION = [
  '-m, --manager <name>',
  "secrets manager to use, by name or UUID (default: the active stack's)",
] as const;
export const STACK_OPTION = [
  '--stack <name>',
  'use the secrets manager of this stack instead of the active one',
] as const;

/** `MANAGER_OPTION` and `STACK_OPTION` as command-table options, with the names they complete. */
export const CHOOSER_OPTIONS: readonly OptionSpec[] = [
  { flags: MANAGER_OPTION[0], description: MANAGER_OPTION[1], complete: 'manager' },
  { flags: STACK_OPTION[0], description: STACK_OPTION[1], complete: 'stack' },
];
