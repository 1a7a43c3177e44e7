/**
 * The CLI entry: parse argv, dispatch to a command function, print its result through the output
 * module, and own the exit code (0 ok, 1 failure, 2 usage error) in one catch.
 */
import { Command, CommanderError, Option } from 'commander';
import { isatty } from 'node:tty';
import { ConfigError, UsageError } from '../errors.js';
import type { Keystack } from '../stack/client.js';
import type { CommandContext, CommandResult } from './context.js';
import { readStdin, terminalPrompter } from './input.js';
import { createOutput, describeError, OutputError, setTableWidth, type Output, type OutputStreams } from './output.js';
import { decorateHelp } from './help.js';
import { ChildStartError } from './child-error.js';
import { mount, TABLE } from './table.js';
import { VERSION } from './version.js';

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
  // The client (and the stores, SQLite and crypto below it) is loaded once a command runs, so
  // that help, usage errors and --version never load it.
  let client: typeof Keystack | undefined;
  let interactive: boolean | undefined;
  const ctx: CommandContext = {
    keystack: () => {
      if (!client) throw new Error('the stack client is loaded when a command runs');
      return (keystack ??= new client({ env, onWarning: (message) => out.warn(message) }));
    },
    out,
    prompt: terminalPrompter(),
    readStdin: io ? () => Buffer.from(io.stdin ?? '') : readStdin,
    cwd: options.cwd ?? process.cwd(),
    env,
    // isatty, not process.stdin.isTTY: creating the stdin stream loads fs streams and readline.
    // Asked only by commands that confirm, so that the others never load tty.
    get interactive() {
      return (interactive ??= io ? false : isatty(0));
    },
  };
  let childCode: number | undefined;
  const run = (fn: () => Promise<CommandResult>) => async () => {
    client ??= (await import('../stack/client.js')).Keystack;
    const r = await fn();
    // What the work itself wrote (a step's console.log) is flushed first, so that a reader that
    // went away during the work is told apart from one that left once the result came.
    await out.settle();
    if (r.exitCode !== undefined) {
      childCode = r.exitCode;
      // The child owned the output; --json adds one document after it, for scripts.
      if (out.json) out.result(r.data);
    } else if (r.printed === true) return;
    else if (r.raw !== undefined && !out.json) out.raw(r.raw);
    else out.result(r.data, r.text, { reveals: r.reveals });
    if (r.status !== undefined) childCode = r.status;
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

async function buildProgram(
  ctx: CommandContext,
  run: Runner,
  args: readonly string[],
  stderr: OutputStreams['err'],
): Promise<Command> {
  const first = args.find((a) => !a.startsWith('-'));
  // Only the invoked group is loaded, which keeps start-up short. Root help and unknown commands
  // see the whole tree (help and suggestions need it), and so does `__complete`, which offers
  // names from all of it. `--version` before any command needs none of it.
  const version =
    first === undefined &&
    args.some((a) => a === '--version' || a === '-V') &&
    !args.some((a) => a === '--help' || a === '-h');
  const all = !version && (first === undefined || first === '__complete' || !Object.hasOwn(TABLE, first));
  const program = new Command('keystack')
    .description('Secrets for ML pipelines: typed secrets in scoped secrets managers on local or cloud backends.')
    .version(VERSION, '-V, --version')
    .addOption(new Option('--json', 'machine-readable output (JSON on stdout, errors included)'))
    .exitOverride()
    // Needed for `run`'s pass-through options; keystack's own options (--json aside) come after the command name anyway.
    .enablePositionalOptions()
    .showSuggestionAfterError()
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({
      // Help is the command's result: a reader that stops early (`| head`) is not an error.
      writeOut: (s) => ctx.out.raw(s),
      // Usage errors are printed by main() through the output module (JSON-aware).
      writeErr: (s) => (s.startsWith('error:') ? undefined : stderr.write(s)),
      outputError: () => undefined,
    });

  // In TABLE's order, which is the order `--help` lists them.
  if (!version)
    for (const [name, load] of Object.entries(TABLE)) if (all || name === first) mount(program, await load(), ctx, run);
  decorateHelp(program);
  return program;
}
