/**
 * One rule for every destructive command (`secret delete`, `delete-all`, `stack delete`,
 * `secrets-manager delete`, component deletes): `-y` goes ahead; on a terminal the user is asked;
 * anywhere else the command refuses (exit 2), since nobody could have answered. Commands check
 * what would refuse the deletion anyway (in use, not found) before they ask.
 */
import { UsageError } from '../errors.js';
import type { CommandContext } from './context.js';

export async function confirmOrAbort(
  ctx: CommandContext,
  question: string,
  yes: boolean | undefined,
  what: { action: string; nothing: string } = { action: 'delete', nothing: 'nothing was deleted' },
): Promise<void> {
  if (yes) return;
  if (!ctx.interactive) {
    throw new UsageError(
      `refusing to ${what.action} without confirmation (standard input is not a terminal)`,
      'Pass -y to confirm when not running in a terminal.',
    );
  }
  if (!(await ctx.prompt.confirm(question))) {
    throw new UsageError(
      `aborted; ${what.nothing}`,
      `Run the command again and answer y to ${what.action}, or pass -y to skip the question.`,
    );
  }
}
