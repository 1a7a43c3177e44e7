/**
 * The shape of one command definition: everything about a command in one object, so that help,
 * docs/cli.md, completion and the `--json` contract are read from it instead of from tables kept
 * beside the commander wiring. A definition is metadata plus two functions: `shape` builds the
 * zod schema of the `--json` result from the zod it is given (so a definition file imports zod
 * as a type only and start-up never loads it), and `run` is the handler, which loads what it
 * needs with `await import` when the command runs.
 */
import type { Command } from 'commander';
import type { z } from 'zod';
import type { StackComponentType } from '../stack/components.js';
import type { CommandContext, CommandResult } from './context.js';

/** Kinds of names the shell completion can offer (commands/completion/candidates.ts lists each). */
export type CompletionKind =
  | 'secret'
  | 'manager'
  | 'stack'
  | 'schema'
  | 'manager-flavor'
  | 'shell'
  | 'level'
  | 'key-role'
  | 'trusted-key'
  | `component:${StackComponentType}`
  | `flavor:${StackComponentType}`;

export interface ArgumentSpec {
  /** As in usage: `<key>` is required, `[name]` optional, `[words...]` variadic. */
  readonly spec: string;
  readonly description?: string;
  readonly complete?: CompletionKind;
}

export interface OptionSpec {
  /** Commander flags, e.g. `-r, --role <role>`. */
  readonly flags: string;
  readonly description: string;
  readonly required?: boolean;
  /**
   * Each use adds a value (the option's value is a string array, empty when absent). `'optional'`:
   * absent leaves it undefined, so help shows no `(default: [])`.
   */
  readonly repeatable?: boolean | 'optional';
  readonly default?: string;
  readonly complete?: CompletionKind;
}

/** What a handler gets from the command line; `words` are the unparsed `--KEY=VALUE` words too. */
export interface CommandInput<O = Readonly<Record<string, unknown>>> {
  readonly args: Readonly<Record<string, string | undefined>>;
  readonly opts: O;
  readonly words: readonly string[];
  /** The whole command tree (for `__complete`, which offers its names). */
  readonly root: Command;
}

/** The zod namespace a shape is built from (passed in: definitions never load zod themselves). */
export type Zod = typeof z;

interface Described {
  /** The command path without `keystack`, e.g. `keys trust`. */
  readonly path: string;
  readonly description: string;
  readonly examples?: readonly string[];
}

export interface CommandDefinition<S extends z.ZodType = z.ZodType, O = never> extends Described {
  readonly arguments?: readonly ArgumentSpec[];
  readonly options?: readonly OptionSpec[];
  /** A usage line for what commander cannot know (`--KEY=VALUE` words). */
  readonly usage?: string;
  /** More help, printed after the options (before the examples). */
  readonly help?: string;
  /** Takes `--KEY=VALUE` words it parses itself (they arrive in `input.words`). */
  readonly keyValues?: boolean;
  /**
   * Options after the first argument belong to it (`keystack run python -c CODE`): they arrive
   * in `input.words` instead of being read as this command's options.
   */
  readonly passThrough?: boolean;
  readonly hidden?: boolean;
  /** The command's line in its parent's help, when `description` is longer than one line. */
  readonly summary?: string;
  /** The `--json` result. test/cli/json-shapes.test.ts checks every run against it; docs/cli.md prints it. */
  readonly shape: (zod: Zod) => S;
  readonly run: (ctx: CommandContext, input: CommandInput<O>) => Promise<CommandResult<z.infer<S>>>;
}

/**
 * A command group (`keys`, `secrets-manager flavor`): its own help line and examples, and the
 * commands and groups in it, whose paths start with the group's.
 */
export interface GroupDefinition extends Described {
  // `never` in the input position: each command declares the options type its handler reads.
  readonly commands: readonly (CommandDefinition | GroupDefinition)[];
  /**
   * Set on a group mounted a second time under another name (`secrets-manager secret` is
   * `secret`): its commands keep the paths of the group it repeats, so they have one help text,
   * one shape and one docs entry.
   */
  readonly repeats?: string;
}

// Here rather than in table.ts: completion reads it, and table.ts loads completion's definitions.
const DEFINITION = new WeakMap<Command, CommandDefinition>();

/** The definition a commander command was built from (undefined for the root and for groups). */
export function definitionOf(cmd: Command): CommandDefinition | undefined {
  return DEFINITION.get(cmd);
}

/** Records the definition `cmd` was built from (table.ts, when it mounts one). */
export function builtFrom(cmd: Command, def: CommandDefinition): void {
  DEFINITION.set(cmd, def);
}

export function isGroup(def: CommandDefinition | GroupDefinition): def is GroupDefinition {
  return 'commands' in def;
}

/**
 * Types a command: the handler's result is checked against the shape's type, and its options
 * against the `CommandInput<…>` its parameter is annotated with.
 */
export function defineCommand<S extends z.ZodType, O = Readonly<Record<string, unknown>>>(
  def: CommandDefinition<S, O>,
): CommandDefinition<S, O> {
  return def;
}

export function defineGroup(def: GroupDefinition): GroupDefinition {
  return def;
}

/** `group` mounted again at `path` (one word below an existing group), e.g. `secrets-manager secret`. */
export function repeatGroup(group: GroupDefinition, path: string, description: string): GroupDefinition {
  return { ...group, path, description, repeats: group.path };
}
