/**
 * Command-line wiring for secrets in processes and files: `keystack run` and `keystack inject`
 * (kept out of main.ts so that the command table there stays short).
 */
import type { Command } from 'commander';
import type { CommandContext, CommandResult } from './context.js';
import { FORWARDED_SIGNALS, ISOLATED_ENV, runCommand } from './commands/run.js';
import { injectCommand } from './commands/inject.js';
import { MANAGER_OPTION, STACK_OPTION } from './select.js';

type Runner = (fn: () => Promise<CommandResult>) => () => Promise<void>;

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

interface RunFlags {
  envFile?: string[];
  secret?: string[];
  env?: string[];
  prefix?: string;
  isolated?: boolean;
  mask?: boolean;
  manager?: string;
  stack?: string;
}

export function addProcessCommands(program: Command, ctx: CommandContext, run: Runner): void {
  program
    .command('run')
    .description('run a command with secrets in its environment: keystack run [options] -- CMD [ARGS...]')
    .argument('<command>', 'the command (put `--` before it)')
    .argument('[args...]', 'its arguments')
    .option(
      '--env-file <file>',
      '.env file whose values may be {{name.key}} references (repeatable; later files win)',
      collect,
    )
    .option('-s, --secret <name[.key]>', 'inject every key of a secret as NAME_KEY, or one key (repeatable)', collect)
    .option(
      '--env <var=value>',
      'set VAR to a {{name.key}} reference or plain text (repeatable; wins over env files)',
      collect,
    )
    .option('--prefix <prefix>', 'prefix for the variable names of -s, e.g. APP_')
    .option('--isolated', `start the command with only the injected variables and ${ISOLATED_ENV.join(', ')}`)
    .option(
      '--mask',
      "mask secret values in the command's stdout and stderr (the default; the command then writes to pipes, not the terminal)",
    )
    .option(
      '--no-mask',
      'pass stdout and stderr on untouched, terminal included (colours, progress bars, full-screen programs)',
    )
    .option(...MANAGER_OPTION)
    .option(...STACK_OPTION)
    .addHelpText(
      'after',
      `
Variable names for -s: NAME_KEY upper-cased, characters other than A-Z, 0-9 and _ replaced by _.
${FORWARDED_SIGNALS.join(', ')} are passed on to the command; keystack exits with its exit code, or 128+N if it died of signal N.
Example: keystack run --env-file .env -s db -- python train.py`,
    )
    .action((command: string, args: string[], o: RunFlags) =>
      run(() =>
        runCommand(ctx, {
          command,
          args,
          envFiles: o.envFile,
          secrets: o.secret,
          env: o.env,
          prefix: o.prefix,
          isolated: o.isolated,
          mask: o.mask,
          manager: o.manager,
          stack: o.stack,
        }),
      )(),
    );

  program
    .command('inject')
    .description('render the {{name.key}} references in a text file, to stdout or to a 0600 file written atomically')
    .requiredOption('-i, --in <template>', 'the template (- for standard input)')
    .option('-o, --out <file>', 'write here (mode 0600) instead of stdout')
    .option('-f, --force', 'overwrite an existing output file')
    .option(...MANAGER_OPTION)
    .option(...STACK_OPTION)
    .action((o: { in: string; out?: string; force?: boolean; manager?: string; stack?: string }) =>
      run(() =>
        injectCommand(ctx, { input: o.in, output: o.out, force: o.force, manager: o.manager, stack: o.stack }),
      )(),
    );
}
