/** Command-line wiring for `secret copy` (kept out of main.ts's table). */
import type { Command } from 'commander';
import type { CommandContext, CommandResult } from './context.js';

type Runner = (fn: () => Promise<CommandResult>) => () => Promise<void>;

// The wiring is built for every `secret` command (copy lives there); the command's code loads
// only when it runs, so `secret get` does not evaluate the transfer and format modules.
const transfer = () => import('./commands/transfer.js');

const CONFLICT = [
  '--on-conflict <policy>',
  'when a secret exists with other content: fail (write nothing) | skip | update',
  'fail',
] as const;

export function addCopyCommand(group: Command, ctx: CommandContext, run: Runner): void {
  group
    .command('copy')
    .description('copy secrets with their schemas from one secrets manager to another; the plan prints first')
    .argument('[names...]')
    .requiredOption('--from <manager>', 'source secrets manager (name or UUID)')
    .requiredOption('--to <manager>', 'target secrets manager (name or UUID)')
    .option('--all', "every secret of the source manager's scope")
    .option(...CONFLICT)
    .option('--delete-source', 'delete each source secret once its copy was read back and verified')
    .option('--dry-run', 'print the plan (names and keys only) and write nothing')
    .action(
      (
        names: string[],
        o: { from: string; to: string; all?: boolean; onConflict?: string; deleteSource?: boolean; dryRun?: boolean },
      ) => run(async () => (await transfer()).copyCommand(ctx, { names, ...o }))(),
    );
}
