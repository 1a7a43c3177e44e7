/** Command-line wiring for `export` and `import` (kept out of main.ts's table). */
import type { Command } from 'commander';
import type { CommandContext, CommandResult } from './context.js';
import { MANAGER_OPTION, STACK_OPTION } from './select.js';

type Runner = (fn: () => Promise<CommandResult>) => () => Promise<void>;

// The wiring is built with the whole tree (root help, unknown commands); the commands' code loads
// only when one of them runs, so other commands do not evaluate the transfer and format modules.
const transfer = () => import('./commands/transfer.js');

const CONFLICT = [
  '--on-conflict <policy>',
  'when a secret exists with other content: fail (write nothing) | skip | update',
  'fail',
] as const;

export function addTransferCommands(program: Command, ctx: CommandContext, run: Runner): void {
  program
    .command('export')
    .description('write secrets to a file or stdout as env, json, yaml or shell (default: every secret of the manager)')
    .argument('[names...]')
    .option('--format <format>', 'env | json | yaml | shell (default: from the -o file name, else env)')
    .option('-o, --output <file>', 'write to this file (mode 0600, atomically) instead of stdout')
    .option('-f, --force', 'overwrite the -o file if it exists')
    .option('--with-schema', "json/yaml: keep each secret's schema ($schema) and typed values, for import elsewhere")
    .option('--no-prefix', 'env/shell: variable names from the keys alone (KEY, not SECRET_KEY)')
    .option(...MANAGER_OPTION)
    .option(...STACK_OPTION)
    .action(
      (
        names: string[],
        o: {
          format?: string;
          output?: string;
          force?: boolean;
          withSchema?: boolean;
          prefix?: boolean;
          manager?: string;
          stack?: string;
        },
      ) => run(async () => (await transfer()).exportCommand(ctx, { names, ...o }))(),
    );
  program
    .command('import')
    .description(
      'write the secrets of an env, json or yaml file (- for stdin) into a secrets manager; all are checked before the first write',
    )
    .argument('<file>')
    .option('--format <format>', 'env | json | yaml (default: from the file name)')
    .option(
      '--as <name>',
      'the whole file is this one secret (env files: default from the file name, prod.env -> prod)',
    )
    .option('--split', 'json/yaml: each top-level entry is a secret (the default for json and yaml)')
    .option('-s, --schema <schema>', 'schema for secrets the file gives none ($schema)')
    .option(...CONFLICT)
    .option('--dry-run', 'print the plan (names and keys only) and write nothing')
    .option(...MANAGER_OPTION)
    .option(...STACK_OPTION)
    .action(
      (
        file: string,
        o: {
          format?: string;
          as?: string;
          split?: boolean;
          schema?: string;
          onConflict?: string;
          dryRun?: boolean;
          manager?: string;
          stack?: string;
        },
      ) => run(async () => (await transfer()).importCommand(ctx, { file, ...o }))(),
    );
}
