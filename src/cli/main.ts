/**
 * The CLI entry: parse argv, dispatch to a command function, print its result through the output
 * module, and own the exit code (0 ok, 1 failure, 2 usage error) in one catch.
 */
import { Command, CommanderError, Option } from 'commander';
import { isatty } from 'node:tty';
import { ConfigError, UsageError } from '../errors.js';
import { Keystack } from '../stack/client.js';
import type { CommandContext, CommandResult } from './context.js';
import { readStdin, terminalPrompter } from './input.js';
import { createOutput, describeError, OutputError, setTableWidth, type Output, type OutputStreams } from './output.js';
import { decorateHelp } from './help.js';
import { MANAGER_OPTION, STACK_OPTION, type ManagerChoice } from './select.js';
import * as completion from './commands/completion.js';
import * as flavorDescribe from './commands/flavor-describe.js';
import { status } from './commands/status.js';
import * as secret from './commands/secret.js';
import * as sm from './commands/secrets-manager.js';
import { addCopyCommand, addTransferCommands } from './program-transfer.js';
import { ChildStartError } from './child-error.js';
import { mount, TABLE } from './table.js';

declare const __KEYSTACK_VERSION__: string | undefined;
const VERSION = typeof __KEYSTACK_VERSION__ === 'string' ? __KEYSTACK_VERSION__ : 'dev';

/**
 * The process's streams, or others for running a command in-process (tests): `stdin` is then
 * what the command reads as standard input, and the command is never interactive.
 */
export interface MainIo extends OutputStreams {
  stdin?: string | Buffer | undefined;
}

export interface MainOptions {
  env?: Readonly<Record<string, string | undefined>>;
  cwd?: string;
  io?: MainIo;
  output?: Output;
}

/** Runs one command line and gives its exit code; it never exits the process (bin.ts does). */
export async function main(argv: readonly string[], options: MainOptions = {}): Promise<number> {
  const env = options.env ?? process.env;
  const io = options.io;
  const { json, args } = helpCommand(extractJsonFlag(argv));
  const out = options.output ?? createOutput(json, io);
  const stdout = io?.out ?? process.stdout;
  setTableWidth(Number(env['COLUMNS']) || (stdout.isTTY ? (stdout as { columns?: number }).columns : undefined));
  const debug = env['KEYSTACK_DEBUG'] === '1';
  let keystack: Keystack | undefined;
  const ctx: CommandContext = {
    keystack: () => (keystack ??= new Keystack({ env, onWarning: (message) => out.warn(message) })),
    out,
    prompt: terminalPrompter(),
    readStdin: io ? () => Buffer.from(io.stdin ?? '') : readStdin,
    cwd: options.cwd ?? process.cwd(),
    env,
    // isatty, not process.stdin.isTTY: creating the stdin stream loads fs streams and readline.
    interactive: io ? false : isatty(0),
  };
  let childCode: number | undefined;
  const run = (fn: () => Promise<CommandResult>) => async () => {
    const r = await fn();
    // What the work itself wrote (a step's console.log) is flushed first, so that a reader that
    // went away during the work is told apart from one that left once the result came.
    await out.settle();
    if (r.exitCode !== undefined) {
      childCode = r.exitCode;
      // The child owned the output; --json adds one document after it, for scripts.
      if (out.json) out.result(r.data);
    } else if (r.raw !== undefined && !out.json) out.raw(r.raw);
    else out.result(r.data, r.text, { reveals: r.reveals });
  };
  const program = await buildProgram(ctx, run, args, io?.err ?? process.stderr);
  let code: number;
  try {
    await program.parseAsync([...args], { from: 'user' });
    code = childCode ?? 0;
  } catch (e) {
    code = failureCode(e, out, debug);
  } finally {
    await keystack?.close().catch(() => undefined);
  }
  return delivered(out, code, debug);
}

/** Reports a command's failure and gives its exit code. */
function failureCode(e: unknown, out: Output, debug: boolean): number {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
    if (e.code === 'commander.help') return 2;
    out.error(
      new UsageError(e.message.replace(/^error: /, ''), 'Run the command with --help to see its usage.'),
      debug,
    );
    return 2;
  }
  // Ctrl-C at a prompt: the shell convention for SIGINT.
  if ((e as Error | null)?.name === 'ExitPromptError') {
    out.error(new UsageError('cancelled (Ctrl-C); nothing was changed'), false);
    return 130;
  }
  out.error(e, debug);
  // As shells report a command that could not be run.
  if (e instanceof ChildStartError && e.reason !== 'other') return e.reason === 'not_found' ? 127 : 126;
  return describeError(e).code === 'usage' ? 2 : 1;
}

/**
 * A command whose output could not be written did not finish its job, so it never exits 0.
 * The one exception is a reader that left after the work was done (`keystack secret list |
 * head -1`): it took what it wanted.
 */
async function delivered(out: Output, code: number, debug: boolean): Promise<number> {
  const f = await out.settle();
  if (!f || (f.code === 'EPIPE' && f.duringResult)) return code;
  out.error(new OutputError(f), debug);
  return code === 0 ? 1 : code;
}

/** Reports a command that stopped because nothing was left to run while it still waited. */
export function unsettled(argv: readonly string[]): void {
  createOutput(extractJsonFlag(argv).json).error(
    new ConfigError('keystack stopped before the command finished: a step, flavor or plugin promise never settled', {
      hint: "Look for a promise that never resolves or rejects (a pipeline step, a custom flavor method, a plugin module's top-level await).",
    }),
    false,
  );
}

/** `--json` is global and may appear anywhere before `--`. */
function extractJsonFlag(argv: readonly string[]): { json: boolean; args: string[] } {
  const end = argv.indexOf('--');
  const head = end === -1 ? [...argv] : argv.slice(0, end);
  const json = head.includes('--json');
  return { json, args: [...head.filter((a) => a !== '--json'), ...(end === -1 ? [] : argv.slice(end))] };
}

/** `keystack help secret get` is `keystack secret get --help` (commander's own help command takes one name). */
function helpCommand(p: { json: boolean; args: string[] }): { json: boolean; args: string[] } {
  const [first, ...rest] = p.args;
  // `keystack help` alone is the root help, exit 0 (commander's help command exits as on a usage error).
  return first === 'help' && !rest.includes('--') ? { json: p.json, args: [...rest, '--help'] } : p;
}

type Runner = (fn: () => Promise<CommandResult>) => () => Promise<void>;

/**
 * The whole command tree, for generated docs (scripts/gen-cli-docs.mjs) and the tests that walk
 * it. Its actions must not be run: the context they would get does nothing.
 */
export async function commandTree(): Promise<Command> {
  const ctx: CommandContext = {
    keystack: () => {
      throw new Error('commandTree() is for reading the tree, not for running commands');
    },
    out: createOutput(false),
    prompt: terminalPrompter(),
    readStdin: () => Buffer.alloc(0),
    cwd: process.cwd(),
    env: {},
    interactive: false,
  };
  return buildProgram(ctx, () => async () => undefined, [], process.stderr);
}

/** Top-level groups defined here; building only the invoked one keeps start-up short. */
const OWN_GROUPS = new Set(['secrets-manager', 'secret', 'status', 'completion', 'run', 'inject', 'export', 'import']);

async function buildProgram(
  ctx: CommandContext,
  run: Runner,
  args: readonly string[],
  stderr: OutputStreams['err'],
): Promise<Command> {
  const first = args.find((a) => !a.startsWith('-'));
  // Root help, unknown commands and other groups see the whole tree (help and suggestions need it).
  const all = first === undefined || !(OWN_GROUPS.has(first) || Object.hasOwn(TABLE, first));
  const want = (group: string) => all || first === group;
  // MIGRATION: each table group is mounted where its legacy wiring stood, so that `--help` keeps
  // its order; once every group is in the table, this is one loop over TABLE.
  const table = async (group: keyof typeof TABLE) => {
    if (want(group)) mount(program, await TABLE[group](), ctx, run);
  };
  const program = new Command('keystack')
    .description('Secrets for ML pipelines: typed secrets in scoped secrets managers on local or cloud backends.')
    .version(VERSION, '-V, --version')
    .addOption(new Option('--json', 'machine-readable output (JSON on stdout, errors included)'))
    .exitOverride()
    .showSuggestionAfterError()
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({
      // Help is the command's result: a reader that stops early (`| head`) is not an error.
      writeOut: (s) => ctx.out.raw(s),
      // Usage errors are printed by main() through the output module (JSON-aware).
      writeErr: (s) => (s.startsWith('error:') ? undefined : stderr.write(s)),
      outputError: () => undefined,
    });

  // MIGRATION: one line per top-level group, in `--help` order; a legacy line becomes
  // `await table('<group>')` when the group moves into the table.
  legacyStatus(program, ctx, run);
  if (want('secrets-manager')) legacySecretsManager(program, ctx, run);
  if (want('secret')) legacySecret(program, ctx, run);
  if (want('export') || want('import')) addTransferCommands(program, ctx, run);
  await table('schema');
  await table('stack');
  await table('orchestrator');
  await table('artifact-store');
  await table('container-registry');
  await table('step-operator');
  await table('pipeline');
  await table('worker');
  await table('keys');
  if (want('run') || want('inject')) await legacyProcess(program, ctx, run);
  decorateHelp(program);
  return program;
}

// MIGRATION: the groups below are still wired by hand; each function goes when its group moves
// into the command table (table.ts).

function legacyStatus(program: Command, ctx: CommandContext, run: Runner): void {
  program
    .command('status')
    .description('show the active stack, its secrets manager and where its secrets and key are (no values)')
    .action(() => run(() => status(ctx))());
  program
    .command('completion')
    .description('print a shell completion script (bash, zsh or fish)')
    .argument('<shell>', 'bash | zsh | fish')
    .action((shell: string) => run(() => completion.completionScript(ctx, { shell }))());
  // Called by the completion scripts: the candidates for the last word.
  program
    .command('__complete', { hidden: true })
    .argument('[words...]')
    .allowUnknownOption()
    .action((words: string[] | undefined) => run(() => completion.complete(ctx, program, words ?? []))());
}

function legacySecretsManager(program: Command, ctx: CommandContext, run: Runner): void {
  const sm_ = program
    .command('secrets-manager')
    .description('register and inspect secrets managers, and manage their secrets');
  sm_
    .command('register')
    .description('register a secrets manager (extra flavor config as --KEY=VALUE, e.g. --path=FILE for local)')
    .argument('<name>')
    .requiredOption('-f, --flavor <flavor>', 'flavor (see `secrets-manager flavor list`)')
    .option('--scope <scope>', 'none | global | component | namespace (default: component where supported)')
    .option('--namespace <namespace>', 'namespace, for --scope=namespace')
    .option(
      '--uuid <uuid>',
      "register under this id, e.g. an existing ZenML manager's, to share its component-scoped secrets",
    )
    .allowUnknownOption()
    .allowExcessArguments()
    .action((_n, o: { flavor: string; scope?: string; namespace?: string; uuid?: string }, cmd: Command) =>
      run(() =>
        sm.managerRegister(ctx, {
          args: cmd.args,
          flavor: o.flavor,
          scope: o.scope,
          namespace: o.namespace,
          uuid: o.uuid,
        }),
      )(),
    );
  sm_
    .command('list')
    .description('list secrets managers (* = in the active stack)')
    .action(() => run(() => sm.managerList(ctx))());
  sm_
    .command('describe')
    .description("show a secrets manager's settings (default: the active stack's)")
    .argument('[name]')
    .action((name?: string) => run(() => sm.managerDescribe(ctx, { name }))());
  sm_
    .command('update')
    .description("change a secrets manager's config (--KEY=VALUE)")
    .argument('<name>')
    .option('--scope <scope>', 'new scope')
    .option('--namespace <namespace>', 'new namespace')
    .option('--force', 'change scope or location even though existing secrets become invisible')
    .allowUnknownOption()
    .allowExcessArguments()
    .action((_n, o: { scope?: string; namespace?: string; force?: boolean }, cmd: Command) =>
      run(() => sm.managerUpdate(ctx, { args: cmd.args, scope: o.scope, namespace: o.namespace, force: o.force }))(),
    );
  sm_
    .command('delete')
    .description('remove a secrets manager registration (its secrets stay in the backend)')
    .argument('<name>')
    .option('-y, --yes', 'do not ask for confirmation')
    .action((name: string, o: { yes?: boolean }) => run(() => sm.managerDelete(ctx, { name, yes: o.yes }))());
  sm_
    .command('backup')
    .description(
      "back up a local manager's store file (every scope in it) together with its key, sealed with a passphrase ($KEYSTACK_BACKUP_PASSPHRASE, else asked)",
    )
    .argument('[name]', "a local secrets manager (default: the active stack's)")
    .requiredOption('-o, --out <file>', 'the backup file to write (mode 0600)')
    .option('-f, --force', 'replace the file if it exists')
    .action(async (name: string | undefined, o: { out: string; force?: boolean }) => {
      const { managerBackup } = await import('./commands/backup.js');
      return run(() => managerBackup(ctx, { name, out: o.out, force: o.force }))();
    });
  sm_
    .command('restore')
    .description(
      "restore a local manager's store and key from a backup; checks every secret decrypts before anything is replaced",
    )
    .argument('[name]', "a local secrets manager (default: the active stack's)")
    .requiredOption('--from <file>', 'a file written by `secrets-manager backup`')
    .option('-f, --force', 'replace an existing store (it is moved aside, not deleted)')
    .action(async (name: string | undefined, o: { from: string; force?: boolean }) => {
      const { managerRestore } = await import('./commands/backup.js');
      return run(() => managerRestore(ctx, { name, from: o.from, force: o.force }))();
    });
  const flavor = sm_.command('flavor').description('secrets-manager flavors');
  flavor
    .command('list')
    .description('list flavors, built-in and custom')
    .action(() => run(() => sm.flavorList(ctx))());
  flavor
    .command('describe')
    .description(
      "show a flavor's config fields (type, default, env var, sensitive, location), name rules and size limit",
    )
    .argument('<flavor>')
    .action((name: string) => run(() => flavorDescribe.managerFlavorDescribe(ctx, { flavor: name }))());
  flavor
    .command('register')
    .description('register a module (.js/.mjs/.ts) that exports a custom flavor and, optionally, schemas')
    .argument('<module>')
    .action((module: string) => run(() => sm.flavorRegister(ctx, { module }))());
  flavor
    .command('unregister')
    .description('remove a registered module (refused while a secrets manager uses its flavor)')
    .argument('<module>')
    .action((module: string) => run(() => sm.flavorUnregister(ctx, { module }))());
  addSecretCommands(
    sm_.command('secret').description("manage secrets on the active stack's secrets manager (or --manager/--stack)"),
    ctx,
    run,
  );
}

function legacySecret(program: Command, ctx: CommandContext, run: Runner): void {
  addSecretCommands(
    program.command('secret').description('manage secrets (short for `secrets-manager secret`)'),
    ctx,
    run,
  );
}

async function legacyProcess(program: Command, ctx: CommandContext, run: Runner): Promise<void> {
  const { addProcessCommands } = await import('./program-process.js');
  addProcessCommands(program, ctx, run);
}

/** `-m/--manager` and `--stack` on every secret command (select.ts says what they mean). */
function chooser(c: Command): Command {
  return c.option(...MANAGER_OPTION).option(...STACK_OPTION);
}

const choice = (o: ManagerChoice): ManagerChoice => ({ manager: o.manager, stack: o.stack });

function addSecretCommands(group: Command, ctx: CommandContext, run: Runner): void {
  chooser(group.command('register'))
    .description(
      'register a secret: --KEY=VALUE, --KEY=@FILE, --KEY=@- (stdin), or -i for hidden prompts; @@ escapes a leading @',
    )
    .argument('<name>')
    .option('-s, --schema <schema>', 'schema (default: arbitrary; see `keystack schema list`)')
    .option('-i, --interactive', 'prompt for values with hidden input')
    .allowUnknownOption()
    .allowExcessArguments()
    .action((_n, o: { schema?: string; interactive?: boolean } & ManagerChoice, cmd: Command) =>
      run(() =>
        secret.secretRegister(ctx, { args: cmd.args, schema: o.schema, interactive: o.interactive, ...choice(o) }),
      )(),
    );
  chooser(
    group
      .command('get')
      .description('print a secret as a table of keys and values, or one raw value with --key')
      .argument('<name>')
      .option('-k, --key <key>', 'print only this raw value (for scripts)'),
  ).action((name: string, o: { key?: string } & ManagerChoice) =>
    run(() => secret.secretGet(ctx, { name, key: o.key, ...choice(o) }))(),
  );
  chooser(
    group
      .command('describe')
      .description("show a secret's schema, key names, size and times, without its values")
      .argument('<name>'),
  ).action((name: string, o: ManagerChoice) => run(() => secret.secretDescribe(ctx, { name, ...choice(o) }))());
  chooser(group.command('list').description("list the secrets of the manager's scope")).action((o: ManagerChoice) =>
    run(() => secret.secretList(ctx, choice(o)))(),
  );
  chooser(group.command('update'))
    .description('merge --KEY=VALUE into a secret, remove keys with --remove-key, or -i to edit with prompts')
    .argument('<name>')
    .option('-i, --interactive', 'prompt for new values with hidden input')
    .option('--remove-key <key>', 'remove a key (repeatable)', (v: string, prev: string[] | undefined) => [
      ...(prev ?? []),
      v,
    ])
    .allowUnknownOption()
    .allowExcessArguments()
    .action((_n, o: { interactive?: boolean; removeKey?: string[] } & ManagerChoice, cmd: Command) =>
      run(() =>
        secret.secretUpdate(ctx, { args: cmd.args, interactive: o.interactive, removeKeys: o.removeKey, ...choice(o) }),
      )(),
    );
  chooser(
    group
      .command('delete')
      .description('delete a secret')
      .argument('<name>')
      .option('-y, --yes', 'do not ask for confirmation'),
  ).action((name: string, o: { yes?: boolean } & ManagerChoice) =>
    run(() => secret.secretDelete(ctx, { name, yes: o.yes, ...choice(o) }))(),
  );
  chooser(
    group
      .command('delete-all')
      .description("delete every secret in the manager's scope (other scopes are untouched)")
      .option('-y, --yes', 'do not ask for confirmation'),
  ).action((o: { yes?: boolean } & ManagerChoice) =>
    run(() => secret.secretDeleteAll(ctx, { yes: o.yes, ...choice(o) }))(),
  );
  addCopyCommand(group, ctx, run);
}
