/**
 * The command table: every command is a definition (src/cli/commands/), and this is the one place
 * that turns a definition into a commander command. Loading a group's definitions loads metadata
 * only: handlers import their work when they run, and `--json` shapes are built only by the
 * json-shapes test and the docs generator, so zod stays off the start-up path.
 */
import { Option, type Command } from 'commander';
import type { CommandContext, CommandResult } from './context.js';
import { builtFrom, isGroup, type CommandDefinition, type GroupDefinition } from './define.js';
import { addExamples } from './help.js';

/**
 * Every top-level command and group, in the order `--help` lists them. A group's definitions load
 * only when its first word is the one invoked (or for root help and the docs).
 */
export const TABLE = {
  status: async () => (await import('./commands/status/index.js')).default,
  init: async () => (await import('./commands/init/index.js')).default,
  completion: async () => (await import('./commands/completion/index.js')).default,
  __complete: async () => (await import('./commands/completion/complete.js')).default,
  'secrets-manager': async () => (await import('./commands/secrets-manager/index.js')).default,
  secret: async () => (await import('./commands/secret/index.js')).default,
  read: async () => (await import('./commands/read/index.js')).default,
  export: async () => (await import('./commands/export/index.js')).default,
  import: async () => (await import('./commands/import/index.js')).default,
  schema: async () => (await import('./commands/schema/index.js')).default,
  stack: async () => (await import('./commands/stack/index.js')).default,
  orchestrator: async () => (await import('./commands/component/index.js')).componentGroup('orchestrator'),
  'artifact-store': async () => (await import('./commands/component/index.js')).componentGroup('artifact_store'),
  'container-registry': async () =>
    (await import('./commands/component/index.js')).componentGroup('container_registry'),
  'step-operator': async () => (await import('./commands/component/index.js')).componentGroup('step_operator'),
  pipeline: async () => (await import('./commands/pipeline/index.js')).default,
  worker: async () => (await import('./commands/worker.js')).default,
  audit: async () => (await import('./commands/audit/index.js')).default,
  scan: async () => (await import('./commands/scan/index.js')).default,
  ui: async () => (await import('./commands/ui/index.js')).default,
  keys: async () => (await import('./commands/keys/index.js')).default,
  run: async () => (await import('./commands/run/index.js')).default,
  inject: async () => (await import('./commands/inject/index.js')).default,
  version: async () => (await import('./commands/version/index.js')).default,
} as const satisfies Readonly<Record<string, () => Promise<GroupDefinition | CommandDefinition>>>;

type Runner = (fn: () => Promise<CommandResult>) => () => Promise<void>;

/**
 * Every command of the table once, for the json-shapes test and the docs; repeated groups and
 * hidden commands (`__complete`) are left out, as the tree those two walk leaves them out.
 */
export async function tableCommands(): Promise<CommandDefinition[]> {
  const entries = await Promise.all(Object.values(TABLE).map((load) => load()));
  const flat = (d: GroupDefinition | CommandDefinition): CommandDefinition[] =>
    isGroup(d) ? (d.repeats ? [] : d.commands.flatMap(flat)) : d.hidden ? [] : [d];
  return entries.flatMap(flat);
}

/**
 * The paths a repeated group's commands also answer to, each with the path of its definition
 * (`secrets-manager secret get` → `secret get`), for the json-shapes test and the docs, which key
 * by the path in the tree.
 */
export async function repeatedPaths(): Promise<[alias: string, path: string][]> {
  const entries = await Promise.all(Object.values(TABLE).map((load) => load()));
  const walk = (d: GroupDefinition | CommandDefinition, rename?: (p: string) => string): [string, string][] => {
    if (!isGroup(d)) return rename ? [[rename(d.path), d.path]] : [];
    const { path, repeats } = d;
    const inner = repeats === undefined ? rename : (p: string) => path + p.slice(repeats.length);
    return d.commands.flatMap((c) => walk(c, inner));
  };
  return entries.flatMap((e) => walk(e));
}

/** Adds a table entry (a group and what is in it, or one command) under `parent`. */
export function mount(
  parent: Command,
  entry: GroupDefinition | CommandDefinition,
  ctx: CommandContext,
  run: Runner,
  within = '',
): void {
  const name = lastWord(entry.path, within);
  if (!isGroup(entry)) return mountCommand(parent, name, entry, ctx, run);
  const group = parent.command(name).description(entry.description);
  addExamples(group, entry.examples);
  // A repeated group's commands keep the paths of the group they repeat.
  for (const d of entry.commands) mount(group, d, ctx, run, entry.repeats ?? entry.path);
}

/** The one word a path adds below `within` (a definition placed in the wrong group fails here, in every test). */
function lastWord(path: string, within: string): string {
  const rest = within === '' ? path : path.startsWith(`${within} `) ? path.slice(within.length + 1) : '';
  if (rest === '' || rest.includes(' ')) throw new Error(`command '${path}' is not directly in '${within}'`);
  return rest;
}

function mountCommand(parent: Command, name: string, def: CommandDefinition, ctx: CommandContext, run: Runner): void {
  const cmd = parent.command(name, { hidden: def.hidden === true }).description(def.description);
  if (def.summary) cmd.summary(def.summary);
  for (const a of def.arguments ?? []) cmd.argument(a.spec, a.description);
  for (const o of def.options ?? []) {
    const option = new Option(o.flags, o.description);
    if (o.required) option.makeOptionMandatory();
    if (o.repeatable) {
      option.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
      if (o.repeatable === true) option.default([]);
    } else if (o.default !== undefined) option.default(o.default);
    cmd.addOption(option);
  }
  if (def.keyValues) cmd.allowUnknownOption().allowExcessArguments();
  if (def.passThrough) cmd.passThroughOptions();
  if (def.usage) cmd.usage(def.usage);
  if (def.help) cmd.addHelpText('after', def.help);
  addExamples(cmd, def.examples);
  builtFrom(cmd, def);
  cmd.action((...xs: unknown[]) => {
    const c = xs.at(-1) as Command;
    const names = c.registeredArguments.map((a) => a.name());
    const args = Object.fromEntries(names.map((n, i) => [n, c.processedArgs[i] as string | undefined]));
    let root = c;
    while (root.parent) root = root.parent;
    return run(() => def.run(ctx, { args, opts: c.opts<never>(), words: c.args, root }))();
  });
}
