/**
 * The command table: the groups whose commands are definitions (src/cli/commands/<group>/), and
 * the one place that turns a definition into a commander command. Loading a group's definitions
 * loads metadata only: handlers import their work when they run, and `--json` shapes are built
 * only by the json-shapes test and the docs generator, so zod stays off the start-up path.
 *
 * MIGRATION: groups not listed here are still wired by hand in main.ts and program-*.ts, with
 * their examples in help.ts and their shapes in json-shapes.ts. Move a group by giving each of
 * its commands a definition file, listing the group here, and deleting its old wiring.
 */
import { Option, type Command } from 'commander';
import type { CommandContext, CommandResult } from './context.js';
import type { CommandDefinition, GroupDefinition } from './define.js';
import { addExamples } from './help.js';

export const TABLE = {
  schema: async () => (await import('./commands/schema/index.js')).default,
  keys: async () => (await import('./commands/keys/index.js')).default,
} as const satisfies Readonly<Record<string, () => Promise<GroupDefinition>>>;

type Runner = (fn: () => Promise<CommandResult>) => () => Promise<void>;

const DEFINITION = new WeakMap<Command, CommandDefinition>();

/** The definition a commander command was built from (undefined for legacy wiring). */
export function definitionOf(cmd: Command): CommandDefinition | undefined {
  return DEFINITION.get(cmd);
}

/** Every command of the table, with its group's path (for the json-shapes test and the docs). */
export async function tableCommands(): Promise<CommandDefinition[]> {
  const groups = await Promise.all(Object.values(TABLE).map((load) => load()));
  return groups.flatMap((g) => g.commands);
}

/** Adds a group and its commands to the tree; a handler runs only if its command is the one invoked. */
export function mountGroup(program: Command, group: GroupDefinition, ctx: CommandContext, run: Runner): void {
  const parent = program.command(group.path).description(group.description);
  addExamples(parent, group.examples);
  for (const def of group.commands) mountCommand(parent, group.path, def, ctx, run);
}

function mountCommand(
  parent: Command,
  groupPath: string,
  def: CommandDefinition,
  ctx: CommandContext,
  run: Runner,
): void {
  if (!def.path.startsWith(`${groupPath} `)) throw new Error(`command '${def.path}' is not in group '${groupPath}'`);
  const cmd = parent
    .command(def.path.slice(groupPath.length + 1), { hidden: def.hidden === true })
    .description(def.description);
  for (const a of def.arguments ?? []) cmd.argument(a.spec, a.description);
  for (const o of def.options ?? []) {
    const option = new Option(o.flags, o.description);
    if (o.required) option.makeOptionMandatory();
    if (o.repeatable) option.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]).default([]);
    else if (o.default !== undefined) option.default(o.default);
    cmd.addOption(option);
  }
  if (def.keyValues) cmd.allowUnknownOption().allowExcessArguments();
  if (def.usage) cmd.usage(def.usage);
  addExamples(cmd, def.examples);
  DEFINITION.set(cmd, def);
  cmd.action((...xs: unknown[]) => {
    const c = xs.at(-1) as Command;
    const names = c.registeredArguments.map((a) => a.name());
    const args = Object.fromEntries(names.map((n, i) => [n, c.processedArgs[i] as string | undefined]));
    return run(() => def.run(ctx, { args, opts: c.opts<never>(), words: c.args }))();
  });
}
